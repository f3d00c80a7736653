"""LAN discovery between "hosts" (network namespaces on one bridge, the multi-host test's network):
the name node announces ``_dfs._tcp`` by mDNS; a data node started with ``DFS_DISCOVER=1`` and no
name node address finds it and joins within seconds; one with a wrong secret finds it too, but the
name node refuses to identify itself to it (and would refuse its heartbeats), so it never joins.

The multicast stays on the bridge of this test's namespaces: nothing is announced on the host.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REPO
from .test_multihost_netns import CLIENT_ADDR, DATA_ADDRS, NAME_ADDR, Cluster, bridged_hosts

SECRET = secrets.token_hex(32)
ADMIN = "discovery-admin-" + secrets.token_hex(16)
JOIN_TIMEOUT = 30.0  # "within seconds" on an idle machine; generous for a loaded one


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[Cluster]:
    """A bridge with a name node (announcing) and an empty client host; data nodes are added by the test."""
    with bridged_hosts(tmp_path) as cluster:
        cluster.add_host("nn", NAME_ADDR, 0)
        cluster.add_host("client", CLIENT_ADDR, 9)
        cluster.start_name_node(DFS_DISCOVER="1", DFS_SECRET=SECRET, DFS_ADMIN_TOKEN=ADMIN, DFS_HEARTBEAT="1",
                                DFS_REPLICATION="1")
        yield cluster


def start_discovering_data_node(cluster: Cluster, index: int, secret: str) -> None:
    address = DATA_ADDRS[index]
    cluster.add_host(f"dn{index}", address, index + 1)
    # no DFS_NAMENODE_URL: found on the LAN
    cluster.start_data_node(index, address, DFS_HEARTBEAT="1", DFS_DISCOVER="1", DFS_SECRET=secret)


def members(cluster: Cluster) -> list[dict]:
    answer = cluster.client(f"""
        import json, os, requests
        try:
            status = requests.get(os.environ["NAME_URL"] + "/status", timeout=3,
                                  headers={{"Authorization": "Bearer {ADMIN}"}}).json()
        except (requests.RequestException, ValueError) as error:
            status = {{"error": repr(error)}}
        print(json.dumps(status))
    """)
    return list(answer.get("datanodes", []))


def test_a_data_node_finds_the_name_node_and_a_wrong_secret_never_joins(lan: Cluster) -> None:
    cluster = lan
    started = time.monotonic()
    start_discovering_data_node(cluster, 0, SECRET)
    start_discovering_data_node(cluster, 1, secrets.token_hex(32))  # another cluster's secret

    joined: list[dict] = []
    while time.monotonic() - started < JOIN_TIMEOUT and not joined:
        cluster.check_running()
        joined = [m for m in members(cluster) if m.get("state") == "alive"]
        time.sleep(0.5)
    assert joined, f"no data node joined within {JOIN_TIMEOUT:.0f} s\n{cluster.logs_tail()}"
    assert [m["public_url"].rstrip("/") for m in joined] == [f"http://{DATA_ADDRS[0]}:8181"]

    # the right node learnt the name node's address from the announcement alone
    assert f"discovered the name node at http://{NAME_ADDR}:8180" in cluster.log("dn0").read_text()
    time.sleep(5)  # the wrong one had as long as the right one took, and more
    assert [m["public_url"].rstrip("/") for m in members(cluster)] == [f"http://{DATA_ADDRS[0]}:8181"]
    wrong = cluster.log("dn1").read_text()
    assert f"http://{NAME_ADDR}:8180 refused to identify itself (401)" in wrong, wrong[-2000:]
    assert "discovered the name node" not in wrong


def test_a_mount_on_another_host_finds_the_cluster_with_discover(lan: Cluster, tmp_path: Path) -> None:
    cluster = lan
    start_discovering_data_node(cluster, 0, SECRET)
    deadline = time.monotonic() + JOIN_TIMEOUT
    while not [m for m in members(cluster) if m.get("state") == "alive"]:
        assert time.monotonic() < deadline, cluster.logs_tail()
        time.sleep(0.5)
    # ``ip netns exec`` gives its command a mount namespace of its own: the mount, the writes
    # through it and the unmount happen in one shell there
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    dfs = f"{sys.executable} {REPO / 'dfs.py'} {mount_point}"
    script = f"""set -e
        {dfs} --discover --log {tmp_path / 'mount.log'}
        printf 'found by mDNS' > {mount_point}/found.txt
        cat {mount_point}/found.txt; echo; ls {mount_point}
        fusermount3 -u {mount_point}
        DFS_SECRET= {dfs} --discover || echo "refused: $?"
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "DFS_SECRET": SECRET, "DFS_TOKEN": ADMIN}
    done = subprocess.run(["ip", "netns", "exec", cluster.ns("client"), "bash", "-c", script], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO)
    assert done.returncode == 0, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert lines[:2] == ["found by mDNS", "found.txt"], done.stdout
    # a token is never sent to a name node that was not checked: without the secret, no discovery
    assert lines[2:] == ["refused: 1"] and "needs DFS_SECRET" in done.stderr, (done.stdout, done.stderr)

    # the bytes are in the cluster, not in a folder that happened to be there
    stored = cluster.client(f"""
        import json, os, requests
        answer = requests.get(os.environ["NAME_URL"] + "/webhdfs/v1/found.txt?op=OPEN", timeout=30,
                              headers={{"Authorization": "Bearer {ADMIN}"}})
        print(json.dumps({{"status": answer.status_code, "text": answer.text}}))
    """)
    assert stored == {"status": 200, "text": "found by mDNS"}
