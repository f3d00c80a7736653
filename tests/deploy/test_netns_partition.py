"""A data node cut off from the network (its link down, the process still running) on a cluster of
five hosts in network namespaces: the name node declares it dead and heals around it within the
same bound as a killed node; when the link comes back nothing is lost and no block keeps more
copies than its replication, on the disks as in the block map."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from .test_multihost_netns import NAME_ADDR, NAME_URL, SUBNET_PREFIX, Cluster, bridged_hosts, ip

DATA_ADDRS = [f"{SUBNET_PREFIX}.{11 + i}" for i in range(4)]
HEARTBEAT = 1.0
DEAD_BOUND = 3 * HEARTBEAT + 3.0  # DFS_DEAD_AFTER heartbeats, plus a heal tick and the poll


@pytest.fixture
def five_hosts(tmp_path: Path) -> Iterator[Cluster]:
    with bridged_hosts(tmp_path) as cluster:
        cluster.add_host("nn", NAME_ADDR, 0)
        for i, address in enumerate(DATA_ADDRS):
            cluster.add_host(f"dn{i}", address, i + 1)
        cluster.add_host("client", f"{SUBNET_PREFIX}.100", 9)
        cluster.start_name_node(DFS_HEARTBEAT=str(HEARTBEAT), DFS_BLOCK_SIZE="262144")
        for i, address in enumerate(DATA_ADDRS):
            cluster.start_data_node(i, address, DFS_NAMENODE_URL=NAME_URL, DFS_HEARTBEAT=str(HEARTBEAT),
                                    DFS_SCRUB_INTERVAL="0")
        yield cluster


def status(cluster: Cluster) -> dict:
    return cluster.client("""
        import json, os, requests
        try:
            print(json.dumps(requests.get(os.environ["NAME_URL"] + "/status", timeout=3).json()))
        except (requests.RequestException, ValueError) as error:
            print(json.dumps({"error": repr(error)}))
    """)


def wait(cluster: Cluster, predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        cluster.check_running()
        last = predicate()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"not {what} within {timeout}s\n{cluster.logs_tail()}")


def states(cluster: Cluster) -> dict[str, str]:
    return {d["public_url"]: d["state"] for d in status(cluster).get("datanodes", [])}


def blocks_on_disk(cluster: Cluster) -> Counter:
    """How many copies of each block id the four data nodes' roots hold."""
    copies: Counter = Counter()
    for i in range(len(DATA_ADDRS)):
        for path in (cluster.workdir / f"blocks{i}" / "blocks").glob("*/*"):
            if path.is_file() and "." not in path.name and len(path.name) == 16:
                copies[path.name] += 1
    return copies


CHECK = """
    import json, os, random
    from dfs_client import HttpNameNode
    nn = HttpNameNode(os.environ["NAME_URL"], user="root")
    report = nn.fsck("/cut")
    same = all(nn.cat(f"/cut/f{i}") == random.Random(i).randbytes(300_000 + i) for i in range(8))
    replicas = {}
    for i in range(8):
        for block in nn.block_locations(f"/cut/f{i}")["BlockLocation"]:
            replicas[block["blockId"]] = sorted(d["url"] for d in block["dataNodes"])
    print(json.dumps({"fsck": report, "same": same, "replicas": replicas}))
"""


def test_a_cut_link_is_healed_around_like_a_kill_and_nothing_is_lost_or_doubled(five_hosts: Cluster) -> None:
    cluster = five_hosts
    urls = [f"http://{a}:8181" for a in DATA_ADDRS]
    wait(cluster, lambda: all(states(cluster).get(u) == "alive" for u in urls), 60, "four data nodes alive")
    cluster.client("""
        import json, os, random
        from dfs_client import HttpNameNode
        nn = HttpNameNode(os.environ["NAME_URL"], user="root")
        nn.mkdirs("/cut")
        for i in range(8):
            nn.tee(f"/cut/f{i}", random.Random(i).randbytes(300_000 + i))  # 2 blocks each
        print(json.dumps({}))
    """)
    before = cluster.client(CHECK)
    assert before["same"] and len(before["replicas"]) == 16
    victim = max(urls, key=lambda u: sum(u in nodes for nodes in before["replicas"].values()))
    index = urls.index(victim)

    # cut: the host's link goes down; its process keeps running and keeps its blocks
    cut_at = time.monotonic()
    ip("-n", cluster.ns(f"dn{index}"), "link", "set", "eth0", "down")
    wait(cluster, lambda: states(cluster).get(victim) == "dead", DEAD_BOUND + 10, "the cut node dead")
    detected = time.monotonic() - cut_at
    assert detected <= DEAD_BOUND + 4, f"detected after {detected:.1f}s"

    healed = wait(cluster, lambda: (r := cluster.client(CHECK))["fsck"]["under_replicated"] == 0 and r, 90,
                  "healed around the cut node")
    assert healed["same"] and healed["fsck"]["missing"] == 0
    for block, nodes in healed["replicas"].items():
        assert victim not in nodes and len(nodes) == 3, (block, nodes)
    assert cluster.processes[f"dn{index}"].poll() is None, "the cut node was never stopped"

    # the link returns: the node reports its stale copies; every surplus is trimmed, on disk too
    ip("-n", cluster.ns(f"dn{index}"), "link", "set", "eth0", "up")
    wait(cluster, lambda: states(cluster).get(victim) == "alive", 30, "the node back")

    def settled():
        report = cluster.client(CHECK)
        disk = blocks_on_disk(cluster)
        counted = {block: len(nodes) for block, nodes in report["replicas"].items()}
        ok = (report["fsck"]["over_replicated"] == 0 and report["fsck"]["under_replicated"] == 0
              and set(counted.values()) == {3} and all(disk[block] == 3 for block in counted))
        return ok and (report, disk)

    report, disk = wait(cluster, settled, 90, "every block at exactly three copies")
    assert report["same"] and report["fsck"]["status"] == "HEALTHY"
    assert set(report["replicas"]) == set(before["replicas"]), "no block lost"
    assert sum(disk[block] for block in report["replicas"]) == 3 * len(report["replicas"])
    assert json.dumps(report["fsck"]["problems"]) == "[]"
