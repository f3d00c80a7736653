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
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dfs_common.errors import DFSError, IllegalArgument, SafeMode
from dfs_common.filestatus import FileStatus
from dfs_common.paths import normalize

from . import blockio
from .liveness import Liveness
from .records import BufferCommands
from .renewal import BlockRenewer
from .seed import SeedCommands
from .snapshots import SnapshotCommands
from .transport import Transport, encode_query

if TYPE_CHECKING:
    from .encryption import ContentKey
    from .cache import BlockCache
    from .files import DFSFile
    from .sealed import EncryptedFile, Encryption

_WEBHDFS = "/webhdfs/v1"
# How long a change waits out a restarted name node's safe mode (it ends once the data nodes have
# reported, a heartbeat or two), and the pause between tries.
SAFEMODE_WAIT = 60.0
SAFEMODE_PAUSE = 0.25
FIRST_BLOCKS_KEPT = 1024  # handed-out first blocks remembered for writers yet to open their file
# Threads shared by every open file of a client for block writes and read-ahead; each file bounds
# its own share (blocks in flight, blocks ahead), so this only caps the whole process.
IO_THREADS = 32


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


class HttpNameNode(SeedCommands, BufferCommands, SnapshotCommands):
    """A client of one DFS name node (and, through it, of the data nodes)."""

    _get_file_status = Operation("GET", "GETFILESTATUS", "FileStatus")
    _list_status_batch = Operation("GET", "LISTSTATUS_BATCH", "DirectoryListing")
    _get_content_summary = Operation("GET", "GETCONTENTSUMMARY", "ContentSummary")
    _get_block_locations = Operation("GET", "GETFILEBLOCKLOCATIONS")
    _get_xattrs = Operation("GET", "GETXATTRS", "XAttrs")
    _get_fs_status = Operation("GET", "GETSTATUS", "FsStatus")
    _get_server_defaults = Operation("GET", "GETSERVERDEFAULTS", "FsServerDefaults")
    _mkdirs = Operation("PUT", "MKDIRS", "boolean")
    _mkdir_leased = Operation("PUT", "MKDIRS", "Lease", idempotent=False)
    # sent again whole after a lost answer: a create the name node already made answers as made
    _batch = Operation("POST", "BATCH", idempotent=True)
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
    _add_block_group = Operation("POST", "ADDBLOCK", "BlockGroup")
    _set_ec_policy = Operation("PUT", "SETERASURECODINGPOLICY")
    _get_ec_policy = Operation("GET", "GETERASURECODINGPOLICY", "ErasureCodingPolicy")
    _unset_ec_policy = Operation("POST", "UNSETERASURECODINGPOLICY", idempotent=True)
    _set_storage_policy = Operation("PUT", "SETSTORAGEPOLICY")
    _unset_storage_policy = Operation("POST", "UNSETSTORAGEPOLICY", idempotent=True)
    _get_storage_policy = Operation("GET", "GETSTORAGEPOLICY", "BlockStoragePolicy")
    _get_all_storage_policies = Operation("GET", "GETALLSTORAGEPOLICY", "BlockStoragePolicies")
    _commit = Operation("POST", "COMMIT")  # {"FileStatus", and with addBlock a new file's "Block"}
    _check_commit = Operation("POST", "COMMIT", idempotent=True)  # ``"check": true`` writes nothing
    _report_bad_block = Operation("POST", "REPORTBADBLOCK", idempotent=True)
    _renew_blocks = Operation("POST", "RENEWBLOCKS", idempotent=True)
    _abandon_blocks = Operation("POST", "ABANDONBLOCKS", idempotent=True)
    _sync = Operation("POST", "SYNC", "boolean", idempotent=True)
    # ingest buffers (``records.BufferCommands``); a change is never replayed: a lost answer to a
    # COMMITRECORD that committed must not become a second record
    _create_buffer = Operation("PUT", "CREATEBUFFER", "BufferStatus", idempotent=False)
    _get_buffer_status = Operation("GET", "GETBUFFERSTATUS", "BufferStatus")
    _get_buffer_log = Operation("GET", "GETBUFFERLOG")
    _freeze_buffer = Operation("PUT", "FREEZEBUFFER", "BufferStatus", idempotent=False)
    _release_buffer = Operation("PUT", "RELEASEBUFFER", "BufferStatus", idempotent=False)
    _commit_record = Operation("POST", "COMMITRECORD", "Record", idempotent=False)
    # snapshots (``snapshots.SnapshotCommands``)
    _allow_snapshot = Operation("PUT", "ALLOWSNAPSHOT")
    _disallow_snapshot = Operation("PUT", "DISALLOWSNAPSHOT")
    _create_snapshot = Operation("PUT", "CREATESNAPSHOT", "Path", idempotent=False)
    _rename_snapshot = Operation("PUT", "RENAMESNAPSHOT", idempotent=False)
    _delete_snapshot = Operation("DELETE", "DELETESNAPSHOT", idempotent=False)
    _get_snapshot_diff = Operation("GET", "GETSNAPSHOTDIFF", "SnapshotDiffReport")
    _get_snapshottable_directories = Operation("GET", "GETSNAPSHOTTABLEDIRECTORYLIST", "SnapshottableDirectoryList")
    _get_snapshot_list = Operation("GET", "GETSNAPSHOTLIST", "SnapshotList")

    def __init__(self, url: str, user: str | None = None, *, token: str | None = None,
                 transport: Transport | None = None, key: ContentKey | None = None, encrypt_under: str = "/",
                 safemode_wait: float = SAFEMODE_WAIT, site: str = "") -> None:
        """``token``: the bearer token of a cluster with ``DFS_SECRET`` (then the name node decides
        who the client is; ``user``, sent as ``user.name``, matters only in insecure mode).
        ``site``: where this client stands (``DFS_CLIENT_SITE``); reads prefer replicas there."""
        if "://" not in url:
            url = "http://" + url
        self.url = url.rstrip("/")
        self.user = user or default_user()
        self.safemode_wait = safemode_wait
        self.site = site
        self.token = token or None
        # sent to the name node only, never to a data node (their URLs carry their own signatures)
        self._auth = {"Authorization": f"Bearer {token}"} if token else None
        self.transport = transport or Transport()
        self.suspects = blockio.Suspects()  # data nodes recent block writes failed on
        self.reads = blockio.ReadLoad()  # block reads in flight per data node
        self.renewer = BlockRenewer(self.renew_blocks)  # keeps open files' uncommitted blocks alive
        # cuts block writes to data nodes the name node declares dead (polled while writes run)
        self.liveness = Liveness(lambda: self.transport.call("GET", self.url + "/liveness", headers=self._auth))
        # Verified blocks shared by every file this client opens (the FUSE mount sets one, see
        # ``cache``); None: each open file keeps a small cache of its own.
        self.block_cache: BlockCache | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        # first blocks handed out by creating COMMITs (``addBlock``), by fileId, until the file's
        # writer takes its own (``take_first_block``): the mount creates, then opens to write
        self._first_blocks: dict[int, dict[str, Any]] = {}
        # A FUSE mount's leases (``dfs_fuse/leases.py``): its session, sent with every request so the
        # name node tells it from other clients, and the wait for its unsent changes before any request.
        self.session: str | None = None
        self.before_request: Callable[..., None] | None = None
        # Client-side encryption (``sealed.py``): files under ``encrypt_under`` are stored
        # encrypted with ``key``, which never leaves this process.
        self.encryption: Encryption | None = None
        if key is not None:
            from .sealed import Encryption
            self.encryption = Encryption(key, encrypt_under)

    def __repr__(self) -> str:
        return f"HttpNameNode({self.url!r}, user={self.user!r})"

    # -- the choke point towards the name node ------------------------------------------------

    def start_session(self, session: str, before_request: Callable[..., None]) -> None:
        """Send ``session`` with every name-node request; call ``before_request`` before each
        (with ``reading=path`` before one that only reads that path's status, and with a file's
        id before it takes that file's first block)."""
        self.session, self.before_request = session, before_request
        self._auth = {**(self._auth or {}), "X-DFS-Session": session}

    def _call(self, operation: Operation, path: str, json_body: Any, params: dict[str, Any]) -> Any:
        if self.before_request is not None:
            self.before_request(reading=path if operation.op == "GETFILESTATUS" else None)
        url = self.url + _WEBHDFS + quote(normalize(path).encode("utf-8", "surrogateescape"), safe="/")
        query = encode_query({"op": operation.op, "user.name": self.user})
        if params:
            extra = encode_query(params)
            if extra:
                query += "&" + extra
        deadline = time.monotonic() + self.safemode_wait
        while True:
            try:
                answer = self.transport.call(operation.method, url, query, json_body, idempotent=operation.idempotent,
                                             headers=self._auth)
                break
            except SafeMode as error:
                # a restarted name node waiting for block reports: refused before anything changed,
                # so any request may be sent again; an operator's safe mode is answered at once
                if error.extra.get("automatic") is not True or time.monotonic() >= deadline:
                    raise
                time.sleep(SAFEMODE_PAUSE)
        if operation.key is None or answer is None:
            return answer
        return answer.get(operation.key) if isinstance(answer, dict) else answer

    def _plain(self, method: str, route: str, *, idempotent: bool | None = None, **params: Any) -> Any:
        """The name node's non-WebHDFS endpoints (``/status``, ``/df``, ``/mkfs``, ``/admin/…``)."""
        if self.before_request is not None:
            self.before_request()
        query = {"user.name": self.user, **{k: v for k, v in params.items() if v is not None}}
        return self.transport.json(method, self.url + route, params=query, idempotent=idempotent,
                                   headers=self._auth)

    # -- operators ---------------------------------------------------------------------------

    def fsck(self, path: str = "/") -> dict[str, Any]:
        """Files under ``path`` with missing, under-replicated, mis-placed or corrupt blocks:
        ``{"status": "HEALTHY"|"CORRUPT", "files", "blocks", "missing", …, "problems": [...]}``."""
        return self._plain("GET", "/fsck", path=normalize(path))["fsck"]

    def decommission(self, node_id: str) -> dict[str, Any]:
        """Drain a data node (an id ``status()`` shows); it ends ``decommissioned`` in ``status()``."""
        return self._plain("POST", "/admin/decommission", node=node_id, idempotent=True)

    def recommission(self, node_id: str) -> dict[str, Any]:
        """Put a draining, drained or resting data node back in service."""
        return self._plain("POST", "/admin/recommission", node=node_id, idempotent=True)

    def maintenance(self, node_id: str, minutes: float | None = None) -> dict[str, Any]:
        """A planned outage of a data node: not healed around for ``minutes``."""
        return self._plain("POST", "/admin/maintenance", node=node_id, minutes=minutes, idempotent=True)

    def safemode(self, action: str = "get") -> dict[str, Any]:
        """``"get"``, ``"enter"`` or ``"leave"``; answers the safe mode state."""
        if action == "get":
            return self._plain("GET", "/admin/safemode")["safemode"]
        return self._plain("POST", "/admin/safemode", action=action, idempotent=True)["safemode"]

    def balancer(self, action: str = "get", threshold: float | None = None,
                 rate: int | None = None) -> dict[str, Any]:
        """``"get"``, ``"start"`` (optional threshold in percentage points, rate in bytes/s) or
        ``"stop"``; answers the balancer's progress."""
        if action == "get":
            return self._plain("GET", "/admin/balancer")["balancer"]
        return self._plain("POST", "/admin/balancer", action=action, threshold=threshold, rate=rate,
                           idempotent=True)["balancer"]
    def whoami(self) -> dict[str, Any]:
        """Who the name node takes this client for (``GET /whoami``): a bad token is
        ``Unauthenticated`` here rather than at the first file operation."""
        return dict(self._plain("GET", "/whoami", idempotent=True))

    # -- namespace ---------------------------------------------------------------------------

    def get_status(self, path: str) -> FileStatus:
        """The FileStatus of ``path`` (symlinks are not followed)."""
        status = self._get_file_status(path)
        return self.encryption.shown(path, status) if self.encryption else status

    def list_status(self, path: str) -> Iterator[FileStatus]:
        """The FileStatus of every entry of a directory, fetched page by page (LISTSTATUS_BATCH)
        so a directory of a million entries never sits in memory at once."""
        start_after: str | None = None
        while True:
            listing = self._list_status_batch(path, startAfter=start_after)
            statuses = listing["partialListing"]["FileStatuses"]["FileStatus"]
            if self.encryption:
                yield from (self.encryption.shown(path.rstrip("/") + "/" + s.get("pathSuffix", ""), s)
                            for s in statuses)
            else:
                yield from statuses
            if not statuses or not listing.get("remainingEntries"):
                return
            start_after = statuses[-1]["pathSuffix"]

    def mkdirs(self, path: str, permission: int = 0o755, parents: bool = True,
               owner: str | None = None, group: str | None = None) -> bool:
        """``mkdir -p`` (``parents=False``: plain ``mkdir``, EEXIST/ENOENT as POSIX)."""
        return bool(self._mkdirs(path, permission=f"{permission & 0o7777:o}",
                                 parents=None if parents else False, owner=owner, group=group))

    def mkdir_leased(self, path: str, permission: int = 0o755, owner: str | None = None,
                     group: str | None = None, ids: int = 0) -> dict[str, Any] | None:
        """Plain ``mkdir``, also answering the new directory's lease for this client's ``session``
        (``name_node/leases.py``) and ``ids`` inode numbers for blind creates, or None."""
        return self._mkdir_leased(path, permission=f"{permission & 0o7777:o}", parents=False, owner=owner,
                                  group=group, lease=True, ids=ids or None)

    def batch(self, ops: list[dict[str, Any]], release: Iterable[int] = (), ids: int = 0,
              end: bool = False, wait: int = 0) -> dict[str, Any]:
        """Changes made under this session's leases, in one transaction (``handlers/leases.py``);
        ``wait``: with no changes, answer once a lease is recalled (at most that many seconds)."""
        body: dict[str, Any] = {"ops": ops, "release": list(release)}
        if wait:
            body["wait"] = wait
        if ids:
            body["ids"] = ids
        if end:
            body["end"] = True
        return self._batch("/", json_body=body)

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
        if self.encryption and self.encryption.covers(path) and length:
            with self.open(path, "r+b") as handle:  # the last chunk is sealed anew
                handle.truncate(int(length))
            return True
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
        if self.encryption and isinstance(flat.get("FileStatus"), dict):
            flat["FileStatus"] = self.encryption.shown(path, flat["FileStatus"])  # blocks stay stored
        return flat

    def add_block(self, path: str, replication: int | None = None,
                  exclude: Iterable[str] = (), length: int | None = None) -> dict[str, Any]:
        """A fresh block id and a pipeline of data nodes ``{"blockId", "pipeline": [{"id","url"}]}``;
        ``length`` (the block's, when known) is the space placement reserves on them."""
        excluded = ",".join(sorted(set(exclude))) or None
        return self._add_block(path, replication=replication, exclude=excluded, length=length)

    def add_block_group(self, path: str, policy: str, exclude: Iterable[str] = (),
                        length: int | None = None) -> dict[str, Any]:
        """ADDBLOCK for an erasure-coded file: ``{"blockId", "ecPolicy", "fragments": [{"index",
        "blockId", "pipeline": [one node]}]}``, k + m fresh fragments on distinct nodes."""
        excluded = ",".join(sorted(set(exclude))) or None
        return self._add_block_group(path, ecpolicy=policy, exclude=excluded, length=length)

    def write_block(self, path: str, data: bytes | bytearray | memoryview,
                    replication: int | None = None, exclude: Iterable[str] = (),
                    sync: bool = False, first: dict[str, Any] | None = None,
                    ec_policy: str | None = None, commit: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store one block through a pipeline, retrying with fresh ids around failed nodes.
        Answers ``{"blockId", "length", "checksum", "dataNodes"}``, ready for ``commit``.
        ``sync``: every replica fsyncs it before the pipeline answers (whatever DFS_SYNC says);
        ``first``: a block the name node handed out already (a create's ``addBlock``), tried first.
        ``commit``: the options of a COMMIT making this block the whole file, sent with it
        (``blockio.write_block``); the answer then carries ``commit`` or ``commitError``.
        With ``ec_policy`` (``RS-3-2``…) the block is one erasure-coded group instead (``striping``)."""
        if ec_policy:
            from .striping import write_group
            return write_group(self, path, data, ec_policy, exclude=frozenset(exclude), sync=sync)
        return blockio.write_block(self, path, data, replication=replication, exclude=exclude, sync=sync,
                                   first=first, commit=commit)

    def write_bundle(self, files: list[blockio.SmallFile],
                     executor: Executor | None = None) -> list[dict[str, Any] | DFSError]:
        """Write and commit many small files (one block each) in a few bundles, one per pipeline
        their blocks share (``blockio.write_bundle``): per file, its new FileStatus or its error."""
        return blockio.write_bundle(self, files, executor)

    def sync_blocks(self, datanode_url: str, blocks: list[dict[str, Any]]) -> int:
        """fsync stored blocks (locations: ``blockId`` and the signed ``access`` the name node
        gave) on one data node (``POST /sync``); answers how many it holds."""
        body: dict[str, Any] = {"blocks": [str(block["blockId"]) for block in blocks]}
        if any(block.get("access") for block in blocks):
            body["access"] = [str(block.get("access") or "") for block in blocks]
        answer = self.transport.call("POST", str(datanode_url).rstrip("/") + "/sync", "", body, idempotent=True)
        return int(answer.get("synced", 0)) if isinstance(answer, dict) else 0

    def sync(self) -> None:
        """Return once every namespace change the name node acknowledged is on its disk."""
        self._sync("/")

    def set_ec_policy(self, path: str, policy: str) -> None:
        """Files created below directory ``path`` from now on are erasure coded with ``policy``
        (``RS-3-2``, ``RS-6-3``…; ``REPLICATION`` stops an inherited one)."""
        self._set_ec_policy(path, ecpolicy=policy)

    def get_ec_policy(self, path: str) -> str | None:
        """A directory's effective policy (inherited included) or the one a file was created with."""
        answer = self._get_ec_policy(path)
        return answer.get("name") if isinstance(answer, dict) else None

    def unset_ec_policy(self, path: str) -> None:
        self._unset_ec_policy(path)

    def set_storage_policy(self, path: str, policy: str) -> None:
        """Where the replicas of ``path`` (a file, or every file below a directory) live: ``HOT``
        (any root), ``ALL_LOCAL`` (disks only) or ``ONE_S3`` (one copy in a bucket); existing
        blocks are moved by the healer."""
        self._set_storage_policy(path, storagepolicy=policy)

    def unset_storage_policy(self, path: str) -> None:
        self._unset_storage_policy(path)

    def get_storage_policy(self, path: str) -> dict[str, Any]:
        """The effective policy of ``path`` (its own or inherited) as HDFS's BlockStoragePolicy."""
        return dict(self._get_storage_policy(path))

    def storage_policies(self) -> list[dict[str, Any]]:
        return list(self._get_all_storage_policies("/")["BlockStoragePolicy"])

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

    def commit(self, path: str, blocks: list[dict[str, Any]], *, sync: bool = False,
               **options: Any) -> FileStatus:
        """Make ``blocks`` the whole block list of ``path`` in one name-node transaction.

        ``options``: ``create``, ``overwrite``, ``fileId``/``file_id``, ``permission`` (int or octal
        text), ``replication``, ``blockSize``/``block_size``, ``owner``, ``group``,
        ``mtimeNs``/``mtime_ns``. ``sync``: answered only once the change is on the name node's
        disk (see the README's durability contract). Answers the new FileStatus.
        """
        answer = self._commit(path, json_body=blockio.commit_body(blocks, options), sync=True if sync else None)
        status = answer["FileStatus"]
        if isinstance(answer.get("Block"), dict):  # ``addBlock`` on a create: its first block
            self.keep_first_block(int(status["fileId"]), answer["Block"])
        return self.encryption.shown(path, status) if self.encryption else status

    def keep_first_block(self, file_id: int, block: dict[str, Any]) -> None:
        """A creating COMMIT (or a blind create's BATCH) handed out ``block`` as file ``file_id``'s first."""
        with self._executor_lock:
            if len(self._first_blocks) >= FIRST_BLOCKS_KEPT:
                self._first_blocks.pop(next(iter(self._first_blocks)))
            self._first_blocks[file_id] = dict(block, handedOut=time.monotonic())

    def take_first_block(self, file_id: int) -> dict[str, Any] | None:
        """The first block a creating COMMIT of file ``file_id`` handed out (with ``handedOut``,
        the monotonic time it came), once: the writer of a new file ships its first bytes there."""
        if self.before_request is not None:
            self.before_request(file_id)  # (a file created blind gets its first block when its create is sent)
        with self._executor_lock:
            return self._first_blocks.pop(file_id, None)

    def check_commit(self, path: str, **options: Any) -> dict[str, Any]:
        """What ``commit(path, [], **options)`` would refuse, raised now, without writing anything:
        how a writer opening ``"wb"`` learns at open of a missing parent, a directory, a denied
        permission or a taken name, while the old file stays until its first real commit.
        Answers ``{"FileStatus": the existing file's or None, "blockSize", "replication"}``."""
        return self._check_commit(path, json_body={**blockio.commit_body([], options), "check": True})

    def report_bad_block(self, block_id: str, datanode: str, path: str = "/") -> None:
        """Tell the name node a replica failed its checksum; it verifies before believing us."""
        self._report_bad_block(path, blockid=block_id, datanode=datanode)

    # -- files -------------------------------------------------------------------------------

    def open(self, path: str, mode: str = "rb", *, permission: int = 0o644,
             replication: int | None = None, block_size: int | None = None,
             owner: str | None = None, group: str | None = None, overwrite: bool = True,
             status: dict[str, Any] | None = None) -> DFSFile | EncryptedFile:
        """A streaming file: ``"rb"``, ``"wb"``, ``"ab"``, ``"r+b"`` or ``"xb"`` (see ``DFSFile``;
        ``status``: its FileStatus just answered, as ``DFSFile`` takes it). Under encryption, an
        ``EncryptedFile`` with the same interface over the stored ciphertext."""
        from .files import DFSFile

        def stored(mode: str, status: dict[str, Any] | None) -> DFSFile:
            return DFSFile(self, path, mode, permission=permission, replication=replication,
                           block_size=block_size, owner=owner, group=group, overwrite=overwrite,
                           status=status)
        if self.encryption and self.encryption.covers(path):
            return self.encryption.open(stored, path, mode, status)
        return stored(mode, status)

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
