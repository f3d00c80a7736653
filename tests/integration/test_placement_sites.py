"""Placement across sites and storage policies with real nodes: replicas span both sites, also
after a node of one site dies and healing is done; a policy that keeps one replica in an S3 bucket
(a real SeaweedFS gateway) is kept by writes, by healing while the bucket's node is dead, and by
moving a copy back once it returns."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.cluster import Cluster
from tests.integration.payload import MiB, Pattern
from tests.integration.test_storage_roots import holders_of, s3_node_env

ENV = {"DFS_BLOCK_SIZE": str(MiB), "DFS_REPLICATION": "2"}
SITES = ["A", "A", "B", "B"]


def sites_of(cluster: Cluster, holders: set[str]) -> list[str]:
    site = {d["id"]: d["site"] for d in cluster.status()["datanodes"]}
    return sorted(site[node] for node in holders)


@pytest.mark.timeout(300)
def test_every_block_keeps_a_replica_on_both_sites_when_a_node_of_one_dies(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=4, env=ENV, datanode_env=[
        {"DFS_SITE": site, "DFS_RACK": f"rack{index % 2}"} for index, site in enumerate(SITES)])
    nn = cluster.client("root")
    data = Pattern(8 * MiB + 5, chunk=MiB, seed=71).bytes()
    nn.tee("/spread.bin", data)
    assert [sites_of(cluster, h) for h in holders_of(nn, "/spread.bin")] == [["A", "B"]] * 9
    location = nn.block_locations("/spread.bin")["BlockLocation"][0]
    assert sorted(p.rsplit("/", 1)[0] for p in location["topologyPaths"]) in (
        [f"/A/rack{a}", f"/B/rack{b}"] for a in (0, 1) for b in (0, 1))

    victim = cluster.datanodes[3]  # site B
    on_victim = sum(victim.node_id in h for h in holders_of(nn, "/spread.bin"))
    assert on_victim > 0
    victim.kill()
    survivors = {n.node_id for n in cluster.datanodes[:3]}

    def healed() -> bool:
        holders = holders_of(nn, "/spread.bin")
        return all(len(h) == 2 and h <= survivors for h in holders)
    cluster.wait_for(healed, timeout=120, interval=0.5, message="every block back at 2 live copies")
    assert [sites_of(cluster, h) for h in holders_of(nn, "/spread.bin")] == [["A", "B"]] * 9
    site_b = {n.node_id for n in cluster.datanodes[2:3]}
    assert all(h & site_b for h in holders_of(nn, "/spread.bin"))  # the one B node left holds them all
    assert nn.cat("/spread.bin") == data

    cluster.datanodes[2].kill()  # no node of site B left: both copies on site A meanwhile
    site_a = {n.node_id for n in cluster.datanodes[:2]}
    cluster.wait_for(lambda: all(h == site_a for h in holders_of(nn, "/spread.bin")), timeout=120,
                     interval=0.5, message="every block on the two A nodes")
    newcomer = cluster.add_datanode(env={"DFS_SITE": "B"})  # a new B node: blocks spread to it
    cluster.wait_for(lambda: all(h in ({a, newcomer.node_id} for a in site_a) for h in holders_of(nn, "/spread.bin")),
                     timeout=120, interval=0.5, message="every block back on both sites, two copies")
    assert nn.cat("/spread.bin") == data


@pytest.mark.timeout(400)
def test_one_s3_keeps_one_copy_in_the_bucket_through_its_node_dying_and_returning(
        make_cluster: Any, s3_server: Any) -> None:
    bucket = s3_server.make_bucket(f"policy-{uuid.uuid4().hex[:8]}")
    cluster: Cluster = make_cluster(datanodes=4, env=ENV, datanode_env=[s3_node_env(s3_server, bucket)])
    s3_node = cluster.datanodes[0]
    nn = cluster.client("root")
    nn.mkdirs("/cold")
    nn.set_storage_policy("/cold", "ONE_S3")
    assert nn.get_storage_policy("/cold")["name"] == "ONE_S3"
    data = Pattern(3 * MiB + 77, chunk=MiB, seed=72).bytes()
    nn.tee("/cold/run.bin", data)
    nn.tee("/hot.bin", data)

    def one_in_bucket() -> bool:
        holders = holders_of(nn, "/cold/run.bin")
        return len(holders) == 4 and all(len(h) == 2 and s3_node.node_id in h for h in holders)
    assert one_in_bucket()

    s3_node.kill()  # its copies are lost to the cluster: the healer puts them on disks meanwhile
    local = {n.node_id for n in cluster.datanodes[1:]}
    cluster.wait_for(lambda: all(len(h) == 2 and h <= local for h in holders_of(nn, "/cold/run.bin")),
                     timeout=120, interval=0.5, message="healed onto the local nodes while the S3 node is dead")
    assert nn.cat("/cold/run.bin") == data

    s3_node.restart()  # back with its bucket: one copy of each block moves back there
    cluster.wait_for(one_in_bucket, timeout=180, interval=0.5,
                     message="each block back to one copy in the bucket and one on a disk")
    assert nn.cat("/cold/run.bin") == data
