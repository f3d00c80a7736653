"""The name node's replica list is what really verifies on disk, and readers find bad replicas.

- A block file deleted behind a data node's back is not reported again by its block reports, so
  it never becomes a phantom replica the name node counts.
- A trim (a block over its replication) never removes a real copy while a copy it keeps is
  unverified: with one phantom per block, the copies left are all real.
- Readers spread over the replicas, so a corrupt second or third copy is found (and reported and
  replaced) by ordinary reads, through ``HttpNameNode`` and WebHDFS OPEN, long before a scrub.
- The scrubber verifies every block within about used bytes / ``DFS_SCRUB_RATE``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from dfs_common.blocks import CHECKSUM_HEADER, CONFIRM_HEADER
from dfs_common.blocks import checksum as block_checksum
from tests.cluster import Cluster, web
from tests.integration.payload import MiB, Pattern

# No scrubbing: what these tests show must not wait for (or be helped by) a scrub pass.
ENV = {"DFS_BLOCK_SIZE": str(MiB), "DFS_SCRUB_RATE": "0"}
CANARY = "00ffffffffffff01"  # a block id no name node ever allocated in these tests


def verifying_holders(cluster: Cluster, block: dict[str, Any]) -> set[str]:
    """Data nodes whose disk holds a copy of ``block`` with the right length and checksum."""
    found = set()
    for node in cluster.datanodes:
        try:
            data = node.block_path(block["blockId"]).read_bytes()
        except FileNotFoundError:
            continue
        if len(data) == block.get("blockLength", block["length"]) and block_checksum(data) == block["checksum"]:
            assert node.node_id is not None
            found.add(node.node_id)
    return found


def listed(nn: Any, path: str) -> dict[str, set[str]]:
    """The name node's replica list of every block of ``path``."""
    return {b["blockId"]: {n["id"] for n in b["dataNodes"]} for b in nn.block_locations(path)["BlockLocation"]}


def watch(cluster: Cluster, nn: Any, path: str, blocks: list[dict[str, Any]], replicas: int,
          done: Callable[[dict[str, set[str]], dict[str, set[str]]], bool], timeout: float, message: str) -> None:
    """Poll until ``done(listed, on_disk)``, asserting at every poll that no block has fewer real
    copies than ``replicas`` (what a wrong trim would cause)."""
    deadline = time.monotonic() + timeout
    while True:
        on_disk = {b["blockId"]: verifying_holders(cluster, b) for b in blocks}
        for block_id, holders in on_disk.items():
            assert len(holders) >= replicas, f"block {block_id} down to {len(holders)} real copies: {holders}"
        names = listed(nn, path)
        if done(names, on_disk):
            return
        assert time.monotonic() < deadline, f"timed out waiting for {message}: listed {names}, on disk {on_disk}"
        time.sleep(0.2)


def quiet(cluster: Cluster) -> bool:
    return cluster.status()["namenode"]["under_replicated"] == 0


