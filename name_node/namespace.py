"""The namespace: path resolution and every change to directories, files, links and attributes.

Each function works inside the caller's write transaction, so one request is one atomic change.
Inodes are keyed by number and directory entries by (parent inode, name); a hard link is a second
entry naming the same inode, and an inode goes (with its blocks) when its last link does.
"""
from __future__ import annotations

import stat
from dataclasses import dataclass

from dfs_common.errors import (AlreadyExists, IllegalArgument, InvalidMove, IsADirectory, NotEmpty,
                               NotAFile, NotFound, NotADirectory, NotPermitted, SnapshotError, Unsupported)
from dfs_common.filestatus import SpecialKind
from dfs_common.paths import split_path

from . import blockmap, buffers
from .permissions import EXECUTE, WRITE, Caller, allowed, check, check_sticky
from .store import BLOCK, CHAR, DIR, FIFO, FILE, LINK, ROOT_INO, SOCKET, SPECIAL_KINDS, Inode, Txn, unpack_u64

MAX_SYMLINK_HOPS = 40
SPECIAL_NAMES: dict[str, SpecialKind] = {FIFO: "FIFO", CHAR: "CHAR", BLOCK: "BLOCK", SOCKET: "SOCKET"}


@dataclass(slots=True)
class Resolved:
    """Where a path leads: its inode (None if the last name is free) and the directory holding it."""

    path: str
    ino: int | None
    inode: Inode | None
    parent_ino: int
    parent: Inode
    name: str

    def existing(self) -> tuple[int, Inode]:
        if self.ino is None or self.inode is None:
            raise NotFound(f"File does not exist: {self.path}")
        return self.ino, self.inode


def resolve(txn: Txn, path: str, caller: Caller, follow: bool = False) -> Resolved:
    """Walk ``path`` from the root, checking search permission on every directory passed.

    Symlinks in the middle of a path are followed (absolute or relative, at most 40); the last
    component is followed only when ``follow`` is set (open, not stat).
    """
    segments = list(split_path(path))[txn.depth:]
    ino = txn.root_ino
    root = txn.inode(ino)
    assert root is not None, "the root inode always exists"
    node: Inode = root
    parent_ino, parent, name = ino, node, ""
    hops, i = 0, 0
    while i < len(segments):
        name = segments[i]
        if not node.is_dir:
            raise NotADirectory(f"Not a directory: a component of {path}")
        if not caller.superuser and not allowed(caller, node, EXECUTE):
            check(caller, node, EXECUTE, path)
        if name in ("", "."):
            i += 1
            continue
        if name == "..":
            ino = node.parent
            node = txn.inode(ino) or node
            i += 1
            continue
        parent_ino, parent = ino, node
        child = txn.child(ino, name)
        last = i == len(segments) - 1
        if child is None:
            if not last:
                raise NotFound(f"File does not exist: {path}")
            return Resolved(path, None, None, parent_ino, parent, name)
        child_node = txn.inode(child)
        if child_node is None:
            raise NotFound(f"File does not exist: {path} (dangling entry)")
        if child_node.kind == LINK and (follow or not last):
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise IllegalArgument(f"Too many levels of symbolic links: {path}")
            target = child_node.target
            rest = segments[i + 1:]
            if target.startswith("/"):
                ino, node = txn.root_ino, root  # (in a snapshot view: its .snapshot directory)
            segments = target.split("/") + rest
            i = 0
            if not [s for s in segments if s not in ("", ".")]:
                name = ""
            continue
        ino, node = child, child_node
        i += 1
    return Resolved(path, ino, node, parent_ino, parent, name)


def resolve_existing(txn: Txn, path: str, caller: Caller, follow: bool = False) -> tuple[int, Inode]:
    return resolve(txn, path, caller, follow).existing()


