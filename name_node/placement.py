"""Where new block replicas go: distinct live nodes, most free space first.

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
from collections.abc import Iterable
from dataclasses import dataclass, field

from dfs_common.errors import NoSpace

from dfs_common.blocks import format_block_id

from .members import Member, Members

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

    def choose(self, count: int, block_size: int, exclude: Iterable[str] = (),
               block: int | None = None) -> list[Member]:
        """Up to ``count`` distinct live nodes with room for a block; NoSpace if there is none.
        With ``block`` (its number), the space is reserved on them until it is confirmed there
        (``confirmed``), abandoned (``abandoned``) or old."""
        excluded = set(exclude)
        with self._lock:
            self._expire(time.monotonic())
            candidates = [m for m in self.members.writable() if m.id not in excluded and m.healthy
                          and (m.capacity == 0 or free(m) >= block_size)]
            candidates.sort(key=lambda m: free(m) * random.uniform(1 - _JITTER, 1 + _JITTER), reverse=True)
            chosen = candidates[:max(1, count)]
            if not chosen:
                alive = len(self.members.alive())
                raise NoSpace(f"No data node can take a block of {block_size} bytes "
                              f"({alive} alive, {len(excluded)} excluded)")
            if block is not None:
                reservation = self._reservations.setdefault(
                    block, _Reservation(block_size, time.monotonic() + self._lifetime))
                for member in chosen:
                    if member.id not in reservation.nodes:
                        reservation.nodes.add(member.id)
                        member.reserved += reservation.size
            return chosen

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
