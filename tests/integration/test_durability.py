"""The durability contract (README "Durability"), with real processes.

- batch (the default): an acknowledged write survives ``kill -9`` of the name node and of a data
  node at once, although nothing was fsynced for it (it is in the page cache);
- ``fsync`` (``DfsFile.fsync`` and ``fsync(2)`` on the mount) returns only once every replica
  fsynced every block of the file and the name node synced LMDB. Watched through the nodes'
  counters (``/status`` → ``durability``), which move only when an fsync of a block or an
  ``env.sync`` has returned: with ``DFS_SYNC_INTERVAL`` at an hour nothing else moves them, so
  what the counters show right after ``fsync`` returned happened before it returned;
- always: every block is fsynced on every replica and every change synced before the answer.
"""
from __future__ import annotations

from collections.abc import Callable
import pytest
from tests.cluster import Cluster
from tests.integration.sync_counters import BLOCK, QUIET, durability, payload, synced_blocks


@pytest.fixture
def quiet_cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    return make_cluster(env=QUIET)


def test_batch_close_fsyncs_nothing_and_fsync_syncs_every_replica_and_the_name_node(quiet_cluster: Cluster) -> None:
    cluster = quiet_cluster
    nn = cluster.client()
    before = synced_blocks(cluster)
    name_before = durability(cluster.namenode)
    data = payload(3 * BLOCK + 1000, 1)  # 4 blocks: 3 shipped while writing, the last at fsync
    with nn.open("/plain.bin", "wb") as file:
        file.write(data)
    assert nn.cat("/plain.bin") == data
    # batch: acknowledged at close without an fsync anywhere
    assert synced_blocks(cluster) == before
    assert durability(cluster.namenode)["syncs"] == name_before["syncs"]

    file = nn.open("/synced.bin", "wb")
    file.write(data)
    file.flush()  # committed, not synced
    assert synced_blocks(cluster) == before
    file.write(b"tail")
    commits = durability(cluster.namenode)["commits"]
    file.fsync()
    after = synced_blocks(cluster)
    name_after = durability(cluster.namenode)
    # replication 3 of 3 nodes: every node fsynced all 4 blocks of /synced.bin before fsync returned
    # (the last through the pipeline's sync flag, the others through POST /sync)
    assert {name: after[name] - before[name] for name in after} == {name: 4 for name in after}
    assert name_after["syncs"] == name_before["syncs"] + 1
    assert name_after["synced"] >= commits + 1  # the fsync's own COMMIT is on disk
    file.close()
    assert nn.cat("/synced.bin") == data + b"tail"

    # an fsync with nothing new to commit still syncs the name node (op=SYNC: here the mkdir below
    # is the change not yet on disk), and the blocks of a file written by a handle that never
    # fsynced (here, opened for reading)
    nn.mkdir("/pending")
    pending = durability(cluster.namenode)
    assert pending["synced"] < pending["commits"]
    with nn.open("/plain.bin", "rb") as reader:
        reader.fsync()
    again = synced_blocks(cluster)
    assert {name: again[name] - after[name] for name in again} == {name: 4 for name in again}
    synced = durability(cluster.namenode)
    assert synced["syncs"] == pending["syncs"] + 1 and synced["synced"] >= pending["commits"]


def test_acknowledged_writes_survive_kill_9_of_name_node_and_data_node(quiet_cluster: Cluster) -> None:
    cluster = quiet_cluster
    nn = cluster.client()
    small, big = payload(5000, 2), payload(5 * BLOCK + 17, 3)
    nn.mkdir("/kept")
    nn.tee("/kept/small", small)
    with nn.open("/kept/big", "wb") as file:
        file.write(big)
    nn.mv("/kept/small", "/kept/small-renamed")
    nn.touch("/kept/empty")
    nn.rm("/kept/empty")
    # acknowledged, nothing fsynced: now kill -9 the name node and a data node at once
    victim = cluster.datanodes[0]
    cluster.namenode.kill()
    victim.kill()
    cluster.namenode.restart()
    nn = cluster.client()
    assert sorted(nn.ls("/kept")) == ["big", "small-renamed"]
    assert nn.cat("/kept/small-renamed") == small
    assert nn.cat("/kept/big") == big

    # the killed data node's copies survived too: it alone serves both files
    victim.restart()
    cluster.wait_for(lambda: victim.node_id in cluster.alive_ids(), 60, message="the victim alive again")
    for other in cluster.datanodes[1:]:
        other.kill()
    assert nn.cat("/kept/small-renamed") == small
    assert nn.cat("/kept/big") == big


def test_always_mode_fsyncs_every_block_and_change(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(env={"DFS_SYNC": "always", "DFS_BLOCK_SIZE": str(BLOCK)})
    nn = cluster.client()
    before = synced_blocks(cluster)
    name_before = durability(cluster.namenode)
    assert name_before["mode"] == "always"
    data = payload(2 * BLOCK, 4)
    with nn.open("/always.bin", "wb") as file:
        file.write(data)
    after = synced_blocks(cluster)
    assert {name: after[name] - before[name] for name in after} == {name: 2 for name in after}
    name_after = durability(cluster.namenode)
    assert name_after["synced"] >= name_before["commits"] + 1
    assert name_after["syncs"] > name_before["syncs"]
