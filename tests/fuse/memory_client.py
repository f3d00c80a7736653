"""An in-memory stand-in for ``dfs_client.HttpNameNode`` with POSIX namespace semantics.

It lets the FUSE logic be tested without a cluster (and mounted for real, see ``memory_mount.py``),
so a bug can be pinned on the driver rather than on the servers. It implements only what the mount
uses, with the errors the name node documents in docs/PROTOCOL.md.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dfs_common import errors
from dfs_common.filestatus import FileStatus
from dfs_common.paths import split_path


@dataclass(eq=False)
class Inode:
    file_id: int
    kind: str
    permission: int
    owner: str
    group: str
    data: bytearray = field(default_factory=bytearray)
    children: dict[str, "Inode"] = field(default_factory=dict)
    target: str = ""
    nlink: int = 1
    xattrs: dict[str, bytes] = field(default_factory=dict)
    atime: int = field(default_factory=time.time_ns)
    mtime: int = field(default_factory=time.time_ns)
    ctime: int = field(default_factory=time.time_ns)
    special: str = ""  # FIFO, CHAR, BLOCK or SOCKET: a FILE of the protocol's extension ``kind``
    rdev: int = 0


class MemoryNameNode:
    def __init__(self) -> None:
        self._ids = itertools.count(2)
        self.root = Inode(1, "DIRECTORY", 0o755, "root", "root", nlink=2)
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()

    # -- lookups
    def _walk(self, path: str) -> tuple[Inode, str, Inode | None]:
        names = split_path(path)
        node = self.root
        for name in names[:-1]:
            node = node.children.get(name)  # type: ignore[assignment]
            if node is None:
                raise errors.NotFound(path)
            if node.kind != "DIRECTORY":
                raise errors.NotADirectory(path)
        if not names:
            return self.root, "", self.root
        return node, names[-1], node.children.get(names[-1])

    def _get(self, path: str) -> Inode:
        _, _, node = self._walk(path)
        if node is None:
            raise errors.NotFound(path)
        return node

    def _status(self, node: Inode, name: str) -> FileStatus:
        is_dir = node.kind == "DIRECTORY"
        status: FileStatus = {
            "pathSuffix": name, "type": node.kind, "length": 0 if is_dir else len(node.data),  # type: ignore[typeddict-item]
            "fileId": node.file_id, "permission": f"{node.permission:o}", "owner": node.owner,
            "group": node.group, "nlink": node.nlink, "childrenNum": len(node.children),
            "accessTime": node.atime // 1_000_000, "modificationTime": node.mtime // 1_000_000,
            "accessTimeNs": node.atime, "modificationTimeNs": node.mtime, "changeTimeNs": node.ctime,
            "blockSize": 0 if is_dir else 128 << 20, "replication": 0 if is_dir else 1, "storagePolicy": 0}
        if node.target:
            status["symlink"] = node.target
        if node.special:
            status["kind"] = node.special  # type: ignore[typeddict-item]
            status["rdev"] = node.rdev
        return status

    # -- the API the mount uses
    def ping_alive(self) -> bool:
        return True

    def sync(self) -> None:
        """Every change is already where it stays (memory)."""

    def get_status(self, path: str) -> FileStatus:
        self.calls["get_status"] += 1
        with self.lock:
            return self._status(self._get(path), "")

    def block_locations(self, path: str) -> dict[str, Any]:
        """No blocks here (files keep their bytes in memory): the FileStatus a reader's open wants."""
        status = self.get_status(path)
        if status["type"] == "DIRECTORY":
            raise errors.IsADirectory(path)
        return {"FileStatus": status, "BlockLocation": []}

    def list_status(self, path: str) -> Iterator[FileStatus]:
        self.calls["list_status"] += 1
        with self.lock:
            node = self._get(path)
            if node.kind != "DIRECTORY":
                raise errors.NotADirectory(path)
            entries = [self._status(child, name) for name, child in sorted(node.children.items())]
        yield from entries

    def _new(self, path: str, kind: str, permission: int, owner: str | None, group: str | None) -> Inode:
        parent, name, existing = self._walk(path)
        if existing is not None:
            raise errors.AlreadyExists(path)
        if parent.permission & 0o2000:
            group = parent.group
        node = Inode(next(self._ids), kind, permission, owner or "root", group or "root",
                     nlink=2 if kind == "DIRECTORY" else 1)
        if kind == "DIRECTORY" and parent.permission & 0o2000:
            node.permission |= 0o2000
        parent.children[name] = node
        if kind == "DIRECTORY":
            parent.nlink += 1
        parent.mtime = parent.ctime = node.ctime
        return node

    def mkdirs(self, path: str, permission: int = 0o755, parents: bool = True,
               owner: str | None = None, group: str | None = None) -> bool:
        with self.lock:
            self._new(path, "DIRECTORY", permission, owner, group)
        return True

    def symlink(self, target: str, linkpath: str, owner: str | None = None, group: str | None = None) -> None:
        with self.lock:
            self._new(linkpath, "SYMLINK", 0o777, owner, group).target = target

    def mknod(self, path: str, kind: str, rdev: int = 0, permission: int = 0o644,
              owner: str | None = None, group: str | None = None) -> FileStatus:
        with self.lock:
            node = self._new(path, "FILE", permission, owner, group)
            node.special, node.rdev = kind, rdev
            return self._status(node, "")

    def delete(self, path: str, recursive: bool = False, kind: str | None = None) -> bool:
        with self.lock:
            parent, name, node = self._walk(path)
            if node is None:
                return False
            if kind == "file" and node.kind == "DIRECTORY":
                raise errors.IsADirectory(path)
            if kind == "directory" and node.kind != "DIRECTORY":
                raise errors.NotADirectory(path)
            if node.kind == "DIRECTORY":
                if node.children and not recursive:
                    raise errors.NotEmpty(path)
                parent.nlink -= 1
            del parent.children[name]
            node.nlink -= 1
            node.ctime = parent.mtime = parent.ctime = time.time_ns()
            return True

    def delete_entry(self, path: str, kind: str) -> int | None:
        with self.lock:
            if not self.delete(path, kind=kind):
                return None
            return self._walk(path)[0].mtime

    def rename_entry(self, src: str, dst: str, overwrite: bool) -> int:
        with self.lock:
            self.rename(src, dst, overwrite=overwrite)
            return self._walk(dst)[0].mtime

    def rename(self, src: str, dst: str, overwrite: bool | None = None) -> bool:
        with self.lock:
            sparent, sname, node = self._walk(src)
            if node is None:
                raise errors.NotFound(src)
            dparent, dname, target = self._walk(dst)
            if node is target:
                return True
            probe = dparent
            # a directory into itself
            if node.kind == "DIRECTORY" and (dst + "/").startswith(src.rstrip("/") + "/"):
                raise errors.InvalidMove(dst)
            del probe
            if target is not None:
                if not overwrite:
                    raise errors.AlreadyExists(dst)
                if target.kind == "DIRECTORY" and node.kind != "DIRECTORY":
                    raise errors.IsADirectory(dst)
                if target.kind != "DIRECTORY" and node.kind == "DIRECTORY":
                    raise errors.NotADirectory(dst)
                if target.kind == "DIRECTORY":
                    if target.children:
                        raise errors.NotEmpty(dst)
                    dparent.nlink -= 1
                target.nlink -= 1
            del sparent.children[sname]
            dparent.children[dname] = node
            if node.kind == "DIRECTORY":
                sparent.nlink -= 1
                dparent.nlink += 1
            now = time.time_ns()
            node.ctime = sparent.mtime = sparent.ctime = dparent.mtime = dparent.ctime = now
            return True

    def link(self, src: str, dst: str) -> None:
        with self.lock:
            node = self._get(src)
            if node.kind == "DIRECTORY":
                raise errors.NotPermitted(src)
            parent, name, existing = self._walk(dst)
            if existing is not None:
                raise errors.AlreadyExists(dst)
            parent.children[name] = node
            node.nlink += 1
            node.ctime = parent.mtime = time.time_ns()

    def set_permission(self, path: str, mode: int) -> None:
        with self.lock:
            node = self._get(path)
            node.permission, node.ctime = mode & 0o7777, time.time_ns()

    def set_owner(self, path: str, owner: str | None = None, group: str | None = None) -> None:
        with self.lock:
            node = self._get(path)
            node.owner, node.group = owner or node.owner, group or node.group
            node.ctime = time.time_ns()

    def set_times(self, path: str, mtime_ns: int | None = None, atime_ns: int | None = None) -> None:
        with self.lock:
            node = self._get(path)
            if mtime_ns is not None and mtime_ns >= 0:
                node.mtime = mtime_ns
            if atime_ns is not None and atime_ns >= 0:
                node.atime = atime_ns
            node.ctime = time.time_ns()

    def truncate(self, path: str, length: int) -> bool:
        with self.lock:
            node = self._get(path)
            _resize(node.data, length)
            node.mtime = node.ctime = time.time_ns()
            return True

    def get_xattrs(self, path: str) -> dict[str, bytes]:
        self.calls["get_xattrs"] += 1
        with self.lock:
            return dict(self._get(path).xattrs)

    def set_xattr(self, path: str, name: str, value: bytes, flag: str | None = None) -> None:
        with self.lock:
            node = self._get(path)
            if flag == "CREATE" and name in node.xattrs:
                raise errors.AlreadyExists(name)
            node.xattrs[name] = bytes(value)

    def remove_xattr(self, path: str, name: str) -> None:
        with self.lock:
            self._get(path).xattrs.pop(name)

    def fs_status(self) -> dict[str, int]:
        return {"capacity": 10 << 30, "used": 1 << 30, "remaining": 9 << 30}

    def mkfs(self) -> None:
        with self.lock:
            self.root.children.clear()

    def commit(self, path: str, blocks: list[dict[str, Any]], *, create: bool = False, overwrite: bool = False,
               permission: int = 0o644, owner: str | None = None, group: str | None = None,
               **_: Any) -> FileStatus:
        """Only what the mount sends: COMMIT of no blocks with ``create`` (a new empty file)."""
        self.calls["commit"] += 1
        assert create and not blocks and not overwrite, "the memory name node only creates with COMMIT"
        with self.lock:
            node = self._new(path, "FILE", permission, owner, group)
            return self._status(node, "")

    def check_commit(self, path: str, **_: Any) -> dict[str, Any]:
        """The name node's write check at open: the file must exist and not be a directory (the
        in-memory name node keeps no permissions or buffers that could refuse more)."""
        node = self._get(path)
        if node.kind == "DIRECTORY":
            raise errors.IsADirectory(path)
        return {"FileStatus": self._status(node, ""), "blockSize": 1 << 27, "replication": 1}

    def open(self, path: str, mode: str = "rb", *, permission: int = 0o644, owner: str | None = None,
             group: str | None = None, overwrite: bool = True, **_: Any) -> "MemoryFile":
        with self.lock:
            found = self._walk(path)[2]
            if mode == "wb":
                if found is not None and not overwrite:
                    raise errors.AlreadyExists(path)
                if found is None:
                    found = self._new(path, "FILE", permission, owner, group)
                found.data.clear()
            elif found is None:
                raise errors.NotFound(path)
            return MemoryFile(self, found, path)


class MemoryFile:
    """Buffers writes until ``flush`` like ``DFSFile``; thread-safe ``pread``/``pwrite``."""

    def __init__(self, owner: MemoryNameNode, node: Inode, path: str) -> None:
        self.namenode, self.node, self.path = owner, node, path
        self.data = bytearray(node.data)
        self.lock = threading.Lock()

    def pread(self, size: int, offset: int) -> bytes:
        with self.lock:
            return bytes(self.data[offset:offset + size])

    def pwrite(self, data: bytes, offset: int) -> int:
        with self.lock:
            if offset > len(self.data):
                self.data.extend(bytes(offset - len(self.data)))
            self.data[offset:offset + len(data)] = data
            return len(data)

    def truncate(self, length: int) -> None:
        with self.lock:
            _resize(self.data, length)

    def flush(self) -> None:
        with self.namenode.lock, self.lock:
            self.node.data[:] = self.data
            self.node.mtime = self.node.ctime = time.time_ns()

    def fsync(self) -> None:
        self.flush()

    def close(self) -> None:
        pass


def _resize(buffer: bytearray, length: int) -> None:
    if length < len(buffer):
        del buffer[length:]
    else:
        buffer.extend(bytes(length - len(buffer)))