def new_inode(txn: Txn, kind: str, mode: int, caller: Caller, parent: Inode, now: int,
              owner: str | None = None, group: str | None = None, ino: int | None = None) -> tuple[int, Inode]:
    """Allocate an inode in the parent's group (HDFS's rule, BSD's: a WebHDFS client gets what HDFS
    gives it); setgid parents also pass on the bit to subdirectories. The superuser may name the
    owner and group: the insecure mount does, with the local caller's (POSIX's rule). ``ino``: a
    number reserved earlier (``leases``), else the next one."""
    ino = ino or txn.bump("next_ino")
    if not caller.superuser:
        owner, group = None, None
    if parent.mode & stat.S_ISGID and kind == DIR:
        mode |= stat.S_ISGID
    inode = Inode(kind, mode & 0o7777, owner or caller.user, group or parent.group,
                  atime=now, mtime=now, ctime=now, nlink=2 if kind == DIR else 1)
    txn.bump("dirs" if kind == DIR else "files")
    return ino, inode


def add_entry(txn: Txn, where: Resolved, ino: int, inode: Inode, now: int) -> None:
    """Link ``inode`` into the directory ``where`` names; the directory's times and counts follow."""
    parent = where.parent
    buffers.check_writable(txn, where.parent_ino, where.path)
    txn.put_child(where.parent_ino, where.name, ino)
    parent.children += 1
    if inode.kind == DIR:
        parent.nlink += 1
        inode.parent = where.parent_ino
    parent.mtime = parent.ctime = now
    txn.put_inode(ino, inode)
    txn.put_inode(where.parent_ino, parent)
    buffers.entry_added(txn, where.parent_ino, inode)


def remove_entry(txn: Txn, parent_ino: int, parent: Inode, name: str, child: Inode, now: int) -> None:
    buffers.check_writable(txn, parent_ino, name)
    buffers.entry_removed(txn, parent_ino, child)
    txn.delete_child(parent_ino, name)
    parent.children -= 1
    if child.kind == DIR:
        parent.nlink -= 1
    parent.mtime = parent.ctime = now
    txn.put_inode(parent_ino, parent)


def release(txn: Txn, ino: int, inode: Inode, now: int) -> None:
    """Drop one link of a non-directory; the last one frees the inode and its blocks."""
    inode.nlink -= 1
    if inode.nlink > 0:
        inode.ctime = now
        txn.put_inode(ino, inode)
        return
    blockmap.drop_blocks(txn, [number for number, _ in txn.extents(ino)])
    txn.delete_inode(ino)
    txn.bump("files", -1)


def require_file(inode: Inode, path: str, read: bool = False) -> None:
    """A regular file: the only kind with bytes (OPEN, APPEND, TRUNCATE, COMMIT, block lists).
    A directory is EISDIR either way; for the reads (``read``) it is HDFS's 404 "Path is not a file"."""
    if inode.kind == DIR:
        if read:
            raise NotAFile(f"Path is not a file: {path}")
        raise IsADirectory(f"{path} is a directory")
    if inode.kind in SPECIAL_NAMES:
        raise Unsupported(f"{path} is a {SPECIAL_NAMES[inode.kind]} special file: it has no data on DFS "
                          "(the kernel of whoever opens it does its I/O)")
    if inode.kind != FILE:
        raise NotFound(f"File does not exist: {path} (a dangling or looping symlink)")


def check_create(caller: Caller, where: Resolved) -> None:
    check(caller, where.parent, WRITE | EXECUTE, where.path)


def mkdirs(txn: Txn, path: str, caller: Caller, mode: int, now: int, parents: bool = True,
           owner: str | None = None, group: str | None = None) -> None:
    """``mkdir -p`` (or plain ``mkdir`` when ``parents`` is false) in one transaction."""
    where = resolve(txn, path, caller) if not parents else None
    if where is not None:
        if where.ino is not None:
            raise AlreadyExists(f"{path} already exists")
        _mkdir_at(txn, where, caller, mode, now, owner, group)
        return
    segments = split_path(path)
    for depth in range(1, len(segments) + 1):
        prefix = "/" + "/".join(segments[:depth])
        where = resolve(txn, prefix, caller)
        if where.inode is not None:
            if not where.inode.is_dir:
                if depth == len(segments):
                    raise AlreadyExists(f"{prefix} exists and is not a directory")
                raise NotADirectory(f"Parent path is not a directory: {prefix}")
            continue
        _mkdir_at(txn, where, caller, mode if depth == len(segments) else mode | 0o300, now, owner, group)


