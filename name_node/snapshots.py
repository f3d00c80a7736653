"""Snapshots: a directory's subtree frozen, read-only, under ``<dir>/.snapshot/<name>``.

A snapshot is a frozen copy of the subtree's namespace records, made in the one write transaction
of CREATESNAPSHOT: every inode, directory entry, extent list and extended attribute below the
directory is copied under the snapshot's id (tables ``snapnodes``, ``snapents``, ``snapextents``,
``snapxattrs``, each keyed by the snapshot id first, so one snapshot is one key range of each).
Bytes are never copied. Blocks are immutable, so the frozen extent lists name the live files'
blocks, and ``held`` counts the snapshots naming each block: ``blockmap.drop_blocks`` leaves a
held block alone (record, replicas and owner unchanged), so deleting, truncating or overwriting
the live file keeps the snapshot's bytes, and DELETESNAPSHOT collects each block that no snapshot
holds and no live file lists any more (its replicas go to the data nodes' deletion queues).

Reads go through ``SnapshotView``, a ``Txn`` whose inode numbers carry the snapshot id in their
high bits (``compose``), so every handler that reads the live tree reads a snapshot unchanged, and
an inode seen in two snapshots is two files to the mount (``du`` and ``cp`` never take them for
hard links). Its root is the ``.snapshot`` directory itself, whose entries are the snapshots.
"""
from __future__ import annotations

import marshal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dfs_common.errors import NotFound, NotPermitted, SnapshotError
from dfs_common.paths import MAX_NAME_BYTES, split_path

from . import blockmap, namespace
from .filestatus import file_status
from .permissions import EXECUTE, Caller, check
from .store import DIR, FILE, Inode, Store, Txn, pack_u64, unpack_u64

DOT_SNAPSHOT = ".snapshot"
SNAPSHOT_QUOTA = 65536  # snapshots a directory may have (HDFS's limit, reported as snapshotQuota)
_SHIFT = 40  # view inode = snapshot id << 40 | inode: ids below 2**23 keep it a positive int64
_MASK = (1 << _SHIFT) - 1
MAX_SNAPSHOT_ID = (1 << 23) - 1
READ_ONLY = "Modification on a read-only snapshot is disallowed"


def compose(snapshot_id: int, ino: int) -> int:
    return (snapshot_id << _SHIFT) | ino


def split(view_ino: int) -> tuple[int, int]:
    return view_ino >> _SHIFT, view_ino & _MASK


@dataclass(frozen=True, slots=True)
class SnapshotPath:
    """A path with a ``.snapshot`` segment: the snapshottable directory and how many segments a
    view skips (those of the directory and ``.snapshot``; the view's root is ``.snapshot``)."""

    directory: str
    depth: int


def locate(path: str) -> SnapshotPath | None:
    """Where ``path`` enters a snapshot, or None for a path of the live tree."""
    if DOT_SNAPSHOT not in path:
        return None
    segments = split_path(path)
    if DOT_SNAPSHOT not in segments:
        return None
    at = segments.index(DOT_SNAPSHOT)
    return SnapshotPath("/" + "/".join(segments[:at]), at + 1)


