"""Keeps a live writer's shipped but not yet committed blocks from being collected.

The name node drops a pending block (one no COMMIT has adopted) an hour after it was handed out:
that is how the blocks of writers that died are collected. A live writer can hold blocks much
longer (a detector stream written for hours before its close commits it), so each client renews
the pending blocks its open files hold, from one daemon thread, well inside that hour.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from dfs_common.errors import DFSError

log = logging.getLogger("dfs.client.renewal")

RENEW_EVERY = 600.0  # seconds between renewals of a held block: six chances inside the hour
BATCH = 10_000       # block ids per RENEWBLOCKS or ABANDONBLOCKS request (the name node's limit)


class BlockRenewer:
    """The pending blocks this client's open files hold, renewed every ``every`` seconds through
    ``renew(ids)`` (``HttpNameNode.renew_blocks``). Its thread starts with the first block held."""

    def __init__(self, renew: Callable[[list[str]], object], every: float = RENEW_EVERY) -> None:
        self._renew = renew
        self.every = every
        self._lock = threading.Lock()
        self._held: dict[str, float] = {}  # block id -> when it was last renewed (monotonic)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, block_id: str) -> None:
        with self._lock:
            self._held[block_id] = time.monotonic()
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="dfs-renewal", daemon=True)
                self._thread.start()

    def release(self, block_ids: Iterable[str]) -> None:
        """Committed (or dropped for good): no longer this client's to keep alive."""
        with self._lock:
            for block_id in block_ids:
                self._held.pop(block_id, None)

    @property
    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def renew_due(self, now: float | None = None) -> int:
        """Renew every held block last renewed ``every`` seconds ago or more; answers how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [block_id for block_id, since in self._held.items() if now - since >= self.every]
        for start in range(0, len(due), BATCH):
            batch = due[start:start + BATCH]
            self._renew(batch)
            with self._lock:
                for block_id in batch:
                    if block_id in self._held:
                        self._held[block_id] = now
        return len(due)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every / 4):
            try:
                self.renew_due()
            except DFSError as error:  # the name node is away: try again next round, well in time
                log.warning("could not renew pending blocks: %s", error)
