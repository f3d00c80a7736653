"""``dfs_fuse.cache.TTLCache``: what it holds is bounded by time, not by how much went through it."""
from __future__ import annotations

from dfs_fuse.cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_and_are_swept_without_waiting_for_the_cap() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(1.0, clock=clock)
    for second in range(100):  # a long copy: 1,000 new paths a second, none asked for again
        for i in range(1000):
            cache.put(f"/d/{second}/{i}", i)
        clock.now += 1.0
        assert cache.get(f"/d/{second}/5") is None  # expired a second after it was stored
    assert len(cache._entries) <= 2000  # the last two seconds' at most, not all 100,000


def test_a_live_entry_survives_the_sweep_and_the_cap_still_holds() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(10.0, max_entries=100, clock=clock)
    cache.put("/kept", 1)
    clock.now = 9.0
    for i in range(99):
        cache.put(f"/f{i}", i)
    assert cache.get("/kept") == 1
    clock.now = 10.5  # /kept expired; the sweep at the next store removes it
    cache.put("/new", 2)
    assert "/kept" not in cache._entries and cache.get("/new") == 2
    for i in range(500):
        cache.put(f"/g{i}", i)
    assert len(cache._entries) <= 100
