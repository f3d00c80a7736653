"""Fixtures: a fresh fake cluster (three data nodes, 1 MiB blocks) and a client bound to it."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from dfs_client import HttpNameNode
from fake_cluster import FakeCluster


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    fake = FakeCluster(data_nodes=3, block_size=1024 * 1024)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def nn(cluster: FakeCluster) -> Iterator[HttpNameNode]:
    client = HttpNameNode(cluster.url, user="tester")
    try:
        yield client
    finally:
        client.close()
