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
    """A thread-safe mapping whose entries expire ``ttl`` seconds after they were stored.

    Expired entries are swept once a ``ttl`` (by the next store), so what it holds is what was
    stored in the last two ``ttl`` at most, never every path a long copy ever touched: writing
    100,000 files through the mount kept ~2 KiB of attributes per file before the sweep.
    """

    def __init__(self, ttl: float, *, max_entries: int = 200_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + ttl

    def get(self, key: K) -> V | None:
        # Without the lock: one dict read is atomic, and every FUSE request makes a few of these.
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._entries) >= self.max_entries or now >= self._next_sweep:
                self._purge(now)
                self._next_sweep = now + self.ttl
            self._entries[key] = (now + self.ttl, value)

    def update(self, key: K, change: Callable[[V], V]) -> None:
        """Replace a live entry by ``change(entry)``, keeping its expiry (a local edit of an answer
        must not make the rest of it look fresher than it is)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > self._clock():
                self._entries[key] = (entry[0], change(entry[1]))

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def drop_tree(self, path: str) -> None:
        """Forget ``path`` and everything below it (a directory was renamed or removed)."""
        prefix = path.rstrip("/") + "/"
        with self._lock:
            for key in [k for k in list(self._entries) if k == path or (isinstance(k, str) and k.startswith(prefix))]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _purge(self, now: float) -> None:
        for key in [k for k, (expiry, _) in list(self._entries.items()) if expiry <= now]:
            del self._entries[key]
        if len(self._entries) >= self.max_entries:
            self._entries.clear()


class Listings:
    """The complete name sets of directories listed in the last ``ttl`` seconds, kept current with
    this mount's own changes, so a lookup of a name that is not there (``cp``, ``tar`` and ``git``
    ask for many) is answered without a request.

    ``generation`` counts this mount's changes (of names, and of attributes: ``note_change``): a
    listing fetched while one happened may miss it (or show what it removed, or a file's size
    before our write was committed) and is not kept (``put`` with the generation read before).
    """

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._names: TTLCache[str, set[str]] = TTLCache(ttl, max_entries=10_000, clock=clock)
        self._lock = threading.Lock()
        self.generation = 0

    def contains(self, directory: str, name: str) -> bool | None:
        """Whether ``name`` is in ``directory``; ``None`` when no fresh listing says."""
        names = self._names.get(directory)
        if names is None:
            return None
        with self._lock:
            return name in names

    def put(self, directory: str, names: set[str], generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return
        self._names.put(directory, names)

    def note_change(self) -> None:
        """This mount changed something a listing in flight may show as it was before."""
        with self._lock:
            self.generation += 1

    def changed(self, directory: str, added: str | None = None, removed: str | None = None) -> None:
        """This mount changed ``directory``; record the change in its listing, if one is fresh."""
        with self._lock:
            self.generation += 1
        names = self._names.get(directory)
        if names is None:
            return
        with self._lock:
            if removed is not None:
                names.discard(removed)
            if added is not None:
                names.add(added)

    def drop_tree(self, path: str) -> None:
        """Forget the listings of ``path`` and below (it was renamed or removed)."""
        with self._lock:
            self.generation += 1
        self._names.drop_tree(path)