def _mkdir_at(txn: Txn, where: Resolved, caller: Caller, mode: int, now: int,
              owner: str | None, group: str | None) -> None:
    check_create(caller, where)
    ino, inode = new_inode(txn, DIR, mode, caller, where.parent, now, owner, group)
    add_entry(txn, where, ino, inode, now)


def create_file(txn: Txn, where: Resolved, caller: Caller, mode: int, replication: int,
                block_size: int, now: int, owner: str | None = None, group: str | None = None,
                ino: int | None = None) -> tuple[int, Inode]:
    check_create(caller, where)
    ino, inode = new_inode(txn, FILE, mode, caller, where.parent, now, owner, group, ino)
    inode.replication, inode.block_size = replication, block_size
    add_entry(txn, where, ino, inode, now)
    txn.put_extents(ino, [])
    return ino, inode


def symlink(txn: Txn, target: str, path: str, caller: Caller, now: int, create_parent: bool,
            owner: str | None = None, group: str | None = None) -> None:
    if not target or "\0" in target or len(target.encode()) > 4096:
        raise IllegalArgument("Invalid symlink target")
    if create_parent:
        segments = split_path(path)
        if len(segments) > 1:
            mkdirs(txn, "/" + "/".join(segments[:-1]), caller, 0o755, now)
    where = resolve(txn, path, caller)
    if where.ino is not None:
        raise AlreadyExists(f"{path} already exists")
    check_create(caller, where)
    ino, inode = new_inode(txn, LINK, 0o777, caller, where.parent, now, owner, group)
    inode.target, inode.size = target, len(target.encode())
    add_entry(txn, where, ino, inode, now)


def mknod(txn: Txn, path: str, kind: str, mode: int, rdev: int, caller: Caller, now: int,
          owner: str | None = None, group: str | None = None) -> tuple[int, Inode]:
    """A FIFO, socket or device node: an inode with no blocks (as ``mknod(2)``, EEXIST if taken)."""
    if kind not in SPECIAL_KINDS:
        raise IllegalArgument(f"Not a special file kind: {kind!r}")
    where = resolve(txn, path, caller)
    if where.ino is not None:
        raise AlreadyExists(f"{path} already exists")
    check_create(caller, where)
    ino, inode = new_inode(txn, kind, mode, caller, where.parent, now, owner, group)
    inode.rdev = rdev
    add_entry(txn, where, ino, inode, now)
    return ino, inode


def link(txn: Txn, source: str, destination: str, caller: Caller, now: int) -> None:
    """A hard link: a second name for the same inode (directories cannot be linked)."""
    ino, inode = resolve_existing(txn, source, caller)
    if inode.is_dir:
        raise NotPermitted(f"Cannot hard-link a directory: {source}")
    where = resolve(txn, destination, caller)
    if where.ino is not None:
        raise AlreadyExists(f"{destination} already exists")
    check_create(caller, where)
    inode.nlink += 1
    inode.ctime = now
    add_entry(txn, where, ino, inode, now)


