"""A block only a snapshot still holds is data like any other: when a data node holding it dies,
the healer puts its replicas back (the live file that named it is gone)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.cluster import Cluster
from tests.integration.payload import MiB, Pattern
from tests.integration.test_replica_healing import fully_replicated


@pytest.mark.timeout(300)
def test_blocks_only_a_snapshot_holds_get_three_replicas_again(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=4, env={"DFS_BLOCK_SIZE": str(MiB)})
    nn = cluster.client("root")
    data = Pattern(5 * MiB + 3, chunk=MiB, seed=77).bytes()
    nn.mkdirs("/kept")
    nn.tee("/kept/old.bin", data)
    nn.allow_snapshot("/kept")
    frozen = nn.create_snapshot("/kept", "before") + "/old.bin"
    nn.delete("/kept/old.bin")  # now only the snapshot names the blocks
    assert fully_replicated(cluster, nn, frozen)
    holders = [node["id"] for block in nn.block_locations(frozen)["BlockLocation"] for node in block["dataNodes"]]
    victim = cluster.datanode_by_id(max(set(holders), key=holders.count))
    victim.kill()
    cluster.wait_for(lambda: victim.node_id not in cluster.alive_ids(), timeout=20, message="victim marked dead")
    cluster.wait_for(lambda: fully_replicated(cluster, nn, frozen), timeout=120, interval=0.5,
                     message="the snapshot's blocks back to 3 live, verified replicas")
    assert nn.cat(frozen) == data
