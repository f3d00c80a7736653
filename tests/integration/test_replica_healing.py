"""The cluster heals itself: the blocks of a dead data node get three live replicas again, and a
replica flipped on disk is never served (the reader fails over) and is eventually replaced."""
from __future__ import annotations

import time
from typing import Any

import pytest

from dfs_common.blocks import checksum as block_checksum
from tests.cluster import Cluster
from tests.integration.payload import MiB, Pattern

ENV = {"DFS_BLOCK_SIZE": str(MiB)}


def replicas_on_disk_are_good(cluster: Cluster, block: dict[str, Any]) -> bool:
    """Every listed holder has the block's file with the right length and checksum."""
    for holder in block["dataNodes"]:
        path = cluster.datanode_by_id(holder["id"]).block_path(block["blockId"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return False
        if len(data) != block.get("blockLength", block["length"]) or block_checksum(data) != block["checksum"]:
            return False
    return True


def fully_replicated(cluster: Cluster, nn: Any, path: str, replicas: int = 3) -> bool:
    alive = cluster.alive_ids()
    for block in nn.block_locations(path)["BlockLocation"]:
        holders = {node["id"] for node in block["dataNodes"]}
        if len(holders) != replicas or not holders <= alive or not replicas_on_disk_are_good(cluster, block):
            return False
    return True


@pytest.mark.timeout(300)
def test_blocks_of_a_dead_data_node_get_three_live_replicas_again(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=4, env=ENV)
    nn = cluster.client("root")
    data = Pattern(24 * MiB + 17, chunk=MiB, seed=51).bytes()
    nn.tee("/heal.bin", data)
    assert fully_replicated(cluster, nn, "/heal.bin")
    holders = [node["id"] for block in nn.block_locations("/heal.bin")["BlockLocation"] for node in block["dataNodes"]]
    victim = cluster.datanode_by_id(max(set(holders), key=holders.count))  # the node holding most replicas
    victim.kill()
    cluster.wait_for(lambda: victim.node_id not in cluster.alive_ids(), timeout=20, message="victim marked dead")
    cluster.wait_for(lambda: fully_replicated(cluster, nn, "/heal.bin"), timeout=120, interval=0.5,
                     message="every block back to 3 live, verified replicas")
    cluster.wait_for(lambda: cluster.status()["namenode"]["under_replicated"] == 0, timeout=60, interval=0.5,
                     message="/status under_replicated back to 0")
    assert nn.cat("/heal.bin") == data


@pytest.mark.timeout(300)
def test_flipped_byte_is_failed_over_on_read_and_the_bad_replica_replaced(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=4, env=ENV)
    nn = cluster.client("root")
    data = Pattern(6 * MiB, chunk=MiB, seed=52).bytes()
    nn.tee("/flip.bin", data)
    block = nn.block_locations("/flip.bin")["BlockLocation"][2]
    bad_holder = block["dataNodes"][0]["id"]
    bad_path = cluster.datanode_by_id(bad_holder).block_path(block["blockId"])
    with open(bad_path, "r+b") as file:  # flip one byte in the middle of the replica
        file.seek(300_000)
        byte = file.read(1)
        file.seek(300_000)
        file.write(bytes([byte[0] ^ 0xFF]))
    assert block_checksum(bad_path.read_bytes()) != block["checksum"]

    # the corrupt replica is listed first, but readers shuffle: every read verifies and fails
    # over, and one that meets the corrupt copy reports it (it is then quarantined)
    deadline = time.monotonic() + 60
    while bad_path.exists():
        assert time.monotonic() < deadline, "no read met and reported the corrupt replica"
        assert nn.read_block(block, path="/flip.bin") == data[2 * MiB:3 * MiB]
        time.sleep(0.05)
    assert nn.cat("/flip.bin") == data
    with nn.open("/flip.bin", "rb") as file:
        file.seek(2 * MiB + 299_990)
        assert file.read(20) == data[2 * MiB + 299_990:2 * MiB + 300_010]

    def healed() -> bool:
        current = next(b for b in nn.block_locations("/flip.bin")["BlockLocation"] if b["blockId"] == block["blockId"])
        return len(current["dataNodes"]) == 3 and replicas_on_disk_are_good(cluster, current)

    cluster.wait_for(healed, timeout=120, interval=0.5, message="the flipped replica replaced by a good copy")
    # the corrupt bytes are never served again by the node that held them
    response_ok = nn.read_block(block, path="/flip.bin")
    assert response_ok == data[2 * MiB:3 * MiB]
    assert fully_replicated(cluster, nn, "/flip.bin")


@pytest.mark.timeout(300)
def test_blocks_written_while_nodes_were_down_reach_full_replication_when_they_return(make_cluster: Any) -> None:
    """With two of four nodes dead a file gets two replicas (all there is); once the nodes are back
    it must get its third promptly, not at the next safety-net scan a quarter of an hour later."""
    cluster: Cluster = make_cluster(datanodes=4, env=ENV)
    nn = cluster.client("root")
    down = cluster.datanodes[:2]
    for node in down:
        node.kill()
    cluster.wait_for(lambda: not any(node.node_id in cluster.alive_ids() for node in down), timeout=20,
                     message="two nodes marked dead")
    data = Pattern(3 * MiB + 5, chunk=MiB, seed=53).bytes()
    nn.tee("/short.bin", data)
    assert fully_replicated(cluster, nn, "/short.bin", replicas=2)
    time.sleep(3)  # the healer settles the short blocks: two replicas is all two live nodes can hold
    for node in down:
        node.start()
    cluster.wait_ready()
    cluster.wait_for(lambda: fully_replicated(cluster, nn, "/short.bin"), timeout=60, interval=0.5,
                     message="every block at 3 live, verified replicas after the nodes returned")
    assert nn.cat("/short.bin") == data
