"""A cluster spread over five "hosts" without Docker: a name node, three data nodes and a client,
each in a network namespace of its own, joined by a bridge in a sixth namespace on 10.231.0.0/24.

Every node is configured only through the environment variables docker-compose.yml sets
(DFS_NODE_CLASS, DFS_HOST, DFS_PORT, DFS_NAMENODE_URL, DFS_PUBLIC_URL, DFS_ADVERTISE_HOST,
DFS_FS_ROOT, DFS_DB_PATH, DFS_HEARTBEAT), so this is the compose/swarm deployment with the
addresses it would have: nodes find each other only by the addresses they advertise, and a client
on another host is redirected to a data node's public address.

Nothing touches the host's own network: the namespaces, the bridge and the veth pairs are created
under names unique to this run and deleted in teardown (deleting a namespace deletes its links).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pytest

from .conftest import IN_CI, REPO

SUBNET_PREFIX = "10.231.0"
NAME_ADDR = f"{SUBNET_PREFIX}.10"
DATA_ADDRS = [f"{SUBNET_PREFIX}.{11 + i}" for i in range(3)]
CLIENT_ADDR = f"{SUBNET_PREFIX}.100"
NAME_URL = f"http://{NAME_ADDR}:8180"
READY_TIMEOUT = 60.0
BLOCK_FILE = re.compile(r"[0-9a-f]{16}")  # <root>/blocks/<id[-2:]>/<id>, as PROTOCOL.md


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass
class Cluster:
    tag: str
    workdir: Path
    namespaces: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def ns(self, role: str) -> str:
        return f"dfs{self.tag}-{role}"

    def log(self, role: str) -> Path:
        return self.workdir / "logs" / f"{role}.log"

    def add_host(self, role: str, address: str, index: int) -> None:
        """A namespace with loopback up and eth0 (a veth whose peer sits on the bridge) at address."""
        ns, bridge_ns = self.ns(role), self.ns("br")
        ip("netns", "add", ns)
        self.namespaces.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")
        port = f"p{index}"
        ip("-n", bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", bridge_ns, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")

    def start(self, role: str, env: dict[str, str]) -> None:
        """Run server.py in the role's namespace with exactly these DFS_* variables."""
        home = self.workdir / "home" / role  # a HOME each: gunicorn keeps its control socket there
        home.mkdir(parents=True)
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", **env}
        log = self.log(role).open("ab")
        self.processes[role] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(role), sys.executable, str(REPO / "server.py")],
            env=environment, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()

    def start_name_node(self, **extra: str) -> None:
        """The name node on the "nn" host, with the environment docker-compose.yml gives it."""
        self.start("nn", {"DFS_NODE_CLASS": "name_node.NameNode", "DFS_HOST": "0.0.0.0", "DFS_PORT": "8180",
                          "DFS_DB_PATH": str(self.workdir / "name"), "DFS_ADVERTISE_HOST": NAME_ADDR, **extra})

    def start_data_node(self, index: int, address: str, **extra: str) -> None:
        """Data node ``index`` on the "dn<index>" host at ``address``, as docker-compose.yml runs it."""
        self.start(f"dn{index}", {"DFS_NODE_CLASS": "data_node.DataNode", "DFS_HOST": "0.0.0.0", "DFS_PORT": "8181",
                                  "DFS_FS_ROOT": str(self.workdir / f"blocks{index}"),
                                  "DFS_PUBLIC_URL": f"http://{address}:8181", "DFS_ADVERTISE_HOST": address,
                                  **extra})

    def client(self, code: str, timeout: float = 120) -> dict:
        """Run a Python snippet in the client's namespace; it prints one JSON object as its answer."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.ns("client"), sys.executable, "-c", textwrap.dedent(code)],
            cwd=REPO, capture_output=True, text=True, timeout=timeout,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir), "LANG": "C.UTF-8",
                 "NAME_URL": NAME_URL})
        if result.returncode != 0:
            raise AssertionError(f"client snippet failed ({result.returncode}):\n{result.stderr}\n"
                                 f"{self.logs_tail()}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def check_running(self) -> None:
        for role, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{role} exited with {process.returncode}\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 40) -> str:
        parts = []
        for role in self.processes:
            text = self.log(role).read_text(errors="replace").splitlines() if self.log(role).exists() else []
            parts.append(f"--- {role} log (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):  # data nodes before the name node
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for ns in self.namespaces:  # anything of ours still inside (gunicorn workers) goes too
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def netns_available() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    return None


@contextmanager
def bridged_hosts(tmp_path: Path) -> Iterator[Cluster]:
    """A bridge in a namespace of its own and no hosts yet; at the end every process stops and
    every namespace goes (the logs are printed, which pytest shows when the test failed)."""
    reason = netns_available()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = Cluster(tag=uuid.uuid4().hex[:6], workdir=tmp_path)
    (tmp_path / "logs").mkdir()
    try:
        bridge_ns = cluster.ns("br")
        ip("netns", "add", bridge_ns)
        cluster.namespaces.append(bridge_ns)
        ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", bridge_ns, "link", "set", "br0", "up")
        yield cluster
    finally:
        cluster.stop()
        print(cluster.logs_tail(200))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with bridged_hosts(tmp_path) as cluster:
        cluster.add_host("nn", NAME_ADDR, 0)
        for i, address in enumerate(DATA_ADDRS):
            cluster.add_host(f"dn{i}", address, i + 1)
        cluster.add_host("client", CLIENT_ADDR, 9)
        cluster.start_name_node()
        for i, address in enumerate(DATA_ADDRS):
            cluster.start_data_node(i, address, DFS_NAMENODE_URL=NAME_URL, DFS_HEARTBEAT="1")
        yield cluster


def wait_for_three_data_nodes(cluster: Cluster) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT
    last: dict = {}
    while time.monotonic() < deadline:
        cluster.check_running()
        last = cluster.client("""
            import json, os, requests
            try:
                answer = requests.get(os.environ["NAME_URL"] + "/status", timeout=2).json()
            except (requests.RequestException, ValueError) as error:
                answer = {"error": repr(error)}
            print(json.dumps(answer))
        """)
        alive = [d for d in last.get("datanodes", []) if d.get("state") == "alive"]
        if len(alive) >= 3:
            return last
        time.sleep(0.5)
    raise AssertionError(f"3 data nodes not alive within {READY_TIMEOUT}s; last /status: {last}\n{cluster.logs_tail()}")


def test_cluster_across_network_namespaces(cluster: Cluster) -> None:
    status = wait_for_three_data_nodes(cluster)
    public = sorted(d["public_url"].rstrip("/") for d in status["datanodes"] if d["state"] == "alive")
    assert public == [f"http://{a}:8181" for a in DATA_ADDRS]

    # WebHDFS from another host: two-step CREATE by hand, then OPEN's redirect, then the bytes.
    webhdfs = cluster.client("""
        import hashlib, json, os, random, requests
        from urllib.parse import urlparse
        nn = os.environ["NAME_URL"]
        data = random.Random(1).randbytes(5 * 1024 * 1024 + 123)
        url = nn + "/webhdfs/v1/deploy/webhdfs.bin"
        params = {"user.name": "root"}
        made = requests.put(nn + "/webhdfs/v1/deploy", params={**params, "op": "MKDIRS"}, timeout=30)
        step1 = requests.put(url, params={**params, "op": "CREATE", "overwrite": "true"},
                             allow_redirects=False, timeout=30)
        create_location = step1.headers.get("Location", "")
        step2 = requests.put(create_location, data=data, timeout=120) if step1.status_code == 307 else None
        opened = requests.get(url, params={**params, "op": "OPEN"}, allow_redirects=False, timeout=30)
        open_location = opened.headers.get("Location", "")
        read = requests.get(url, params={**params, "op": "OPEN"}, timeout=120)
        print(json.dumps({
            "mkdirs": made.status_code, "create": step1.status_code, "create_location": create_location,
            "write": step2.status_code if step2 is not None else None,
            "write_body": step2.text[:500] if step2 is not None else step1.text[:500],
            "open": opened.status_code, "open_location": open_location,
            "read": read.status_code, "same": read.content == data,
            "read_length": len(read.content), "length": len(data),
        }))
    """)
    assert webhdfs["mkdirs"] == 200, webhdfs
    assert webhdfs["create"] == 307, webhdfs
    assert webhdfs["write"] == 201, webhdfs
    assert webhdfs["open"] == 307, webhdfs
    assert webhdfs["read"] == 200, webhdfs
    assert webhdfs["same"], webhdfs
    for key in ("create_location", "open_location"):
        location = webhdfs[key]
        parsed = urlparse(location)
        assert parsed.hostname in DATA_ADDRS and parsed.port == 8181, f"{key} {location!r} is not a data node's public URL"

    # The Python API from another host: several blocks through replica pipelines, read back whole.
    api = cluster.client("""
        import json, os, random
        from name_node import HttpNameNode
        nn = HttpNameNode(os.environ["NAME_URL"], user="root")
        data = random.Random(2).randbytes(9 * 1024 * 1024 + 7)
        nn.tee("/deploy/api.bin", data)
        back = nn.cat("/deploy/api.bin")
        again = nn.cat("/deploy/webhdfs.bin")
        locations = nn.block_locations("/deploy/api.bin")
        blocks = locations.get("BlockLocations", locations).get("BlockLocation", [])
        print(json.dumps({
            "same": back == data, "length": len(back), "webhdfs_length": len(again),
            "listing": sorted(nn.ls("/deploy")),
            "replicas": [sorted(d["url"] for d in b.get("dataNodes", [])) for b in blocks],
        }))
    """)
    assert api["same"], api
    assert api["webhdfs_length"] == webhdfs["length"]
    assert {"api.bin", "webhdfs.bin"} <= {name.rstrip("/").rsplit("/", 1)[-1] for name in api["listing"]}
    assert len(api["replicas"]) >= 3, api  # 9 MiB in 4 MiB blocks
    for replicas in api["replicas"]:
        # replication 3 over three hosts: every block on every data node, named by its public URL
        assert [r.rstrip("/") for r in replicas] == [f"http://{a}:8181" for a in DATA_ADDRS], api

    # and the blocks really are in each data node's own root
    for i in range(3):
        stored = [p for p in (cluster.workdir / f"blocks{i}").rglob("*")
                  if p.is_file() and p.parent.parent.name == "blocks" and BLOCK_FILE.fullmatch(p.name)]
        assert len(stored) >= len(api["replicas"]), f"data node {i} holds {len(stored)} blocks"
    cluster.check_running()
