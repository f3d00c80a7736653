"""Open files and open directories of one mount.

One ``OpenFile`` per inode that is open in this mount, shared by every handle on it: a reader opened
while a writer is busy sees the writer's bytes (as on a local disk), and one ``DFSFile`` (with its
read-ahead and block pipeline) serves all of them. The shared file is committed on ``flush``/``fsync``
and closed when the last handle is released.

Directory handles page through ``LISTSTATUS_BATCH`` lazily: the kernel asks for the entries after an
offset, we keep the page around the current position and re-list from the start only for a seek
backwards (``rewinddir`` and friends), so listing a huge directory never holds it whole.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(eq=False)
class OpenFile:
    """An inode open in this mount; ``size`` follows our own writes before they are committed."""

    file_id: int
    path: str
    file: Any  # dfs_client DFSFile: pread/pwrite/truncate/flush/close, thread-safe
    size: int
    mtime_ns: int
    refs: int = 0
    generation: int = 0  # bumped by every change; flush clears ``dirty`` only if nothing raced it
    dirty: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, end: int | None = None, *, length: int | None = None) -> None:
        with self.lock:
            if length is not None:
                self.size = length
            elif end is not None and end > self.size:
                self.size = end
            self.mtime_ns = time.time_ns()
            self.generation += 1
            self.dirty = True

    def commit(self, sync: bool = False) -> bool:
        """Make every byte written through any handle durable: data nodes hold it, name node
        committed; ``sync`` (fsync(2)): on the disk of every replica and of the name node too.
        False when there was nothing to commit."""
        with self.lock:
            dirty = self.dirty
            if not dirty and not sync:
                return False
            generation = self.generation
        if sync:
            self.file.fsync()
        else:
            self.file.flush()
        with self.lock:
            if self.generation == generation:
                self.dirty = False
        return dirty

    def settled(self, size: int, mtime_ns: int) -> None:
        """The name node's size and mtime after our commit, unless writes went on meanwhile (so a
        later open of the same inode does not mistake our own commit for another writer's)."""
        with self.lock:
            if not self.dirty:
                self.size, self.mtime_ns = size, mtime_ns

    def retarget(self, path: str) -> None:
        """The inode was renamed (or hidden by libfuse after an unlink): later commits use the new name."""
        self.path = path
        if hasattr(self.file, "path"):
            try:
                self.file.path = path
            except AttributeError:
                pass


@dataclass(eq=False)
class FileHandle:
    open_file: OpenFile
    writable: bool
    append: bool


@dataclass(eq=False)
class DirHandle:
    """A directory being read: a window of ``(offset, name, attrs)`` over a lazy listing."""

    path: str
    listing: Callable[[], Iterator[tuple[str, dict[str, Any]]]]
    window: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    source: Iterator[tuple[str, dict[str, Any]]] | None = None
    next_offset: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    WINDOW = 4096

    def entries_after(self, offset: int) -> Iterator[tuple[str, dict[str, Any], int]]:
        """Entries whose offset is greater than ``offset`` (the last one the kernel consumed)."""
        with self.lock:
            if self.source is None or (self.window and offset < self.window[0][0] - 1) or \
                    (not self.window and offset < self.next_offset - 1):
                self._restart()
            for entry_offset, name, attrs in list(self.window):
                if entry_offset > offset:
                    yield name, attrs, entry_offset
            assert self.source is not None
            for name, attrs in self.source:
                entry = (self.next_offset, name, attrs)
                self.next_offset += 1
                self.window.append(entry)
                if len(self.window) > self.WINDOW:
                    del self.window[: len(self.window) - self.WINDOW]
                if entry[0] > offset:
                    yield name, attrs, entry[0]

    def _restart(self) -> None:
        self.source = self.listing()
        self.window = []
        self.next_offset = 1


class HandleTable:
    """Small integers for the kernel, objects for us; thread-safe."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._items: dict[int, Any] = {}
        self._lock = threading.Lock()

    def add(self, item: Any) -> int:
        with self._lock:
            fh = next(self._counter)
            self._items[fh] = item
            return fh

    def get(self, fh: int) -> Any:
        return self._items.get(fh)  # one dict read is atomic: no lock on every read and write

    def pop(self, fh: int) -> Any:
        with self._lock:
            return self._items.pop(fh, None)

    def values(self) -> list[Any]:
        with self._lock:
            return list(self._items.values())
