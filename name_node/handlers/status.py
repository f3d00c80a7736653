"""Reading paths: FileStatus, listings, content summaries and block locations.

Each handler is one short LMDB read transaction; a huge listing streams in pages from one.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from werkzeug.wrappers import Response

from dfs_common import crc
from dfs_common.blocks import format_block_id
from dfs_common.errors import IllegalArgument
from dfs_common.web import json_response

from .. import erasure, namespace, storagepolicy
from ..filestatus import file_status
from ..identity import Identity
from ..members import Members
from ..permissions import EXECUTE, READ, check
from ..store import DIR, Inode, Store, Txn
from .call import Call

LIST_PAGE = 1000  # LISTSTATUS_BATCH page size (HDFS's dfs.ls.limit default)


class StatusOps:
    """GETFILESTATUS, LISTSTATUS(_BATCH), GETCONTENTSUMMARY, GETQUOTAUSAGE, GETFILEBLOCKLOCATIONS."""

    def __init__(self, store: Store, members: Members, identity: Identity) -> None:
        self.identity = identity  # signs each block location for the data nodes
        self.store = store
        self.members = members

    def op_getfilestatus(self, call: Call) -> Response:
        with call.read(self.store) as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller)
            return json_response({"FileStatus": file_status("", ino, inode)})

    def op_getfilelinkstatus(self, call: Call) -> Response:
        return self.op_getfilestatus(call)

    def op_getlinktarget(self, call: Call) -> Response:
        with call.read(self.store) as txn:
            _, inode = namespace.resolve_existing(txn, call.path, call.caller)
        if inode.kind != "l":
            raise IllegalArgument(f"Not a symbolic link: {call.path}")
        return json_response({"Path": inode.target})

    def op_liststatus(self, call: Call) -> Response:
        txn_scope = call.read(self.store)
        txn = txn_scope.__enter__()
        try:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            if inode.kind != DIR:
                body = json.dumps({"FileStatuses": {"FileStatus": [file_status("", ino, inode)]}})
                txn_scope.__exit__(None, None, None)
                return Response(body, mimetype="application/json")
            check(call.caller, inode, READ | EXECUTE, call.path)
        except BaseException:
            txn_scope.__exit__(None, None, None)
            raise
        # A listing of a huge directory is streamed in pages from one read snapshot.
        return Response(_stream_listing(txn_scope, txn, ino), mimetype="application/json")

    def op_liststatus_batch(self, call: Call) -> Response:
        start_after = call.params.text("startAfter", "") or ""
        with call.read(self.store) as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            if inode.kind != DIR:
                page = [file_status("", ino, inode)]
                remaining = 0
            else:
                check(call.caller, inode, READ | EXECUTE, call.path)
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
        with call.read(self.store) as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            dirs, files, length, consumed = _summarize(txn, ino, inode)
        return json_response({"ContentSummary": {
            "directoryCount": dirs, "fileCount": files, "length": length, "quota": -1,
            "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}, "ecPolicy": ""}})

    def op_getquotausage(self, call: Call) -> Response:
        with call.read(self.store) as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            dirs, files, _, consumed = _summarize(txn, ino, inode)
        return json_response({"QuotaUsage": {"fileAndDirectoryCount": dirs + files, "quota": -1,
                                             "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}}})

    def op_getfileblocklocations(self, call: Call) -> Response:
        offset = call.params.integer("offset", 0, minimum=0) or 0
        length = call.params.integer("length", None, minimum=0)
        live = {m.id: m for m in self.members.alive()}
        with call.read(self.store) as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            namespace.require_file(inode, call.path, read=True)
            check(call.caller, inode, READ, call.path)
            end = inode.size if length is None else offset + length
            locations: list[dict[str, Any]] = []
            position = 0
            for number, size in txn.extents(ino):
                if position + size > offset and position < end or (size == 0 and offset <= position < end):
                    location = _location(txn, number, position, size, live, self.members.freshest_first)
                    locations.append(self.identity.sign_read(location))
                position += size
            coding = erasure.policy_of(txn, ino)
        status = file_status("", ino, inode)
        if coding is not None:
            status["ecPolicy"] = coding
        return json_response({"BlockLocations": {"BlockLocation": locations}, "fileLength": inode.size,
                              "fileId": ino, "blockSize": inode.block_size, "replication": inode.replication,
                              "ecPolicy": coding, "FileStatus": status})


def _location(txn: Txn, number: int, offset: int, size: int, live: dict[str, Any],
              order: Callable[[list[Any]], list[Any]]) -> dict[str, Any]:
    """One BlockLocation: its live replicas, those silent for over a heartbeat last (``order``)."""
    record = txn.block(number) if number else None
    nodes = order([live[n] for n in (record.replicas if record else []) if n in live])
    hosts = [m.client_url.split("//", 1)[-1].rsplit(":", 1)[0] for m in nodes]
    names = [m.client_url.split("//", 1)[-1] for m in nodes]
    location: dict[str, Any] = {
        "offset": offset, "length": size, "hosts": hosts, "names": names,
        "topologyPaths": [m.topology + "/" + n for m, n in zip(nodes, names)],
        "storageTypes": [storagepolicy.storage_type(m.root) for m in nodes],
        "cachedHosts": [], "corrupt": False,
        "blockId": format_block_id(number) if number else None,
        "checksum": record.checksum if record else None,
        "dataNodes": [m.replica() for m in nodes],
    }
    if record is not None and record.length != size:
        location["blockLength"] = record.length
    if record is not None and record.crc32c >= 0:
        location["crc32c"] = crc.to_hex(record.crc32c)  # of all record.length bytes
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