def delete(txn: Txn, path: str, caller: Caller, recursive: bool, now: int,
           kind: str | None = None) -> bool:
    """Unlink a path (a whole tree with ``recursive``); False when nothing is there. ``kind``
    "file" refuses a directory (``unlink(2)``), "directory" anything else (``rmdir(2)``), decided
    in this transaction so a name replaced meanwhile by another client is never removed by mistake.
    A missing parent is False as in HDFS for a plain WebHDFS DELETE, ENOENT with ``kind`` (the mount)."""
    try:
        where = resolve(txn, path, caller)
    except NotFound:
        if kind is not None:
            raise
        return False
    if where.ino is None or where.inode is None:
        return False
    if where.ino == ROOT_INO:
        return False  # as HDFS: the root is never deleted (mkfs empties it)
    check(caller, where.parent, WRITE | EXECUTE, path)
    check_sticky(caller, where.parent, where.inode, path)
    if kind == "file" and where.inode.is_dir:
        raise IsADirectory(f"{path} is a directory")
    if kind == "directory" and not where.inode.is_dir:
        raise NotADirectory(f"{path} is not a directory")
    if where.inode.is_dir:
        if where.inode.children and not recursive:
            raise NotEmpty(f"{path} is non empty': Directory is not empty")
        check_no_snapshots(txn, where.ino, path)
        _empty_directory(txn, where.ino, where.inode, caller, path, now)
        txn.delete_inode(where.ino)
        txn.bump("dirs", -1)
    else:
        release(txn, where.ino, where.inode, now)
    remove_entry(txn, where.parent_ino, where.parent, where.name, where.inode, now)
    return True


def _empty_directory(txn: Txn, ino: int, inode: Inode, caller: Caller, path: str, now: int) -> None:
    """Remove everything below a directory, depth first, checking rights on each directory."""
    stack: list[tuple[int, Inode, str]] = [(ino, inode, path)]
    while stack:
        dir_ino, dir_node, dir_path = stack[-1]
        batch = []
        for name, child in txn.children(dir_ino):
            batch.append((name, child))
            if len(batch) >= 1000:
                break
        if not batch:
            stack.pop()
            continue
        check(caller, dir_node, WRITE | EXECUTE, dir_path)
        buffers.check_writable(txn, dir_ino, dir_path)
        for name, child in batch:
            child_node = txn.inode(child)
            child_path = dir_path.rstrip("/") + "/" + name
            if child_node is None:
                txn.delete_child(dir_ino, name)
                continue
            check_sticky(caller, dir_node, child_node, child_path)
            if child_node.is_dir and next(txn.children(child), None) is not None:
                stack.append((child, child_node, child_path))
                break
            txn.delete_child(dir_ino, name)
            if child_node.is_dir:
                check(caller, child_node, WRITE | EXECUTE, child_path)
                txn.delete_inode(child)
                txn.bump("dirs", -1)
            else:
                release(txn, child, child_node, now)
    inode.children, inode.nlink = 0, 2
    inode.mtime = inode.ctime = now
    txn.put_inode(ino, inode)


def concat(txn: Txn, path: str, sources: list[str], caller: Caller, now: int) -> None:
    """HDFS concat: the sources' blocks move, in order, to the end of ``path`` and the sources go."""
    ino, inode = resolve_existing(txn, path, caller)
    require_file(inode, path)
    check(caller, inode, WRITE, path)
    extents = txn.extents(ino)
    seen = {ino}
    for source in sources:
        where = resolve(txn, source, caller)
        src_ino, src = where.existing()
        require_file(src, source)
        if src_ino in seen:
            raise IllegalArgument(f"concat: {source} is the target or listed twice")
        seen.add(src_ino)
        check(caller, where.parent, WRITE | EXECUTE, source)
        moved = txn.extents(src_ino)
        for number, _ in moved:
            record = txn.block(number) if number else None
            if record is not None:
                record.owner = ino
                txn.put_block(number, record)
        extents.extend(moved)
        inode.size += src.size
        txn.put_extents(src_ino, [])
        src.size = 0
        remove_entry(txn, where.parent_ino, where.parent, where.name, src, now)
        release(txn, src_ino, src, now)
    txn.put_extents(ino, extents)
    inode.mtime = inode.ctime = now
    txn.put_inode(ino, inode)


