"""The name node's LMDB environment: named databases, compact record encodings, one txn wrapper.

Everything the name node knows lives here, so every namespace change is one (nested) write
transaction, committed together with concurrent ones (``groupcommit``), and
survives kill -9 at any instant and a power loss within the bounds of the durability mode
(``Store``). Keys are packed so that
directory listings and per-node lookups are ordered range scans, never loads of a whole table.
"""
from __future__ import annotations

import logging
import marshal
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import lmdb

from .groupcommit import GroupCommit, WriteScope

log = logging.getLogger("dfs.name_node.store")

ROOT_INO = 1
FILE, DIR, LINK = "f", "d", "l"
# Special files: an inode with a type and a device number (``rdev``) and no blocks; the kernel of
# whoever opens one does the FIFO, socket or device I/O itself.
FIFO, CHAR, BLOCK, SOCKET = "p", "c", "b", "s"
SPECIAL_KINDS = (FIFO, CHAR, BLOCK, SOCKET)

_U64 = struct.Struct(">Q")
_DB_NAMES = ("inodes", "dirents", "extents", "xattrs", "blocks", "replicas", "pending",
             "deletions", "members", "meta", "users", "tokens", "buffers", "frozen", "bufferlog",
             "ecpolicy", "groups", "fragments", "storagepolicy",
             # snapshots (name_node.snapshots): snapshottable directories, their snapshots, the
             # frozen records of each, and how many snapshots hold each block
             "snapdirs", "snapshots", "snapnodes", "snapents", "snapextents", "snapxattrs", "held")


def pack_u64(number: int) -> bytes:
    return _U64.pack(number)


def unpack_u64(data: bytes) -> int:
    return _U64.unpack(data)[0]


@dataclass(slots=True)
class Inode:
    """One file, directory, symlink or special file. Times in ns; ``children`` counts a directory's
    entries; ``rdev`` is a device node's number (records written before it existed decode to 0)."""

    kind: str
    mode: int
    owner: str
    group: str
    size: int = 0
    atime: int = 0
    mtime: int = 0
    ctime: int = 0
    nlink: int = 1
    replication: int = 0
    block_size: int = 0
    target: str = ""
    children: int = 0
    parent: int = 0
    rdev: int = 0

    def encode(self) -> bytes:
        # explicit tuple: dataclasses.astuple deep-copies and costs ~50 µs per call
        return marshal.dumps((self.kind, self.mode, self.owner, self.group, self.size, self.atime,
                              self.mtime, self.ctime, self.nlink, self.replication, self.block_size,
                              self.target, self.children, self.parent, self.rdev))

    @classmethod
    def decode(cls, data: bytes) -> "Inode":
        return cls(*marshal.loads(data))

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR


@dataclass(slots=True)
class BlockRecord:
    """A block the name node handed out: ``owner`` is the file's inode, 0 while pending.

    ``length`` is -1 until a data node first confirms the block; replicas are confirmed node ids.
    ``crc32c`` is the CRC32C of the block's bytes as the confirming data node received them (of an
    erasure-coded group: of its logical bytes, from its writer), -1 when unknown: a block written
    before it was kept, whose WebHDFS COMPOSITE-CRC checksum is then computed from its bytes.
    """

    length: int = -1
    checksum: str = ""
    replicas: list[str] = field(default_factory=list)
    owner: int = 0
    pending_since: int = 0
    crc32c: int = -1

    def encode(self) -> bytes:
        if self.crc32c < 0:  # records without one keep the five-field form older versions read
            return marshal.dumps((self.length, self.checksum, self.replicas, self.owner, self.pending_since))
        return marshal.dumps((self.length, self.checksum, self.replicas, self.owner, self.pending_since,
                              self.crc32c))

    @classmethod
    def decode(cls, data: bytes) -> "BlockRecord":
        length, checksum, replicas, owner, since, *rest = marshal.loads(data)
        return cls(length, checksum, list(replicas), owner, since, rest[0] if rest else -1)


