"""Where new block replicas go: distinct live nodes spread over sites, then racks, most free
space first, on the kinds of root the file's storage policy asks for.

Spreading is HDFS's rule made greedy: each replica goes to the site holding the fewest of the
block's replicas so far, within it to the least used rack, within that to the emptiest node. A
cluster that declares no sites or racks (``DFS_SITE``, ``DFS_RACK``) is one site and one rack, and
placement is by free space alone. The healer keeps a block's copies where this rule would put
them: ``better`` finds a node whose copy would improve a block's spread or its policy fit (one
copy is added there), ``surplus`` the copies to drop so that what remains is the best placed.

Free space is what a node last reported, minus the blocks placed on it and still in flight (a
reservation of the block size each, held until the block is confirmed, abandoned or old), minus
what was confirmed on it since that report (its real length). So between two heartbeats a node
takes about as much as it has room for, and near-equal nodes are shuffled a little, so concurrent
writers spread over the cluster instead of all piling onto the emptiest node.

A reservation also remembers where a block was sent: when its writer abandons it, every node of
the pipeline is told to delete its copy (a node that stored it while the pipeline failed around
it would otherwise keep it until the pending block expires an hour later).
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dfs_common.errors import NoSpace

from dfs_common.blocks import format_block_id

from .members import Member, Members
from .storagepolicy import HOT, StoragePolicy

_JITTER = 0.05  # nodes within ~5 % free space of each other are treated as equals
# A reservation whose block was neither confirmed nor abandoned within this many seconds (plus ten
# heartbeats) stops counting: its writer died, and the node's reports show what it really stored.
RESERVATION_SECONDS = 60.0


@dataclass(slots=True)
class _Reservation:
    size: int
    until: float
    nodes: set[str] = field(default_factory=set)


class Placement:
    def __init__(self, members: Members) -> None:
        self.members = members
        self._lock = threading.Lock()
        self._reservations: dict[int, _Reservation] = {}
        self._lifetime = RESERVATION_SECONDS + 10 * members.settings.heartbeat

    def choose(self, count: int, block_size: int, exclude: Iterable[str] = (), block: int | None = None,
               placed: Iterable[str] = (), policy: StoragePolicy = HOT) -> list[Member]:
        """Up to ``count`` distinct live nodes with room for a block, spread away from the nodes
        already holding it (``placed``) and on the roots ``policy`` asks for; NoSpace if there is
        none. With ``block`` (its number), the space is reserved on them until it is confirmed
        there (``confirmed``), abandoned (``abandoned``) or old."""
        excluded = set(exclude)
        with self._lock:
            self._expire(time.monotonic())
            candidates = self._candidates(block_size, excluded)
            holding = self._members(placed)
            chosen = _spread(candidates, holding, max(1, count), policy)
            if not chosen:
                alive = len(self.members.alive())
                kinds = "" if policy is HOT else f" under storage policy {policy.name}"
                raise NoSpace(f"No data node can take a block of {block_size} bytes{kinds} "
                              f"({alive} alive, {len(excluded)} excluded)")
            if block is not None:
                reservation = self._reservations.setdefault(
                    block, _Reservation(block_size, time.monotonic() + self._lifetime))
                for member in chosen:
                    if member.id not in reservation.nodes:
                        reservation.nodes.add(member.id)
                        member.reserved += reservation.size
            return sorted(chosen, key=lambda m: m.in_bucket)  # a bucket last in the pipeline

    def better(self, holders: Sequence[str], block_size: int, policy: StoragePolicy,
               exclude: Iterable[str] = ()) -> Member | None:
        """A node (not holding the block) whose copy, in place of one of ``holders``', would spread
        the block wider or fit its policy better; None when the placement is as good as it gets.
        The common case (placed as well as the cluster allows) costs no search."""
        holding = self._members(holders)
        if not holding:
            return None
        with self._lock:
            candidates = self._candidates(block_size, set(exclude) | set(holders))
        if not candidates:
            return None
        now = _score(holding, policy)
        if now >= _ideal(holding, candidates, policy):
            return None
        best, best_score = None, now
        for candidate in sorted(candidates, key=free, reverse=True):
            for index in range(len(holding)):
                score = _score([*holding[:index], *holding[index + 1:], candidate], policy)
                if score > best_score:
                    best, best_score = candidate, score
        return best

    def surplus(self, holders: Sequence[str], count: int, policy: StoragePolicy) -> list[str]:
        """The ``count`` copies to drop from ``holders``: each time the one whose loss leaves the
        best placed rest, the fullest node among equals."""
        members = {node: self.members.get(node) for node in holders}
        keep = list(holders)
        dropped: list[str] = []
        for _ in range(min(count, len(keep))):
            def after(node: str) -> tuple[tuple[int, int, int], int]:
                rest = [m for other in keep if other != node and (m := members[other]) is not None]
                member = members[node]
                return _score(rest, policy), -(member.remaining if member is not None else 0)
            victim = max(keep, key=after)
            keep.remove(victim)
            dropped.append(victim)
        return dropped

    def keeps(self, holders: Sequence[str], source: str, target: str, policy: StoragePolicy) -> bool:
        """Whether moving the copy on ``source`` to ``target`` leaves the block as well placed."""
        after = self._members([*(node for node in holders if node != source), target])
        return _score(after, policy) >= _score(self._members(holders), policy)

    def _members(self, nodes: Iterable[str]) -> list[Member]:
        """The known members among ``nodes`` (a node the name node forgot is skipped)."""
        return [m for node in nodes if (m := self.members.get(node)) is not None]

    def _candidates(self, block_size: int, excluded: set[str]) -> list[Member]:
        return [m for m in self.members.writable() if m.id not in excluded and m.healthy
                and (m.capacity == 0 or free(m) >= block_size)]

    def confirmed(self, block: int, holders: Iterable[str], length: int) -> None:
        """A block landed on ``holders``: their reservation becomes its real length, counted
        until their next heartbeat reports it."""
        with self._lock:
            reservation = self._reservations.get(block)
            for node_id in holders:
                member = self.members.get(node_id)
                if member is None:
                    continue
                if reservation is not None and node_id in reservation.nodes:
                    reservation.nodes.discard(node_id)
                    member.reserved = max(0, member.reserved - reservation.size)
                member.landed += max(0, length)
            if reservation is not None and not reservation.nodes:
                del self._reservations[block]

    def abandoned(self, blocks: Iterable[int]) -> None:
        """Blocks their writer gave up: release their space and tell every node they were sent to
        (and that never confirmed them) to delete its copy, should it have stored one."""
        with self._lock:
            released = [(number, self._reservations.pop(number)) for number in blocks
                        if number in self._reservations]
            for _, reservation in released:
                self._release(reservation)
        for number, reservation in released:
            for node_id in reservation.nodes:
                self.members.queue(node_id, {"op": "delete", "blocks": [format_block_id(number)],
                                             "gone": True})

    def _expire(self, now: float) -> None:
        for number in [n for n, r in self._reservations.items() if r.until <= now]:
            self._release(self._reservations.pop(number))

    def _release(self, reservation: _Reservation) -> None:
        for node_id in reservation.nodes:
            member = self.members.get(node_id)
            if member is not None:
                member.reserved = max(0, member.reserved - reservation.size)

    def any_alive(self, exclude: Iterable[str] = ()) -> Member:
        """One live node for a redirect that carries no block yet (CREATE, APPEND)."""
        excluded = set(exclude)
        alive = [m for m in self.members.writable() if m.id not in excluded] \
            or [m for m in self.members.alive() if m.id not in excluded]
        alive = [m for m in alive if m.healthy] or alive
        if not alive:
            raise NoSpace("No live data node")
        now = time.monotonic()
        alive = [m for m in alive if self.members.is_fresh(m, now)] or alive  # never a hung one
        best = max(free(m) for m in alive)
        near = [m for m in alive if free(m) >= best * (1 - 2 * _JITTER)]
        return random.choice(near)


def free(member: Member) -> int:
    """Room left on a node; a node reporting no capacity (an object store) counts as unbounded."""
    if member.capacity == 0:
        return 1 << 62
    return member.remaining - member.reserved - member.landed


def _spread(candidates: list[Member], holding: list[Member], count: int, policy: StoragePolicy) -> list[Member]:
    """Greedy placement: per replica the kind of root the policy wants (the other kind if it
    allows a fallback and the wanted has none left), then the least used site, rack, and the
    emptiest node (near-equals shuffled: concurrent writers spread)."""
    weight = {m.id: free(m) * random.uniform(1 - _JITTER, 1 + _JITTER) for m in candidates}
    sites = Counter(m.site for m in holding)
    racks = Counter((m.site, m.rack) for m in holding)
    on_s3 = sum(m.in_bucket for m in holding)
    left, chosen = list(candidates), list[Member]()
    while left and len(chosen) < count:
        wants = policy.wants_s3(on_s3)
        pool = left if wants is None else [m for m in left if m.in_bucket == wants]
        if not pool and policy.fallback:
            pool = left
        if not pool:
            break
        pick = min(pool, key=lambda m: (sites[m.site], racks[(m.site, m.rack)], -weight[m.id]))
        left.remove(pick)
        chosen.append(pick)
        sites[pick.site] += 1
        racks[(pick.site, pick.rack)] += 1
        on_s3 += pick.in_bucket
    return chosen


def _score(members: list[Member], policy: StoragePolicy) -> tuple[int, int, int]:
    """How well a block's copies are placed, larger is better: fit to the policy, sites, racks."""
    on_s3 = sum(m.in_bucket for m in members)
    return (-policy.misfit(len(members), on_s3), len({m.site for m in members}),
            len({(m.site, m.rack) for m in members}))


def _ideal(holding: list[Member], candidates: list[Member], policy: StoragePolicy) -> tuple[int, int, int]:
    """An upper bound of ``_score`` for as many copies as ``holding`` over these nodes."""
    nodes = [*holding, *candidates]
    count = len(holding)
    fit = 0
    if policy.s3 is not None:  # the S3 count nearest the policy's that these nodes allow
        buckets = sum(m.in_bucket for m in nodes)
        wanted = min(policy.s3, count)
        fit = -policy.misfit(count, min(max(wanted, count - (len(nodes) - buckets)), buckets))
    return (fit, min(count, len({m.site for m in nodes})), min(count, len({(m.site, m.rack) for m in nodes})))
