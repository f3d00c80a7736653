"""The mount's filesystem logic, free of FUSE: paths in, ``stat`` dicts and bytes out, DFS errors raised.

``operations.py`` is a thin adapter over this class; tests drive it directly with any object that
offers the ``dfs_client.HttpNameNode`` API. Every method raises ``OSError`` subclasses (the
``dfs_common.errors`` classes, or a plain ``OSError(errno)``); the adapter turns them into errno.

Consistency (what another mount of the same cluster sees):

- close-to-open: ``open`` always asks the name node for the file's current status, and the kernel is
  told (``keep_cache`` off, ``coherence.py``) to drop cached pages when size or mtime changed; ``flush``/``fsync``/``release``
  commit our writes (``DFSFile.flush``: data nodes confirmed, name node committed) before returning.
- attributes: answers are cached here at most ``attr_timeout`` seconds, like the kernel's own cache.
  A directory's listing is kept as long (``cache.Listings``), so a lookup of a missing name in a
  directory this mount listed costs no request: a name another mount created in the last
  ``attr_timeout`` seconds may still be reported missing, as a removed one may still be reported
  present. Our own changes update the cached answers (a new entry's FileStatus, the parent's times)
  instead of dropping them, so a ``cp -r`` does not re-ask for every directory after every file.
- leases (``leases.py``): in a directory this mount made and still holds the lease of, nobody else
  looks or changes, so its names are exact here and ``create``/``unlink`` are queued blind; any
  other client's look waits until they are in.

Identity: the mount talks to the name node as its superuser and records the *caller's* uid/gid on
create, mkdir and symlink; the kernel enforces permissions (``default_permissions``).
"""
from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dfs_client.api import NameNodeAPI
from dfs_common import errors
from dfs_common.paths import split_path

from .cache import Listings, TTLCache
from .coherence import Coherence
from .handles import DirHandle, FileHandle, HandleTable, OpenFile
from .identity import IdentityMap
from .leases import CLOSE_BEHIND_BYTES, MountLeases

SNAPSHOT_DIR = ".snapshot"  # a snapshottable directory's read-only snapshots (name_node/snapshots.py)
log = logging.getLogger("dfs_fuse")

MiB = 1024 * 1024
# 1 MiB: the largest request libfuse 3 passes, so cp/dd pick buffers that fill one request.
IO_BLOCK_SIZE = MiB
STATFS_BLOCK = 4096
_TYPES = {"FILE": stat_mod.S_IFREG, "DIRECTORY": stat_mod.S_IFDIR, "SYMLINK": stat_mod.S_IFLNK}
# Special files are FileStatus ``type: FILE`` with an extension ``kind`` (docs/PROTOCOL.md).
_SPECIAL = {"FIFO": stat_mod.S_IFIFO, "CHAR": stat_mod.S_IFCHR, "BLOCK": stat_mod.S_IFBLK,
            "SOCKET": stat_mod.S_IFSOCK}
_SPECIAL_NAMES = {mode: name for name, mode in _SPECIAL.items()}
# Names in these namespaces are not stored on DFS: ACLs are not supported and security labels belong
# to the local machine. Answering them here keeps `ls -l` (which asks for both per entry) local.
LOCAL_XATTR_PREFIXES = ("system.posix_acl_", "security.")
XATTR_CREATE, XATTR_REPLACE = 1, 2
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
# A lookup costs about as much as listing 64 entries (GETFILESTATUS 0.9 ms, a LISTSTATUS_BATCH page
# about 14 µs per entry, measured on loopback): a directory is listed instead of looked up name by
# name once the lookups in it (within two attribute timeouts) times this reach its entry count.
ENTRIES_PER_LOOKUP = 64
# Directories larger than this are never listed for lookups (a listing costs ~14 µs per entry).
MAX_LISTED = 50_000
# Seconds a directory's entry count is trusted for deciding to list it (it answers nothing).
CHILDREN_TTL = 60.0


@dataclass(frozen=True)
class Caller:
    """Who asked (``fuse_get_context``): recorded as owner and group of what they create."""

    uid: int
    gid: int


