"""The balancer: a fifth, empty node joins a cluster of four; replicas move (copy, confirm, delete)
at a bounded rate until every node's use is within the threshold, and nothing is lost."""
from __future__ import annotations

import time

from tests.ops.helpers import HEARTBEAT, MiB, SMALL_BLOCKS, replica_nodes, write_files

CAPACITY = 32 * MiB  # each node offers this much (DFS_CAPACITY), so a few MiB make a difference
THRESHOLD = 5.0
RATE = 4 * MiB


def uses(cluster) -> dict[str, float]:
    return {d["id"]: 100.0 * d["used"] / d["capacity"] for d in cluster.status()["datanodes"] if d["alive"]}


def test_a_new_node_is_filled_to_within_the_threshold(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env={**SMALL_BLOCKS, "DFS_CAPACITY": str(CAPACITY)})
    nn = cluster.client(user="root")
    files = write_files(nn, "/full", 20, 400_000)
    newcomer = cluster.add_datanode()
    time.sleep(2 * HEARTBEAT)
    before = uses(cluster)
    assert before[newcomer.node_id] == 0 and max(before.values()) > 15

    started = time.monotonic()
    state = nn.balancer("start", threshold=THRESHOLD, rate=RATE)
    assert state["running"] and state["threshold"] == THRESHOLD
    assert cluster.status()["balancer"]["state"] == "running"
    done = cluster.wait_for(lambda: (s := nn.balancer())["state"] == "done" and s, 120, message="balanced")
    elapsed = time.monotonic() - started
    assert done["moved_blocks"] > 0 and done["failed_moves"] == 0
    assert done["moved_bytes"] <= RATE * (elapsed + 2) + 256 * 1024, "bounded rate"

    time.sleep(3 * HEARTBEAT)  # the deletions reach the sources and their heartbeats
    after = uses(cluster)
    mean = sum(after.values()) / len(after)
    assert all(abs(use - mean) <= THRESHOLD + 1 for use in after.values()), after
    assert after[newcomer.node_id] > 0

    # copy-confirm-delete left every block at exactly its replication, on distinct nodes
    for path, data in files.items():
        for nodes in replica_nodes(nn, path):
            assert len(nodes) == 3 and len(set(nodes)) == 3, (path, nodes)
        assert nn.cat(path) == data
    report = nn.fsck("/full")
    assert report["status"] == "HEALTHY" and report["under_replicated"] == 0 and report["over_replicated"] == 0
    assert any(newcomer.node_id in nodes for path in files for nodes in replica_nodes(nn, path))


def test_balancer_refuses_a_bad_threshold_and_stops_on_request(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT)
    nn = cluster.client(user="root")
    try:
        nn.balancer("start", threshold=0)
        raise AssertionError("a zero threshold was accepted")
    except OSError as error:
        assert "threshold" in str(error)
    nn.balancer("start")
    assert nn.balancer("stop")["running"] is False or nn.balancer()["state"] == "done"
