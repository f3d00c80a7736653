"""Erasure coding on a real cluster of six data nodes: a file under an RS(3,2) directory is stored
as groups of 5 fragments on distinct nodes (about 1.67x its size, not 3x), reads survive any two
nodes gone, the healer rebuilds the fragments of a killed node, and the policy ops answer as HDFS."""
from __future__ import annotations

import itertools
import os
from typing import Any

import pytest

from dfs_common.errors import IllegalArgument, NoSpace
from tests.cluster import Cluster

MiB = 1024 * 1024
BLOCK = MiB


def stored_bytes(cluster: Cluster, block_ids: set[str]) -> int:
    total = 0
    for node in cluster.datanodes:
        for block_id, path in node.block_files().items():
            if block_id in block_ids:
                total += path.stat().st_size
    return total


def without(locations: list[dict[str, Any]], gone: set[str]) -> list[dict[str, Any]]:
    """The locations as a reader sees them with the nodes ``gone`` down."""
    return [{**loc, "fragments": [{**f, "dataNodes": [d for d in f["dataNodes"] if d["id"] not in gone]}
                                  for f in loc["fragments"]]} for loc in locations]


def test_rs_3_2_file_survives_two_nodes_and_is_healed(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=6, env={"DFS_BLOCK_SIZE": str(BLOCK)})
    nn = cluster.client("root")
    nn.mkdirs("/ec/deep")
    nn.set_ec_policy("/ec", "RS-3-2")
    assert nn.get_ec_policy("/ec/deep") == "RS-3-2"  # inherited
    data = os.urandom(3 * BLOCK + 12345)
    with nn.open("/ec/deep/strain.bin", "wb") as f:
        f.write(data)
    nn.tee("/plain.bin", data)
    assert nn.get_ec_policy("/ec/deep/strain.bin") == "RS-3-2"
    assert nn.cat("/ec/deep/strain.bin") == data

    located = nn.block_locations("/ec/deep/strain.bin")
    locations = located["BlockLocation"]
    assert located["ecPolicy"] == "RS-3-2" and len(locations) == 4
    for location in locations:
        assert location["ecPolicy"] == "RS-3-2" and len(location["fragments"]) == 5
        holders = [d["id"] for f in location["fragments"] for d in f["dataNodes"]]
        assert len(holders) == 5 and len(set(holders)) == 5  # five distinct nodes

    fragment_ids = {f["blockId"] for loc in locations for f in loc["fragments"]}
    plain_ids = {loc["blockId"] for loc in nn.block_locations("/plain.bin")["BlockLocation"]}
    coded, replicated = stored_bytes(cluster, fragment_ids) / len(data), stored_bytes(cluster, plain_ids) / len(data)
    assert 1.6 < coded < 1.75 and replicated == pytest.approx(3.0), (coded, replicated)

    ids = [node.node_id for node in cluster.datanodes]
    for pair in itertools.combinations(ids, 2):  # any two nodes gone: every group still decodes
        assert b"".join(nn.read_block(loc) for loc in without(locations, set(pair))) == data, pair

    victim = cluster.datanode_by_id(locations[0]["fragments"][0]["dataNodes"][0]["id"])
    victim.kill()
    assert nn.cat("/ec/deep/strain.bin") == data  # read before the name node even noticed

    def healed() -> bool:
        fresh = nn.block_locations("/ec/deep/strain.bin")["BlockLocation"]
        for location in fresh:
            holders = [d["id"] for f in location["fragments"] for d in f["dataNodes"]]
            if len(holders) != 5 or len(set(holders)) != 5 or victim.node_id in holders:
                return False
        return True
    cluster.wait_for(healed, timeout=60, message="the killed node's fragments rebuilt elsewhere")
    rebuilt = nn.block_locations("/ec/deep/strain.bin")["BlockLocation"]
    only = {f["dataNodes"][0]["id"] for f in rebuilt[0]["fragments"][:1]}  # the rebuilt fragment...
    others = {f["dataNodes"][0]["id"] for f in rebuilt[0]["fragments"][3:]}
    # ...read together with the parity ones only (the other data fragments' nodes left out)
    left_out = set(ids) - only - others - {victim.node_id}
    assert nn.read_block(without(rebuilt, left_out)[0]) == data[:BLOCK]

    for node in [n for n in cluster.running_datanodes() if n.node_id in others]:
        node.kill()  # two more: three of six left
    assert nn.cat("/ec/deep/strain.bin") == data


def test_policy_operations(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=3)
    nn = cluster.client("root")
    nn.mkdirs("/d")
    assert nn.get_ec_policy("/d") is None
    with pytest.raises(IllegalArgument):
        nn.set_ec_policy("/d", "XOR-2-1")
    nn.tee("/d/file", b"x")
    with pytest.raises(IllegalArgument):
        nn.set_ec_policy("/d/file", "RS-3-2")
    nn.set_ec_policy("/d", "RS-6-3-1024k")
    assert nn.get_ec_policy("/d") == "RS-6-3"
    assert nn.get_ec_policy("/d/file") is None  # created before: stays replicated
    with pytest.raises(NoSpace):  # 9 fragments need 9 distinct nodes
        nn.tee("/d/new", b"y" * 100)
    nn.set_ec_policy("/d", "RS-2-1")
    nn.tee("/d/small", b"")  # an empty file has no group
    nn.tee("/d/new", b"y" * 100)
    assert nn.cat("/d/new") == b"y" * 100
    nn.unset_ec_policy("/d")
    assert nn.get_ec_policy("/d") is None and nn.get_ec_policy("/d/new") == "RS-2-1"
    nn.delete("/d", recursive=True)
    cluster.wait_for(lambda: not any(n.block_files() for n in cluster.datanodes), timeout=30,
                     message="the fragments of deleted files removed from the data nodes")


def test_scrubber_finds_a_rotten_fragment_and_the_healer_rebuilds_it(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=3, env={"DFS_SCRUB_RATE": str(64 * MiB), "DFS_SCRUB_INTERVAL": "1"})
    nn = cluster.client("root")
    nn.mkdirs("/rs")
    nn.set_ec_policy("/rs", "RS-2-1")
    data = os.urandom(300_000)
    nn.tee("/rs/f", data)
    fragment = nn.block_locations("/rs/f")["BlockLocation"][0]["fragments"][0]
    node = cluster.datanode_by_id(fragment["dataNodes"][0]["id"])
    path = node.block_path(fragment["blockId"])
    good = path.read_bytes()
    with open(path, "r+b") as file:
        file.seek(1000)
        file.write(bytes([good[1000] ^ 0xFF]))

    def rebuilt() -> bool:
        holders = nn.block_locations("/rs/f")["BlockLocation"][0]["fragments"][0]["dataNodes"]
        return bool(holders) and any(
            cluster.datanode_by_id(h["id"]).block_path(fragment["blockId"]).read_bytes() == good for h in holders)
    cluster.wait_for(rebuilt, timeout=90, interval=0.3, message="the rotten fragment scrubbed and rebuilt")
    assert nn.cat("/rs/f") == data
