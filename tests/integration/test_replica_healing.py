"""The cluster heals itself: the blocks of a dead data node get three live replicas again, a
replica flipped on disk is never served (the reader fails over) and is eventually replaced, and
blocks left short by a full disk get their third copy once it has room."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dfs_common.blocks import checksum as block_checksum
from tests.cluster import Cluster, fill_disk, flip_byte
from tests.cluster import tmpfs_cluster as tmpfs_cluster_of
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


SMALL_BLOCK = 128 * 1024
DISK = 32 * MiB  # each data node's tmpfs: filled to the last byte in a moment


@pytest.fixture
def tmpfs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """4 data nodes on tmpfs roots of their own (as the fault campaign's), so a disk can be filled."""
    env = {"DFS_BLOCK_SIZE": str(SMALL_BLOCK), "DFS_REPLICATION": "3", "DFS_SCRUB_INTERVAL": "2",
           "DFS_BLOCK_REPORT_INTERVAL": "5"}
    with tmpfs_cluster_of(tmp_path_factory.mktemp("fulldisk"), DISK, env) as cluster:
        yield cluster


def is_rotten(path: Path, block: dict[str, Any]) -> bool:
    """``path`` holds bytes other than ``block``'s (gone, or replaced by a good copy, is not)."""
    try:
        return block_checksum(path.read_bytes()) != block["checksum"]
    except FileNotFoundError:
        return False


@pytest.mark.timeout(300)
def test_blocks_left_short_by_a_full_disk_and_rotten_copies_all_heal(tmpfs_cluster: Cluster) -> None:
    """The fault campaign's round of a flipped byte and a full disk, made repeatable: a rotten copy
    on the full node (its quarantine finds no room), one whose only other home is the full node,
    and small files committed on two nodes (their writer left out the full one and another, as a
    campaign client does with nodes it saw fail) while the healer works. Once the ballast is gone
    every block is back at three verified replicas, promptly. (The race such short COMMITs ran
    into, settled by a stale verdict, is pinned deterministically in tests/name_node/test_blocks.py.)"""
    cluster = tmpfs_cluster
    nn = cluster.client("root")
    full = cluster.datanodes[3]
    data = Pattern(2 * MiB, chunk=SMALL_BLOCK, seed=54).bytes()  # 16 blocks over 4 nodes
    nn.tee("/rot.bin", data)
    assert fully_replicated(cluster, nn, "/rot.bin")

    ballast = full.root / "ballast"
    fill_disk(ballast)

    def full_as_the_name_node_sees_it() -> bool:
        return any(d["id"] == full.node_id and d["remaining"] < SMALL_BLOCK for d in cluster.status()["datanodes"])

    cluster.wait_for(full_as_the_name_node_sees_it, timeout=20, message="the full disk in /status")

    blocks = nn.block_locations("/rot.bin")["BlockLocation"]
    on_full = next(b for b in blocks if full.node_id in {d["id"] for d in b["dataNodes"]})
    beside_full = next(b for b in blocks if full.node_id not in {d["id"] for d in b["dataNodes"]})
    rotten = [(full.block_path(on_full["blockId"]), on_full),
              (cluster.datanode_by_id(beside_full["dataNodes"][0]["id"]).block_path(beside_full["blockId"]),
               beside_full)]
    for path, _ in rotten:
        flip_byte(path, 1000)

    others = [node.node_id for node in cluster.datanodes[:3]]
    short: list[str] = []
    errors: list[BaseException] = []

    def write_short(writer: int) -> None:
        try:
            for index in range(30):
                path = f"/short-{writer}-{index}"
                skip = [full.node_id, others[(writer + index) % 3]]
                location = nn.write_block(path, bytes([writer, index]) * 500, exclude=skip)
                assert len(location["dataNodes"]) == 2
                nn.commit(path, [location], create=True)
                short.append(path)
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            errors.append(error)

    writers = [threading.Thread(target=write_short, args=(writer,)) for writer in range(3)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    assert not errors, errors
    cluster.wait_for(lambda: not any(is_rotten(path, block) for path, block in rotten), timeout=30,
                     interval=0.2, message="no rotten copy left on disk")
    ballast.unlink()

    paths = ["/rot.bin", *short]
    cluster.wait_for(lambda: all(fully_replicated(cluster, nn, path) for path in paths), timeout=60,
                     interval=0.5, message="every block at 3 live, verified replicas")
    cluster.wait_for(lambda: cluster.status()["namenode"]["under_replicated"] == 0, timeout=30, interval=0.5,
                     message="/status under_replicated back to 0")
    assert nn.cat("/rot.bin") == data
