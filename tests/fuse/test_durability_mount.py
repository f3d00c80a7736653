"""fsync(2) on the mount under the durability contract (README "Durability"): it returns only once
every replica fsynced every block of the file and the name node synced LMDB (the counters of
tests/integration/test_durability.py), and a kill -9 of the name node and a data node right after
a write acknowledged at close(2) loses nothing."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster import Cluster
from tests.integration.sync_counters import BLOCK, QUIET, durability, payload, synced_blocks


@pytest.fixture
def quiet_cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    return make_cluster(env=QUIET)


def test_fsync_on_the_mount_syncs_every_replica_and_name_node_and_kill_9_loses_nothing(
        quiet_cluster: Cluster, mount_of: Callable[..., Path]) -> None:
    cluster = quiet_cluster
    mnt = mount_of(cluster)
    data = payload(2 * BLOCK + 300, 5)  # 3 blocks
    before = synced_blocks(cluster)
    name_before = durability(cluster.namenode_url)
    fd = os.open(mnt / "fsynced.bin", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
        after = synced_blocks(cluster)
        name_after = durability(cluster.namenode_url)
    finally:
        os.close(fd)
    assert {name: after[name] - before[name] for name in after} == {name: 3 for name in after}
    assert name_after["syncs"] >= name_before["syncs"] + 1

    (mnt / "closed.bin").write_bytes(data[::-1])  # acknowledged at close, nothing fsynced
    cluster.namenode.kill()
    cluster.datanodes[1].kill()
    cluster.namenode.restart()
    assert (mnt / "fsynced.bin").read_bytes() == data
    assert (mnt / "closed.bin").read_bytes() == data[::-1]
    nn = cluster.client()  # the mount may answer from its page cache: read the cluster's copies too
    assert nn.cat("/fsynced.bin") == data
    assert nn.cat("/closed.bin") == data[::-1]