@pytest.mark.timeout(300)
def test_deleted_block_file_never_comes_back_as_a_phantom_replica(make_cluster: Any) -> None:
    """Holders A, B, X; X's file deleted; healed onto Y; X's next block report must not list it."""
    cluster: Cluster = make_cluster(datanodes=4, env={**ENV, "DFS_BLOCK_REPORT_INTERVAL": "1"})
    nn = cluster.client("root")
    data = Pattern(4 * MiB, chunk=MiB, seed=81).bytes()
    nn.tee("/phantom.bin", data)
    blocks = nn.block_locations("/phantom.bin")["BlockLocation"]
    assert len(blocks) == 4
    victims: dict[str, str] = {}
    for index, block in enumerate(blocks):
        holders = [n["id"] for n in block["dataNodes"]]
        assert len(holders) == 3
        victim = holders[index % 3]
        victims[block["blockId"]] = victim
        cluster.datanode_by_id(victim).block_path(block["blockId"]).unlink()  # the data file only
        nn.report_bad_block(block["blockId"], victim, path="/phantom.bin")  # as a reader that got 404

    def healed(names: dict[str, set[str]], on_disk: dict[str, set[str]]) -> bool:
        return all(len(names[b]) == 3 and victims[b] not in names[b] and names[b] == on_disk[b] for b in names)

    # until healed the victims' blocks have 2 real copies: we deleted the third
    watch(cluster, nn, "/phantom.bin", blocks, 2, healed, 120, "every block healed onto a fourth node")

    # a block the name node does not know, stored without a confirmation: it disappears once the
    # name node has seen a block report of that node (and answered "delete")
    for victim in set(victims.values()):
        node = cluster.datanode_by_id(victim)
        canary = b"canary"
        response = web.put(f"{node.url}/blocks/{CANARY}", data=canary, timeout=10,
                                headers={CHECKSUM_HEADER: block_checksum(canary), CONFIRM_HEADER: "upstream"})
        assert response.status_code == 201, response.text
        assert node.block_path(CANARY).exists()
    for victim in set(victims.values()):
        node = cluster.datanode_by_id(victim)
        cluster.wait_for(lambda: not node.block_path(CANARY).exists(), timeout=60,
                         message=f"a block report of {node.name} after the heal")
    cluster.wait_for(lambda: quiet(cluster), timeout=60, message="nothing left to heal")

    on_disk = {b["blockId"]: verifying_holders(cluster, b) for b in blocks}
    assert listed(nn, "/phantom.bin") == on_disk
    assert all(len(holders) == 3 for holders in on_disk.values())
    assert nn.cat("/phantom.bin") == data


@pytest.mark.timeout(300)
def test_trim_keeps_only_real_copies_when_a_counted_one_is_gone(make_cluster: Any) -> None:
    """Replication 4 on 4 nodes, one undetected phantom per block (a different node for each),
    then replication 3: whichever replica the trim picks, 3 real copies remain and are listed."""
    cluster: Cluster = make_cluster(datanodes=4, env=ENV)
    nn = cluster.client("root")
    data = Pattern(4 * MiB, chunk=MiB, seed=82).bytes()
    with nn.open("/trim.bin", "wb", replication=4) as file:
        file.write(data)
    blocks = nn.block_locations("/trim.bin")["BlockLocation"]
    assert len(blocks) == 4
    nodes = sorted(n.node_id for n in cluster.datanodes if n.node_id)
    watch(cluster, nn, "/trim.bin", blocks, 0, lambda names, on_disk: all(
        names[b] == on_disk[b] == set(nodes) for b in names), 60, "four verified replicas of every block")
    for index, block in enumerate(blocks):
        cluster.datanode_by_id(nodes[index]).block_path(block["blockId"]).unlink()
    assert nn.set_replication("/trim.bin", 3)

    def settled(names: dict[str, set[str]], on_disk: dict[str, set[str]]) -> bool:
        return all(len(names[b]) == 3 and names[b] == on_disk[b] for b in names)

    watch(cluster, nn, "/trim.bin", blocks, 3, settled, 120, "3 listed replicas, all real, per block")
    cluster.wait_for(lambda: quiet(cluster), timeout=60, message="nothing left to heal")
    watch(cluster, nn, "/trim.bin", blocks, 3, settled, 10, "the same after the healer settled")
    assert nn.cat("/trim.bin") == data


def flip_byte(cluster: Cluster, node_id: str, block_id: str, at: int = 200_000) -> None:
    path = cluster.datanode_by_id(node_id).block_path(block_id)
    with open(path, "r+b") as file:
        file.seek(at)
        byte = file.read(1)
        file.seek(at)
        file.write(bytes([byte[0] ^ 0xFF]))


def quarantined(cluster: Cluster, node_id: str, block_id: str) -> bool:
    node = cluster.datanode_by_id(node_id)
    return not node.block_path(block_id).exists() and any(
        p.name.startswith(block_id + ".") for p in (node.root / "quarantine").iterdir())


