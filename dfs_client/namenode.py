"""``HttpNameNode``: the Python face of a DFS cluster (the whole PROTOCOL.md "Client library").

Metadata operations are *declared* once each (``_mkdirs = Operation("PUT", "MKDIRS")``) and all go
through ``Transport.request``; the bytes of files travel between this process and the data nodes
only (``blockio``), never through the name node.
"""
from __future__ import annotations

import base64
import os
import pwd
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dfs_common.errors import IllegalArgument
from dfs_common.filestatus import FileStatus
from dfs_common.paths import normalize

from . import blockio
from .liveness import Liveness
from .renewal import BlockRenewer
from .seed import SeedCommands
from .transport import Transport, encode_query

if TYPE_CHECKING:
    from .files import DFSFile

_WEBHDFS = "/webhdfs/v1"
# Threads shared by every open file of a client for block writes and read-ahead; each file bounds
# its own share (blocks in flight, blocks ahead), so this only caps the whole process.
IO_THREADS = 32
# COMMIT options accepted in Python spelling and sent in the protocol's.
_COMMIT_NAMES = {"file_id": "fileId", "block_size": "blockSize", "mtime_ns": "mtimeNs"}


class Operation:
    """One WebHDFS operation: its HTTP method, ``op`` name and the key its answer is wrapped in.

    Reading the attribute on an ``HttpNameNode`` gives a function ``(path, json_body=None,
    **params)`` that answers the decoded (and unwrapped) JSON.
    """

    def __init__(self, method: str, op: str, key: str | None = None, *,
                 idempotent: bool | None = None) -> None:
        self.method, self.op, self.key, self.idempotent = method, op, key, idempotent

    def __get__(self, client: HttpNameNode | None, owner: type) -> Any:
        if client is None:
            return self

        def call(path: str, json_body: Any = None, **params: Any) -> Any:
            return client._call(self, path, json_body, params)
        return call


