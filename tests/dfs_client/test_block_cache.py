"""The block cache: bounded in bytes, keyed so that no other bytes can ever answer for a block."""
from __future__ import annotations

import os

from dfs_client.cache import BlockCache
from dfs_common.blocks import checksum

KiB = 1024


def location(block_id: str, data: bytes, **extra: int) -> dict[str, object]:
    return {"blockId": block_id, "checksum": checksum(data), "length": len(data), **extra}


def test_the_cache_never_holds_more_bytes_than_its_capacity() -> None:
    cache = BlockCache(1024 * KiB)
    for index in range(100):
        data = os.urandom(100 * KiB)
        cache.put(location(f"b{index}", data), data)
        cache.put_span(location(f"c{index}", data), 0, data)
        assert cache.size <= cache.capacity
    assert cache.size > cache.capacity // 2  # and it is used: least recently used go first
    assert cache.get(location("b0", b"")) is None


def test_a_block_id_with_other_bytes_is_a_miss() -> None:
    cache = BlockCache(1024 * KiB)
    old, new = os.urandom(64 * KiB), os.urandom(64 * KiB)
    cache.put(location("b1", old), old)
    cache.put_span(location("b1", old), 0, old)
    assert cache.get(location("b1", old)) == old
    assert cache.get(location("b1", new)) is None  # the same id handed out again by a new cluster
    assert cache.get_span(location("b1", new), 0, 4096) is None


def test_a_prefix_of_a_block_is_not_kept_as_the_block() -> None:
    cache = BlockCache(1024 * KiB)
    data = os.urandom(256 * KiB)
    cache.put(location("b1", data, length=1000, blockLength=len(data)), data[:1000])
    assert cache.get(location("b1", data)) is None
    cache.put(location("b1", data, length=1000, blockLength=len(data)), data)
    assert cache.get(location("b1", data)) == data
