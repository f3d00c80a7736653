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
"""
from __future__ import annotations

import ctypes
import os
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
    import fuse as fuse_binding  # type: ignore[no-redef]
    BINDING = "fusepy"

FUSE = fuse_binding.FUSE
FuseOSError = fuse_binding.FuseOSError
Operations = fuse_binding.Operations
fuse_get_context = fuse_binding.fuse_get_context
LIBFUSE_MAJOR: int = int(getattr(fuse_binding, "fuse_version_major", 2))


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


def _timespec_ns(ts: Any) -> int | None:
    if ts.tv_nsec == UTIME_OMIT:
        return None
    if ts.tv_nsec == UTIME_NOW:
        return time.time_ns()
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec


class DFSFuse(FUSE):  # type: ignore[misc, valid-type]
    """mfusepy's ``FUSE`` with the libfuse 3 shims above corrected; identical otherwise."""

    if LIBFUSE_MAJOR == 3:

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
                    fuse_binding.set_st_attrs(st, attrs, use_ns=True)
                    fill_flags = FUSE_FILL_DIR_PLUS
                else:
                    st.st_mode = attrs["st_mode"]
                    st.st_ino = attrs.get("st_ino", 0)
                    fill_flags = 0
                if filler(buf, name.encode(self.encoding, self.errors), ctypes.byref(st), entry_offset,
                          fill_flags) != 0:
                    break
            return 0