class SnapshotView(Txn):
    """The namespace below ``<dir>/.snapshot``: frozen records, live blocks. Read-only twice
    over: write ops never reach one (``NameNode.webhdfs``), and it wraps a read transaction."""

    __slots__ = ("root_ino", "depth", "dir_ino")

    def __init__(self, txn: Txn, dir_ino: int, depth: int) -> None:
        super().__init__(txn.txn, txn.db)
        self.dir_ino = dir_ino
        self.root_ino = compose(0, dir_ino)
        self.depth = depth

    def _key(self, view_ino: int) -> bytes:
        snapshot_id, ino = split(view_ino)
        return pack_u64(snapshot_id) + pack_u64(ino)

    def _names(self) -> Iterator[tuple[str, int, int]]:
        """(name, snapshot id, creation time) of this directory's snapshots, in name order."""
        prefix = pack_u64(self.dir_ino)
        for key, value in self.scan("snapshots", prefix):
            snapshot_id, created = marshal.loads(value)
            yield key[8:].decode("utf-8", "surrogateescape"), snapshot_id, created

    def inode(self, ino: int) -> Inode | None:
        snapshot_id, raw = split(ino)
        if snapshot_id == 0:
            return self._dot_snapshot() if raw == self.dir_ino else None
        data = self.txn.get(self._key(ino), db=self.db["snapnodes"])
        return None if data is None else Inode.decode(data)

    def _dot_snapshot(self) -> Inode | None:
        """``.snapshot``: the directory's owner and mode without write bits, one entry a snapshot."""
        live = Txn.inode(self, self.dir_ino)
        if live is None:
            return None
        names = list(self._names())
        newest = max((created for _, _, created in names), default=live.mtime)
        return Inode(DIR, live.mode & 0o7555, live.owner, live.group, atime=newest, mtime=newest, ctime=newest,
                     nlink=2 + len(names), children=len(names), parent=self.dir_ino)

    def child(self, parent: int, name: str) -> int | None:
        snapshot_id, raw = split(parent)
        encoded = name.encode("utf-8", "surrogateescape")
        if snapshot_id == 0:
            row = self.txn.get(pack_u64(self.dir_ino) + encoded, db=self.db["snapshots"])
            return None if row is None else compose(marshal.loads(row)[0], self.dir_ino)
        data = self.txn.get(self._key(parent) + encoded, db=self.db["snapents"])
        return None if data is None else compose(snapshot_id, unpack_u64(data))

    def children(self, parent: int, start_after: str = "") -> Iterator[tuple[str, int]]:
        snapshot_id, raw = split(parent)
        if snapshot_id == 0:
            for name, child_id, _ in self._names():
                if name > start_after or not start_after:
                    yield name, compose(child_id, self.dir_ino)
            return
        prefix = self._key(parent)
        start = prefix + start_after.encode("utf-8", "surrogateescape")
        for key, value in self.scan("snapents", prefix, start):
            name = key[16:].decode("utf-8", "surrogateescape")
            if start_after and name == start_after:
                continue
            yield name, compose(snapshot_id, unpack_u64(value))

    def extents(self, ino: int) -> list[tuple[int, int]]:
        data = self.txn.get(self._key(ino), db=self.db["snapextents"])
        return [] if data is None else [tuple(e) for e in marshal.loads(data)]

    def xattrs(self, ino: int) -> Iterator[str]:
        prefix = self._key(ino)
        for key, _ in self.scan("snapxattrs", prefix):
            yield key[16:].decode()

    def xattr(self, ino: int, name: str) -> bytes | None:
        return self.txn.get(self._key(ino) + name.encode(), db=self.db["snapxattrs"])


@contextmanager
def reading(store: Store, where: SnapshotPath, caller: Caller) -> Iterator[Txn]:
    """A read transaction seen through the snapshot view of ``where.directory``."""
    with store.read() as txn:
        yield view_of(txn, where, caller)


def view_of(txn: Txn, where: SnapshotPath, caller: Caller) -> SnapshotView:
    ino, inode = namespace.resolve_existing(txn, where.directory, caller, follow=True)
    if not inode.is_dir or txn.get("snapdirs", pack_u64(ino)) is None:
        raise NotFound(f"File does not exist: {where.directory}/{DOT_SNAPSHOT} "
                       f"({where.directory} is not a snapshottable directory)")
    check(caller, inode, EXECUTE, where.directory)
    return SnapshotView(txn, ino, where.depth)


# -- changes (each inside the caller's write transaction) -------------------------------------

def allow(txn: Txn, path: str, caller: Caller) -> None:
    """ALLOWSNAPSHOT (superuser only, as HDFS): nested snapshottable directories are refused."""
    ino = _directory(txn, path, caller)
    _superuser(caller, "allow snapshots on", path)
    if txn.get("snapdirs", pack_u64(ino)) is not None:
        return
    for key, _ in txn.scan("snapdirs"):
        other = unpack_u64(key)
        if namespace.is_inside(txn, other, ino) or namespace.is_inside(txn, ino, other):
            raise SnapshotError(f"Nested snapshottable directories not allowed: {path} and "
                                f"{path_of(txn, other)}")
    txn.put("snapdirs", pack_u64(ino))


def disallow(txn: Txn, path: str, caller: Caller) -> None:
    """DISALLOWSNAPSHOT (superuser only): refused while the directory has snapshots."""
    ino = _directory(txn, path, caller)
    _superuser(caller, "disallow snapshots on", path)
    if next(txn.scan("snapshots", pack_u64(ino)), None) is not None:
        raise SnapshotError(f"The directory {path} has snapshot(s). Please redo the operation after "
                            "removing all the snapshots.")
    txn.delete("snapdirs", pack_u64(ino))


