"""The FUSE ``Operations`` adapter: a thin translation onto ``FileSystem``, errno decided here only.

Every callback unpacks the FUSE arguments, calls the matching ``FileSystem`` method and returns its
answer. ``_errno_boundary`` is the one place where exceptions become errno: a DFS error carries its
own (``dfs_common.errors``), any other ``OSError`` keeps its errno, and anything else is a bug or a
transport failure that the caller sees as ``EIO`` (and we log with its traceback).
"""
from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from .binding import FuseOSError, Operations, fuse_get_context, overrides
from .filesystem import LOCAL_XATTR_PREFIXES, Caller, FileSystem

log = logging.getLogger("dfs_fuse")

MAX_REQUEST = 1024 * 1024
FUSE_CAP_READDIRPLUS = 1 << 13  # fuse_common.h (libfuse 3)
FUSE_CAP_READDIRPLUS_AUTO = 1 << 14

# Callbacks whose failure is routine (lookups of missing names, absent xattrs): not worth a log line.
_QUIET = {errno.ENOENT, errno.ENODATA, errno.EEXIST, errno.ENOTEMPTY}


def errno_of(error: BaseException) -> int:
    """The errno a caller of the mount sees for ``error``."""
    if isinstance(error, OSError) and isinstance(error.errno, int) and error.errno > 0:
        return error.errno
    return errno.EIO


