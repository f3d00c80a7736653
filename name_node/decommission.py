"""Retiring a data node (decommission) and resting one (maintenance), HDFS's admin states.

Decommission: the node takes no new blocks and its copies stop counting toward replication, so the
healer copies every block it holds elsewhere, from the other copies first, from it when it has the
only one; meanwhile it serves reads (after in-service replicas). Once every one of its blocks has
its full replication on in-service nodes it is ``decommissioned``: it may be switched off with
nothing lost. Recommission puts it back; the surplus copies are trimmed as usual.

Maintenance: a planned short outage. The node takes no new blocks, and while its window lasts its
copies keep counting (as long as another copy of the block is live), so switching it off for a
reboot causes no re-replication storm. When the window ends it is an ordinary node again, healed
around if it is still down.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from dfs_common.errors import IllegalArgument

from .members import DECOMMISSIONED, DECOMMISSIONING, MAINTENANCE, NORMAL, Member
from .store import node_prefix, split_node_key

if TYPE_CHECKING:
    from .heal import Healer
    from .members import Members
    from .store import Store

log = logging.getLogger("dfs.name_node.decommission")


class Drainer:
    """Operator state changes and the progress of draining nodes (polled by the healer's loop)."""

    def __init__(self, store: "Store", members: "Members", healer: "Healer", interval: float) -> None:
        self.store, self.members, self.healer = store, members, healer
        self.interval = interval
        self._last = 0.0

    def _set(self, node_id: str, admin: str, until: float = 0.0) -> Member:
        with self.store.write() as txn:
            return self.members.set_admin(txn, node_id, admin, until)

    def decommission(self, node_id: str) -> Member:
        member = self.members.get(node_id)
        if member is not None and member.admin in (DECOMMISSIONING, DECOMMISSIONED):
            return member
        member = self._set(node_id, DECOMMISSIONING)
        member.drain = {"blocks": member.blocks, "pending": member.blocks, "started": int(time.time())}
        log.info("decommissioning data node %s", node_id)
        self.healer.suspect_node(node_id)
        self._last = 0.0
        return member

    def recommission(self, node_id: str) -> Member:
        member = self._set(node_id, NORMAL)
        log.info("data node %s back in service", node_id)
        self.healer.suspect_node(node_id)
        return member

    def maintain(self, node_id: str, minutes: float) -> Member:
        if not 0 < minutes <= 7 * 24 * 60:
            raise IllegalArgument(f"Maintenance lasts between 0 and 10080 minutes, not {minutes}")
        member = self._set(node_id, MAINTENANCE, time.time() + minutes * 60)
        log.info("data node %s in maintenance for %.1f minutes", node_id, minutes)
        return member

    def tick(self) -> None:
        """End expired maintenance windows; measure draining nodes and finish the drained."""
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        for member in self.members.all():
            if member.admin == MAINTENANCE and time.time() >= member.maintenance_until:
                log.info("maintenance of data node %s is over", member.id)
                self._set(member.id, NORMAL)
                self.healer.suspect_node(member.id)
            elif member.admin == DECOMMISSIONING:
                total, pending = self.measure(member.id)
                member.drain = dict(member.drain, blocks=total, pending=pending)
                if pending == 0:
                    self._set(member.id, DECOMMISSIONED)
                    log.info("data node %s is decommissioned: all %d of its blocks are replicated "
                             "elsewhere", member.id, total)

    def measure(self, node_id: str) -> tuple[int, int]:
        """(blocks on the node, blocks not yet at full replication on in-service nodes)."""
        serving, _ = self.members.counted_ids()
        serving.discard(node_id)
        total = pending = 0
        with self.store.read() as txn:
            for key, _ in txn.scan("replicas", node_prefix(node_id)):
                number = split_node_key(key)[1]
                record = txn.block(number)
                inode = txn.inode(record.owner) if record is not None and record.owner else None
                if inode is None or record is None:
                    continue  # pending or gone: nothing to keep
                total += 1
                want = min(inode.replication, max(len(serving), 1))
                if sum(node in serving for node in record.replicas) < want:
                    pending += 1
        return total, pending
