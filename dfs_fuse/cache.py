"""Short-lived caches of name-node answers, so the storms FUSE produces stay inside the mount.

``ls -l`` asks for every entry's attributes (and extended attributes) right after listing the
directory; ``cp -r`` and ``git`` stat the same paths many times a second. The listing already carried
the attributes, so the directory read primes this cache and the follow-up calls never leave the
process. Entries live at most ``ttl`` seconds, which the mount sets to the kernel's attribute timeout
or less: another mount's change is then visible within the time a user was promised.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A thread-safe mapping whose entries expire ``ttl`` seconds after they were stored."""

    def __init__(self, ttl: float, *, max_entries: int = 200_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._purge()
            self._entries[key] = (self._clock() + self.ttl, value)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def drop_tree(self, path: str) -> None:
        """Forget ``path`` and everything below it (a directory was renamed or removed)."""
        prefix = path.rstrip("/") + "/"
        with self._lock:
            for key in [k for k in self._entries if k == path or (isinstance(k, str) and k.startswith(prefix))]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, (expiry, _) in self._entries.items() if expiry <= now]:
            del self._entries[key]
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