def create(txn: Txn, path: str, name: str | None, caller: Caller, now: int) -> str:
    """CREATESNAPSHOT: freeze the subtree (O(its entries), see the module); answers its path."""
    ino = _snapshottable(txn, path, caller)
    if not name:
        name = time.strftime("s%Y%m%d-%H%M%S", time.gmtime(now / 1e9)) + f".{now // 1_000_000 % 1000:03d}"
    _check_name(name)
    key = pack_u64(ino) + name.encode("utf-8", "surrogateescape")
    if txn.get("snapshots", key) is not None:
        raise SnapshotError(f'Failed to create the snapshot. The snapshot "{name}" already exists on {path}')
    if sum(1 for _ in txn.scan("snapshots", pack_u64(ino))) >= SNAPSHOT_QUOTA:
        raise SnapshotError(f"Failed to create snapshot: there are already {SNAPSHOT_QUOTA} snapshot(s) "
                            f"and the snapshot quota is {SNAPSHOT_QUOTA}")
    snapshot_id = txn.bump("next_snapshot")
    if snapshot_id > MAX_SNAPSHOT_ID:
        raise SnapshotError("No snapshot ids left on this name node")
    _freeze(txn, snapshot_id, ino)
    txn.put("snapshots", key, marshal.dumps((snapshot_id, now)))
    return path.rstrip("/") + f"/{DOT_SNAPSHOT}/{name}"


def rename(txn: Txn, path: str, old: str, new: str, caller: Caller) -> None:
    """RENAMESNAPSHOT: only the name row moves; the frozen records are keyed by id."""
    ino = _snapshottable(txn, path, caller)
    _check_name(new)
    prefix = pack_u64(ino)
    row = txn.get("snapshots", prefix + old.encode("utf-8", "surrogateescape"))
    if row is None:
        raise SnapshotError(f"The snapshot {old} does not exist for directory {path}")
    if old == new:
        return
    if txn.get("snapshots", prefix + new.encode("utf-8", "surrogateescape")) is not None:
        raise SnapshotError(f"The snapshot {new} already exists for directory {path}")
    txn.delete("snapshots", prefix + old.encode("utf-8", "surrogateescape"))
    txn.put("snapshots", prefix + new.encode("utf-8", "surrogateescape"), row)


def delete(txn: Txn, path: str, name: str, caller: Caller) -> int:
    """DELETESNAPSHOT: drop the snapshot's records and collect the blocks only it kept.
    Answers how many blocks were collected (their replicas queued for deletion)."""
    ino = _snapshottable(txn, path, caller)
    key = pack_u64(ino) + name.encode("utf-8", "surrogateescape")
    row = txn.get("snapshots", key)
    if row is None:
        raise SnapshotError(f"Cannot delete snapshot {name} from path {path}: the snapshot does not exist.")
    snapshot_id = marshal.loads(row)[0]
    txn.delete("snapshots", key)
    prefix = pack_u64(snapshot_id)
    released: set[int] = set()
    for table in ("snapnodes", "snapents", "snapxattrs", "snapextents"):
        keys = []
        for found, value in txn.scan(table, prefix):
            keys.append(found)
            if table == "snapextents":
                released.update(number for number, _ in marshal.loads(value) if number)
        for found in keys:
            txn.delete(table, found)
    free = [number for number in released if _unhold(txn, number)]
    listed: dict[int, set[int]] = {}
    garbage = []
    for number in free:
        record = txn.block(number)
        if record is None:
            continue
        if record.owner and txn.inode(record.owner) is not None:
            if record.owner not in listed:
                listed[record.owner] = {n for n, _ in txn.extents(record.owner)}
            if number in listed[record.owner]:
                continue  # the live file still lists it
        garbage.append(number)
    return blockmap.drop_blocks(txn, garbage)


