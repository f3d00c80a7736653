"""The WebHDFS face, reads and redirects: ``/webhdfs/v1/<path>?op=…``.

Operations are declared in one table (op → HTTP method, handler); the handlers that change the
namespace live in ``mutations.py``. Each handler is one short LMDB transaction.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from dfs_common.blocks import format_block_id, parse_block_id
from dfs_common.errors import (AlreadyExists, IllegalArgument, IsADirectory, NoAttribute, NotFound,
                               Unavailable, Unsupported)
from dfs_common.hosts import addresses, url_host
from dfs_common.paths import normalize
from dfs_common.settings import Settings
from dfs_common.web import Params, json_response

from . import buffers, erasure, namespace
from .filestatus import SPECIAL_NAMES, check_xattr_name, encode_xattr_value, file_status
from .permissions import READ, WRITE, Caller, check, parse_fsaction
from .store import DIR, FILE, Inode, Txn

if TYPE_CHECKING:
    from .app import NameNode

LIST_PAGE = 1000  # LISTSTATUS_BATCH page size (HDFS's dfs.ls.limit default)
PREFIX = "/webhdfs/v1"


@dataclass(slots=True)
class Call:
    """One WebHDFS request: its parsed parameters, path and caller."""

    request: Request
    params: Params
    path: str
    caller: Caller


def empty() -> Response:
    return Response(b"", status=200, content_type="application/octet-stream")


class ReadOps:
    """Handlers that only read the namespace, and the two-step redirects."""

    node: "NameNode"

    # status and listings -----------------------------------------------------------------
    def op_getfilestatus(self, call: Call) -> Response:
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller)
            return json_response({"FileStatus": file_status("", ino, inode)})

    def op_getfilelinkstatus(self, call: Call) -> Response:
        return self.op_getfilestatus(call)

    def op_getlinktarget(self, call: Call) -> Response:
        with self.node.store.read() as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller)
        if inode.kind != "l":
            raise IllegalArgument(f"Not a symbolic link: {call.path}")
        return json_response({"Path": inode.target})

    def op_liststatus(self, call: Call) -> Response:
        txn_scope = self.node.store.read()
        txn = txn_scope.__enter__()
        try:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            if inode.kind != DIR:
                body = json.dumps({"FileStatuses": {"FileStatus": [file_status("", ino, inode)]}})
                txn_scope.__exit__(None, None, None)
                return Response(body, mimetype="application/json")
            check(call.caller, inode, READ | 1, call.path)
        except BaseException:
            txn_scope.__exit__(None, None, None)
            raise
        # A listing of a huge directory is streamed in pages from one read snapshot.
        return Response(_stream_listing(txn_scope, txn, ino), mimetype="application/json")

    def op_liststatus_batch(self, call: Call) -> Response:
        start_after = call.params.text("startAfter", "") or ""
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            if inode.kind != DIR:
                page = [file_status("", ino, inode)]
                remaining = 0
            else:
                check(call.caller, inode, READ | 1, call.path)
                page = []
                more = False
                for name, child in txn.children(ino, start_after):
                    if len(page) >= LIST_PAGE:
                        more = True
                        break
                    child_node = txn.inode(child)
                    if child_node is not None:
                        page.append(file_status(name, child, child_node))
                # exact on the first page; later pages only promise "0 means done"
                remaining = (max(inode.children - len(page), 1) if more else 0) if not start_after else int(more)
        return json_response({"DirectoryListing": {"partialListing": {"FileStatuses": {"FileStatus": page}},
                                                   "remainingEntries": remaining}})

    def op_getcontentsummary(self, call: Call) -> Response:
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            dirs, files, length, consumed = _summarize(txn, ino, inode)
        return json_response({"ContentSummary": {
            "directoryCount": dirs, "fileCount": files, "length": length, "quota": -1,
            "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}, "ecPolicy": ""}})

    def op_getquotausage(self, call: Call) -> Response:
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            dirs, files, _, consumed = _summarize(txn, ino, inode)
        return json_response({"QuotaUsage": {"fileAndDirectoryCount": dirs + files, "quota": -1,
                                             "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}}})

    def op_getfileblocklocations(self, call: Call) -> Response:
        offset = call.params.integer("offset", 0, minimum=0) or 0
        length = call.params.integer("length", None, minimum=0)
        live = {m.id: m for m in self.node.members.alive()}
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            _require_file(inode, call.path)
            check(call.caller, inode, READ, call.path)
            end = inode.size if length is None else offset + length
            locations: list[dict[str, Any]] = []
            position = 0
            for number, size in txn.extents(ino):
                if position + size > offset and position < end or (size == 0 and offset <= position < end):
                    locations.append(_location(txn, number, position, size, live,
                                               self.node.members.freshest_first))
                position += size
            coding = erasure.policy_of(txn, ino)
        status = file_status("", ino, inode)
        if coding is not None:
            status["ecPolicy"] = coding
        return json_response({"BlockLocations": {"BlockLocation": locations}, "fileLength": inode.size,
                              "fileId": ino, "blockSize": inode.block_size, "replication": inode.replication,
                              "ecPolicy": coding, "FileStatus": status})

    def op_gethomedirectory(self, call: Call) -> Response:
        return json_response({"Path": f"/user/{call.caller.user}"})

    def op_gettrashroot(self, call: Call) -> Response:
        return json_response({"Path": f"/user/{call.caller.user}/.Trash"})

    def op_getxattrs(self, call: Call) -> Response:
        wanted = [check_xattr_name(n) for n in call.request.args.getlist("xattr.name")]
        encoding = call.params.text("encoding")
        encode_xattr_value(b"", encoding)  # an unknown encoding is a 400 even with no values
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            check(call.caller, inode, READ, call.path)
            names = wanted or list(txn.xattrs(ino))
            values = [(name, txn.xattr(ino, name)) for name in names]
        if any(value is None for _, value in values):
            raise NoAttribute("At least one of the attributes provided was not found.")
        return json_response({"XAttrs": [{"name": n, "value": encode_xattr_value(v, encoding)}  # type: ignore[arg-type]
                                         for n, v in values]})

    def op_listxattrs(self, call: Call) -> Response:
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            check(call.caller, inode, READ, call.path)
            names = list(txn.xattrs(ino))
        return json_response({"XAttrNames": json.dumps(names)})

    def op_checkaccess(self, call: Call) -> Response:
        want = parse_fsaction(call.params.required("fsaction"))
        with self.node.store.read() as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            check(call.caller, inode, want, call.path)
        return empty()

    def op_getaclstatus(self, call: Call) -> Response:
        with self.node.store.read() as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller)
        return json_response({"AclStatus": {"entries": [], "group": inode.group, "owner": inode.owner,
                                            "permission": format(inode.mode & 0o7777, "o"),
                                            "stickyBit": bool(inode.mode & 0o1000)}})

    def op_getstatus(self, call: Call) -> Response:
        totals = self.node.members.totals()
        return json_response({"FsStatus": {k: totals[k] for k in ("used", "remaining", "capacity")}})

    def op_getserverdefaults(self, call: Call) -> Response:
        s = self.node.settings
        return json_response({"FsServerDefaults": {
            "replication": s.replication, "blockSize": s.block_size, "bytesPerChecksum": 512,
            "writePacketSize": 65536, "fileBufferSize": 4096, "checksumType": 2, "trashInterval": 0,
            "encryptDataTransfer": False, "keyProviderUri": "", "defaultStoragePolicyId": 7}})

    # two-step redirects ------------------------------------------------------------------
    def op_open(self, call: Call) -> Response:
        offset = call.params.integer("offset", 0, minimum=0) or 0
        call.params.integer("length", None, minimum=0)
        live = {m.id: m for m in self.node.members.alive()}
        target = None
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            _require_file(inode, call.path)
            check(call.caller, inode, READ, call.path)
            position = 0
            for number, size in txn.extents(ino):
                if position <= offset < position + size:
                    record = txn.block(number) if number else None
                    if record is not None:
                        holders = self.node.members.freshest_first([live[n] for n in record.replicas if n in live])
                        if not holders:
                            raise Unavailable(f"No live data node holds block {format_block_id(number)} of {call.path}")
                        fresh = [m for m in holders if self.node.members.is_fresh(m)] or holders
                        target = pick_reader(fresh, call.request.remote_addr)
                    break
                position += size
        return self._redirect(call, target or self.node.placement.any_alive())

    def op_getfilechecksum(self, call: Call) -> Response:
        return self._redirect_for_file(call, READ)

    def op_create(self, call: Call) -> Response:
        overwrite = call.params.boolean("overwrite", False)
        call.params.permission()
        check_block_size(self.node.settings, call.params.integer("blocksize", None, minimum=1))
        replication = call.params.integer("replication", None, minimum=1)
        if replication is not None and replication > 512:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "replication": {replication}')
        with self.node.store.read() as txn:
            try:
                where = namespace.resolve(txn, call.path, call.caller)
            except NotFound:  # missing parents: the data node makes them (MKDIRS checks its own rights)
                return self._redirect(call, self.node.placement.any_alive())
            buffers.check_writable(txn, where.parent_ino, call.path)
            if where.inode is not None:
                if where.inode.kind == DIR:
                    raise IsADirectory(f"{call.path} already exists as a directory")
                _require_file(where.inode, call.path)
                if not overwrite:
                    raise AlreadyExists(f"{call.path} for client {call.request.remote_addr} already exists")
                check(call.caller, where.inode, WRITE, call.path)
            else:
                namespace.check_create(call.caller, where)
        return self._redirect(call, self.node.placement.any_alive())

    def op_append(self, call: Call) -> Response:
        return self._redirect_for_file(call, WRITE)

    def _redirect_for_file(self, call: Call, access: int) -> Response:
        """To any live data node, once the path is a file the caller may ``access``."""
        with self.node.store.read() as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            _require_file(inode, call.path)
            check(call.caller, inode, access, call.path)
        return self._redirect(call, self.node.placement.any_alive())

    def _redirect(self, call: Call, member: Any) -> Response:
        """A self-contained data node URL: every client parameter echoed plus our address."""
        query = [(k, v) for k, v in call.request.args.items(multi=True) if k.lower() != "namenoderpcaddress"]
        query.append(("namenoderpcaddress", call.request.host))
        location = f"{member.client_url}{PREFIX}{_quote_path(call.path)}?{urlencode(query)}"
        if call.params.boolean("noredirect", False):
            return json_response({"Location": location})
        return Response(b"", status=307, headers={"Location": location}, content_type="application/octet-stream")


def pick_reader(holders: list[Any], client_address: str | None) -> Any:
    """The replica an OPEN reads first: one on the reader's own host if there is one, else any,
    chosen afresh for each request so that every copy gets read and verified, not only one per
    client (a corrupt second copy is then found by readers, not left to the scrubber)."""
    near = [m for m in holders if client_address and client_address in addresses(url_host(m.client_url))]
    return random.choice(near or holders)


def _quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(normalize(path), safe="/")


def _require_file(inode: Inode, path: str) -> None:
    """A regular file: the only kind with bytes (OPEN, APPEND, TRUNCATE, COMMIT, block lists)."""
    if inode.kind == DIR:
        raise IsADirectory(f"{path} is a directory")
    if inode.kind in SPECIAL_NAMES:
        raise Unsupported(f"{path} is a {SPECIAL_NAMES[inode.kind]} special file: it has no data on DFS "
                          "(the kernel of whoever opens it does its I/O)")
    if inode.kind != FILE:
        raise NotFound(f"File does not exist: {path} (a dangling or looping symlink)")


def _location(txn: Txn, number: int, offset: int, size: int, live: dict[str, Any],
              order: Callable[[list[Any]], list[Any]]) -> dict[str, Any]:
    """One BlockLocation: its live replicas, those silent for over a heartbeat last (``order``)."""
    record = txn.block(number) if number else None
    nodes = order([live[n] for n in (record.replicas if record else []) if n in live])
    hosts = [m.client_url.split("//", 1)[-1].rsplit(":", 1)[0] for m in nodes]
    names = [m.client_url.split("//", 1)[-1] for m in nodes]
    location: dict[str, Any] = {
        "offset": offset, "length": size, "hosts": hosts, "names": names,
        "topologyPaths": ["/default-rack/" + n for n in names], "storageTypes": ["DISK"] * len(nodes),
        "cachedHosts": [], "corrupt": False,
        "blockId": format_block_id(number) if number else None,
        "checksum": record.checksum if record else None,
        "dataNodes": [{"id": m.id, "url": m.client_url} for m in nodes],
    }
    if record is not None and record.length != size:
        location["blockLength"] = record.length
    erasure.annotate(txn, number, location, live, order)
    return location


def _summarize(txn: Txn, ino: int, inode: Inode) -> tuple[int, int, int, int]:
    """(directories, files, bytes, bytes × replication) of a subtree, the directory itself counted."""
    if inode.kind != DIR:
        return 0, 1, inode.size, inode.size * inode.replication
    dirs = files = length = consumed = 0
    stack = [ino]
    while stack:
        current = stack.pop()
        dirs += 1
        for _, child in txn.children(current):
            node = txn.inode(child)
            if node is None:
                continue
            if node.kind == DIR:
                stack.append(child)
            else:
                files += 1
                length += node.size
                consumed += node.size * node.replication
    return dirs, files, length, consumed


def _stream_listing(scope: Any, txn: Txn, ino: int) -> Iterator[bytes]:
    try:
        yield b'{"FileStatuses":{"FileStatus":['
        first = True
        chunk: list[str] = []
        for name, child in txn.children(ino):
            node = txn.inode(child)
            if node is None:
                continue
            chunk.append(json.dumps(file_status(name, child, node), separators=(",", ":")))
            if len(chunk) >= LIST_PAGE:
                yield ((b"" if first else b",") + ",".join(chunk).encode())
                first, chunk = False, []
        if chunk:
            yield ((b"" if first else b",") + ",".join(chunk).encode())
        yield b"]}}"
    finally:
        scope.__exit__(None, None, None)


def parse_block_param(params: Params, name: str = "blockid") -> int:
    return int(parse_block_id(params.required(name)), 16)


def check_block_size(settings: Settings, block_size: int | None) -> None:
    """A block size a data node will accept (``DFS_MAX_BLOCK_SIZE``), checked before any byte moves."""
    if block_size is not None and not 1 <= block_size <= settings.max_block_size:
        raise IllegalArgument(f'Invalid value for webhdfs parameter "blocksize": {block_size} '
                              f"(the limit is {settings.max_block_size})")