def default_user() -> str:
    """The local login name, as ``whoami`` says; ``dr.who`` (WebHDFS's anonymous) if uid is nameless."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "dr.who"


class HttpNameNode(SeedCommands):
    """A client of one DFS name node (and, through it, of the data nodes)."""

    _get_file_status = Operation("GET", "GETFILESTATUS", "FileStatus")
    _list_status_batch = Operation("GET", "LISTSTATUS_BATCH", "DirectoryListing")
    _get_content_summary = Operation("GET", "GETCONTENTSUMMARY", "ContentSummary")
    _get_block_locations = Operation("GET", "GETFILEBLOCKLOCATIONS")
    _get_xattrs = Operation("GET", "GETXATTRS", "XAttrs")
    _get_fs_status = Operation("GET", "GETSTATUS", "FsStatus")
    _get_server_defaults = Operation("GET", "GETSERVERDEFAULTS", "FsServerDefaults")
    _mkdirs = Operation("PUT", "MKDIRS", "boolean")
    _create_symlink = Operation("PUT", "CREATESYMLINK", idempotent=False)
    _mknod = Operation("PUT", "MKNOD", "FileStatus", idempotent=False)
    _rename = Operation("PUT", "RENAME", "boolean", idempotent=False)
    _link = Operation("PUT", "LINK", idempotent=False)
    _set_permission = Operation("PUT", "SETPERMISSION")
    _set_owner = Operation("PUT", "SETOWNER")
    _set_times = Operation("PUT", "SETTIMES")
    _set_replication = Operation("PUT", "SETREPLICATION", "boolean")
    _set_xattr = Operation("PUT", "SETXATTR", idempotent=False)
    _remove_xattr = Operation("PUT", "REMOVEXATTR", idempotent=False)
    _delete = Operation("DELETE", "DELETE", "boolean")
    _delete_timed = Operation("DELETE", "DELETE")
    _rename_timed = Operation("PUT", "RENAME", idempotent=False)
    _truncate = Operation("POST", "TRUNCATE", "boolean")
    _add_block = Operation("POST", "ADDBLOCK", "Block")
    _commit = Operation("POST", "COMMIT", "FileStatus")
    _check_commit = Operation("POST", "COMMIT", idempotent=True)  # ``"check": true`` writes nothing
    _report_bad_block = Operation("POST", "REPORTBADBLOCK", idempotent=True)
    _renew_blocks = Operation("POST", "RENEWBLOCKS", idempotent=True)
    _abandon_blocks = Operation("POST", "ABANDONBLOCKS", idempotent=True)

    def __init__(self, url: str, user: str | None = None, *, transport: Transport | None = None) -> None:
        if "://" not in url:
            url = "http://" + url
        self.url = url.rstrip("/")
        self.user = user or default_user()
        self.transport = transport or Transport()
        self.suspects = blockio.Suspects()  # data nodes recent block writes failed on
        self.reads = blockio.ReadLoad()  # block reads in flight per data node
        self.renewer = BlockRenewer(self.renew_blocks)  # keeps open files' uncommitted blocks alive
        # cuts block writes to data nodes the name node declares dead (polled while writes run)
        self.liveness = Liveness(lambda: self.transport.call("GET", self.url + "/liveness"))
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpNameNode({self.url!r}, user={self.user!r})"

    # -- the choke point towards the name node ------------------------------------------------

    def _call(self, operation: Operation, path: str, json_body: Any, params: dict[str, Any]) -> Any:
        url = self.url + _WEBHDFS + quote(normalize(path).encode("utf-8", "surrogateescape"), safe="/")
        query = encode_query({"op": operation.op, "user.name": self.user})
        if params:
            extra = encode_query(params)
            if extra:
                query += "&" + extra
        answer = self.transport.call(operation.method, url, query, json_body, idempotent=operation.idempotent)
        if operation.key is None or answer is None:
            return answer
        return answer.get(operation.key) if isinstance(answer, dict) else answer

    def _plain(self, method: str, route: str, *, idempotent: bool | None = None) -> Any:
        """The name node's non-WebHDFS endpoints (``/status``, ``/df``, ``/mkfs``…)."""
        return self.transport.json(method, self.url + route, params={"user.name": self.user},
                                   idempotent=idempotent)

    # -- namespace ---------------------------------------------------------------------------

    def get_status(self, path: str) -> FileStatus:
        """The FileStatus of ``path`` (symlinks are not followed)."""
        return self._get_file_status(path)

    def list_status(self, path: str) -> Iterator[FileStatus]:
        """The FileStatus of every entry of a directory, fetched page by page (LISTSTATUS_BATCH)
        so a directory of a million entries never sits in memory at once."""
        start_after: str | None = None
        while True:
            listing = self._list_status_batch(path, startAfter=start_after)
            statuses = listing["partialListing"]["FileStatuses"]["FileStatus"]
            yield from statuses
            if not statuses or not listing.get("remainingEntries"):
                return
            start_after = statuses[-1]["pathSuffix"]

    def mkdirs(self, path: str, permission: int = 0o755, parents: bool = True,
               owner: str | None = None, group: str | None = None) -> bool:
        """``mkdir -p`` (``parents=False``: plain ``mkdir``, EEXIST/ENOENT as POSIX)."""
        return bool(self._mkdirs(path, permission=f"{permission & 0o7777:o}",
                                 parents=None if parents else False, owner=owner, group=group))

    def delete(self, path: str, recursive: bool = False, kind: str | None = None) -> bool:
        """False when ``path`` did not exist (WebHDFS); ENOTEMPTY for a full directory unless recursive.
        ``kind="file"`` refuses a directory (EISDIR), ``"directory"`` anything else (ENOTDIR)."""
        return bool(self._delete(path, recursive=recursive, kind=kind))

    def rename(self, src: str, dst: str, overwrite: bool | None = None) -> bool:
        """``None``: HDFS rename (into an existing directory; most failures answer False).
        ``True``/``False``: POSIX ``rename(2)`` replacing / refusing an existing target, with errors."""
        options = None if overwrite is None else ("OVERWRITE" if overwrite else "NONE")
        return bool(self._rename(src, destination=normalize(dst), renameoptions=options))

    def delete_entry(self, path: str, kind: str) -> int | None:
        """``delete`` of one name for the mount: the time (ns) the name node gave the change (its
        parent's new mtime and ctime), None when nothing was there."""
        answer = self._delete_timed(path, kind=kind, timens=True) or {}
        return int(answer.get("timeNs") or 0) if answer.get("boolean") else None

    def rename_entry(self, src: str, dst: str, overwrite: bool) -> int:
        """POSIX ``rename`` for the mount: the time (ns) it gave both parents and the moved inode."""
        options = "OVERWRITE" if overwrite else "NONE"
        answer = self._rename_timed(src, destination=normalize(dst), renameoptions=options, timens=True) or {}
        return int(answer.get("timeNs") or 0)

    def link(self, src: str, dst: str) -> None:
        """A hard link: ``dst`` becomes a second name of ``src``'s inode."""
        self._link(src, destination=normalize(dst))

    def symlink(self, target: str, linkpath: str, owner: str | None = None,
                group: str | None = None) -> None:
        """A symbolic link at ``linkpath`` whose target is any text, as ``ln -s``."""
        self._create_symlink(linkpath, destination=target, owner=owner, group=group)

    def mknod(self, path: str, kind: str, rdev: int = 0, permission: int = 0o644,
              owner: str | None = None, group: str | None = None) -> FileStatus:
        """A special file (``kind`` FIFO, CHAR, BLOCK or SOCKET; ``rdev`` a device's number), as
        ``mknod(2)``: no data on DFS, its I/O is the opening kernel's. Answers its FileStatus."""
        return self._mknod(path, type=kind.upper(), rdev=int(rdev), permission=f"{permission & 0o7777:o}",
                           owner=owner, group=group)

    def set_permission(self, path: str, mode: int) -> None:
        self._set_permission(path, permission=f"{mode & 0o7777:o}")

    def set_owner(self, path: str, owner: str | None = None, group: str | None = None) -> None:
        self._set_owner(path, owner=owner, group=group)

    def set_times(self, path: str, mtime_ns: int | None = None, atime_ns: int | None = None) -> None:
        """Nanosecond times (``None`` leaves one unchanged), for ``utimensat`` through the mount."""
        self._set_times(path, modificationtimens=-1 if mtime_ns is None else int(mtime_ns),
                        accesstimens=-1 if atime_ns is None else int(atime_ns))

    def truncate(self, path: str, length: int) -> bool:
        """Cut or grow (with a hole) a file on the name node, without an open handle."""
        return bool(self._truncate(path, newlength=int(length)))

    def set_replication(self, path: str, n: int) -> bool:
        return bool(self._set_replication(path, replication=int(n)))

    def get_xattrs(self, path: str) -> dict[str, bytes]:
        """Every extended attribute, values as raw bytes (sent hex-encoded so any byte survives)."""
        entries = self._get_xattrs(path, encoding="hex") or []
        return {entry["name"]: decode_xattr_value(entry.get("value")) for entry in entries}

    def set_xattr(self, path: str, name: str, value: bytes, flag: str | None = None) -> None:
        """``flag``: ``"CREATE"`` (EEXIST if present), ``"REPLACE"`` (ENODATA if absent) or
        ``None`` for either, as ``setxattr(2)`` with flags 0."""
        self._set_xattr(path, **{"xattr.name": name, "xattr.value": "0x" + bytes(value).hex(),
                                 "flag": flag.upper() if flag else None})

    def remove_xattr(self, path: str, name: str) -> None:
        self._remove_xattr(path, **{"xattr.name": name})

    def content_summary(self, path: str) -> dict[str, Any]:
        return self._get_content_summary(path)

    def fs_status(self) -> dict[str, Any]:
        """``{"capacity", "used", "remaining"}`` in bytes, as ``statfs`` needs them."""
        return self._get_fs_status("/")

    def server_defaults(self) -> dict[str, Any]:
        return self._get_server_defaults("/")

    # -- blocks ------------------------------------------------------------------------------

    def block_locations(self, path: str, offset: int | None = None,
                        length: int | None = None) -> dict[str, Any]:
        """GETFILEBLOCKLOCATIONS with the extension fields (``blockId``, ``checksum``,
        ``dataNodes``, ``fileId``, ``fileLength``, ``blockSize``…): what a reader needs to fetch
        blocks straight from the data nodes. Answered flat, ``{"BlockLocation": [...],
        "fileLength", "fileId", "blockSize", "replication"}``, whether the server puts the file's
        fields inside the ``BlockLocations`` object or beside it."""
        answer = self._get_block_locations(path, offset=offset, length=length) or {}
        flat = {key: value for key, value in answer.items() if key != "BlockLocations"}
        flat.update(answer.get("BlockLocations") or {})
        flat.setdefault("BlockLocation", [])
        return flat

    def add_block(self, path: str, replication: int | None = None,
                  exclude: Iterable[str] = (), length: int | None = None) -> dict[str, Any]:
        """A fresh block id and a pipeline of data nodes ``{"blockId", "pipeline": [{"id","url"}]}``;
        ``length`` (the block's, when known) is the space placement reserves on them."""
        excluded = ",".join(sorted(set(exclude))) or None
        return self._add_block(path, replication=replication, exclude=excluded, length=length)

    def write_block(self, path: str, data: bytes | bytearray | memoryview,
                    replication: int | None = None, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """Store one block through a pipeline, retrying with fresh ids around failed nodes.
        Answers ``{"blockId", "length", "checksum", "dataNodes"}``, ready for ``commit``."""
        return blockio.write_block(self, path, data, replication=replication, exclude=exclude)

    def renew_blocks(self, block_ids: list[str]) -> None:
        """Restart the name node's one-hour lifetime of these pending (uncommitted) blocks."""
        self._renew_blocks("/", {"blocks": block_ids})

    def abandon_blocks(self, block_ids: list[str]) -> None:
        """Give up pending blocks that will never be committed: the name node deletes them now
        instead of an hour from now."""
        self._abandon_blocks("/", {"blocks": block_ids})

    def read_block(self, location: dict[str, Any], path: str = "/") -> bytes:
        """The verified bytes of one block (a BlockLocation), failing over between replicas."""
        return blockio.read_block(self, location, path=path)

    def read_range(self, location: dict[str, Any], offset: int, length: int, path: str = "/") -> bytes:
        """``length`` bytes at ``offset`` of one block, fetching and verifying only the 64 KiB
        chunks that cover them, failing over between replicas."""
        return blockio.read_range(self, location, offset, length, path=path)

    def commit(self, path: str, blocks: list[dict[str, Any]], **options: Any) -> FileStatus:
        """Make ``blocks`` the whole block list of ``path`` in one name-node transaction.

        ``options``: ``create``, ``overwrite``, ``fileId``/``file_id``, ``permission`` (int or octal
        text), ``replication``, ``blockSize``/``block_size``, ``owner``, ``group``,
        ``mtimeNs``/``mtime_ns``. Answers the new FileStatus.
        """
        return self._commit(path, json_body=_commit_body(blocks, options))

    def check_commit(self, path: str, **options: Any) -> dict[str, Any]:
        """What ``commit(path, [], **options)`` would refuse, raised now, without writing anything:
        how a writer opening ``"wb"`` learns at open of a missing parent, a directory, a denied
        permission or a taken name, while the old file stays until its first real commit.
        Answers ``{"FileStatus": the existing file's or None, "blockSize", "replication"}``."""
        return self._check_commit(path, json_body={**_commit_body([], options), "check": True})

    def report_bad_block(self, block_id: str, datanode: str, path: str = "/") -> None:
        """Tell the name node a replica failed its checksum; it verifies before believing us."""
        self._report_bad_block(path, blockid=block_id, datanode=datanode)

    # -- files -------------------------------------------------------------------------------

    def open(self, path: str, mode: str = "rb", *, permission: int = 0o644,
             replication: int | None = None, block_size: int | None = None,
             owner: str | None = None, group: str | None = None, overwrite: bool = True) -> DFSFile:
        """A streaming file: ``"rb"``, ``"wb"``, ``"ab"``, ``"r+b"`` or ``"xb"`` (see ``DFSFile``)."""
        from .files import DFSFile
        return DFSFile(self, path, mode, permission=permission, replication=replication,
                       block_size=block_size, owner=owner, group=group, overwrite=overwrite)

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool that ships and prefetches blocks for this client's open files (made lazily)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="dfs-blocks")
            return self._executor

    def close(self) -> None:
        self.renewer.stop()
        self.liveness.close()
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self.transport.close()

    def __enter__(self) -> HttpNameNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _commit_body(blocks: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"blocks": [_commit_entry(block) for block in blocks]}
    for name, value in options.items():
        name = _COMMIT_NAMES.get(name, name)
        if name == "permission" and isinstance(value, int):
            value = f"{value & 0o7777:o}"
        body[name] = value
    return body


def _commit_entry(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("blockId") is None:
        return {"blockId": None, "length": int(block["length"])}
    return {"blockId": block["blockId"], "length": int(block["length"]), "checksum": block["checksum"]}


def decode_xattr_value(value: str | None) -> bytes:
    """A WebHDFS xattr value (``0x…`` hex, ``0s…`` base64 or ``"…"`` text) as bytes."""
    if not value:
        return b""
    if value[:2].lower() == "0x":
        return bytes.fromhex(value[2:])
    if value[:2].lower() == "0s":
        return base64.b64decode(value[2:])
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].encode("utf-8")
    raise IllegalArgument(f"Undecodable xattr value: {value[:40]!r}")
