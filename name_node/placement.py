"""Where new block replicas go: distinct live nodes, most free space first.

Free space is what a node last reported minus what was placed on it since, and near-equal nodes are
shuffled a little, so concurrent writers spread over the cluster instead of all piling onto the
emptiest node between two heartbeats.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable

from dfs_common.errors import NoSpace

from .members import Member, Members

_JITTER = 0.05  # nodes within ~5 % free space of each other are treated as equals


class Placement:
    def __init__(self, members: Members) -> None:
        self.members = members
        self._lock = threading.Lock()

    def choose(self, count: int, block_size: int, exclude: Iterable[str] = ()) -> list[Member]:
        """Up to ``count`` distinct live nodes with room for a block; NoSpace if there is none."""
        excluded = set(exclude)
        with self._lock:
            candidates = [m for m in self.members.alive()
                          if m.id not in excluded and (m.capacity == 0 or free(m) >= block_size)]
            candidates.sort(key=lambda m: free(m) * random.uniform(1 - _JITTER, 1 + _JITTER), reverse=True)
            chosen = candidates[:max(1, count)]
            if not chosen:
                alive = len(self.members.alive())
                raise NoSpace(f"No data node can take a block of {block_size} bytes "
                              f"({alive} alive, {len(excluded)} excluded)")
            for member in chosen:
                member.reserved += block_size
            return chosen

    def any_alive(self, exclude: Iterable[str] = ()) -> Member:
        """One live node for a redirect that carries no block yet (CREATE, APPEND)."""
        excluded = set(exclude)
        alive = [m for m in self.members.alive() if m.id not in excluded]
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
    return member.remaining - member.reserved