def _freeze(txn: Txn, snapshot_id: int, root: int) -> None:
    prefix = pack_u64(snapshot_id)
    seen: set[int] = set()
    stack = [root]
    while stack:
        ino = stack.pop()
        if ino in seen:
            continue  # a hard link: one frozen inode, every entry naming it
        seen.add(ino)
        inode = txn.inode(ino)
        if inode is None:
            continue
        key = prefix + pack_u64(ino)
        txn.put("snapnodes", key, inode.encode())
        for attribute in list(txn.xattrs(ino)):
            value = txn.xattr(ino, attribute)
            if value is not None:
                txn.put("snapxattrs", key + attribute.encode(), value)
        if inode.kind == DIR:
            entries = list(txn.children(ino))  # (read whole before writing other tables)
            for name, child in entries:
                txn.put("snapents", key + name.encode("utf-8", "surrogateescape"), pack_u64(child))
                stack.append(child)
        elif inode.kind == FILE:
            extents = txn.extents(ino)
            txn.put("snapextents", key, marshal.dumps(extents))
            for number in {number for number, _ in extents if number}:
                count = txn.get("held", pack_u64(number))
                txn.put("held", pack_u64(number), pack_u64(1 + (unpack_u64(count) if count else 0)))


def frozen_file(txn: Txn, number: int, ino: int) -> Inode | None:
    """A frozen copy of file ``ino`` when some snapshot still holds block ``number``: what the
    healer keeps a block's copies by once the live file that named it is gone."""
    if txn.get("held", pack_u64(number)) is None:
        return None
    for _, value in txn.scan("snapshots"):
        snapshot_id, _ = marshal.loads(value)
        data = txn.get("snapnodes", pack_u64(snapshot_id) + pack_u64(ino))
        if data is not None:
            return Inode.decode(data)
    return None


def _unhold(txn: Txn, number: int) -> bool:
    """One snapshot fewer holds ``number``; True when none does any more."""
    count = txn.get("held", pack_u64(number))
    left = (unpack_u64(count) if count else 1) - 1
    if left > 0:
        txn.put("held", pack_u64(number), pack_u64(left))
        return False
    txn.delete("held", pack_u64(number))
    return True


# -- reports ----------------------------------------------------------------------------------

def diff(txn: Txn, path: str, old: str, new: str, caller: Caller) -> dict[str, Any]:
    """GETSNAPSHOTDIFF from snapshot ``old`` to ``new`` ("" or "." is the live tree): entries
    matched by inode number, so a moved entry is a RENAME; a created or deleted directory is one
    entry, not one per thing inside it. O(entries of both trees) in time and memory."""
    ino = _snapshottable(txn, path, caller, owner=False)
    before = _tree(txn, ino, old, path)
    after = _tree(txn, ino, new, path)
    entries: list[dict[str, str]] = []
    for number, (where, parent, signature) in before.items():
        now = after.get(number)
        if now is None:
            if parent in after or parent == number:  # (not each thing inside a deleted directory)
                entries.append({"type": "DELETE", "sourcePath": where})
        elif now[0] != where:
            entries.append({"type": "RENAME", "sourcePath": where, "targetPath": now[0]})
        elif now[2] != signature:
            entries.append({"type": "MODIFY", "sourcePath": where})
    for number, (where, parent, _) in after.items():
        if number not in before and (parent in before or parent == number):
            entries.append({"type": "CREATE", "sourcePath": where})
    order = {"MODIFY": 0, "CREATE": 1, "DELETE": 2, "RENAME": 3}
    entries.sort(key=lambda e: (order[e["type"]], e["sourcePath"]))
    return {"diffList": entries, "fromSnapshot": old, "snapshotRoot": path, "toSnapshot": new}


def _tree(txn: Txn, dir_ino: int, name: str, path: str) -> dict[int, tuple[str, int, tuple[Any, ...]]]:
    """inode → (path relative to the directory, parent inode, what a MODIFY compares)."""
    source: Txn = txn
    root = dir_ino
    if name not in ("", "."):
        row = txn.get("snapshots", pack_u64(dir_ino) + name.encode("utf-8", "surrogateescape"))
        if row is None:
            raise SnapshotError(f"Cannot find the snapshot of directory {path} with name {name}")
        source = SnapshotView(txn, dir_ino, 0)
        root = compose(marshal.loads(row)[0], dir_ino)
    tree: dict[int, tuple[str, int, tuple[Any, ...]]] = {}
    stack: list[tuple[int, str, int]] = [(root, "", root & _MASK)]
    while stack:
        current, where, parent = stack.pop()
        number = current & _MASK
        inode = source.inode(current)
        if inode is None or number in tree:
            continue
        signature: tuple[Any, ...] = (inode.kind, inode.mode, inode.owner, inode.group, inode.mtime,
                                      inode.size, inode.target)
        if inode.kind == FILE:
            signature += (tuple(source.extents(current)),)
        tree[number] = (where, parent, signature)
        if inode.kind == DIR:
            for child_name, child in source.children(current):
                stack.append((child, f"{where}/{child_name}" if where else child_name, number))
    return tree


