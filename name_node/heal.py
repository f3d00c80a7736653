"""The one background loop: keeps every block at its file's replication.

Work is driven by a set of suspect blocks fed by the events that change replica counts (a node
dies or returns, a bad block is reported, a commit lands short, replication is changed), so a quiet
cluster costs nothing. A full scan at a slow interval is the safety net; pending blocks older than
an hour are expired here too.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable

from dfs_common.blocks import format_block_id
from dfs_common.errors import DFSError
from dfs_common.loops import BackgroundLoop
from dfs_common.settings import Settings

from . import blockmap
from .members import Members
from .placement import Placement
from .store import Store, node_prefix, split_node_key, unpack_u64

log = logging.getLogger("dfs.name_node.heal")

_BATCH = 500            # suspects evaluated per tick: bounds the time one tick holds a read txn
_EXPIRE_EVERY = 60.0    # seconds between sweeps of expired pending blocks
_SCAN_EVERY = 900.0     # seconds between full safety-net scans of the block map


class Healer(BackgroundLoop):
    """Brings every block back to its file's replication: the name node's one background loop."""

    thread_name = "dfs-heal"

    def __init__(self, store: Store, members: Members, placement: Placement, settings: Settings) -> None:
        self.store, self.members, self.placement, self.settings = store, members, placement, settings
        self._lock = threading.Lock()
        self._suspects: set[int] = set()
        self._waiting: dict[int, float] = {}   # block → monotonic time before which it is not retried
        self._missing: set[int] = set()        # no live replica at all: nothing to copy from
        super().__init__()
        self._last_expire = time.monotonic()
        # the first full scan runs once a restart's grace window is over: suspects are not persisted
        self._last_scan = self._last_expire - _SCAN_EVERY + 2 * settings.dead_after * settings.heartbeat
        self.retry_after = max(10.0, 4 * settings.heartbeat)

    # events ---------------------------------------------------------------------------------
    def suspect(self, numbers: Iterable[int]) -> None:
        with self._lock:
            for number in numbers:
                self._suspects.add(number)
                self._waiting.pop(number, None)

    @property
    def under_replicated(self) -> int:
        return len(self._suspects) + len(self._missing)

    # thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        interval = min(1.0, self.settings.heartbeat / 2)
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad tick
                log.exception("heal tick failed")

    def tick(self) -> None:
        """One round: react to node state changes, heal a batch of suspects, periodic sweeps."""
        now = time.monotonic()
        for node_id, alive in self.members.transitions():
            log.info("data node %s is %s", node_id, "alive" if alive else "dead")
            self._suspect_node(node_id)
            if alive:
                with self._lock:
                    self._suspects |= self._missing
                    self._missing.clear()
        self.heal_batch(now)
        if now - self._last_expire >= _EXPIRE_EVERY:
            self._last_expire = now
            with self.store.write() as txn:
                expired = blockmap.expire_pending(txn, time.time_ns())
            if expired:
                log.info("expired %d pending blocks", expired)
        if now - self._last_scan >= _SCAN_EVERY:
            self._last_scan = now
            self.full_scan()

    def _suspect_node(self, node_id: str) -> None:
        with self.store.read() as txn:
            self.suspect(split_node_key(key)[1] for key, _ in txn.scan("replicas", node_prefix(node_id)))

    def full_scan(self) -> None:
        """Safety net: every committed block whose live replica count is off becomes a suspect."""
        live = self.members.live_ids()
        start = b""
        while not self._stop.is_set():
            found: list[int] = []
            last = None
            with self.store.read() as txn:
                for count, (key, value) in enumerate(txn.scan("blocks", start=start)):
                    if count >= 5000:
                        break
                    last = key
                    record = blockmap.BlockRecord.decode(value)
                    if not record.owner:
                        continue
                    inode = txn.inode(record.owner)
                    want = inode.replication if inode is not None else 0
                    if sum(node in live for node in record.replicas) != want:
                        found.append(unpack_u64(key))
            self.suspect(found)
            if last is None:
                return
            start = last + b"\0"

    # healing ------------------------------------------------------------------------------
    def heal_batch(self, now: float) -> None:
        with self._lock:
            ready = [n for n in self._suspects if self._waiting.get(n, 0.0) <= now][:_BATCH]
        if not ready:
            return
        live = self.members.live_ids()
        trims: list[tuple[int, list[str]]] = []
        with self.store.read() as txn:
            for number in ready:
                record = txn.block(number)
                inode = txn.inode(record.owner) if record is not None and record.owner else None
                if record is None or inode is None:
                    self._settle(number)
                    continue
                holders = [node for node in record.replicas if node in live]
                want = min(inode.replication, max(len(live), 1))
                if len(holders) == want:
                    self._settle(number)
                elif not holders:
                    with self._lock:
                        self._suspects.discard(number)
                        self._missing.add(number)
                elif len(holders) < want:
                    self._replicate(number, holders, record.replicas, want - len(holders), inode.block_size)
                else:
                    trims.append((number, self._pick_extras(holders, len(holders) - want)))
        if trims:
            with self.store.write() as txn:
                for number, extras in trims:
                    for node in extras:
                        blockmap.remove_replica(txn, node, number, delete_on_node=True)
            for number, _ in trims:
                self._settle(number)

    def _settle(self, number: int) -> None:
        with self._lock:
            self._suspects.discard(number)
            self._waiting.pop(number, None)

    def _replicate(self, number: int, holders: list[str], all_holders: list[str], need: int,
                   block_size: int) -> None:
        """Ask one live holder to copy the block to fresh nodes; retried if nothing is confirmed."""
        try:
            targets = self.placement.choose(need, block_size or self.settings.block_size, exclude=all_holders,
                                            block=number)
        except DFSError:
            targets = []
        if targets:
            source = random.choice(holders)
            self.members.queue(source, {"op": "replicate", "blockId": format_block_id(number),
                                        "targets": [m.url for m in targets]})
        with self._lock:
            self._waiting[number] = time.monotonic() + self.retry_after

    def _pick_extras(self, holders: list[str], count: int) -> list[str]:
        """Trim the fullest nodes first."""
        def room(node: str) -> int:
            member = self.members.get(node)
            return member.remaining if member is not None else 0
        return sorted(holders, key=room)[:count]
