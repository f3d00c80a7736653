"""Which Python FUSE binding the mount uses, and the three places where we correct it.

Choice: **mfusepy over libfuse 3**, falling back to fusepy over libfuse 2 only when mfusepy is not
installed. Both expose the same ``Operations``/``FUSE`` API, so the rest of ``dfs_fuse`` does not care.

Why mfusepy / libfuse 3:

- fusepy 3.0.1 only speaks libfuse 2, whose high-level API calls ``utimens`` with both timestamps
  filled in from stale kernel attributes unless ``flag_utime_omit_ok`` is set (fusepy cannot set it):
  ``touch -m`` / ``utimensat`` with ``UTIME_OMIT`` silently overwrite the other timestamp.
- libfuse 2 caps every read/write request at 128 KiB (even with ``big_writes``), libfuse 3 lets the
  kernel send 1 MiB requests (``max_pages``): on the same passthrough, sequential I/O is
  bounded by per-request Python overhead, so 8x fewer requests is what makes large files fast.
- libfuse 3 has ``readdirplus`` (a listing carries attributes into the kernel cache, so ``ls -l``
  does not cost a ``getattr`` round trip per entry), ``renameat2`` flags and ns time granularity.

Where mfusepy 3.1.1 falls short, ``DFSFuse`` overrides its C-callback shims (not the Operations API):

- ``rename``: mfusepy drops the ``renameat2`` flags, turning ``RENAME_NOREPLACE`` (``mv -n``) into an
  overwrite; we pass them through.
- ``utimens``: libfuse 3 encodes "leave unchanged" / "now" as ``tv_nsec = UTIME_OMIT/UTIME_NOW``;
  mfusepy folds that into a number. We decode it into ``None`` (omit) or the current time.
- ``readdir``: with ``FUSE_READDIR_PLUS`` we hand libfuse the full ``stat`` and
  ``FUSE_FILL_DIR_PLUS``, so the attributes reach the kernel with the listing.
- ``open``: the Operations API cannot set ``keep_cache``; we ask ``open_cached`` and set it
  (close-to-open without ``auto_cache``, see ``coherence.py``).
- ``init``: keeps libfuse's ``struct fuse`` so the mount can ``fuse_invalidate_path`` the kernel's
  attributes of other names of a hard-linked file.
- ``chown(path, -1, -1)``: the kernel sends a SETATTR that sets nothing and libfuse's high-level
  API answers it with a bare ``getattr``, so the ctime it must change (POSIX) never would. We wrap
  the session's low-level ``setattr`` (``_CtimeOnlySetattr``) and turn such a SETATTR into
  ``operations.chown(path, -1, -1)`` on the ``getattr`` that libfuse then makes in the same thread.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
import threading
import time
from typing import Any

# mfusepy loads libfuse 2 whenever it is installed (find_library("fuse") first); ask for libfuse 3.
# An explicit FUSE_LIBRARY_PATH / FUSE_LIBRARY_NAME from the user still wins.
if not os.environ.get("FUSE_LIBRARY_PATH") and not os.environ.get("FUSE_LIBRARY_NAME"):
    from ctypes.util import find_library
    if find_library("fuse3"):
        os.environ["FUSE_LIBRARY_NAME"] = "fuse3"

try:  # libfuse 3
    import mfusepy as fuse_binding
    BINDING = "mfusepy"
except ImportError:  # pragma: no cover - only where mfusepy is missing
    import fuse as fuse_binding
    BINDING = "fusepy"

FUSE = fuse_binding.FUSE
FuseOSError = fuse_binding.FuseOSError
Operations = fuse_binding.Operations
fuse_get_context = fuse_binding.fuse_get_context
LIBFUSE_MAJOR: int = int(getattr(fuse_binding, "fuse_version_major", 2))
LIBFUSE_MINOR: int = int(getattr(fuse_binding, "fuse_version_minor", 0))
log = logging.getLogger("dfs_fuse")


def overrides(parent: type) -> Any:
    """mfusepy's ``@overrides`` (a misspelt callback fails at import); a no-op under fusepy."""
    real = getattr(fuse_binding, "overrides", None)
    if real is not None:
        return real(parent)
    return lambda method: method


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
FUSE_READDIR_PLUS = 1 << 0
FUSE_FILL_DIR_PLUS = 1 << 1


# fuse_lowlevel.h: the attributes a SETATTR may set. One with none of them is chown(path, -1, -1).
_SETS_SOMETHING = 1 | 2 | 4 | 8 | 16 | 32 | 128 | 256  # MODE UID GID SIZE ATIME MTIME ATIME_NOW MTIME_NOW
_SETATTR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int,
                            ctypes.c_void_p)
_ctime_only = threading.local()


