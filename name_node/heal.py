"""The one background loop: keeps every block at its file's replication.

Work is driven by a set of suspect blocks fed by the events that change replica counts (a node
dies or returns, a bad block is reported, a commit lands short, replication is changed), so a quiet
cluster costs nothing. A full scan at a slow interval is the safety net, run early when a node
returns (blocks written while too few nodes were live settled short and sit in no queue); pending
blocks older than an hour are expired here too. A batch judges its suspects on one snapshot, so a
block suspected again while the batch runs (a COMMIT landing short just after its pipeline's
confirmation) stays a suspect whatever that stale verdict said.

A surplus copy is trimmed only once every copy the block keeps has just been verified on its disk
(a ``verify`` command each, answered by a confirmation): a replica the map counts but whose bytes
are gone or rotten then reports itself bad instead, and the trim never leaves fewer real copies
than the replication. A copy lost or reported bad on a node is not re-created on that same node
while another node can take it.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dfs_common.blocks import format_block_id
from dfs_common.erasure import parse_policy
from dfs_common.errors import DFSError
from dfs_common.loops import BackgroundLoop
from dfs_common.settings import Settings

from . import blockmap, groups, snapshots, storagepolicy
from .members import Member, Members
from .placement import Placement
from .store import Inode, Store, Txn, node_prefix, split_node_key, unpack_u64

log = logging.getLogger("dfs.name_node.heal")

_BATCH = 500            # suspects evaluated per tick: bounds the time one tick holds a read txn
_EXPIRE_EVERY = 60.0    # seconds between sweeps of expired pending blocks
_SCAN_EVERY = 900.0     # seconds between full safety-net scans of the block map
_RESCAN_GAP = 5.0       # at least this between scans a returning node asks for (a flapping node)
# Trims waiting for their keepers' verification at once: each asks a few nodes to re-read a block,
# so a node returning with many blocks costs bounded reads, not one per block all at once.
_TRIM_CHECKS = 256


@dataclass
class _TrimCheck:
    """A planned trim: the copies to keep, which of them confirmed since asked, until when."""

    keepers: frozenset[str]
    deadline: float
    confirmed: set[str] = field(default_factory=set)


class Healer(BackgroundLoop):
    """Brings every block back to its file's replication: the name node's one background loop."""

    thread_name = "dfs-heal"

    def __init__(self, store: Store, members: Members, placement: Placement, settings: Settings) -> None:
        self.store, self.members, self.placement, self.settings = store, members, placement, settings
        self._lock = threading.Lock()
        self._suspects: set[int] = set()
        self._waiting: dict[int, float] = {}   # block → monotonic time before which it is not retried
        self._missing: set[int] = set()        # no live replica at all: nothing to copy from
        self._checks: dict[int, _TrimCheck] = {}  # over-replicated blocks waiting for their keepers
        self._lost_on: dict[int, set[str]] = {}   # nodes a suspect block was lost or found bad on
        self._corrupt: set[int] = set()           # blocks with a copy found bad, not yet healed
        # suspected again since the current batch took its snapshot: a verdict made on that
        # snapshot (settled, or nothing to copy from) missed the event and must not drop them
        self._resuspected: set[int] = set()
        super().__init__()
        self._last_expire = time.monotonic()
        # the first full scan runs once a restart's grace window is over: suspects are not persisted
        self._last_scan = self._last_expire - _SCAN_EVERY + 2 * settings.dead_after * settings.heartbeat
        self._scan_due = False
        self.retry_after = max(10.0, 4 * settings.heartbeat)
        self.replications = 0        # copy commands sent (metrics, the heal benchmark)
        self.replicated_bytes = 0    # their blocks' sizes (block size when unknown)
        self.paused: Callable[[], bool] = lambda: False  # safe mode: react to nothing until it ends
        self.extra_ticks: list[Callable[[], None]] = []

    # events ---------------------------------------------------------------------------------
    def suspect(self, numbers: Iterable[int]) -> None:
        with self._lock:
            for number in numbers:
                self._suspects.add(number)
                self._waiting.pop(number, None)
                self._resuspected.add(number)

    def lost(self, node_id: str, numbers: Iterable[int]) -> None:
        """``node_id`` lost these blocks' replicas (reported bad or missing, or left out of its
        block report): heal them, elsewhere if possible."""
        numbers = list(numbers)
        with self._lock:
            for number in numbers:
                self._lost_on.setdefault(number, set()).add(node_id)
        self.suspect(numbers)

    def bad(self, node_id: str, numbers: Iterable[int]) -> None:
        """Copies on ``node_id`` failed their checksum: corrupt until healed."""
        numbers = list(numbers)
        with self._lock:
            self._corrupt.update(numbers)
        self.lost(node_id, numbers)

    def corrupt_blocks(self) -> set[int]:
        with self._lock:
            return set(self._corrupt)

    def confirmed(self, replicas: Iterable[tuple[str, int]]) -> None:
        """Data nodes confirmed holding intact copies (a write, a copy, or a ``verify``)."""
        replicas = list(replicas)
        with self._lock:
            for node_id, number in replicas:
                check = self._checks.get(number)
                if check is not None and node_id in check.keepers:
                    check.confirmed.add(node_id)
        self.suspect(number for _, number in replicas)

    @property
    def under_replicated(self) -> int:
        return len(self._suspects) + len(self._missing)

    @property
    def missing(self) -> int:
        return len(self._missing)

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
        if self.paused():
            return
        for node_id, alive in self.members.transitions():
            log.info("data node %s is %s", node_id, "alive" if alive else "dead")
            self.suspect_node(node_id)
            if alive:
                with self._lock:
                    self._suspects |= self._missing
                    self._missing.clear()
                # blocks settled short while too few nodes were live are in no queue, and those
                # placed worse than a new node allows (its site, its bucket): rescan
                self._scan_due = True
        self.heal_batch(now)
        for tick in self.extra_ticks:  # the operators' loops (decommission, balancer)
            tick()
        if now - self._last_expire >= _EXPIRE_EVERY:
            self._last_expire = now
            with self.store.write() as txn:
                expired = blockmap.expire_pending(txn, time.time_ns())
            if expired:
                log.info("expired %d pending blocks", expired)
        if now - self._last_scan >= (_RESCAN_GAP if self._scan_due else _SCAN_EVERY):
            self._last_scan, self._scan_due = now, False
            self.full_scan()

    def suspect_node(self, node_id: str) -> None:
        """Every block with a replica on ``node_id`` (it died, returned or changed state)."""
        with self.store.read() as txn:
            self.suspect(split_node_key(key)[1] for key, _ in txn.scan("replicas", node_prefix(node_id)))

    def full_scan(self) -> None:
        """Safety net: every committed block whose live replica count is off becomes a suspect,
        and, in a cluster of several sites, racks or kinds of root, one placed worse than it could
        be (written while a site or the bucket was away)."""
        live = self.members.live_ids()
        writable = self.members.writable()
        placing = len({(m.site, m.rack) for m in writable}) > 1 or any(m.in_bucket for m in writable)
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
                    number = unpack_u64(key)
                    inode = _file_of(txn, number, record)
                    want = _wanted(txn, number, inode.replication if inode is not None else 0)
                    if want is None:
                        continue
                    copies = [node for node in record.replicas if node in live]
                    if len(copies) != want or placing and _placeable(txn, number, want) and self.placement.better(
                            copies, max(record.length, 1), storagepolicy.effective(txn, record.owner)) is not None:
                        found.append(number)
            self.suspect(found)
            if last is None:
                return
            start = last + b"\0"

    # healing ------------------------------------------------------------------------------
    def heal_batch(self, now: float) -> None:
        with self._lock:
            ready = [n for n in self._suspects if self._waiting.get(n, 0.0) <= now][:_BATCH]
            self._resuspected.clear()  # before the snapshot: what is suspected from now on is news
        if not ready:
            return
        live = self.members.live_ids()
        serving, resting = self.members.counted_ids()
        trims: list[tuple[int, frozenset[str], list[str]]] = []
        with self.store.read() as txn:
            for number in ready:
                record = txn.block(number)
                inode = _file_of(txn, number, record) if record is not None else None
                if record is None or inode is None:
                    self._settle(number)
                    continue
                # copies on in-service live nodes count; one on a node in maintenance counts too
                # while another copy is live; a draining node's copy is only a source
                holders = [node for node in record.replicas if node in serving]
                resting_copies = [node for node in record.replicas if node in resting] if holders else []
                sources = [node for node in record.replicas if node in live]
                wanted = _wanted(txn, number, inode.replication)
                if wanted is None:  # a coded group: its fragments hold the replicas
                    self._settle(number)
                    continue
                want = min(wanted, max(len(serving) + len(resting), 1))
                counted = len(holders) + len(resting_copies)
                policy = storagepolicy.effective(txn, record.owner)
                size = inode.block_size or self.settings.block_size
                if counted == want and not resting_copies and _placeable(txn, number, want):
                    # enough copies: are they where placement would put them (sites, policy)?
                    target = self.placement.better(holders, size, policy, [*record.replicas, *self._lost(number)])
                    if target is None:
                        self._settle(number)
                    else:  # one copy more there; the trim then drops the worst placed
                        self._send_copy(number, sources, [target], size)
                elif counted == want or (counted > want and resting_copies):
                    self._settle(number)  # surplus beside a resting copy waits for its return
                elif not sources and (fragment := groups.fragment(txn, number)) is not None:
                    with self._lock:
                        self._checks.pop(number, None)
                    self._rebuild(txn, number, record, fragment, live)
                elif not sources:
                    self._park_missing(number)
                elif counted < want:
                    with self._lock:
                        self._checks.pop(number, None)
                    self._replicate(number, sources, record.replicas, holders, want - counted, size, policy)
                else:
                    keepers = self._trim_ready(number, holders, want, now, policy)
                    if keepers is not None:
                        trims.append((number, keepers, [h for h in holders if h not in keepers]))
        if trims:
            trimmed = []
            with self.store.write() as txn:
                for number, keepers, extras in trims:
                    record = txn.block(number)
                    if record is None or not keepers <= set(record.replicas):
                        continue  # a keeper went meanwhile: evaluated afresh next time
                    trimmed.append(number)
                    for node in extras:
                        blockmap.remove_replica(txn, node, number, delete_on_node=True)
            for number in trimmed:
                self._settle(number)

    def _settle(self, number: int) -> None:
        """The block needs nothing (more): forget it, unless it was suspected again since the
        snapshot this verdict was made on (a COMMIT that landed short meanwhile, a copy reported
        bad): then the next tick judges it afresh, else it would wait for the full scan."""
        with self._lock:
            if number in self._resuspected:
                return
            self._suspects.discard(number)
            self._waiting.pop(number, None)
            self._checks.pop(number, None)
            self._lost_on.pop(number, None)
            self._corrupt.discard(number)

    def _park_missing(self, number: int) -> None:
        """No copy to heal from: out of the suspects until a node returns (``tick``), unless it
        was suspected again since the snapshot (a copy confirmed meanwhile)."""
        with self._lock:
            if number in self._resuspected:
                return
            self._suspects.discard(number)
            self._missing.add(number)
            self._checks.pop(number, None)

    def _trim_ready(self, number: int, holders: list[str], want: int, now: float,
                    policy: storagepolicy.StoragePolicy) -> frozenset[str] | None:
        """The copies to keep once they all confirmed since asked, else None: the first call
        picks them and queues a ``verify`` to each; an overdue check asks the silent ones again.
        A keeper that fails its check is reported bad and removed, and the plan starts over."""
        with self._lock:
            check = self._checks.get(number)
            if check is not None and (len(check.keepers) != want or not check.keepers <= set(holders)):
                del self._checks[number]  # a keeper went, or the wanted count changed: plan afresh
                check = None
            if check is not None and check.confirmed >= check.keepers:
                return check.keepers
            if check is not None and now < check.deadline:
                self._waiting[number] = check.deadline
                return None
            if check is None and len(self._checks) >= _TRIM_CHECKS:
                self._waiting[number] = now + self.retry_after  # surplus copies can wait
                return None
            if check is None:
                extras = set(self.placement.surplus(holders, len(holders) - want, policy))
                check = _TrimCheck(frozenset(h for h in holders if h not in extras), now)
                self._checks[number] = check
            check.deadline = now + self.retry_after
            self._waiting[number] = check.deadline
            ask = sorted(check.keepers - check.confirmed)
        for node in ask:
            self.members.queue(node, {"op": "verify", "blockId": format_block_id(number)})
        return None

    def _lost(self, number: int) -> list[str]:
        """Nodes the block was lost or found bad on: a new copy goes elsewhere if it can."""
        with self._lock:
            return sorted(self._lost_on.get(number, ()))

    def _replicate(self, number: int, sources: list[str], all_holders: list[str], holders: list[str],
                   need: int, size: int, policy: storagepolicy.StoragePolicy) -> None:
        """Copy the block to ``need`` fresh nodes, spread away from its ``holders``."""
        lost_on = self._lost(number)
        try:
            targets = self.placement.choose(need, size, exclude=[*all_holders, *lost_on], block=number,
                                            placed=holders, policy=policy)
        except DFSError:
            try:  # nowhere else: the node that lost it is better than no copy
                targets = self.placement.choose(need, size, exclude=all_holders, placed=holders,
                                                policy=policy) if lost_on else []
            except DFSError:
                targets = []
        self._send_copy(number, sources, targets, size)

    def _send_copy(self, number: int, sources: list[str], targets: list[Member], size: int) -> None:
        """Ask one live holder to copy the block to ``targets``; retried if nothing is confirmed."""
        if targets:
            # a healthy in-service copy first: a draining node serves its readers and has work enough
            healthy = [h for h in sources if (m := self.members.get(h)) is not None and m.healthy]
            source = random.choice(self._in_service(healthy) or healthy or sources)
            self.replications += 1
            self.replicated_bytes += size
            self.members.queue(source, {"op": "replicate", "blockId": format_block_id(number),
                                        "targets": [m.url for m in targets]})
        with self._lock:
            self._waiting[number] = time.monotonic() + self.retry_after

    def _in_service(self, nodes: list[str]) -> list[str]:
        return [node for node in nodes if (member := self.members.get(node)) is not None
                and member.admin == "normal"]

    def _rebuild(self, txn: Txn, number: int, record: blockmap.BlockRecord, fragment: tuple[int, int],
                 live: set[str]) -> None:
        """A fragment has no copy left: a node holding no other fragment of its group rebuilds it
        from k others (a ``reconstruct`` command); retried if nothing is confirmed in time."""
        group_number, index = fragment
        found = groups.group(txn, group_number)
        group_record = txn.block(group_number)
        if found is None or group_record is None:
            self._settle(number)
            return
        name, fragments = found
        policy = parse_policy(name)
        sources, taken = [], set()
        for other_index, other in enumerate(fragments):
            other_record = txn.block(other)
            holders = [n for n in (other_record.replicas if other_record else []) if n in live]
            taken.update(other_record.replicas if other_record else [])
            if other != number and holders:
                member = self.members.get(random.choice(holders))
                if member is not None:
                    sources.append({"blockId": format_block_id(other), "index": other_index,
                                    "length": other_record.length, "checksum": other_record.checksum,  # type: ignore[union-attr]
                                    "url": member.url})
        if len(sources) < policy.k:
            self._park_missing(number)
            log.warning("fragment %s of group %s: only %d of %d fragments left, cannot rebuild",
                        format_block_id(number), format_block_id(group_number), len(sources), policy.k)
            return
        lost_on = self._lost(number)
        spread = [node for node in taken if node in live]  # away from the group's other fragments
        try:
            targets = self.placement.choose(1, max(record.length, 1), exclude=[*taken, *lost_on], placed=spread)
        except DFSError:
            try:  # nowhere else: the node whose copy rotted is better than no copy
                targets = self.placement.choose(1, max(record.length, 1), exclude=taken,
                                                placed=spread) if lost_on else []
            except DFSError:
                targets = []
        if targets:
            self.members.queue(targets[0].id, {
                "op": "reconstruct", "blockId": format_block_id(number), "index": index, "policy": name,
                "length": record.length, "checksum": record.checksum, "groupLength": group_record.length,
                "sources": sources})
        with self._lock:
            self._waiting[number] = time.monotonic() + self.retry_after


def _file_of(txn: Txn, number: int, record: blockmap.BlockRecord) -> Inode | None:
    """The file whose replication a block keeps: its live owner, else the frozen copy of a
    snapshot that still holds it (a snapshot's bytes are healed like any others)."""
    if not record.owner:
        return None
    return txn.inode(record.owner) or snapshots.frozen_file(txn, number, record.owner)


def _placeable(txn: Txn, number: int, want: int) -> bool:
    """Whether the healer may move the block's copies for a better placement: not a coded
    group's fragment (its group's layout decides where it lives)."""
    return want > 1 or not groups.any_groups(txn) or groups.fragment(txn, number) is None


def _wanted(txn: Txn, number: int, replication: int) -> int | None:
    """Copies a block should have: its file's replication; one for a fragment of a coded group;
    None for the group itself (its fragments carry the copies)."""
    if not groups.any_groups(txn):
        return replication
    if groups.group(txn, number) is not None:
        return None
    return 1 if groups.fragment(txn, number) is not None else replication
