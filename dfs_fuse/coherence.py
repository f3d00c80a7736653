"""What the kernel caches for the mount, kept true to the name node without giving up the caching.

Two kernel caches outlive a change the mount makes or sees:

- **Attributes per name.** libfuse's high-level API gives every *name* its own kernel inode, so the
  names of a hard-linked file are separate inodes whose attributes the kernel keeps for
  ``attr_timeout``: after ``link``, ``unlink``, ``rename``, ``chmod``, ``chown`` or ``utimensat``
  through one name, the others would show a stale ``nlink``, mode or ctime. ``Coherence`` remembers
  the names it answered for every inode with more than one link (the only ones that can go stale)
  and tells the kernel to drop those names' attributes (``fuse_invalidate_path``).
- **Pages per open.** The kernel keeps a file's cached pages across an ``open`` only when the open
  says so (``keep_cache``). ``keep_pages`` says so exactly when the file's size and mtime, fetched
  afresh by that open, are what they were when the pages were cached (our last open or commit of
  it): close-to-open holds, and re-reading an unchanged file costs no data-node request.
"""
from __future__ import annotations

import stat as stat_mod
import threading
from collections.abc import Callable
from typing import Any

# Inodes remembered (names of hard-linked files, page versions); past this we start afresh, which
# only costs a re-read or an attribute fetch, never a stale answer.
MAX_TRACKED = 100_000


def _no_kernel(path: str) -> None:
    """Before the mount is live (or without one, in tests) there is no kernel cache to correct."""


class Coherence:
    def __init__(self) -> None:
        self.invalidate: Callable[[str], None] = _no_kernel
        self._names: dict[int, set[str]] = {}
        self._pages: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()

    # -- names of hard-linked inodes -------------------------------------------------------------

    def answered(self, path: str, attrs: dict[str, Any]) -> None:
        """The kernel may now cache ``attrs`` under ``path``."""
        if attrs["st_nlink"] > 1 and not stat_mod.S_ISDIR(attrs["st_mode"]):
            with self._lock:
                if len(self._names) >= MAX_TRACKED:
                    self._names.clear()
                self._names.setdefault(attrs["st_ino"], set()).add(path)

    def renamed(self, ino: int, old: str, new: str) -> None:
        with self._lock:
            names = self._names.get(ino)
            if names is not None:
                names.discard(old)
                names.add(new)

    def removed(self, ino: int, path: str) -> None:
        with self._lock:
            names = self._names.get(ino)
            if names is not None:
                names.discard(path)

    def changed(self, ino: int, keep: str | None = None, also: tuple[str, ...] = ()) -> list[str]:
        """The inode's attributes changed through ``keep`` (whose answer the kernel has): drop every
        other name's kernel attributes, and ``also``'s. Answers the names dropped."""
        with self._lock:
            names = set(self._names.get(ino, ())) | set(also)
        names.discard(keep)
        for path in names:
            self.invalidate(path)
        return sorted(names)

    # -- cached pages ----------------------------------------------------------------------------

    def keep_pages(self, ino: int, size: int, mtime_ns: int, ours: bool) -> bool:
        """Whether an open may keep the kernel's cached pages of ``ino``, whose current size and mtime
        it just fetched; ``ours``: this mount holds uncommitted writes (the pages are those)."""
        version = (size, mtime_ns)
        with self._lock:
            keep = ours or self._pages.get(ino) == version
            self._remember_pages(ino, version)
        return keep

    def pages_are(self, ino: int, size: int, mtime_ns: int) -> None:
        """Our own commit made ``ino`` this version: the pages our writes left are current."""
        with self._lock:
            self._remember_pages(ino, (size, mtime_ns))

    def _remember_pages(self, ino: int, version: tuple[int, int]) -> None:
        if len(self._pages) >= MAX_TRACKED and ino not in self._pages:
            self._pages.clear()
        self._pages[ino] = version
