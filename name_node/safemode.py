"""Safe mode: after a start the name node serves reads but refuses changes until the data nodes
have shown it enough of the cluster (HDFS's SafeModeException).

The block map on disk says where replicas *were*; only a block report since this start says where
they *are*. So a restarted name node waits until ``DFS_SAFEMODE_THRESHOLD`` of the committed blocks
have a replica on a node that reported, then leaves by itself. Until then healing is paused too:
a node that has not reported yet is not dead, and its blocks are not under-replicated. An operator
may enter safe mode (it then lasts until they leave it) or leave it early.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from typing import Any

from dfs_common.errors import SafeMode

from .store import BlockRecord, Store, node_prefix, split_node_key

log = logging.getLogger("dfs.name_node.safemode")


class SafeModeState:
    """Whether changes are refused now, and why; thread-safe (request threads report blocks)."""

    def __init__(self, store: Store, threshold: float) -> None:
        self.store = store
        self.threshold = threshold
        self._lock = threading.Lock()
        self._safe: set[int] = set()
        self.manual = False
        self.entered = time.time()
        self.left: float | None = None
        with store.read() as txn:
            self.total = sum(1 for _, value in txn.scan("blocks") if BlockRecord.decode(value).owner)
        self.needed = math.ceil(self.total * threshold)
        self.automatic = self.needed > 0
        if self.automatic:
            log.info("safe mode: waiting for block reports covering %d of %d blocks", self.needed, self.total)
        else:
            self.left = self.entered

    @property
    def on(self) -> bool:
        return self.manual or self.automatic

    def check(self, what: str) -> None:
        """Raise ``SafeMode`` if changes are refused now."""
        if self.manual:
            raise SafeMode(f"Cannot {what}: the name node is in safe mode, entered by an operator "
                           f"(dfs safemode leave)", automatic=False)
        if self.automatic:
            raise SafeMode(f"Cannot {what}: the name node is in safe mode until block reports cover "
                           f"{self.needed} of {self.total} blocks ({len(self._safe)} so far)", automatic=True)

    def reported(self, node_id: str) -> bool:
        """A node's block report landed: count the committed blocks it holds. True when that
        ended the automatic safe mode."""
        if not self.automatic:
            return False
        with self.store.read() as txn:
            numbers = [split_node_key(key)[1] for key, _ in txn.scan("replicas", node_prefix(node_id))]
            held = [n for n in numbers if (record := txn.block(n)) is not None and record.owner]
        return self._add(held)

    def _add(self, numbers: Iterable[int]) -> bool:
        with self._lock:
            if not self.automatic:
                return False
            self._safe.update(numbers)
            if len(self._safe) < self.needed:
                return False
            self.automatic = False
            self._safe = set()
            if not self.manual:
                self.left = time.time()
        log.info("safe mode off: block reports cover at least %d of %d blocks", self.needed, self.total)
        return True

    def enter(self) -> None:
        with self._lock:
            self.manual = True
            self.left = None
        log.info("safe mode entered by an operator")

    def leave(self) -> None:
        with self._lock:
            self.manual = self.automatic = False
            self._safe = set()
            self.left = time.time()
        log.info("safe mode left by an operator")

    def status(self) -> dict[str, Any]:
        with self._lock:
            safe = len(self._safe) if self.automatic else self.needed
        return {"on": self.on, "manual": self.manual, "threshold": self.threshold,
                "blocks_total": self.total, "blocks_needed": self.needed, "blocks_reported": safe,
                "left_at": self.left}

