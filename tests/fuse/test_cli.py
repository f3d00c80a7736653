"""``dfs.py`` refuses clearly (one line on stderr, non-zero exit) before touching anything."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfs_fuse import cli

REPO = Path(__file__).resolve().parent.parent.parent


def run_dfs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "dfs.py"), *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line_error(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfs: ") and needle in lines[0], done.stderr


def test_unreachable_name_node(tmp_path: Path) -> None:
    one_line_error(run_dfs(str(tmp_path), "127.0.0.1", str(free_port())), "cannot reach the name node")


def test_missing_mount_point(tmp_path: Path) -> None:
    one_line_error(run_dfs(str(tmp_path / "nope"), "127.0.0.1", str(free_port())), "does not exist")


def test_non_empty_mount_point(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    one_line_error(run_dfs(str(tmp_path), "127.0.0.1", str(free_port())), "not empty")


def test_already_mounted_mount_point(memory_mount: Path) -> None:
    one_line_error(run_dfs(str(memory_mount), "127.0.0.1", str(free_port())), "busy")


def test_missing_dev_fuse(monkeypatch: pytest.MonkeyPatch) -> None:
    real_exists = cli.os.path.exists
    monkeypatch.setattr(cli.os.path, "exists", lambda p: False if p == "/dev/fuse" else real_exists(p))
    with pytest.raises(cli.UsageError, match="/dev/fuse is missing"):
        cli.check_device()


def test_options_and_urls() -> None:
    assert cli.parse_options(["allow_other,attr_timeout=2", "ro"]) == {
        "allow_other": True, "attr_timeout": "2", "ro": True}
    assert cli.name_node_url("nn", None) == "http://nn:8180"
    assert cli.name_node_url("nn", 9000) == "http://nn:9000"
    options = cli.fuse_options({"attr_timeout": "3"}, "http://nn:8180", read_only=True)
    assert options["ro"] and options["default_permissions"] and options["use_ino"]
    assert options["attr_timeout"] == "3"


def test_mkfs_asks_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert not cli.confirm_mkfs("http://nn:8180", assume_yes=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert cli.confirm_mkfs("http://nn:8180", assume_yes=False)
    assert cli.confirm_mkfs("http://nn:8180", assume_yes=True)


def test_a_relative_log_path_is_the_callers_and_the_daemon_lets_go_of_its_pipes(
        cluster, mount_base: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import select
    import time

    mnt = mount_base / "logged"
    mnt.mkdir()
    proc = subprocess.Popen([sys.executable, str(REPO / "dfs.py"), str(mnt), "127.0.0.1", str(cluster.namenode_port),
                             "--log", "mount.log"], cwd=tmp_path, stdin=subprocess.DEVNULL, env=cluster.mount_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.wait(timeout=60) == 0
        assert os.path.ismount(mnt)
        assert proc.stdout is not None and proc.stderr is not None
        for pipe in (proc.stdout, proc.stderr):  # EOF: no process holds the write end any more
            while True:
                ready, _, _ = select.select([pipe], [], [], 20)
                assert ready, "the daemon kept the caller's pipe open"
                if not os.read(pipe.fileno(), 65536):
                    break
        assert (tmp_path / "mount.log").exists() and not (Path("/") / "mount.log").exists()
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
        deadline = time.monotonic() + 10
        while os.path.ismount(mnt) and time.monotonic() < deadline:
            time.sleep(0.05)


def test_wait_mounts_once_a_stopped_name_node_comes_back(make_cluster, mount_base: Path) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(datanodes=1)
    cluster.namenode.stop()
    mnt = mount_base / "waited"
    mnt.mkdir()
    started = subprocess.Popen([sys.executable, str(REPO / "dfs.py"), str(mnt), "127.0.0.1",
                                str(cluster.namenode_port), "--wait", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.mount_env())
    try:
        time.sleep(2)
        assert started.poll() is None, started.communicate()  # still asking, not given up
        cluster.namenode.start()
        _, stderr = started.communicate(timeout=60)
        assert started.returncode == 0, stderr
        assert os.path.ismount(mnt)
        (mnt / "after-wait").write_bytes(b"mounted")
        with cluster.client().open("/after-wait", "rb") as file:
            assert file.read() == b"mounted"
    finally:
        started.kill()
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
