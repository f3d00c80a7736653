"""``blockio.read_range``: a small read fetches only the chunks covering it, verifies each against
the block's digest list and the list against the name node's checksum, and fails over otherwise."""
from __future__ import annotations

import os
from typing import Any

import pytest

from dfs_client import HttpNameNode
from dfs_client.blockio import read_range
from dfs_client.cache import BlockCache
from dfs_common.blocks import DIGEST_CHUNK
from dfs_common.errors import ChecksumMismatch
from fake_cluster import FakeCluster

MiB = 1024 * 1024


def stored(nn: HttpNameNode, path: str, data: bytes) -> list[dict[str, Any]]:
    nn.tee(path, data)
    return list(nn.block_locations(path)["BlockLocation"])


def served(cluster: FakeCluster) -> int:
    return sum(node.bytes_served for node in cluster.nodes.values())


def test_small_read_fetches_only_its_chunk(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(MiB)
    location = stored(nn, "/r", data)[0]
    before = served(cluster)
    assert read_range(nn, location, 300_000, 4096) == data[300_000:300_000 + 4096]
    assert served(cluster) - before == DIGEST_CHUNK


def test_read_across_a_chunk_boundary_fetches_both_chunks(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(MiB)
    location = stored(nn, "/r", data)[0]
    before = served(cluster)
    offset = 3 * DIGEST_CHUNK - 100
    assert read_range(nn, location, offset, 200) == data[offset:offset + 200]
    assert served(cluster) - before == 2 * DIGEST_CHUNK


def test_read_of_the_short_last_chunk_and_past_the_end(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(5 * DIGEST_CHUNK + 123)
    location = stored(nn, "/r", data)[0]
    assert read_range(nn, location, len(data) - 50, 4096) == data[-50:]
    assert read_range(nn, location, len(data), 10) == b""


# Reads until a shuffled replica order has tried the corrupt copy first: missed 60 times in a
# row with probability (1/2)^60.
READS_TO_MEET_EVERY_REPLICA = 60


def test_corrupt_chunk_fails_over_and_reports_the_replica(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(MiB)
    location = stored(nn, "/r", data)[0]
    first = location["dataNodes"][0]["id"]
    cluster.nodes[first].corrupt = True
    for _ in range(READS_TO_MEET_EVERY_REPLICA):  # replicas are tried in a shuffled order
        assert read_range(nn, location, 8 * DIGEST_CHUNK + 5, 1000) == data[8 * DIGEST_CHUNK + 5:8 * DIGEST_CHUNK + 1005]
        if cluster.namenode.bad_reports:
            break
    assert cluster.namenode.bad_reports == [(location["blockId"], first)]


def test_digest_list_that_does_not_match_the_checksum_fails_over(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(MiB)
    location = stored(nn, "/r", data)[0]
    first = location["dataNodes"][0]["id"]
    cluster.nodes[first].corrupt_digests = True
    for _ in range(READS_TO_MEET_EVERY_REPLICA):
        assert read_range(nn, location, 0, 10) == data[:10]
        if cluster.namenode.bad_reports:
            break
    assert cluster.namenode.bad_reports == [(location["blockId"], first)]


def test_range_corrupt_on_every_replica_fails(nn: HttpNameNode, cluster: FakeCluster) -> None:
    location = stored(nn, "/r", os.urandom(MiB))[0]
    for node in cluster.nodes.values():
        node.corrupt = True
    with pytest.raises(ChecksumMismatch):
        read_range(nn, location, 1000, 10)


def test_cache_answers_reads_within_a_fetched_chunk(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(MiB)
    location = stored(nn, "/r", data)[0]
    cache = BlockCache(8 * MiB)
    assert read_range(nn, location, 10, 100, cache=cache) == data[10:110]
    gets = sum(node.gets for node in cluster.nodes.values())
    assert read_range(nn, location, 5000, 4096, cache=cache) == data[5000:9096]
    cache.put(location, data)
    assert read_range(nn, location, 700_000, 4096, cache=cache) == data[700_000:704_096]
    assert sum(node.gets for node in cluster.nodes.values()) == gets


def test_truncated_block_prefix_is_verified_against_the_whole_block(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(MiB)
    location = dict(stored(nn, "/r", data)[0], length=200_000, blockLength=MiB)
    assert read_range(nn, location, 199_000, 4096) == data[199_000:200_000]
