"""Decommission and maintenance on a real cluster of 4-5 data nodes with DFS_HEARTBEAT=1."""
from __future__ import annotations

import time


from tests.cluster import web
from tests.ops.helpers import HEARTBEAT, SMALL_BLOCKS, Reader, replica_nodes, state_of, write_files


def test_decommission_drains_while_a_reader_never_fails(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    nn = cluster.client(user="root")
    files = write_files(nn, "/drain", 12, 600_000)  # 3 blocks each
    status = cluster.status()
    victim = max(status["datanodes"], key=lambda d: d["blocks"])["id"]
    held = [path for path in files if any(victim in nodes for nodes in replica_nodes(nn, path))]
    assert held, "the node to drain holds some blocks"

    reader = Reader(cluster.client(), {path: files[path] for path in held})
    reader.start()
    try:
        answer = nn.decommission(victim)
        assert answer["admin"] == "decommissioning"
        assert state_of(cluster, victim) == "decommissioning"
        # no new blocks go to a draining node
        nn.tee("/drain/new", b"n" * 700_000)
        assert all(victim not in nodes for nodes in replica_nodes(nn, "/drain/new"))
        cluster.wait_for(lambda: state_of(cluster, victim) == "decommissioned", 90,
                         message="the node decommissioned")
        time.sleep(2 * HEARTBEAT)  # the reader keeps reading across the end of the drain
    finally:
        reader.stop()
    assert reader.reads > len(held), "the reader read throughout"
    assert reader.failures == []

    others = cluster.alive_ids() - {victim}
    for path in files:
        for nodes in replica_nodes(nn, path):
            assert len(set(nodes) & others) >= 3, (path, nodes)
    # switched off, nothing is missing
    cluster.datanode_by_id(victim).kill()
    report = nn.fsck("/drain")
    assert report["status"] == "HEALTHY" and report["under_replicated"] == 0, report
    for path, data in files.items():
        assert nn.cat(path) == data

    cluster.datanode_by_id(victim).start()
    nn.recommission(victim)
    cluster.wait_for(lambda: state_of(cluster, victim) == "alive", 30, message="back in service")


def test_maintenance_causes_no_replication_until_its_window_ends(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    nn = cluster.client(user="root")
    files = write_files(nn, "/rest", 6, 500_000)
    victim = max(cluster.status()["datanodes"], key=lambda d: d["blocks"])["id"]
    before = cluster.status()["namenode"]["replications"]

    nn.maintenance(victim, minutes=0.2)  # 12 s
    cluster.datanode_by_id(victim).kill()
    cluster.wait_for(lambda: not {d["id"]: d for d in cluster.status()["datanodes"]}[victim]["alive"], 20,
                     message="the resting node seen down")
    time.sleep(3 * HEARTBEAT)
    status = cluster.status()
    assert status["namenode"]["replications"] == before, "no copies while the node rests"
    assert state_of(cluster, victim) == "maintenance"
    assert nn.fsck("/rest")["under_replicated"] == 0
    for path, data in files.items():
        assert nn.cat(path) == data  # read from the other copies meanwhile

    # the window ends with the node still down: it is healed around like a dead one
    cluster.wait_for(lambda: state_of(cluster, victim) == "dead", 30, message="maintenance over")
    cluster.wait_for(lambda: cluster.status()["namenode"]["replications"] > before, 30,
                     message="healing after the window")
    cluster.wait_for(lambda: nn.fsck("/rest")["under_replicated"] == 0, 60, message="healed")


def test_operator_endpoints_need_the_superuser_and_a_known_node(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT)
    url = cluster.namenode_url
    node = next(iter(cluster.alive_ids()))
    alice = {"Authorization": f"Bearer {cluster.token_for('alice')}"} if cluster.token else {}
    denied = web.post(f"{url}/admin/decommission", params={"node": node, "user.name": "alice"}, headers=alice,
                      timeout=5)
    assert denied.status_code == 403 and denied.json()["RemoteException"]["exception"] == "AccessControlException"
    unknown = web.post(f"{url}/admin/decommission", params={"node": "nope", "user.name": "root"}, timeout=5)
    assert unknown.status_code == 404
    missing = web.post(f"{url}/admin/maintenance", params={"user.name": "root"}, timeout=5)
    assert missing.status_code == 400
    bad = web.post(f"{url}/admin/maintenance", params={"node": node, "minutes": "x", "user.name": "root"},
                        timeout=5)
    assert bad.status_code == 400
    assert state_of(cluster, node) == "alive"
