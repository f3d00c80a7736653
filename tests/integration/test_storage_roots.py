"""Data nodes on different storage roots in one cluster: one S3-backed node (a real SeaweedFS S3
gateway on loopback) beside local-disk nodes. The bucket holds real objects with their checksums,
the S3 replica alone serves a file, an outage of the S3 server makes the node unhealthy (no new
blocks, no crash) and its end brings it back with nothing lost, and rot in an object is found by
the scrubber and healed."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.cluster import Cluster
from tests.integration.payload import MiB, Pattern
from tests.s3server import S3Server

ENV = {"DFS_BLOCK_SIZE": str(MiB), "DFS_REPLICATION": "3"}


def s3_node_env(server: Any, bucket: str, **extra: str) -> dict[str, str]:
    return {"DFS_FS_ROOT": f"s3://{bucket}/node-{uuid.uuid4().hex[:8]}", **server.env(), **extra}


def node_record(cluster: Cluster, node_id: str) -> dict[str, Any]:
    return next(d for d in cluster.status()["datanodes"] if d["id"] == node_id)


def block_objects(server: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Block id -> HEAD of its object, for every block object in the bucket."""
    s3 = server.client()
    found = {}
    for key in server.objects(bucket):
        if "/blocks/" in key:
            found[key.rsplit("/", 1)[1]] = s3.head_object(Bucket=bucket, Key=key)
    return found


def holders_of(nn: Any, path: str) -> list[set[str]]:
    return [{node["id"] for node in block["dataNodes"]} for block in nn.block_locations(path)["BlockLocation"]]


@pytest.mark.timeout(300)
def test_a_mixed_cluster_keeps_a_replica_in_the_bucket_that_alone_serves_the_file(
        make_cluster: Any, s3_server: Any) -> None:
    bucket = s3_server.make_bucket(f"mixed-{uuid.uuid4().hex[:8]}")
    cluster: Cluster = make_cluster(datanodes=3, env=ENV, datanode_env=[s3_node_env(s3_server, bucket)])
    s3_node, local_nodes = cluster.datanodes[0], cluster.datanodes[1:]
    assert node_record(cluster, s3_node.node_id)["root"] == "s3"
    assert {node_record(cluster, n.node_id)["root"] for n in local_nodes} == {"local"}
    nn = cluster.client("root")
    data = Pattern(3 * MiB + 12345, chunk=MiB, seed=61).bytes()
    nn.tee("/mixed.bin", data)

    blocks = nn.block_locations("/mixed.bin")["BlockLocation"]
    assert len(blocks) == 4
    assert all(holders == {n.node_id for n in cluster.datanodes} for holders in holders_of(nn, "/mixed.bin"))
    objects = block_objects(s3_server, bucket)
    assert set(objects) == {block["blockId"] for block in blocks}
    for block in blocks:  # the object is the block: its length, and its checksum as metadata
        head = objects[block["blockId"]]
        assert head["ContentLength"] == block["length"]
        assert head["Metadata"]["dfs-checksum"] == block["checksum"]

    for node in local_nodes:
        node.kill()
    assert nn.cat("/mixed.bin") == data
    assert nn.read_block(blocks[1], path="/mixed.bin") == data[MiB:2 * MiB]
    with nn.open("/mixed.bin") as file:  # a ranged read: a ranged GET of the object
        file.seek(2 * MiB + 100)
        assert file.read(1000) == data[2 * MiB + 100:2 * MiB + 1100]


@pytest.mark.timeout(300)
def test_an_s3_outage_makes_the_node_unhealthy_and_its_end_loses_nothing(
        make_cluster: Any, tmp_path: Any) -> None:
    server = S3Server(tmp_path / "s3").start()
    try:
        bucket = server.make_bucket("outage")
        cluster: Cluster = make_cluster(datanodes=3, env=ENV, datanode_env=[s3_node_env(server, bucket)])
        s3_node = cluster.datanodes[0]
        nn = cluster.client("root")
        before = Pattern(2 * MiB + 7, chunk=MiB, seed=62).bytes()
        nn.tee("/before.bin", before)
        stored = set(block_objects(server, bucket))
        assert len(stored) == 3

        server.stop()
        cluster.wait_for(lambda: node_record(cluster, s3_node.node_id)["healthy"] is False, timeout=30,
                         message="the S3 node reported unhealthy")
        assert node_record(cluster, s3_node.node_id)["state"] == "alive" and s3_node.running
        during = Pattern(2 * MiB, chunk=MiB, seed=63).bytes()
        nn.tee("/during.bin", during)  # placed on the healthy nodes only
        assert all(s3_node.node_id not in holders for holders in holders_of(nn, "/during.bin"))
        assert nn.cat("/before.bin") == before  # the local replicas serve it meanwhile
        assert s3_node.running

        server.start()
        cluster.wait_for(lambda: node_record(cluster, s3_node.node_id)["healthy"] is True, timeout=30,
                         message="the S3 node healthy again")
        assert stored <= set(block_objects(server, bucket))
        cluster.wait_for(lambda: all(len(h) == 3 for h in holders_of(nn, "/during.bin")), timeout=60,
                         message="the blocks written during the outage healed onto the S3 node too")
        for node in cluster.datanodes[1:]:
            node.kill()
        assert nn.cat("/before.bin") == before and nn.cat("/during.bin") == during
    finally:
        server.stop(kill=True)


@pytest.mark.timeout(300)
def test_a_flipped_byte_in_an_object_is_found_by_the_scrubber_and_healed(
        make_cluster: Any, s3_server: Any) -> None:
    bucket = s3_server.make_bucket(f"scrub-{uuid.uuid4().hex[:8]}")
    cluster: Cluster = make_cluster(datanodes=3, env=ENV, datanode_env=[
        s3_node_env(s3_server, bucket, DFS_SCRUB_INTERVAL="1", DFS_SCRUB_RATE=str(64 * MiB))])
    nn = cluster.client("root")
    data = Pattern(2 * MiB + 99, chunk=MiB, seed=64).bytes()
    nn.tee("/rot.bin", data)
    block = nn.block_locations("/rot.bin")["BlockLocation"][1]
    s3 = s3_server.client()
    key = next(k for k in s3_server.objects(bucket) if k.endswith("/blocks/" + block["blockId"]))
    got = s3.get_object(Bucket=bucket, Key=key)
    rotten = bytearray(got["Body"].read())
    rotten[500_000] ^= 0x40
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(rotten), Metadata=got["Metadata"])

    def quarantined() -> bool:
        return any("/quarantine/" + block["blockId"] in k for k in s3_server.objects(bucket))

    cluster.wait_for(quarantined, timeout=60, message="the scrubber quarantined the rotten object")

    def healed() -> bool:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body == data[MiB:2 * MiB]

    cluster.wait_for(healed, timeout=90, interval=0.5, message="a good copy of the block back in the bucket")
    for node in cluster.datanodes[1:]:
        node.kill()
    assert nn.cat("/rot.bin") == data