class _CtimeOnlySetattr:
    """Wraps ``se->op.setattr`` of libfuse 3.12-3.16, whose ``struct fuse_session`` starts
    ``char *mountpoint; int exited; int fd; void *io; void *mo; int debug, deny_others;`` then the
    ``fuse_lowlevel_ops`` (``init, destroy, lookup, forget, getattr, setattr``…). The layout is
    checked (mount point text, ``fd`` on /dev/fuse, ops inside libfuse) before anything is written;
    on any other libfuse the wrapper stays off and only the ctime of ``chown(-1, -1)`` is lost."""

    MOUNTPOINT, FD, OPS = 0, 12, 40
    SETATTR = OPS + 5 * 8

    def __init__(self) -> None:
        self.original: Any = None
        self.wrapper = _SETATTR(self._setattr)

    def install(self, fuse_ptr: int, mount_point: str) -> bool:
        if not (LIBFUSE_MAJOR == 3 and 12 <= LIBFUSE_MINOR <= 16 and ctypes.sizeof(ctypes.c_void_p) == 8):
            return False
        libfuse = fuse_binding._libfuse
        libfuse.fuse_get_session.restype = ctypes.c_void_p
        libfuse.fuse_get_session.argtypes = [ctypes.c_void_p]
        session = libfuse.fuse_get_session(ctypes.c_void_p(fuse_ptr))
        if not session:
            return False
        text = ctypes.c_char_p.from_address(session + self.MOUNTPOINT).value
        fd = ctypes.c_int.from_address(session + self.FD).value
        try:
            on_dev_fuse = os.readlink(f"/proc/self/fd/{fd}") == "/dev/fuse"
        except OSError:
            on_dev_fuse = False
        ops = [ctypes.c_void_p.from_address(session + self.OPS + 8 * i).value for i in range(6)]
        # abspath, not realpath: a stat of the mount point would wait for the INIT we are answering
        if text is None or os.path.abspath(os.fsdecode(text)) != os.path.abspath(mount_point) \
                or not on_dev_fuse or not all(_in_libfuse(op) for op in ops):
            log.warning("libfuse session layout not recognised: chown(-1, -1) will not update ctime")
            return False
        self.original = _SETATTR(ops[5] or 0)  # non-zero: every op was found in libfuse above
        ctypes.c_void_p.from_address(session + self.SETATTR).value = ctypes.cast(self.wrapper, ctypes.c_void_p).value
        return True

    def _setattr(self, req: int, ino: int, attr: int, to_set: int, fi: int) -> None:
        _ctime_only.pending = not to_set & _SETS_SOMETHING
        try:
            self.original(req, ino, attr, to_set, fi)
        finally:
            _ctime_only.pending = False


def _in_libfuse(address: int | None) -> bool:
    """Whether a function pointer points into libfuse itself (``dladdr``)."""
    if not address:
        return False

    class DlInfo(ctypes.Structure):
        _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                    ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]

    info = DlInfo()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    if not libc.dladdr(ctypes.c_void_p(address), ctypes.byref(info)) or not info.dli_fname:
        return False
    return b"libfuse3" in os.path.basename(info.dli_fname)


# ``struct stat`` of x86_64/aarch64 Linux glibc, as mfusepy declares it: dev, ino, nlink, mode, uid,
# gid, pad, rdev, size, blksize, blocks, then three timespecs. Filled by one ``pack_into`` instead of
# a dozen ctypes attribute writes (which cost as much as the rest of a cached getattr).
_STAT = struct.Struct("=QQQIII4xQqqqqqqqqq")
_STAT_LAYOUT = (("st_dev", 0), ("st_ino", 8), ("st_nlink", 16), ("st_mode", 24), ("st_uid", 28),
                ("st_gid", 32), ("st_rdev", 40), ("st_size", 48), ("st_blksize", 56), ("st_blocks", 64),
                ("st_atimespec", 72), ("st_mtimespec", 88), ("st_ctimespec", 104))
_STAT_FITS = ctypes.sizeof(fuse_binding.c_stat) >= _STAT.size and all(
    getattr(getattr(fuse_binding.c_stat, name, None), "offset", None) == offset for name, offset in _STAT_LAYOUT)
_NS = 1_000_000_000


