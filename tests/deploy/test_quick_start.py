"""The README's first quick-start command, as a user runs it: ``bash scripts/up.sh`` installs what is
missing and starts a secured cluster (name node, three data nodes, the mount); the mount and curl
with the admin token see the same files; a second run after the mount's daemon was killed mounts
afresh, a third after the name node was killed under the live mount starts it again, nothing lost;
``scripts/down.sh`` stops it all and keeps the data."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from .conftest import REPO


def four_free_ports() -> int:
    """A port P with P..P+3 free on loopback (the name node and the three data nodes)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + 3 >= 65536:
            continue
        taken = False
        for port in range(base, base + 4):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    taken = True
                    break
        if not taken:
            return base
    raise AssertionError("no four consecutive free ports")


def run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts" / script)], capture_output=True, text=True, timeout=600,
                          env=env, cwd=REPO)


def test_up_mounts_a_secured_cluster_recovers_a_dead_mount_and_down_stops_it(tmp_path: Path) -> None:
    port = four_free_ports()
    data, mnt = tmp_path / "data", tmp_path / "mnt"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DFS_")},
           "DFS_DATA": str(data), "DFS_MOUNT": str(mnt), "DFS_PORT": str(port)}
    try:
        up = run("up.sh", env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"DFS is up: name node http://127.0.0.1:{port}, 3 data nodes, mounted at {mnt}" in up.stdout
        assert os.path.ismount(mnt)
        secret, token = data / "secret", data / "admin-token"
        assert secret.stat().st_mode & 0o777 == 0o600 and token.stat().st_mode & 0o777 == 0o600
        auth = {"Authorization": f"Bearer {token.read_text().strip()}"}
        nn = f"http://127.0.0.1:{port}/webhdfs/v1"

        (mnt / "hello.txt").write_bytes(b"two commands\n")
        got = requests.get(f"{nn}/hello.txt", params={"op": "OPEN"}, headers=auth, timeout=30)
        assert (got.status_code, got.content) == (200, b"two commands\n")
        assert requests.get(f"{nn}/?op=LISTSTATUS", timeout=30).status_code == 401  # secured by default

        daemon = subprocess.run(["pgrep", "-f", f"dfs.py {mnt}"], capture_output=True, text=True).stdout.split()
        assert daemon, "the mount's daemon"
        for pid in daemon:
            os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)
        try:
            os.stat(mnt)
            stale = False
        except OSError:
            stale = True
        assert stale, "a killed FUSE daemon leaves its mount point unreachable"

        again = run("up.sh", env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "name already running" in again.stdout
        assert (mnt / "hello.txt").read_bytes() == b"two commands\n"

        # the name node stopped under a live mount (its stat answers EIO): up.sh starts it again
        name_pid = int((data / "name.pid").read_text())
        os.kill(name_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{name_pid}").exists():
            time.sleep(0.1)
        third = run("up.sh", env)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "name already running" not in third.stdout and "data1 already running" in third.stdout
        assert (mnt / "hello.txt").read_bytes() == b"two commands\n"
        (mnt / "after.txt").write_bytes(b"restarted")
        got = requests.get(f"{nn}/after.txt", params={"op": "OPEN"}, headers=auth, timeout=30)
        assert got.content == b"restarted"
    finally:
        down = run("down.sh", env)
    assert down.returncode == 0 and f"data kept in {data}" in down.stdout, down.stdout + down.stderr
    assert not os.path.ismount(mnt)
    for pidfile in ("name", "data1", "data2", "data3"):
        assert not (data / f"{pidfile}.pid").exists()
    with socket.socket() as probe:  # the name node let its port go before down.sh returned (as a
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # server binds: TIME_WAIT allowed)
        probe.bind(("127.0.0.1", port))