@pytest.mark.timeout(300)
def test_readers_find_a_corrupt_second_or_third_replica(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=4, env=ENV)
    nn = cluster.client("root")
    data = Pattern(2 * MiB, chunk=MiB, seed=83).bytes()
    nn.tee("/rot.bin", data)
    blocks = nn.block_locations("/rot.bin")["BlockLocation"]
    bad = {blocks[0]["blockId"]: blocks[0]["dataNodes"][1]["id"],   # the second replica of block 0
           blocks[1]["blockId"]: blocks[1]["dataNodes"][2]["id"]}   # the third of block 1
    for block_id, node_id in bad.items():
        flip_byte(cluster, node_id, block_id)

    reads = 0
    while not all(quarantined(cluster, node_id, block_id) for block_id, node_id in bad.items()):
        assert reads < 100, f"{reads} reads never noticed the corrupt replicas {bad}"
        assert nn.cat("/rot.bin") == data  # every read verified, failing over
        reads += 1
        time.sleep(0.1)

    def replaced(names: dict[str, set[str]], on_disk: dict[str, set[str]]) -> bool:
        return all(len(names[b]) == 3 and bad[b] not in names[b] and names[b] == on_disk[b] for b in names)

    watch(cluster, nn, "/rot.bin", blocks, 2, replaced, 120, "each corrupt replica replaced by a good copy")
    assert nn.cat("/rot.bin") == data


@pytest.mark.timeout(300)
def test_webhdfs_open_finds_a_corrupt_replica_it_does_not_redirect_to_first(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=4, env=ENV)
    nn = cluster.client("root")
    data = Pattern(MiB, chunk=MiB, seed=84).bytes()
    nn.tee("/rot-open.bin", data)
    block = nn.block_locations("/rot-open.bin")["BlockLocation"][0]
    url = f"{cluster.namenode_url}/webhdfs/v1/rot-open.bin?op=OPEN&user.name=root"
    first = web.get(url + "&noredirect=true", timeout=10).json()["Location"]
    by_url = {n["url"].rstrip("/"): n["id"] for n in block["dataNodes"]}
    redirected = next(node_id for base, node_id in by_url.items() if first.startswith(base + "/"))
    bad_node = next(n["id"] for n in block["dataNodes"] if n["id"] != redirected)
    flip_byte(cluster, bad_node, block["blockId"])

    reads = 0
    while not quarantined(cluster, bad_node, block["blockId"]):
        assert reads < 100, f"{reads} WebHDFS OPENs never noticed the corrupt replica on {bad_node}"
        response = web.get(url, timeout=30)
        assert response.status_code == 200 and response.content == data
        reads += 1
        time.sleep(0.1)

    def replaced(names: dict[str, set[str]], on_disk: dict[str, set[str]]) -> bool:
        return all(len(names[b]) == 3 and bad_node not in names[b] and names[b] == on_disk[b] for b in names)

    watch(cluster, nn, "/rot-open.bin", [block], 2, replaced, 120, "the corrupt replica replaced")
    assert web.get(url, timeout=30).content == data


@pytest.mark.timeout(300)
def test_scrubber_verifies_every_block_in_about_used_bytes_over_its_rate(make_cluster: Any) -> None:
    rate = MiB  # bytes per second: ten 1 MiB blocks take about 10 s
    cluster: Cluster = make_cluster(datanodes=1, env={
        "DFS_BLOCK_SIZE": str(MiB), "DFS_REPLICATION": "1", "DFS_SCRUB_RATE": str(rate),
        "DFS_SCRUB_INTERVAL": "1"})
    nn = cluster.client("root")
    data = Pattern(10 * MiB, chunk=MiB, seed=85).bytes()
    nn.tee("/scrub.bin", data)
    blocks = nn.block_locations("/scrub.bin")["BlockLocation"]
    node_id = blocks[0]["dataNodes"][0]["id"]
    for block in blocks:
        flip_byte(cluster, node_id, block["blockId"], at=MiB // 2)
    flipped = time.monotonic()
    cluster.wait_for(lambda: all(quarantined(cluster, node_id, b["blockId"]) for b in blocks), timeout=120,
                     interval=0.2, message="the scrubber catching every flipped block")
    elapsed = time.monotonic() - flipped
    full_pass = sum(b["length"] for b in blocks) / rate
    # Paced at the rate, not faster (every block was flipped at once, so the last one found waits a
    # whole pass of the others) and bounded by a few passes (generous: the machine is shared).
    assert full_pass / 2 <= elapsed <= 3 * full_pass + 30, (elapsed, full_pass)
