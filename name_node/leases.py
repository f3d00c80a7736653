"""Directory leases: one client may change a directory it just made without a round trip per change.

A mount that makes a directory asks for its lease (``MKDIRS&lease=SESSION``): while it holds it, no
other client changes or reads that directory, so the mount knows its entries exactly and answers
``create`` (``O_EXCL`` included) and ``unlink`` at once, sending them in batches (``BATCH``, one
transaction each) with inode numbers the grant reserved. CephFS's asynchronous directory operations
and NFSv4.1's directory delegations are the same idea.

Any other client's request that touches a leased directory (the directory itself, an entry in it,
or a subtree holding it) first recalls the lease and waits: the holder learns of the recall in
its next batch's answer (or at once, in the answer to its watch: a batch that waits for a recall),
stops, sends what it still has and releases (``dfs_fuse/leases.py``); a silent holder loses the
lease ``LEASE_SECONDS`` after its last request.
Leases are kept in LMDB, in the transaction of the grant and of the release, so a name node
restarted meanwhile still refuses others until the holder has sent its batch (a restart gives
every lease a fresh ``LEASE_SECONDS``).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .store import Store, Txn, pack_u64, unpack_u64

LEASE_SECONDS = 5.0  # a holder that sends nothing for this long has lost its leases
TABLE, PREFIX = "meta", b"lease/"
MAX_SESSION = 64


@dataclass(slots=True)
class Lease:
    session: str
    expires: float  # monotonic
    recalled: bool = False


class DirLeases:
    """The leases of one name node: directory inode -> holder, in memory and in LMDB."""

    def __init__(self, store: Store, lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self._cond = threading.Condition()
        self._leases: dict[int, Lease] = {}
        expires = time.monotonic() + lease_seconds
        with store.read() as txn:
            for key, value in txn.scan(TABLE, PREFIX):
                self._leases[unpack_u64(key[len(PREFIX):])] = Lease(value.decode(), expires)

    def __bool__(self) -> bool:
        return bool(self._leases)  # (one dict read: every request asks, most when there are none)

    def grant(self, txn: Txn, ino: int, session: str) -> None:
        """Record ``session``'s lease of directory ``ino`` in ``txn`` (``granted`` after commit)."""
        txn.put(TABLE, PREFIX + pack_u64(ino), session.encode())

    def granted(self, ino: int, session: str) -> None:
        with self._cond:
            self._leases[ino] = Lease(session, time.monotonic() + self.lease_seconds)

    def release(self, txn: Txn, session: str, inos: Iterable[int]) -> list[int]:
        """Drop ``session``'s leases of ``inos`` in ``txn``; answers those it held (``released``
        after commit)."""
        held = [ino for ino in inos if (lease := self._leases.get(ino)) is not None and lease.session == session]
        for ino in held:
            txn.delete(TABLE, PREFIX + pack_u64(ino))
        return held

    def released(self, inos: Iterable[int]) -> None:
        with self._cond:
            for ino in inos:
                self._leases.pop(ino, None)
            self._cond.notify_all()

    def renew(self, session: str, wait: float = 0.0) -> list[int]:
        """``session`` is alive: its leases run another ``lease_seconds``. Answers those recalled,
        waiting up to ``wait`` seconds for one to be (the holder's watch: ``dfs_fuse/leases.py``)."""
        deadline = time.monotonic() + min(wait, self.lease_seconds / 2)
        with self._cond:
            while True:
                now = time.monotonic()
                held = [(ino, lease) for ino, lease in self._leases.items() if lease.session == session]
                for _, lease in held:
                    lease.expires = now + self.lease_seconds
                recalled = [ino for ino, lease in held if lease.recalled]
                if recalled or not held or now >= deadline:
                    return recalled
                self._cond.wait(deadline - now)

    def holder(self, ino: int) -> str | None:
        lease = self._leases.get(ino)
        return None if lease is None or lease.expires <= time.monotonic() else lease.session

    def others(self, session: str | None) -> list[int]:
        """The directories other sessions hold leases of; leases that expired go first."""
        if not self._leases:
            return []
        now = time.monotonic()
        with self._cond:
            expired = [ino for ino, lease in self._leases.items() if lease.expires <= now]
            for ino in expired:
                del self._leases[ino]
            live = [ino for ino, lease in self._leases.items() if lease.session != session]
        self._forget(expired)
        return live

    def clear_way(self, inos: Iterable[int], session: str | None) -> None:
        """Return once no other session holds a lease of ``inos``: each is recalled, and waited for
        until its holder releases it or lets it expire."""
        wanted = set(inos)
        expired: list[int] = []
        with self._cond:
            while True:
                now = time.monotonic()
                blocking = []
                for ino in wanted:
                    lease = self._leases.get(ino)
                    if lease is None or lease.session == session:
                        continue
                    if lease.expires <= now:
                        del self._leases[ino]
                        expired.append(ino)
                        continue
                    if not lease.recalled:
                        lease.recalled = True
                        self._cond.notify_all()  # the holder's watch (``renew`` with a wait) answers now
                    blocking.append(lease.expires - now)
                if not blocking:
                    break
                self._cond.wait(min(blocking))
        self._forget(expired)

    def _forget(self, inos: list[int]) -> None:
        if inos:
            with self.store.write() as txn:
                for ino in inos:
                    txn.delete(TABLE, PREFIX + pack_u64(ino))


def valid_session(text: str | None) -> str | None:
    """A session id as clients send it (``X-DFS-Session``): up to 64 letters, digits, ``-`` or
    ``_`` (it names LMDB rows), else none."""
    if not text or len(text) > MAX_SESSION or not text.isascii() or not text.replace("-", "").replace("_", "").isalnum():
        return None
    return text