class FileSystem:
    def __init__(self, client: NameNodeAPI, *, attr_timeout: float = 1.0, read_only: bool = False,
                 identity: IdentityMap | None = None,
                 open_file: Callable[[Any, str, str, Mapping[str, Any] | None], Any] | None = None,
                 leases: MountLeases | None = None) -> None:
        self.client = client
        self.leases = leases  # directories this mount made, where it creates files blind
        self._open_file = open_file or default_file_opener(client)
        self.read_only = read_only
        self.identity = identity or IdentityMap()
        self._attrs: TTLCache[str, dict[str, Any]] = TTLCache(attr_timeout)
        self._xattrs: TTLCache[str, dict[str, bytes]] = TTLCache(attr_timeout)
        self._statfs: TTLCache[str, dict[str, int]] = TTLCache(attr_timeout)
        self._listings = Listings(attr_timeout)
        if leases is not None:
            leases.on_recall = self._listings.drop_tree
        # Caching an answer and noting this mount's own change happen under it: an answer read
        # before our change must not land after it (``_remember``).
        self._cache_lock = threading.Lock()
        # childrenNum of directories: only the cost estimate of ``_worth_listing`` (never an answer),
        # so it may be older than the attribute timeout; our own changes keep it current.
        self._children: TTLCache[str, int] = TTLCache(max(attr_timeout, CHILDREN_TTL), max_entries=10_000)
        self._demand: TTLCache[str, int] = TTLCache(2 * attr_timeout)  # uncached lookups per directory
        self._files = HandleTable()
        self._dirs = HandleTable()
        self._open: dict[int, OpenFile] = {}  # fileId -> the shared open file
        self._open_lock = threading.Lock()
        self.coherence = Coherence()  # the kernel's caches: other names' attributes, pages per open

    # ---------------------------------------------------------------- attributes

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        handle = self._files.get(fh) if fh is not None else None
        if handle is not None:
            path = handle.open_file.path
        attrs = self._attrs.get(path)
        if attrs is None:
            attrs = self._lookup(path)
        return self._with_open_size(attrs)

    def _lookup(self, path: str) -> dict[str, Any]:
        """Attributes not in the cache: from a fresh listing of the parent if there is one (or one
        is worth fetching now), else from the name node."""
        split_path(path)  # ENAMETOOLONG / EINVAL without a round trip
        parent, name = os.path.split(path)
        if self.leases is not None:
            if self.leases.contains(parent, name) is False:
                raise errors.NotFound(path)  # a directory we hold the lease of: we know every name in it
            made = self.leases.status_of(path)  # one we made: we know its attributes
            if made is not None:
                return self._remember(path, made, since=self._listings.generation)
        if name and name != SNAPSHOT_DIR:  # (listings never show a snapshottable directory's .snapshot)
            present = self._listings.contains(parent, name)
            # Also when the names are fresh but this entry's attributes expired (a long ``ls -l``
            # outlives the timeout it started with): one listing beats a request per entry.
            if present is not False and self._worth_listing(parent):
                self._list(parent)
                attrs = self._attrs.get(path)
                if attrs is not None:
                    return attrs
                present = self._listings.contains(parent, name)
            if present is False:
                raise errors.NotFound(path)
        return self._fetch_attrs(path)

    def _worth_listing(self, directory: str) -> bool:
        demand = (self._demand.get(directory) or 0) + 1
        self._demand.put(directory, demand)
        children = self._children.get(directory)
        return children is not None and children <= MAX_LISTED and demand * ENTRIES_PER_LOOKUP >= children

    def _list(self, directory: str) -> None:
        """List ``directory`` whole, priming the attribute cache and its name set."""
        generation = self._listings.generation
        names: set[str] = set()
        try:
            statuses = list(self.client.list_status(directory))
        except OSError:
            return  # the lookup asks the name node itself, and gets the right error
        if generation != self._listings.generation:
            return  # we changed the namespace meanwhile: the listing may be behind
        for status in statuses:
            name = status.get("pathSuffix", "")
            if name:
                names.add(name)
                self._remember(_join(directory, name), status, since=generation)
        self._listings.put(directory, names, generation)

    def _fetch_attrs(self, path: str) -> dict[str, Any]:
        split_path(path)  # ENAMETOOLONG / EINVAL without a round trip
        generation = self._listings.generation
        return self._remember(path, self.client.get_status(path), since=generation)

    def _remember(self, path: str, status: Mapping[str, Any], since: int | None = None) -> dict[str, Any]:
        """Cache a FileStatus just answered for ``path``; answer its ``stat`` dict.

        ``since``: the answer was *read* (a listing, a GETFILESTATUS) by a request sent at that
        ``Listings.generation``; it is cached only if this mount changed nothing since, because a
        read sent before our own change may be answered before it and arrive after it (a listing
        fetched while another thread closed a file would put back its size before the write).
        Without ``since`` the status is the answer to our own change: noted as one, then cached.
        """
        attrs = self.to_stat(status)
        if not self._cache_answer(self._attrs, path, attrs, since):
            return attrs
        self.coherence.answered(path, attrs)
        if status.get("type") == "DIRECTORY" and status.get("childrenNum") is not None:
            self._children.put(path, int(status["childrenNum"]))
        return attrs

    def _cache_answer(self, cache: TTLCache[str, Any], path: str, value: Any, since: int | None) -> bool:
        """Put ``value`` in ``cache`` under ``path`` unless it was read (``since``, see
        ``_remember``) before a change of ours; ``since=None``: it answers our own change, which is
        noted first. Under the lock our changes take, so the check and the put are one step."""
        with self._cache_lock:
            if since is None:
                self._listings.note_change()
            elif since != self._listings.generation:
                return False
            cache.put(path, value)
            return True

    def _with_open_size(self, attrs: dict[str, Any]) -> dict[str, Any]:
        open_file = self._open.get(attrs["st_ino"])  # one dict read: atomic, no lock on every getattr
        if open_file is None or not open_file.dirty or getattr(open_file.file, "failed", False):
            return attrs  # (a failed writer's bytes will never be committed: the file is as it was)
        attrs = dict(attrs, st_size=open_file.size, st_blocks=(open_file.size + 511) // 512)
        attrs["st_mtime"] = attrs["st_ctime"] = open_file.mtime_ns
        return attrs

    def to_stat(self, status: Mapping[str, Any]) -> dict[str, Any]:
        """A FileStatus as the ``stat`` dict FUSE wants (times in ns, ids mapped to this machine)."""
        kind = _SPECIAL.get(status.get("kind", "")) or _TYPES.get(status.get("type", "FILE"), stat_mod.S_IFREG)
        size = int(status.get("length", 0))
        if kind == stat_mod.S_IFLNK:
            size = len(str(status.get("symlink", "")).encode("utf-8", "surrogateescape"))
        elif kind == stat_mod.S_IFDIR:
            size = 4096
        mtime = _ns(status, "modificationTimeNs", "modificationTime")
        return {
            "st_mode": kind | _permission(status.get("permission", "755")),
            "st_ino": int(status.get("fileId", 0)),
            "st_nlink": int(status.get("nlink") or (2 if kind == stat_mod.S_IFDIR else 1)),
            "st_uid": self.identity.uid(status.get("owner")),
            "st_gid": self.identity.gid(status.get("group")),
            "st_size": size,
            "st_blocks": (size + 511) // 512 if kind == stat_mod.S_IFREG else (8 if kind == stat_mod.S_IFDIR else 0),
            "st_blksize": IO_BLOCK_SIZE,
            "st_atime": _ns(status, "accessTimeNs", "accessTime") or mtime,
            "st_mtime": mtime,
            "st_ctime": _ns(status, "changeTimeNs", "modificationTime") or mtime,
            "st_rdev": int(status.get("rdev") or 0),
        }

    def _forget(self, *paths: str) -> None:
        """Drop what we know of ``paths`` (their parents are ``_entry_changed``'s job): we changed
        them, so an answer in flight about them is no longer to be cached either."""
        with self._cache_lock:
            self._listings.note_change()
            for path in paths:
                self._attrs.pop(path)
                self._xattrs.pop(path)

    def _forget_tree(self, *paths: str) -> None:
        """``_forget`` for paths that may be directories: everything below them goes too (a scan of
        the whole cache, so only for a rename or rmdir, never per created file)."""
        for path in paths:
            self._attrs.drop_tree(path)
            self._xattrs.drop_tree(path)
            self._listings.drop_tree(path)
            if self.leases is not None:
                self.leases.drop_tree(path)

    def _entry_changed(self, path: str, *, added: bool, nlink: int = 0, when_ns: int | None = None) -> None:
        """This mount added or removed the entry ``path``: its name in the parent's listing, and the
        parent's times (``when_ns`` when the name node said it, else our clock: exact once the
        cached attributes expire) and link count, so the kernel's re-check of the parent (it drops
        a directory's attributes after every change in it) needs no request."""
        parent, name = os.path.split(path)
        self._listings.changed(parent, added=name if added else None, removed=None if added else name)
        when = time.time_ns() if when_ns is None else when_ns
        if self.leases is not None:
            self.leases.changed(parent, added=name if added else None, removed=None if added else name,
                                when_ns=when, nlink=nlink)
        self._children.update(parent, lambda count: max(count + (1 if added else -1), 0))
        self._attrs.update(parent, lambda attrs: dict(attrs, st_mtime=when, st_ctime=when,
                                                      st_nlink=attrs["st_nlink"] + nlink))

    def _forget_links(self, attrs: dict[str, Any] | None = None, *, keep: str | None = None,
                      also: tuple[str, ...] = ()) -> None:
        """Hard links share an inode: after link/unlink/rename other names' nlink/ctime are stale
        (nothing else can be when the inode had a single name), here and in the kernel (every name
        but ``keep``, whose fresh answer the kernel has, and ``also``)."""
        if attrs is None or (attrs["st_nlink"] > 1 and not stat_mod.S_ISDIR(attrs["st_mode"])):
            self._attrs.clear()
            if attrs is not None:
                self.coherence.changed(attrs["st_ino"], keep=keep, also=also)

    def _attributes_changed(self, path: str) -> None:
        """``path``'s inode changed (mode, owner, times, size): if other names share it, they are
        stale here and in the kernel."""
        if self.leases is not None:
            self.leases.attributes_changed(path)
        attrs = self._attrs_or_none(path)
        if attrs is not None and attrs["st_nlink"] > 1 and not stat_mod.S_ISDIR(attrs["st_mode"]):
            for other in self.coherence.changed(attrs["st_ino"], keep=path):
                self._attrs.pop(other)

    def access(self, path: str, amode: int) -> None:
        # With default_permissions the kernel checks mode bits itself; we only confirm existence.
        self.getattr(path)
        if amode & os.W_OK and self.read_only:
            raise errors.ReadOnly("read-only mount")

    def statfs(self) -> dict[str, int]:
        cached = self._statfs.get("/")
        if cached is not None:
            return cached
        status = self.client.fs_status()
        capacity, remaining = int(status.get("capacity", 0)), int(status.get("remaining", 0))
        used = int(status.get("used", max(capacity - remaining, 0)))
        free = max(min(remaining, capacity - used) if capacity else remaining, 0)
        answer = {
            "f_bsize": IO_BLOCK_SIZE, "f_frsize": STATFS_BLOCK,
            "f_blocks": capacity // STATFS_BLOCK, "f_bfree": free // STATFS_BLOCK,
            "f_bavail": free // STATFS_BLOCK,
            "f_files": 1 << 32, "f_ffree": 1 << 31, "f_favail": 1 << 31,
            "f_namemax": 255,
        }
        self._statfs.put("/", answer)
        return answer

    # ---------------------------------------------------------------- directories

    def opendir(self, path: str) -> int:
        attrs = self.getattr(path)
        if not stat_mod.S_ISDIR(attrs["st_mode"]):
            raise errors.NotADirectory(path)
        return self._dirs.add(DirHandle(path, lambda: self._listing(path)))

    def _listing(self, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        yield ".", self.getattr(path)
        parent = os.path.dirname(path)
        yield "..", (self.getattr(parent) if parent != path else self.getattr(path))
        generation = self._listings.generation
        names: set[str] | None = set()
        for status in self.client.list_status(path):
            name = status.get("pathSuffix", "")
            if not name:
                continue
            if names is not None and len(names) < MAX_LISTED:
                names.add(name)
            else:
                names = None
            attrs = self._remember(_join(path, name), status, since=generation)
            yield name, self._with_open_size(attrs)
        if names is not None:
            self._listings.put(path, names, generation)

    def readdir(self, path: str, fh: int, offset: int = 0) -> Iterator[tuple[str, dict[str, Any], int]]:
        handle: DirHandle | None = self._dirs.get(fh)
        if handle is None:
            handle = DirHandle(path, lambda: self._listing(path))
        return handle.entries_after(offset)

    def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh)

    def fsyncdir(self) -> None:
        """``fsync(2)`` of a directory: every change this mount made (a blind create or unlink
        included, ``leases.py``) is on the name node's disk before it returns."""
        self.client.sync()

    def mkdir(self, path: str, mode: int, caller: Caller) -> None:
        self._writable()
        split_path(path)
        owner, group = self._creator(path, caller)
        generation = self._listings.generation
        if self.leases is not None:
            self.leases.mkdir(path, mode & 0o7777, owner, group)
        else:
            self.client.mkdirs(path, permission=mode & 0o7777, parents=False, owner=owner, group=group)
        # A directory we just made is empty: lookups in it (``cp -r``, ``tar x`` ask for every name
        # before creating it) need no request. Not kept if this mount changed anything meanwhile
        # (so before ``_forget``, which counts as a change).
        self._listings.put(path, set(), generation)
        self._forget(path)
        self._children.put(path, 0)
        self._entry_changed(path, added=True, nlink=1, when_ns=self._ctime_of_new(path))

    def rmdir(self, path: str) -> None:
        self._writable()
        # The name node decides "is it a directory" in the same transaction as the removal.
        when = self._delete_entry(path, "directory")
        self._forget_tree(path)
        self._entry_changed(path, added=False, nlink=-1, when_ns=when)

    def _delete_entry(self, path: str, kind: str) -> int:
        """Remove ``path`` if it still is a ``kind``; when another client replaced or removed it,
        what this mount and the kernel cached of the name is stale: dropped before the error goes
        up, so the caller's next look (``rm -r`` listing the directory again) sees what is there."""
        try:
            when = self.client.delete_entry(path, kind=kind)
            if when is None:
                raise errors.NotFound(path)
            return when
        except (errors.NotFound, errors.IsADirectory, errors.NotADirectory):
            self._forget_tree(path)
            self.coherence.invalidate(path)
            raise

    # ---------------------------------------------------------------- names

    def unlink(self, path: str) -> None:
        self._writable()
        # The kernel looked the name up just before, so these attributes are that fresh (they
        # only update cached link counts); the name node refuses a directory in the same
        # transaction as the removal, so a name replaced by a directory meanwhile stays.
        attrs = self.getattr(path)
        parent, name = os.path.split(path)
        if self.leases is not None and stat_mod.S_ISREG(attrs["st_mode"]) \
                and self.leases.unlink(parent, name, attrs["st_ino"]):
            when = None  # removed blind (``leases.py``): our clock stamps the directory
        else:
            when = self._delete_entry(path, "file")
        self._forget(path)
        self._entry_changed(path, added=False, when_ns=when)
        self.coherence.removed(attrs["st_ino"], path)
        self._forget_links(attrs)

    def rename(self, old: str, new: str, flags: int = 0) -> None:
        self._writable()
        if flags & RENAME_EXCHANGE:
            raise OSError(errno.EINVAL, "RENAME_EXCHANGE is not supported")
        if flags & ~RENAME_NOREPLACE:
            raise OSError(errno.EINVAL, f"unknown rename flags {flags:#x}")
        split_path(new)
        moved, replaced = self._attrs.get(old), self._attrs.get(new)
        new_parent, new_name = os.path.split(new)
        replaces = replaced is not None or self._listings.contains(new_parent, new_name) is not False
        if replaces and (moved is None or replaced is None):
            moved, replaced = self._attrs_or_none(old), self._attrs_or_none(new)
            replaces = replaced is not None
        when = self.client.rename_entry(old, new, overwrite=not flags & RENAME_NOREPLACE)
        if replaces and moved is not None and replaced is not None and moved["st_ino"] == replaced["st_ino"]:
            return  # two links of one file: POSIX rename(2) does nothing and both names stay
        self._forget_tree(old, new)
        self._entry_changed(old, added=False, when_ns=when)
        self._entry_changed(new, added=True, when_ns=when)
        if moved is None or stat_mod.S_ISDIR(moved["st_mode"]) or replaces:
            for parent in {os.path.dirname(old), new_parent}:
                self._attrs.pop(parent)  # moved or replaced directories change link counts: ask again
        if replaced is not None:
            self.coherence.removed(replaced["st_ino"], new)
        if moved is not None:
            self.coherence.renamed(moved["st_ino"], old, new)
        if moved is None or replaces:
            self._forget_links(replaced)
        self._forget_links(moved, keep=new)
        with self._open_lock:
            open_files = list(self._open.values())
        prefix = old.rstrip("/") + "/"
        for open_file in open_files:
            if open_file.path == old:
                open_file.retarget(new)
            elif open_file.path.startswith(prefix):
                open_file.retarget(new + open_file.path[len(old):])

    def _ctime_of_new(self, path: str) -> int | None:
        """The ctime of an entry just made, which is its parent's new mtime and ctime (one name node
        transaction): libfuse looks the entry up next anyway, so this costs no extra request."""
        try:
            return int(self._fetch_attrs(path)["st_ctime"])
        except FileNotFoundError:
            return None  # removed by another client meanwhile: our clock will do

    def _attrs_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            return self.getattr(path)
        except FileNotFoundError:
            return None

    def link(self, existing: str, new: str) -> None:
        self._writable()
        split_path(new)
        attrs = self._attrs_or_none(existing)
        self.client.link(existing, new)
        self._forget(existing, new)
        self._forget_links()
        if self.leases is not None:  # two names now: a close behind one would not be waited for by the other
            self.leases.linked(int((attrs or self.getattr(new))["st_ino"]))
        self._entry_changed(new, added=True, when_ns=self._ctime_of_new(new))
        if attrs is not None:  # the kernel has ``new``'s answer; every older name is stale
            self.coherence.changed(attrs["st_ino"], keep=new, also=(existing,))

    def symlink(self, path: str, target: str, caller: Caller) -> None:
        self._writable()
        split_path(path)
        owner, group = self._creator(path, caller)
        self.client.symlink(target, path, owner=owner, group=group)
        self._forget(path)
        self._entry_changed(path, added=True, when_ns=self._ctime_of_new(path))

    def mknod(self, path: str, mode: int, rdev: int, caller: Caller) -> None:
        """A FIFO, socket or device node (the kernel checked the caller may make it); a regular file
        when ``mode`` says so, made as ``create`` makes one."""
        self._writable()
        split_path(path)
        kind = stat_mod.S_IFMT(mode)
        owner, group = self._creator(path, caller)
        if kind == stat_mod.S_IFREG:
            # addBlock: the answer also hands out the new file's first block (``take_first_block``)
            status = self.client.commit(path, [], create=True, overwrite=False, addBlock=True,
                                        permission=mode & 0o7777, owner=owner, group=group)
        elif kind in _SPECIAL_NAMES:
            status = self.client.mknod(path, _SPECIAL_NAMES[kind], rdev=rdev, permission=mode & 0o7777,
                                       owner=owner, group=group)
        else:
            raise OSError(errno.EINVAL, "mknod of an unknown file type")
        self._forget(path)
        self._remember(path, status)
        self._xattrs.put(path, {})
        self._entry_changed(path, added=True, when_ns=_ns(status, "changeTimeNs", "modificationTime"))

    def readlink(self, path: str) -> str:
        status = self.client.get_status(path)
        if status.get("type") != "SYMLINK":
            raise OSError(errno.EINVAL, "not a symbolic link")
        return str(status.get("symlink", ""))

    # ---------------------------------------------------------------- attributes that change

    def chmod(self, path: str, mode: int) -> None:
        self._writable()
        self.client.set_permission(path, mode & 0o7777)
        self._forget(path)  # libfuse asks for the new attributes next: the name node's ctime, exact
        self._attributes_changed(path)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._writable()
        owner = None if uid == -1 else self.identity.owner(uid)
        group = None if gid == -1 else self.identity.group(gid)
        if owner is None and group is None:
            self.client.set_times(path)  # chown(path, -1, -1) changes nothing but the ctime
        else:
            self.client.set_owner(path, owner=owner, group=group)
        self._forget(path)
        self._attributes_changed(path)

    def utimens(self, path: str, times: tuple[int | None, int | None] | None) -> None:
        """``None`` in a slot leaves that timestamp alone (``UTIME_OMIT``); no tuple means now."""
        self._writable()
        if times is None:
            now = time.time_ns()
            times = (now, now)
        atime, mtime = (None if t is None else int(t) for t in times)
        if atime is None and mtime is None:
            return
        self.client.set_times(path, mtime_ns=mtime, atime_ns=atime)
        self._forget(path)  # as chmod: the ctime the name node set, not ours
        self._attributes_changed(path)

    def truncate(self, path: str, length: int, fh: int | None = None) -> None:
        self._writable()
        if length < 0:
            raise OSError(errno.EINVAL, "negative length")
        handle: FileHandle | None = self._files.get(fh) if fh is not None else None
        open_file = handle.open_file if handle else self._open_file_at(path)
        if open_file is None:
            self.client.truncate(path, length)
        else:
            # Through the open file, or its pending writes would later undo the truncation.
            open_file.file.truncate(length)
            open_file.wrote(length=length)
            open_file.commit()
        self._forget(open_file.path if open_file else path)
        self._attributes_changed(open_file.path if open_file else path)

    def fallocate(self, fh: int, mode: int, offset: int, length: int) -> None:
        if mode != 0:
            raise OSError(errno.EOPNOTSUPP, "only plain fallocate is supported")
        if offset < 0 or length <= 0:
            raise OSError(errno.EINVAL, "bad fallocate range")
        handle = self._handle(fh)
        if not handle.writable:
            raise OSError(errno.EBADF, "not open for writing")
        open_file = handle.open_file
        if offset + length > open_file.size:
            open_file.file.truncate(offset + length)
            open_file.wrote(length=offset + length)

    # ---------------------------------------------------------------- extended attributes

    def getxattr(self, path: str, name: str) -> bytes:
        if name.startswith(LOCAL_XATTR_PREFIXES):
            raise OSError(errno.ENODATA, "no such attribute")
        value = self._xattr_map(path).get(name)
        if value is None:
            raise OSError(errno.ENODATA, "no such attribute")
        return value

    def listxattr(self, path: str) -> list[str]:
        return list(self._xattr_map(path))

    def setxattr(self, path: str, name: str, value: bytes, options: int) -> None:
        self._writable()
        if name.startswith(LOCAL_XATTR_PREFIXES):
            raise OSError(errno.EOPNOTSUPP, "ACLs and security labels are not stored on DFS")
        flag = "CREATE" if options & XATTR_CREATE else "REPLACE" if options & XATTR_REPLACE else None
        if flag == "REPLACE" and name not in self._xattr_map(path, fresh=True):
            raise OSError(errno.ENODATA, "no such attribute")
        self.client.set_xattr(path, name, value, flag=flag)
        self._forget(path)
        self._attributes_changed(path)

    def removexattr(self, path: str, name: str) -> None:
        self._writable()
        if name.startswith(LOCAL_XATTR_PREFIXES) or name not in self._xattr_map(path, fresh=True):
            raise OSError(errno.ENODATA, "no such attribute")
        self.client.remove_xattr(path, name)
        self._forget(path)
        self._attributes_changed(path)

    def _xattr_map(self, path: str, fresh: bool = False) -> dict[str, bytes]:
        cached = None if fresh else self._xattrs.get(path)
        if cached is None:
            generation = self._listings.generation
            cached = self.client.get_xattrs(path)
            self._cache_answer(self._xattrs, path, cached, since=generation)
        return cached

    # ---------------------------------------------------------------- files

    def create(self, path: str, mode: int, flags: int, caller: Caller) -> int:
        """One COMMIT makes the empty file (visible to every mount from now on, ``O_EXCL`` decided
        by the name node); its answer is the FileStatus the kernel asks for next."""
        self._writable()
        split_path(path)
        owner, group = self._creator(path, caller)
        if self.leases is not None:
            parent, name = os.path.split(path)
            if self.leases.contains(parent, name) and flags & os.O_EXCL:
                raise errors.AlreadyExists(path)
            made = self.leases.status_of(parent)
            shown_group = group or (made["group"] if made else self.identity.group(self.getattr(parent)["st_gid"]))
            blind = self.leases.create(parent, name, {"permission": f"{mode & 0o7777:o}", "owner": owner,
                                                      "group": shown_group}, group)
            if blind is not None:
                return self._created(path, blind, flags)
        try:
            # addBlock: the answer also hands out the new file's first block (``take_first_block``)
            status = self.client.commit(path, [], create=True, overwrite=False, addBlock=True,
                                        permission=mode & 0o7777, owner=owner, group=group)
        except errors.AlreadyExists:
            if flags & os.O_EXCL:
                raise
            return self.open(path, flags)  # another mount created it meanwhile: open(2) semantics
        return self._created(path, status, flags)

    def _created(self, path: str, status: Mapping[str, Any], flags: int) -> int:
        """The new file ``path`` is ``status``: cached as our own change, opened for its writer."""
        self._forget(path)
        self._remember(path, status)
        self._xattrs.put(path, {})
        # The parent's times are the new file's: the name node sets both in one transaction.
        self._entry_changed(path, added=True, when_ns=_ns(status, "changeTimeNs", "modificationTime"))
        file = DeferredFile(lambda name: self._first_use(name, status), path)
        return self._add_handle(path, status, flags, file)

    def _first_use(self, path: str, status: Mapping[str, Any]) -> Any:
        """The new file's DFSFile, at its first read or write: a file created blind then asks,
        with its create, for the block its first bytes go to."""
        if self.leases is not None:
            self.leases.first_block(int(status.get("fileId", 0)))
        return self._open_file(self.client, path, "r+b", status)

    def open(self, path: str, flags: int) -> int:
        generation = self._listings.generation
        status = self._status_for_open(path, flags)
        if status.get("type") == "DIRECTORY":
            raise errors.IsADirectory(path)
        accmode = flags & os.O_ACCMODE
        if accmode != os.O_RDONLY or flags & os.O_TRUNC:
            self._writable()
            # open(2) for writing fails at once where no COMMIT could succeed (EROFS in a frozen
            # buffer, EACCES after a chmod elsewhere), not at close after the writes were taken
            self.client.check_commit(path, create=False, overwrite=True, fileId=int(status.get("fileId", 0)))
        self._remember(path, status, since=generation)
        fh = self._add_handle(path, status, flags, None)
        if flags & os.O_TRUNC:
            handle = self._handle(fh)
            handle.open_file.file.truncate(0)
            handle.open_file.wrote(length=0)
        return fh

    def open_cached(self, path: str, flags: int) -> tuple[int, bool]:
        """``open`` plus whether the kernel may keep the pages it cached of the file (close-to-open:
        only if this open's fresh size and mtime are those the pages were cached at)."""
        fh = self.open(path, flags)
        open_file = self._handle(fh).open_file
        return fh, self.coherence.keep_pages(open_file.file_id, open_file.size, open_file.mtime_ns,
                                             open_file.dirty)

    def _status_for_open(self, path: str, flags: int) -> Mapping[str, Any]:
        """Asked afresh at every open (close-to-open: never a cached size). A reader asks for the
        block list, whose answer carries the FileStatus too, so the file it opens need not ask
        again: reading a small file costs one request less."""
        if flags & os.O_ACCMODE == os.O_WRONLY:
            return self.client.get_status(path)
        located = self.client.block_locations(path)
        return {**located["FileStatus"], "BlockLocation": located.get("BlockLocation") or []}

    def _add_handle(self, path: str, status: Mapping[str, Any], flags: int, file: Any) -> int:
        file_id = int(status.get("fileId", 0))
        length = int(status.get("length", 0))
        mtime = _ns(status, "modificationTimeNs", "modificationTime")
        with self._open_lock:
            open_file = self._open.get(file_id)
            stale = open_file is not None and (getattr(open_file.file, "failed", False) or (
                not open_file.dirty and (open_file.size != length or open_file.mtime_ns != mtime)))
            if open_file is None or stale or file is not None:
                if file is None:
                    # "r+b" even for readers: one DFSFile serves every handle on the inode.
                    file = self._open_file(self.client, path, "rb" if self.read_only else "r+b", status)
                open_file = OpenFile(file_id, path, file, length, mtime)
                self._open[file_id] = open_file
            open_file.refs += 1
        handle = FileHandle(open_file, writable=flags & os.O_ACCMODE != os.O_RDONLY,
                            append=bool(flags & os.O_APPEND))
        return self._files.add(handle)

    def read(self, fh: int, size: int, offset: int) -> bytes:
        handle = self._handle(fh)
        return bytes(handle.open_file.file.pread(size, offset))

    def write(self, fh: int, data: bytes, offset: int) -> int:
        handle = self._handle(fh)
        if not handle.writable:
            raise OSError(errno.EBADF, "not open for writing")
        open_file = handle.open_file
        if handle.append:
            offset = open_file.size
        open_file.file.pwrite(data, offset)
        open_file.wrote(offset + len(data))
        return len(data)

    def flush(self, fh: int) -> None:
        """Every ``close(2)``: commit, so another mount that opens the file next sees our bytes
        (a small new file under a lease: once the lease is recalled, ``_close_behind``)."""
        handle = self._handle(fh)
        self._check_refused(handle.open_file)
        if self._close_behind(handle.open_file):
            return
        if handle.open_file.commit():
            self._committed(handle.open_file)

    def _close_behind(self, open_file: OpenFile) -> bool:
        """Hand a small file created blind to the lease's queue, written and committed with the
        files closed around it (``leases.py``): True if it was, and its open file is then a fresh
        one, opened (after the queue is sent) at its next use."""
        made = open_file.file.made() if self.leases is not None and isinstance(open_file.file, DeferredFile) else None
        detach = getattr(made, "detach_small", None)
        if detach is None or not open_file.dirty:
            return False
        assert self.leases is not None
        with open_file.lock:
            generation, size, mtime = open_file.generation, open_file.size, open_file.mtime_ns

        def take() -> tuple[bytes, dict[str, Any]] | None:
            taken = detach(CLOSE_BEHIND_BYTES)
            return None if taken is None else (taken[0], {**taken[1], "mtimeNs": mtime})

        if not self.leases.store(open_file.path, open_file.file_id, take):
            return False
        open_file.file = DeferredFile(lambda name: self._open_file(self.client, name, "r+b", None), open_file.path)
        with open_file.lock:
            if open_file.generation == generation:
                open_file.dirty = False
        with self._cache_lock:  # what the name node will answer once the file is stored
            self._listings.note_change()
            self._attrs.update(open_file.path, lambda attrs: dict(attrs, st_size=size, st_blocks=(size + 511) // 512,
                                                                  st_mtime=mtime, st_ctime=mtime))
        self.coherence.pages_are(open_file.file_id, size, mtime)
        return True

    def _check_refused(self, open_file: OpenFile) -> None:
        """A file created blind that the name node then refused (``leases.py``): its close fails."""
        error = self.leases.refused(open_file.file_id) if self.leases is not None else None
        if error is not None:
            self._forget(open_file.path)
            self._entry_changed(open_file.path, added=False)
            raise error

    def fsync(self, fh: int, datasync: bool = False) -> None:
        """Commit, and return only once data and namespace are on disk everywhere (README:
        durability); ``fdatasync`` too, since a file's size and block list are its metadata."""
        handle = self._handle(fh)
        self._check_refused(handle.open_file)
        if handle.open_file.commit(sync=True):
            self._committed(handle.open_file)

    def release(self, fh: int) -> None:
        handle: FileHandle | None = self._files.pop(fh)
        if handle is None:
            return
        open_file = handle.open_file
        with self._open_lock:
            open_file.refs -= 1
            last = open_file.refs == 0
            if last and self._open.get(open_file.file_id) is open_file:
                del self._open[open_file.file_id]
        if not last:
            return
        committed = False
        try:
            committed = open_file.commit()
        finally:
            open_file.file.close()
            if committed:
                self._committed(open_file)

    def _committed(self, open_file: OpenFile) -> None:
        """Our commit answered the file's new FileStatus: that is its attributes now."""
        status = getattr(open_file.file, "status", None)
        if isinstance(status, dict) and status.get("fileId") == open_file.file_id:
            open_file.settled(int(status.get("length", open_file.size)),
                              _ns(status, "modificationTimeNs", "modificationTime"))
            self.coherence.pages_are(open_file.file_id, int(status.get("length", 0)),
                                     _ns(status, "modificationTimeNs", "modificationTime"))
            self._remember(open_file.path, status)
            self._attributes_changed(open_file.path)
        else:
            self._forget(open_file.path)

    def destroy(self) -> None:
        """The mount is going away: commit and close whatever is still open."""
        for fh_obj in self._files.values():
            try:
                fh_obj.open_file.commit()
                fh_obj.open_file.file.close()
            except Exception:  # noqa: BLE001 - best effort while unmounting; log and go on
                log.exception("could not commit %s while unmounting", fh_obj.open_file.path)
        if self.leases is not None:
            self.leases.close()

    # ---------------------------------------------------------------- helpers

    def _handle(self, fh: int) -> FileHandle:
        handle = self._files.get(fh)
        if handle is None:
            raise OSError(errno.EBADF, "bad file handle")
        return handle

    def _open_file_at(self, path: str) -> OpenFile | None:
        with self._open_lock:
            for open_file in self._open.values():
                if open_file.path == path:
                    return open_file
        return None

    def _writable(self) -> None:
        if self.read_only:
            raise errors.ReadOnly("read-only mount")

    def _creator(self, path: str, caller: Caller) -> tuple[str, str | None]:
        """Owner and group for a new entry; in a setgid directory the name node picks the group."""
        parent = os.path.dirname(path)
        made = self.leases.status_of(parent) if self.leases is not None else None  # a lookup saved
        parent_mode = _permission(made["permission"]) if made else self.getattr(parent)["st_mode"]
        group = None if parent_mode & stat_mod.S_ISGID else self.identity.group(caller.gid)
        return self.identity.owner(caller.uid), group


class DeferredFile:
    """A new file's ``DFSFile``, made at its first use: a file created and closed without a byte
    (``touch``, a lock file, ``cp`` of an empty file) costs none (~30% of the mount's time per
    ``create`` of an empty file, ``py-spy``)."""

    def __init__(self, make: Callable[[str], Any], path: str) -> None:
        self._make = make
        self._path = path  # where it is made: ``OpenFile.retarget`` follows renames
        self._file: Any = None
        self._lock = threading.Lock()

    def made(self) -> Any:
        """The DFSFile, if made yet (else None)."""
        return self._file

    def _made(self) -> Any:
        with self._lock:
            if self._file is None:
                self._file = self._make(self._path)
        return self._file

    def __getattr__(self, name: str) -> Any:
        if self._file is None:
            if name == "failed":
                return False
            if name == "close":
                return lambda: None
            if name == "path":
                return self._path
        return getattr(self._made(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        with self._lock:
            if self._file is None and name == "path":
                self._path = value
                return
        setattr(self._made(), name, value)


def default_file_opener(client: NameNodeAPI) -> Callable[[Any, str, str, Mapping[str, Any] | None], Any]:
    """How the mount opens a file whose FileStatus it has just been answered: a ``DFSFile`` (an
    empty one then costs no request) for a real cluster, the client's own ``open`` otherwise."""
    from dfs_client import HttpNameNode
    if isinstance(client, HttpNameNode):  # (an encrypting client answers an EncryptedFile)
        return lambda nn, path, mode, status: nn.open(path, mode, status=status)
    return lambda nn, path, mode, status: nn.open(path, mode)


_PERMISSIONS: dict[Any, int] = {}


def _permission(text: Any) -> int:
    """The octal ``permission`` of a FileStatus (a few distinct strings, parsed once each)."""
    bits = _PERMISSIONS.get(text)
    if bits is None:
        bits = int(str(text), 8)
        if len(_PERMISSIONS) < 4096:
            _PERMISSIONS[text] = bits
    return bits


def _ns(status: Mapping[str, Any], ns_key: str, ms_key: str) -> int:
    value = status.get(ns_key)
    if value is not None:
        return int(value)
    return int(status.get(ms_key, 0)) * 1_000_000


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name