def node_key(node_id: str, block: int) -> bytes:
    """Key of per-node tables (replica index, deletion queue): length-prefixed id, then block."""
    raw = node_id.encode()
    return bytes((len(raw),)) + raw + _U64.pack(block)


def node_prefix(node_id: str) -> bytes:
    raw = node_id.encode()
    return bytes((len(raw),)) + raw


def split_node_key(key: bytes) -> tuple[str, int]:
    size = key[0]
    return key[1:1 + size].decode(), _U64.unpack(key[1 + size:])[0]


class Txn:
    """A transaction with typed accessors; handlers never touch raw keys."""

    __slots__ = ("txn", "db")

    # Where ``namespace.resolve`` starts, and how many leading path segments it skips: the live
    # tree here; a snapshot view (``name_node.snapshots.SnapshotView``) starts at ``.snapshot``.
    root_ino = ROOT_INO
    depth = 0

    def __init__(self, txn: lmdb.Transaction, dbs: dict[str, lmdb._Database]) -> None:
        self.txn = txn
        self.db = dbs

    # inodes --------------------------------------------------------------------------------
    def inode(self, ino: int) -> Inode | None:
        data = self.txn.get(_U64.pack(ino), db=self.db["inodes"])
        return None if data is None else Inode.decode(data)

    def put_inode(self, ino: int, inode: Inode) -> None:
        self.txn.put(_U64.pack(ino), inode.encode(), db=self.db["inodes"])

    def delete_inode(self, ino: int) -> None:
        key = _U64.pack(ino)
        self.txn.delete(key, db=self.db["inodes"])
        self.txn.delete(key, db=self.db["extents"])
        for name in list(self.xattrs(ino)):
            self.txn.delete(key + name.encode(), db=self.db["xattrs"])
        self.txn.delete(key, db=self.db["buffers"])  # a buffer directory's row (name_node.buffers)
        self.txn.delete(key, db=self.db["frozen"])
        self.txn.delete(key, db=self.db["ecpolicy"])  # an erasure coding policy (name_node.erasure)
        self.txn.delete(key, db=self.db["storagepolicy"])  # a storage policy (name_node.storagepolicy)
        self.txn.delete(key, db=self.db["snapdirs"])  # snapshottable, no snapshots (namespace.delete checks)

    # directory entries ---------------------------------------------------------------------
    def child(self, parent: int, name: str) -> int | None:
        data = self.txn.get(_U64.pack(parent) + name.encode("utf-8", "surrogateescape"), db=self.db["dirents"])
        return None if data is None else _U64.unpack(data)[0]

    def put_child(self, parent: int, name: str, ino: int) -> None:
        self.txn.put(_U64.pack(parent) + name.encode("utf-8", "surrogateescape"), _U64.pack(ino),
                     db=self.db["dirents"])

    def delete_child(self, parent: int, name: str) -> None:
        self.txn.delete(_U64.pack(parent) + name.encode("utf-8", "surrogateescape"), db=self.db["dirents"])

    def children(self, parent: int, start_after: str = "") -> Iterator[tuple[str, int]]:
        """Entries of a directory in name order, after ``start_after``: a range scan."""
        prefix = _U64.pack(parent)
        start = prefix + start_after.encode("utf-8", "surrogateescape")
        with self.txn.cursor(db=self.db["dirents"]) as cursor:
            if not cursor.set_range(start):
                return
            if start_after and cursor.key() == start and not cursor.next():
                return
            for key, value in cursor:
                if key[:8] != prefix:
                    return
                yield key[8:].decode("utf-8", "surrogateescape"), _U64.unpack(value)[0]

    # file extents: [(block number or 0 for a hole, length), ...] --------------------------
    def extents(self, ino: int) -> list[tuple[int, int]]:
        data = self.txn.get(_U64.pack(ino), db=self.db["extents"])
        return [] if data is None else [tuple(e) for e in marshal.loads(data)]

    def put_extents(self, ino: int, extents: list[tuple[int, int]]) -> None:
        self.txn.put(_U64.pack(ino), marshal.dumps(extents), db=self.db["extents"])

    # extended attributes -------------------------------------------------------------------
    def xattrs(self, ino: int) -> Iterator[str]:
        prefix = _U64.pack(ino)
        with self.txn.cursor(db=self.db["xattrs"]) as cursor:
            if not cursor.set_range(prefix):
                return
            for key in cursor.iternext(values=False):
                if key[:8] != prefix:
                    return
                yield key[8:].decode()

    def xattr(self, ino: int, name: str) -> bytes | None:
        return self.txn.get(_U64.pack(ino) + name.encode(), db=self.db["xattrs"])

    def put_xattr(self, ino: int, name: str, value: bytes) -> None:
        self.txn.put(_U64.pack(ino) + name.encode(), value, db=self.db["xattrs"])

    def delete_xattr(self, ino: int, name: str) -> bool:
        return self.txn.delete(_U64.pack(ino) + name.encode(), db=self.db["xattrs"])

    # blocks --------------------------------------------------------------------------------
    def block(self, number: int) -> BlockRecord | None:
        data = self.txn.get(_U64.pack(number), db=self.db["blocks"])
        return None if data is None else BlockRecord.decode(data)

    def put_block(self, number: int, record: BlockRecord) -> None:
        self.txn.put(_U64.pack(number), record.encode(), db=self.db["blocks"])

    def delete_block(self, number: int) -> None:
        self.txn.delete(_U64.pack(number), db=self.db["blocks"])

    def scan(self, name: str, prefix: bytes = b"", start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Ordered (key, value) pairs of table ``name`` under ``prefix`` from ``start``."""
        with self.txn.cursor(db=self.db[name]) as cursor:
            if not cursor.set_range(max(prefix, start)):
                return
            for key, value in cursor:
                if not key.startswith(prefix):
                    return
                yield key, value

    def get(self, name: str, key: bytes) -> bytes | None:
        return self.txn.get(key, db=self.db[name])

    def put(self, name: str, key: bytes, value: bytes = b"") -> None:
        self.txn.put(key, value, db=self.db[name])

    def delete(self, name: str, key: bytes) -> bool:
        return self.txn.delete(key, db=self.db[name])

    def entries(self, name: str) -> int:
        return self.txn.stat(self.db[name])["entries"]

    # counters ------------------------------------------------------------------------------
    def counter(self, name: str) -> int:
        data = self.txn.get(name.encode(), db=self.db["meta"])
        return 0 if data is None else _U64.unpack(data)[0]

    def bump(self, name: str, delta: int = 1) -> int:
        """Add ``delta`` to a counter and return the new value (ids: never reused)."""
        value = max(0, self.counter(name) + delta)
        self.txn.put(name.encode(), _U64.pack(value), db=self.db["meta"])
        return value


class Store:
    """The opened environment. Open it after fork, in the worker that serves requests.

    ``sync="always"``: a write scope ends only once its commit is on disk. ``"batch"``: it ends
    once LMDB committed it (the change is in the page cache, so a kill -9 of the process loses
    nothing) and ``start_syncer`` makes it durable within ``sync_interval`` seconds; ``sync()``
    does it at once (a client's fsync). Either way the file stays consistent at any crash.
    """

    def __init__(self, path: str, map_size: int, root_owner: str = "root",
                 root_group: str = "supergroup", sync: str = "always", sync_interval: float = 0.05) -> None:
        os.makedirs(path, exist_ok=True)
        # sync, no metasync (MDB_NOMETASYNC): a commit fdatasyncs its data pages before it writes
        # the meta page that points at them, so the file is consistent whenever it crashes; a power
        # loss may only forget the commits whose meta page was not synced yet. That meta page is
        # made durable by ``_sync_through``: outside LMDB's write lock, and one fsync covers every
        # writer that committed meanwhile (the next commit's data fdatasync covers it too).
        # Never MDB_NOSYNC: without the data fdatasync a power loss could leave a meta page
        # pointing at pages that never reached the disk.
        self.env = lmdb.open(path, map_size=map_size, max_dbs=len(_DB_NAMES) + 2, max_readers=512,
                             sync=True, metasync=False, lock=True, readahead=False)
        self.dbs = {name: self.env.open_db(name.encode()) for name in _DB_NAMES}
        self.always = sync == "always"
        self.sync_interval = sync_interval
        self._issued = 0  # write commits started, numbered in commit order (LMDB's write lock held)
        self._committed = 0  # every commit numbered up to this one has returned
        self._synced = 0  # every commit numbered up to this one is on disk, meta page included
        self.syncs = 0  # env.sync calls made (the meta-page fsyncs): /status shows it
        self._counter_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self.group = GroupCommit(self, lambda raw: Txn(raw, self.dbs))
        with self.write() as txn:
            if txn.inode(ROOT_INO) is None:
                format_root(txn, root_owner, root_group)
        self.sync()

    def read(self) -> "_Scope":
        return _Scope(self, write=False)

    def write(self) -> WriteScope:
        """A write scope: its change commits together with concurrent ones (``groupcommit``)."""
        return WriteScope(self.group)

    def start_syncer(self) -> None:
        """Batch mode: a thread that makes every commit durable within ``sync_interval``."""
        if self.always or self._syncer is not None:
            return
        self._syncer = threading.Thread(target=self._sync_loop, name="lmdb-syncer", daemon=True)
        self._syncer.start()

    def close(self) -> None:
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        self.sync()
        self.env.close()

    def sync(self) -> None:
        """Return once every commit that returned before this call is on disk."""
        with self._counter_lock:
            through = self._committed
        self._sync_through(through)

    def durability(self) -> dict[str, object]:
        """What /status shows: the mode, commits made and how many of them are on disk."""
        with self._counter_lock:
            return {"mode": "always" if self.always else "batch", "interval": self.sync_interval,
                    "commits": self._committed, "synced": self._synced, "syncs": self.syncs,
                    "changes": self.group.changes}

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.sync_interval):
            try:
                self.sync()
            except lmdb.Error:  # a full disk, say: the next round or a client's fsync tries again
                log.exception("background LMDB sync failed")

    def _commit(self, raw: lmdb.Transaction) -> None:
        """Commit a write transaction; in ``always`` mode return once it is durable."""
        with self._counter_lock:  # still inside the write transaction: numbers follow commit order
            self._issued += 1
            number = self._issued
        raw.commit()
        with self._counter_lock:
            self._committed = max(self._committed, number)
            # This commit's data fsync ran after the previous commit had written its meta page.
            self._synced = max(self._synced, number - 1)
        if self.always:
            self._sync_through(number)

    def _sync_through(self, number: int) -> None:
        if self._synced >= number:
            return
        with self._sync_lock:
            if self._synced >= number:
                return  # a sync that started after this commit returned has finished
            with self._counter_lock:
                through = self._committed
            self.env.sync(True)
            with self._counter_lock:
                self._synced = max(self._synced, through)
                self.syncs += 1


class _Scope:
    """``with store.read() as txn``: a read-only snapshot, ended on leaving."""

    __slots__ = ("store", "write", "raw")

    def __init__(self, store: Store, write: bool) -> None:
        self.store, self.write = store, write

    def __enter__(self) -> Txn:
        self.raw = self.store.env.begin(write=False)
        return Txn(self.raw, self.store.dbs)

    def __exit__(self, kind: object, value: object, trace: object) -> None:
        self.raw.abort()


def format_root(txn: Txn, owner: str = "root", group: str = "supergroup") -> None:
    """Create the root directory (inode 1) and reserve inode numbers up to it."""
    now = time.time_ns()
    txn.put_inode(ROOT_INO, Inode(DIR, 0o755, owner, group, atime=now, mtime=now, ctime=now,
                                  nlink=2, parent=ROOT_INO))
    if txn.counter("next_ino") < ROOT_INO:
        txn.bump("next_ino", ROOT_INO - txn.counter("next_ino"))
    txn.put("meta", b"dirs", pack_u64(1))