def snapshottable_directories(txn: Txn, caller: Caller) -> list[dict[str, Any]]:
    """GETSNAPSHOTTABLEDIRECTORYLIST: the caller's own (a superuser: every) snapshottable directory."""
    listed = []
    for key, _ in txn.scan("snapdirs"):
        ino = unpack_u64(key)
        inode = txn.inode(ino)
        if inode is None or not (caller.superuser or inode.owner == caller.user):
            continue
        full = path_of(txn, ino)
        parent, _, name = full.rpartition("/")
        listed.append({"dirStatus": file_status(name, ino, inode), "parentFullPath": parent or ("/" if name else ""),
                       "snapshotNumber": sum(1 for _ in txn.scan("snapshots", key)),
                       "snapshotQuota": SNAPSHOT_QUOTA})
    return sorted(listed, key=lambda d: (d["parentFullPath"], d["dirStatus"]["pathSuffix"]))


def snapshot_list(txn: Txn, path: str, caller: Caller) -> list[dict[str, Any]]:
    """GETSNAPSHOTLIST, each with ``exclusiveBytes`` (ours): the bytes of blocks only snapshots
    hold any more, what deleting every snapshot of the directory could give back (``du``-style)."""
    ino = _snapshottable(txn, path, caller, owner=False)
    view = SnapshotView(txn, ino, 0)
    answers = []
    for name, snapshot_id, _created in view._names():
        root = compose(snapshot_id, ino)
        inode = view.inode(root)
        if inode is None:
            continue
        answers.append({"dirStatus": file_status(name, root, inode), "snapshotID": snapshot_id,
                        "fullPath": path.rstrip("/") + f"/{DOT_SNAPSHOT}/{name}", "deletionStatus": "ACTIVE",
                        "exclusiveBytes": _exclusive_bytes(txn, snapshot_id)})
    return answers


def _exclusive_bytes(txn: Txn, snapshot_id: int) -> int:
    listed: dict[int, set[int]] = {}
    total = 0
    seen: set[int] = set()
    for _, value in txn.scan("snapextents", pack_u64(snapshot_id)):
        for number, length in marshal.loads(value):
            if not number or number in seen:
                continue
            seen.add(number)
            record = txn.block(number)
            if record is None:
                continue
            if record.owner and txn.inode(record.owner) is not None:
                if record.owner not in listed:
                    listed[record.owner] = {n for n, _ in txn.extents(record.owner)}
                if number in listed[record.owner]:
                    continue
            total += max(record.length, length)
    return total


def path_of(txn: Txn, ino: int) -> str:
    """The path of a directory, from its parent pointers (each name found by a scan of its
    parent's entries: for reports, not for hot paths)."""
    names: list[str] = []
    while ino != txn.root_ino:
        inode = txn.inode(ino)
        if inode is None:
            break
        parent = inode.parent
        names.append(next((name for name, child in txn.children(parent) if child == ino), f"#{ino}"))
        ino = parent
    return "/" + "/".join(reversed(names))


# -- rules ------------------------------------------------------------------------------------

def _directory(txn: Txn, path: str, caller: Caller) -> int:
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    if inode.kind != DIR:
        raise SnapshotError(f"{path} is not a directory")
    return ino


def _snapshottable(txn: Txn, path: str, caller: Caller, owner: bool = True) -> int:
    """The directory's inode, once it is snapshottable and (for changes) the caller owns it."""
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    if inode.kind != DIR or txn.get("snapdirs", pack_u64(ino)) is None:
        raise SnapshotError(f"Directory is not a snapshottable directory: {path}")
    if owner and not caller.superuser and inode.owner != caller.user:
        raise NotPermitted(f"Permission denied: only the owner of {path} or the superuser may change its snapshots")
    return ino


def _superuser(caller: Caller, what: str, path: str) -> None:
    if not caller.superuser:
        raise NotPermitted(f"Access denied for user {caller.user}. Superuser privilege is required "
                           f"to {what} {path}")


def _check_name(name: str) -> None:
    encoded = name.encode("utf-8", "surrogateescape")
    if (not name or "/" in name or name in (".", "..", DOT_SNAPSHOT) or "\0" in name
            or len(encoded) > MAX_NAME_BYTES):
        raise SnapshotError(f'Invalid snapshot name: "{name[:40]}"')