def fill_stat(st: Any, attrs: dict[str, Any]) -> None:
    """Write a ``stat`` dict (times in ns, as ``to_stat`` makes) into a zeroed ``c_stat``."""
    if not _STAT_FITS:
        fuse_binding.set_st_attrs(st, attrs, use_ns=True)
        return
    get = attrs.get
    atime, mtime, ctime = int(get("st_atime", 0)), int(get("st_mtime", 0)), int(get("st_ctime", 0))
    _STAT.pack_into((ctypes.c_char * _STAT.size).from_address(ctypes.addressof(st)), 0,
                    get("st_dev", 0), get("st_ino", 0), get("st_nlink", 0), get("st_mode", 0),
                    get("st_uid", 0), get("st_gid", 0), get("st_rdev", 0), get("st_size", 0),
                    get("st_blksize", 0), get("st_blocks", 0),
                    atime // _NS, atime % _NS, mtime // _NS, mtime % _NS, ctime // _NS, ctime % _NS)


def _timespec_ns(ts: Any) -> int | None:
    if ts.tv_nsec == UTIME_OMIT:
        return None
    if ts.tv_nsec == UTIME_NOW:
        return time.time_ns()
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec


class DFSFuse(FUSE):  # type: ignore[misc, valid-type]
    """mfusepy's ``FUSE`` with the libfuse 3 shims above corrected; identical otherwise."""

    def __init__(self, operations: Any, mountpoint: str, *args: Any, **kwargs: Any) -> None:
        self._fuse_ptr: int | None = None
        self._mount_point = mountpoint
        self._setattr_shim = _CtimeOnlySetattr()
        super().__init__(operations, mountpoint, *args, **kwargs)

    def invalidate_path(self, path: str) -> None:
        """Drop the kernel's cached attributes (and pages) of ``path`` (a no-op if it has none)."""
        if self._fuse_ptr is not None:
            fuse_binding._libfuse.fuse_invalidate_path(ctypes.c_void_p(self._fuse_ptr),
                                                       path.encode(self.encoding, self.errors))

    def open(self, path: bytes, fip: Any) -> int:
        fi = fip.contents
        fi.fh, keep = self.operations.open_cached(path.decode(self.encoding, self.errors), fi.flags)
        fi.keep_cache = 1 if keep else 0
        return 0

    def create(self, path: bytes, mode: int, fip: Any) -> int:
        """mfusepy's, without its ``inspect.signature`` of our ``create`` on every call (a tenth of
        the mount's time in a create loop): ours always takes the open flags."""
        fi = fip.contents
        fi.fh = self.operations.create(path.decode(self.encoding, self.errors), mode, fi.flags)
        return 0

    def fgetattr(self, path: bytes | None, buf: Any, fip: Any) -> int:
        """mfusepy's, with the ``stat`` filled by ``fill_stat``."""
        ctypes.memset(buf, 0, ctypes.sizeof(fuse_binding.c_stat))
        fh = (fip.contents if self.raw_fi else fip.contents.fh) if fip else None
        attrs = self.operations.getattr(None if path is None else path.decode(self.encoding, self.errors), fh)
        fill_stat(buf.contents, attrs)
        return 0

    if LIBFUSE_MAJOR == 3:

        def init_fuse_3(self, conn: Any, config: Any) -> None:
            self._fuse_ptr = fuse_binding._libfuse.fuse_get_context().contents.fuse
            fuse_binding._libfuse.fuse_invalidate_path.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            if self._fuse_ptr:
                self._setattr_shim.install(self._fuse_ptr, self._mount_point)
                attach = getattr(self.operations, "attach_kernel", None)
                if attach is not None:
                    attach(self.invalidate_path)
            super().init_fuse_3(conn, config)

        def getattr_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
            if getattr(_ctime_only, "pending", False) and path is not None:
                _ctime_only.pending = False
                self.operations.chown(path.decode(self.encoding, self.errors), -1, -1)
            return self.fgetattr(path, buf, fip)

        def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
            return self.operations.rename(
                old.decode(self.encoding, self.errors), new.decode(self.encoding, self.errors), flags)

        def utimens_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
            times = (_timespec_ns(buf.contents.actime), _timespec_ns(buf.contents.modtime)) if buf else None
            return self.operations.utimens(None if path is None else path.decode(self.encoding, self.errors), times)

        def readdir_fuse_3(self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any,
                           flags: int) -> int:
            plus = bool(flags & FUSE_READDIR_PLUS)
            decoded = None if path is None else path.decode(self.encoding, self.errors)
            for name, attrs, entry_offset in self.operations.readdir_with_offset(decoded, offset, fip.contents.fh):
                st = fuse_binding.c_stat()
                if plus and "st_nlink" in attrs:
                    fill_stat(st, attrs)
                    fill_flags = FUSE_FILL_DIR_PLUS
                else:
                    st.st_mode = attrs["st_mode"]
                    st.st_ino = attrs.get("st_ino", 0)
                    fill_flags = 0
                if filler(buf, name.encode(self.encoding, self.errors), ctypes.byref(st), entry_offset,
                          fill_flags) != 0:
                    break
            return 0