def rename(txn: Txn, source: str, destination: str, caller: Caller, now: int,
           options: str | None = None) -> bool:
    """HDFS rename (``options`` None: into a directory, False on most failures) or POSIX rename(2)
    (``options`` NONE/OVERWRITE: exact errors, an existing target replaced atomically)."""
    posix = options is not None
    try:
        src = resolve(txn, source, caller)
    except (NotFound, NotADirectory):  # a missing parent: HDFS answers false, POSIX ENOENT/ENOTDIR
        if posix:
            raise
        return False
    if src.ino is None or src.inode is None:
        if posix:
            raise NotFound(f"File does not exist: {source}")
        return False
    if src.ino == ROOT_INO:
        if posix:
            raise InvalidMove("Cannot rename the root directory")
        return False
    try:
        dst = resolve(txn, destination, caller)
    except (NotFound, NotADirectory):
        if posix:
            raise
        return False
    if not posix and dst.inode is not None and dst.inode.is_dir and dst.ino != src.ino:
        dst = resolve(txn, destination.rstrip("/") + "/" + src.name, caller)
    if src.inode.is_dir and is_inside(txn, dst.parent_ino, src.ino):
        raise InvalidMove(f"Cannot move {source} into itself ({destination})")
    if dst.ino is not None and dst.inode is not None:
        if dst.ino == src.ino:
            return True
        if not posix:
            return False
        if (options or "").upper() != "OVERWRITE":
            raise AlreadyExists(f"rename destination {destination} already exists")
        if dst.inode.is_dir and not src.inode.is_dir:
            raise IsADirectory(f"rename destination {destination} is a directory")
        if src.inode.is_dir and not dst.inode.is_dir:
            raise NotADirectory(f"rename destination {destination} is not a directory")
        if dst.inode.is_dir and dst.inode.children:
            raise NotEmpty(f"rename destination directory is not empty: {destination}")
        if dst.inode.is_dir:
            check_no_snapshots(txn, dst.ino, destination)
    check(caller, src.parent, WRITE | EXECUTE, source)
    check_sticky(caller, src.parent, src.inode, source)
    check(caller, dst.parent, WRITE | EXECUTE, destination)
    if dst.ino is not None and dst.inode is not None:
        check_sticky(caller, dst.parent, dst.inode, destination)
        remove_entry(txn, dst.parent_ino, dst.parent, dst.name, dst.inode, now)
        if dst.inode.is_dir:
            txn.delete_inode(dst.ino)
            txn.bump("dirs", -1)
        else:
            release(txn, dst.ino, dst.inode, now)
        if dst.parent_ino == src.parent_ino:
            src.parent = dst.parent
    remove_entry(txn, src.parent_ino, src.parent, src.name, src.inode, now)
    if dst.parent_ino == src.parent_ino:
        dst.parent = src.parent
    else:
        fresh = txn.inode(dst.parent_ino)
        assert fresh is not None
        dst.parent = fresh
    src.inode.ctime = now
    add_entry(txn, Resolved(destination, None, None, dst.parent_ino, dst.parent, dst.name), src.ino, src.inode, now)
    return True


def check_no_snapshots(txn: Txn, ino: int, path: str) -> None:
    """A directory that is, or holds, a snapshottable directory with snapshots is not removed
    (HDFS's rule: delete the snapshots first). Free while no directory is snapshottable."""
    if not txn.entries("snapdirs"):
        return
    for key, _ in txn.scan("snapdirs"):
        snap_dir = unpack_u64(key)
        if is_inside(txn, snap_dir, ino) and next(txn.scan("snapshots", key), None) is not None:
            raise SnapshotError(f"The directory {path} cannot be deleted since it is or holds a "
                                "snapshottable directory with snapshots")


def is_inside(txn: Txn, ino: int, ancestor: int) -> bool:
    """Whether directory ``ino`` is ``ancestor`` or below it (walks parent pointers up to /)."""
    while True:
        if ino == ancestor:
            return True
        if ino == ROOT_INO:
            return False
        node = txn.inode(ino)
        if node is None:
            return False
        ino = node.parent