def _errno_boundary(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(self: DFSOperations, *args: Any) -> Any:
        try:
            return method(self, *args)
        except FuseOSError:
            raise
        except Exception as error:  # noqa: BLE001 - this is the boundary: everything becomes an errno
            code = errno_of(error)
            if code == errno.EIO:
                log.error("%s%r failed", method.__name__, args[:1], exc_info=True)
            elif code not in _QUIET:
                log.debug("%s%r: %s", method.__name__, args[:1], error)
            raise FuseOSError(code) from None
    return guarded


def _caller() -> Caller:
    uid, gid, _pid = fuse_get_context()
    return Caller(uid, gid)


class DFSOperations(Operations):
    use_ns = True  # times in integer ns both ways (utimens, stat)

    def __init__(self, fs: FileSystem, on_ready: Callable[[], None] | None = None) -> None:
        self.fs = fs
        self._on_ready = on_ready

    # -- lifecycle ---------------------------------------------------------------------------

    @overrides(Operations)
    def init_with_config(self, conn_info: Any, config_3: Any) -> None:
        if conn_info is not None and hasattr(conn_info, "time_gran"):
            conn_info.time_gran = 1  # we keep ns timestamps
            # libfuse 3 defaults to 128 KiB requests; 1 MiB cuts the per-request Python cost by 8.
            conn_info.max_write = MAX_REQUEST
            conn_info.max_read = MAX_REQUEST  # must equal the max_read mount option (cli.fuse_options)
            conn_info.max_readahead = MAX_REQUEST
            if conn_info.capable & FUSE_CAP_READDIRPLUS:
                # Every listing page carries attributes, not only the first (libfuse's "auto"): the
                # name node sends them anyway, and ``ls -l`` then costs no lookup per entry.
                conn_info.want = (conn_info.want | FUSE_CAP_READDIRPLUS) & ~FUSE_CAP_READDIRPLUS_AUTO
        if self._on_ready is not None:
            self._on_ready()

    def attach_kernel(self, invalidate: Callable[[str], None]) -> None:
        """The mount is live: ``invalidate(path)`` drops the kernel's cached attributes of a name."""
        self.fs.coherence.invalidate = invalidate

    @overrides(Operations)
    def init(self, path: str) -> None:  # fusepy (libfuse 2) calls this instead of init_with_config
        if self._on_ready is not None:
            self._on_ready()

    @overrides(Operations)
    def destroy(self, path: str) -> None:
        self.fs.destroy()

    # -- attributes --------------------------------------------------------------------------

    @overrides(Operations)
    @_errno_boundary
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        return self.fs.getattr(path, fh)

    @overrides(Operations)
    @_errno_boundary
    def access(self, path: str, amode: int) -> int:
        self.fs.access(path, amode)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def statfs(self, path: str) -> dict[str, int]:
        return self.fs.statfs()

    @overrides(Operations)
    @_errno_boundary
    def chmod(self, path: str, mode: int) -> int:
        self.fs.chmod(path, mode)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def chown(self, path: str, uid: int, gid: int) -> int:
        self.fs.chown(path, uid, gid)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def utimens(self, path: str, times: Any = None) -> int:
        self.fs.utimens(path, times)
        return 0

    # -- directories -------------------------------------------------------------------------

    @overrides(Operations)
    @_errno_boundary
    def opendir(self, path: str) -> int:
        return self.fs.opendir(path)

    @overrides(Operations)
    @_errno_boundary
    def readdir_with_offset(self, path: str, offset: int, fh: int) -> Iterable[tuple[str, dict[str, Any], int]]:
        # Materialise the first entry inside the boundary so listing errors become errno.
        entries = self.fs.readdir(path, fh, offset)
        return _guarded_iter(entries)

    @overrides(Operations)
    @_errno_boundary
    def releasedir(self, path: str, fh: int) -> int:
        self.fs.releasedir(fh)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def mkdir(self, path: str, mode: int) -> int:
        self.fs.mkdir(path, mode, _caller())
        return 0

    @overrides(Operations)
    @_errno_boundary
    def rmdir(self, path: str) -> int:
        self.fs.rmdir(path)
        return 0

    # -- names -------------------------------------------------------------------------------

    @overrides(Operations)
    @_errno_boundary
    def unlink(self, path: str) -> int:
        self.fs.unlink(path)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def rename(self, old: str, new: str, flags: int = 0) -> int:
        self.fs.rename(old, new, flags)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def link(self, target: str, source: str) -> int:
        self.fs.link(source, target)  # mfusepy: target is the new name, source the existing one
        return 0

    @overrides(Operations)
    @_errno_boundary
    def symlink(self, target: str, source: str) -> int:
        self.fs.symlink(target, source, _caller())  # target: the link's path, source: its contents
        return 0

    @overrides(Operations)
    @_errno_boundary
    def mknod(self, path: str, mode: int, dev: int) -> int:
        self.fs.mknod(path, mode, dev, _caller())
        return 0

    @overrides(Operations)
    @_errno_boundary
    def readlink(self, path: str) -> str:
        return self.fs.readlink(path)

    # -- extended attributes -----------------------------------------------------------------

    @overrides(Operations)
    @_errno_boundary
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if name.startswith(LOCAL_XATTR_PREFIXES):  # ``ls -l`` asks twice per entry: one exception, not two
            raise FuseOSError(errno.ENODATA)
        return self.fs.getxattr(path, name)

    @overrides(Operations)
    @_errno_boundary
    def listxattr(self, path: str) -> list[str]:
        return self.fs.listxattr(path)

    @overrides(Operations)
    @_errno_boundary
    def setxattr(self, path: str, name: str, value: bytes, options: int, position: int = 0) -> int:
        self.fs.setxattr(path, name, value, options)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def removexattr(self, path: str, name: str) -> int:
        self.fs.removexattr(path, name)
        return 0

    # -- files -------------------------------------------------------------------------------

    @overrides(Operations)
    @_errno_boundary
    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
        return self.fs.create(path, mode, flags, _caller())

    @overrides(Operations)
    @_errno_boundary
    def open(self, path: str, flags: int) -> int:
        return self.fs.open(path, flags)

    @_errno_boundary
    def open_cached(self, path: str, flags: int) -> tuple[int, bool]:
        """``open`` and whether the kernel may keep its cached pages (``binding.DFSFuse.open``)."""
        return self.fs.open_cached(path, flags)

    @overrides(Operations)
    @_errno_boundary
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return self.fs.read(fh, size, offset)

    @overrides(Operations)
    @_errno_boundary
    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        return self.fs.write(fh, data, offset)

    @overrides(Operations)
    @_errno_boundary
    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        self.fs.truncate(path, length, fh)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def fallocate(self, path: str, mode: int, offset: int, size: int, fh: int) -> int:
        self.fs.fallocate(fh, mode, offset, size)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def flush(self, path: str, fh: int) -> int:
        self.fs.flush(fh)
        return 0

    @overrides(Operations)
    @_errno_boundary
    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self.fs.fsync(fh, bool(datasync))
        return 0

    @overrides(Operations)
    @_errno_boundary
    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self.fs.fsyncdir()
        return 0

    @overrides(Operations)
    @_errno_boundary
    def release(self, path: str, fh: int) -> int:
        self.fs.release(fh)
        return 0


def _guarded_iter(entries: Iterable[Any]) -> Iterable[Any]:
    """Directory entries; a failure while paging ends the listing with the right errno."""
    try:
        yield from entries
    except FuseOSError:
        raise
    except Exception as error:  # noqa: BLE001 - the same boundary as above, for lazy listings
        code = errno_of(error)
        if code == errno.EIO:
            log.error("readdir failed", exc_info=True)
        raise FuseOSError(code) from None
