"""The balancer: moves block replicas from fuller to emptier data nodes until every in-service
node's use is within ``threshold`` percentage points of the cluster's (HDFS's definition: use is
bytes of blocks / capacity).

A move is copy, confirm, delete: the source sends the block to the target (a ``replicate``
command); only when the target has confirmed an intact copy (``block_received``, checksum checked
on receipt) is the source's replica dropped from the block map and queued for deletion. A move
never unconfirmed is forgotten after a deadline and its block left as it was. Moves run at most
``rate`` bytes per second and a few per node at a time, from the nodes above the mean to the
nodes below it, and only blocks at full replication move, to a node holding no copy yet, where
the block stays as well placed (sites, racks, storage policy: ``placement.keeps``). Operators
start a run (``POST /admin/balancer?action=start``); it ends by itself once balanced.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dfs_common.blocks import format_block_id
from dfs_common.errors import IllegalArgument

from . import blockmap, storagepolicy
from .members import Member
from .store import node_prefix, split_node_key

if TYPE_CHECKING:
    from dfs_common.settings import Settings

    from .members import Members
    from .placement import Placement
    from .store import Store

log = logging.getLogger("dfs.name_node.balancer")

MOVES_PER_NODE = 4   # concurrent moves from or to one node (a data node runs 4 copies at once)
SCAN_LIMIT = 2000    # replicas of a source looked at per pick


@dataclass(slots=True)
class _Move:
    source: str
    target: str
    size: int
    deadline: float


class Balancer:
    def __init__(self, store: "Store", members: "Members", placement: "Placement", settings: "Settings") -> None:
        self.store, self.members, self.placement, self.settings = store, members, placement, settings
        self.paused = lambda: False  # safe mode
        self._lock = threading.Lock()
        self._moves: dict[int, _Move] = {}
        self._recent: list[tuple[str, int, float]] = []  # (node, bytes, until): moves not yet in heartbeats
        self.running = False
        self.threshold = settings.balancer_threshold
        self.rate = settings.balancer_rate
        self.state = "idle"
        self.message = ""
        self.moved_bytes = self.moved_blocks = self.failed_moves = 0
        self.started_at = self.finished_at = 0.0
        self._budget = 0.0
        self._last = time.monotonic()
        self._settle = 3 * settings.heartbeat + 1.0
        self._timeout = max(30.0, 20 * settings.heartbeat)

    # control --------------------------------------------------------------------------------
    def start(self, threshold: float | None = None, rate: int | None = None) -> None:
        if threshold is not None and not 0 < threshold < 100:
            raise IllegalArgument(f"The balancer's threshold is percentage points in (0, 100), not {threshold}")
        with self._lock:
            self.threshold = threshold if threshold is not None else self.settings.balancer_threshold
            self.rate = rate or self.settings.balancer_rate
            self.running, self.state, self.message = True, "running", ""
            self.moved_bytes = self.moved_blocks = self.failed_moves = 0
            self.started_at, self.finished_at = time.time(), 0.0
            self._budget, self._last = 0.0, time.monotonic()
        log.info("balancer started: threshold %.2f points, %d bytes/s", self.threshold, self.rate)

    def stop_run(self, reason: str, state: str = "stopped") -> None:
        with self._lock:
            if not self.running:
                return
            self.running, self.state, self.message = False, state, reason
            self.finished_at = time.time()
        log.info("balancer %s: %s (%d blocks, %d bytes moved)", state, reason, self.moved_blocks,
                 self.moved_bytes)

    # use ------------------------------------------------------------------------------------
    def _projected(self, member: Member, now: float) -> int:
        """Bytes on a node once the moves in flight and those just done show in its heartbeats."""
        used = member.used
        for move in self._moves.values():
            if move.target == member.id:
                used += move.size
        for node, size, until in self._recent:
            if node == member.id and until > now:
                used += size
        return max(0, used)

    def usage(self) -> tuple[float, dict[str, float]]:
        """(cluster use in percent, each in-service node's use in percent)."""
        now = time.monotonic()
        nodes = [m for m in self.members.writable() if m.capacity > 0]
        with self._lock:
            used = {m.id: self._projected(m, now) for m in nodes}
        capacity = sum(m.capacity for m in nodes)
        mean = 100.0 * sum(used.values()) / capacity if capacity else 0.0
        return mean, {m.id: 100.0 * used[m.id] / m.capacity for m in nodes}

    def status(self) -> dict[str, Any]:
        mean, use = self.usage()
        with self._lock:
            in_flight = len(self._moves)
        spread = max(use.values()) - min(use.values()) if use else 0.0
        return {"state": self.state, "running": self.running, "threshold": self.threshold, "rate": self.rate,
                "message": self.message, "moved_blocks": self.moved_blocks, "moved_bytes": self.moved_bytes,
                "failed_moves": self.failed_moves, "in_flight": in_flight, "mean_use": round(mean, 3),
                "spread": round(spread, 3), "use": {k: round(v, 3) for k, v in use.items()},
                "started_at": self.started_at or None, "finished_at": self.finished_at or None}

    # the loop -------------------------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for number in [n for n, m in self._moves.items() if m.deadline <= now]:
                self._moves.pop(number)
                self.failed_moves += 1
            self._recent = [entry for entry in self._recent if entry[2] > now]
            self._budget = min(self._budget + self.rate * (now - self._last), 2.0 * self.rate)
            self._last = now
            running = self.running
        if not running or self.paused():
            return
        mean, use = self.usage()
        if len(use) < 2:
            self.stop_run("fewer than two in-service data nodes with a capacity", "done")
            return
        over = {n for n, u in use.items() if u > mean + self.threshold}
        under = {n for n, u in use.items() if u < mean - self.threshold}
        with self._lock:
            in_flight = len(self._moves)
        if not over and not under:
            with self._lock:
                settling = bool(self._recent)
            if not in_flight and not settling:
                self.stop_run(f"every node within {self.threshold} points of the mean {mean:.2f} %", "done")
            return
        sources = sorted(over or {n for n, u in use.items() if u > mean}, key=lambda n: -use[n])
        targets = sorted(under or {n for n, u in use.items() if u < mean}, key=lambda n: use[n])
        for source in sources:
            for target in targets:
                while self._budget > 0 and self._busy(source) < MOVES_PER_NODE \
                        and self._busy(target) < MOVES_PER_NODE:
                    if not self._move_one(source, target, now):
                        break

    def _busy(self, node: str) -> int:
        with self._lock:
            return sum(1 for m in self._moves.values() if node in (m.source, m.target))

    def _move_one(self, source: str, target: str, now: float) -> bool:
        """Start one move of a block from ``source`` to ``target``; False if none qualifies."""
        serving, _ = self.members.counted_ids()
        target_member, source_member = self.members.get(target), self.members.get(source)
        if target_member is None or source_member is None:
            return False
        chosen: tuple[int, int] | None = None
        with self.store.read() as txn:
            for count, (key, _) in enumerate(txn.scan("replicas", node_prefix(source))):
                if count >= SCAN_LIMIT:
                    break
                number = split_node_key(key)[1]
                with self._lock:
                    if number in self._moves:
                        continue
                record = txn.block(number)
                if record is None or not record.owner or target in record.replicas or record.length <= 0:
                    continue
                inode = txn.inode(record.owner)
                if inode is None or sum(n in serving for n in record.replicas) < min(inode.replication, len(serving)):
                    continue  # the healer's business first
                holders = [n for n in record.replicas if n in serving]
                if not self.placement.keeps(holders, source, target, storagepolicy.effective(txn, record.owner)):
                    continue  # would spread the copies less, or fit the policy worse
                chosen = (number, record.length)
                break
        if chosen is None:
            return False
        number, size = chosen
        with self._lock:
            self._moves[number] = _Move(source, target, size, now + self._timeout)
            self._budget -= size
        self.members.queue(source, {"op": "replicate", "blockId": format_block_id(number),
                                    "targets": [target_member.url]})
        return True

    def confirmed(self, replicas: Iterable[tuple[str, int]]) -> None:
        """Targets confirmed copies: drop the sources' replicas (the delete of copy-confirm-delete)."""
        done: list[tuple[int, _Move]] = []
        with self._lock:
            for node, number in replicas:
                move = self._moves.get(number)
                if move is not None and move.target == node:
                    done.append((number, self._moves.pop(number)))
        if not done:
            return
        now = time.monotonic()
        moved: list[_Move] = []
        with self.store.write() as txn:
            for number, move in done:
                record = txn.block(number)
                if record is None or move.target not in record.replicas or move.source not in record.replicas:
                    continue
                blockmap.remove_replica(txn, move.source, number, delete_on_node=True)
                moved.append(move)
        with self._lock:
            for move in moved:
                self.moved_blocks += 1
                self.moved_bytes += move.size
                self._recent.append((move.target, move.size, now + self._settle))
                self._recent.append((move.source, -move.size, now + self._settle))
