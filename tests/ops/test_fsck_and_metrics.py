"""fsck over HTTP and HttpNameNode; /metrics on both node kinds, parsed by prometheus-client."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import web
from tests.ops.helpers import HEARTBEAT, SMALL_BLOCKS


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = web.get(url + "/metrics", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, have), v in samples.items() if n == name and set(labels.items()) <= set(have))


def test_fsck_finds_missing_and_under_replicated_blocks(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    nn = cluster.client(user="root")
    nn.mkdirs("/f/deep")
    nn.tee("/f/healthy", b"h" * 600_000)
    with nn.open("/f/deep/single", "wb", replication=1) as handle:
        handle.write(b"s" * 200_000)  # one block
    nn.tee("/f/wide", b"w" * 100_000)
    nn.set_replication("/f/wide", 6)  # more than 4 nodes can hold

    report = nn.fsck("/f")
    assert report["files"] == 3 and report["directories"] == 2 and report["blocks"] == 5
    assert report["status"] == "HEALTHY" and report["missing"] == 0
    assert report["under_replicated"] == 1
    assert [(p["path"], p["issues"]) for p in report["problems"]] == [("/f/wide", ["under_replicated"])]

    holder = nn.block_locations("/f/deep/single")["BlockLocation"][0]["dataNodes"][0]["id"]
    cluster.datanode_by_id(holder).kill()
    cluster.wait_for(lambda: holder not in cluster.alive_ids(), 20, message="the holder dead")
    over_http = web.get(cluster.namenode_url + "/fsck", params={"path": "/f/deep"}, timeout=5).json()["fsck"]
    assert over_http["status"] == "CORRUPT" and over_http["missing"] == 1
    assert {p["path"] for p in over_http["problems"]} == {"/f/deep/single"}
    assert nn.fsck("/f/healthy")["files"] == 1
    missing = web.get(cluster.namenode_url + "/fsck", params={"path": "/nope"}, timeout=5)
    assert missing.status_code == 404 and missing.json()["RemoteException"]["exception"] == "FileNotFoundException"


def test_metrics_parse_and_move_with_requests(make_cluster):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    nn = cluster.client()
    name_before = metrics(cluster.namenode_url)
    data_before = {node.node_id: metrics(node.url) for node in cluster.datanodes}
    nn.tee("/m", b"m" * 700_000)
    for _ in range(5):
        nn.get_status("/m")
    assert nn.cat("/m") == b"m" * 700_000

    name_after = metrics(cluster.namenode_url)
    assert value(name_after, "dfs_requests_total", op="GETFILESTATUS", code="200") >= \
        value(name_before, "dfs_requests_total", op="GETFILESTATUS", code="200") + 5
    assert value(name_after, "dfs_request_duration_seconds_count", op="COMMIT") >= 1
    assert value(name_after, "dfs_namenode_files") == 1
    assert value(name_after, "dfs_namenode_blocks") >= 3
    assert value(name_after, "dfs_namenode_datanodes", state="alive") == 4
    assert value(name_after, "dfs_namenode_capacity_bytes") > 0
    assert value(name_after, "dfs_namenode_safemode") == 0
    for name in ("dfs_namenode_blocks_under_replicated", "dfs_namenode_blocks_missing",
                 "dfs_namenode_blocks_corrupt", "dfs_namenode_heal_replications_total",
                 "dfs_namenode_balancer_moved_bytes_total"):
        assert any(n == name for n, _ in name_after), name

    data_after = {node.node_id: metrics(node.url) for node in cluster.datanodes}
    received = sum(value(data_after[n], "dfs_received_bytes_total", op="put_block")
                   - value(data_before[n], "dfs_received_bytes_total", op="put_block") for n in data_after)
    sent = sum(value(data_after[n], "dfs_sent_bytes_total", op="get_block")
               - value(data_before[n], "dfs_sent_bytes_total", op="get_block") for n in data_after)
    assert received >= 3 * 700_000  # three replicas arrived
    assert sent >= 700_000
    some = next(iter(data_after.values()))
    for name in ("dfs_datanode_blocks", "dfs_datanode_capacity_bytes", "dfs_datanode_used_bytes",
                 "dfs_datanode_scrub_verified_bytes_total", "dfs_datanode_scrub_pass_progress_ratio"):
        assert any(n == name for n, _ in some), name
    assert sum(value(m, "dfs_datanode_blocks") for m in data_after.values()) >= 9
