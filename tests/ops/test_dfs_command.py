"""The ``dfs`` console script against a real cluster: trees round-trip byte for byte, a progress
bar on a terminal and none in a pipe, every bad input one line on stderr with a non-zero exit."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import select
import subprocess
import struct
import sys
import termios
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cluster import Cluster
from tests.ops.helpers import HEARTBEAT, SMALL_BLOCKS

DFS = Path(sys.executable).parent / "dfs"  # installed by pyproject's [project.scripts]


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cli"), datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def environment(cluster: Cluster | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFS_")}
    env["DFS_CONFIG"] = "/nonexistent/dfs.toml"
    if cluster is not None:
        env["DFS_NAMENODE_URL"] = cluster.namenode_url
    from tests.cluster import ADMIN_TOKEN
    env["DFS_TOKEN"] = ADMIN_TOKEN  # every test cluster is secured with it
    env.update(extra)
    return env


def dfs(cluster: Cluster | None, *args: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(DFS), *args], capture_output=True, text=True, timeout=120,
                          env=env or environment(cluster), stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def make_tree(root: Path) -> dict[str, bytes]:
    rng = random.Random(7)
    files = {}
    for relative, size in (("a.bin", 700_000), ("empty", 0), ("sub/b.txt", 1234), ("sub/deeper/c.bin", 300_000),
                           ("sub/deeper/d", 5), ("other/e.bin", 1_000_000)):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size)
        path.write_bytes(data)
        files[relative] = data
    (root / "emptydir").mkdir()
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (stdout piped); answer (exit code, what the pty saw)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # an ordinary terminal
    proc = subprocess.Popen([str(DFS), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=env)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.stdout.read()
    return proc.wait(60), seen.decode(errors="replace")


def test_put_and_get_trees_byte_identical_with_a_bar_only_on_a_terminal(cli_cluster, tmp_path):
    source = tmp_path / "tree"
    files = make_tree(source)
    code, terminal = run_on_pty(["put", "-r", str(source), "/cli-tree"], environment(cli_cluster))
    assert code == 0, terminal
    assert "put" in terminal and "100%" in terminal and "|" in terminal  # tqdm's bar
    listing = dfs(cli_cluster, "ls", "-R", "/cli-tree").stdout.split()
    assert "/cli-tree/sub/deeper/c.bin" in listing and "/cli-tree/emptydir" in listing

    piped = dfs(cli_cluster, "get", "-r", "/cli-tree", str(tmp_path / "back"))
    assert piped.stderr == "" and piped.stdout == ""  # no bar when not on a terminal
    assert read_tree(tmp_path / "back") == files
    assert (tmp_path / "back" / "emptydir").is_dir()

    code, terminal = run_on_pty(["get", "-r", "/cli-tree", str(tmp_path / "again")], environment(cli_cluster))
    assert code == 0 and "100%" in terminal
    assert read_tree(tmp_path / "again") == files
    # a second put refuses to replace without -f; with -f it does
    again = dfs(cli_cluster, "put", str(source / "a.bin"), "/cli-tree/a.bin", check=False)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "exists" in again.stderr
    dfs(cli_cluster, "put", "-f", str(source / "sub" / "b.txt"), "/cli-tree/a.bin")
    cat = subprocess.run([str(DFS), "cat", "/cli-tree/a.bin"], capture_output=True, timeout=60,
                         env=environment(cli_cluster))
    assert cat.returncode == 0 and cat.stdout == files["sub/b.txt"]


def test_resumed_get_completes_a_partial_download(cli_cluster, tmp_path):
    data = random.Random(3).randbytes(900_000)
    (tmp_path / "f").write_bytes(data)
    dfs(cli_cluster, "put", str(tmp_path / "f"), "/resume.bin")
    (tmp_path / "out.bin.dfs-part").write_bytes(data[:400_000])
    dfs(cli_cluster, "get", "-c", "/resume.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == data
    assert not (tmp_path / "out.bin.dfs-part").exists()


def test_file_commands(cli_cluster, tmp_path):
    run = lambda *args: dfs(cli_cluster, *args)  # noqa: E731
    run("mkdir", "-p", "/cmd/a/b")
    (tmp_path / "x").write_bytes(b"hello\n")
    run("put", str(tmp_path / "x"), "/cmd/a/b/x")
    assert run("cat", "/cmd/a/b/x").stdout == "hello\n"
    long = run("ls", "-l", "/cmd/a/b").stdout
    assert long.startswith("-rw") and long.rstrip().endswith(" x") and " 6 " in long
    run("cp", "-r", "/cmd/a", "/cmd/copy")
    run("mv", "/cmd/copy/b/x", "/cmd/moved")
    assert json.loads(run("--json", "stat", "/cmd/moved").stdout)["length"] == 6
    run("chmod", "600", "/cmd/moved")
    run("chown", "alice:staff", "/cmd/moved")
    status = json.loads(run("--json", "stat", "/cmd/moved").stdout)
    assert (status["permission"], status["owner"], status["group"]) == ("600", "alice", "staff")
    run("setrep", "2", "/cmd/a")
    assert json.loads(run("--json", "stat", "/cmd/a/b/x").stdout)["replication"] == 2
    du = json.loads(run("--json", "du", "-s", "/cmd").stdout)
    assert du[0]["length"] == 12 and du[0]["files"] == 2
    assert json.loads(run("--json", "df").stdout)["datanodes_alive"] == 4
    assert dfs(cli_cluster, "exists", "/cmd/moved").stdout.strip() == "true"
    missing = dfs(cli_cluster, "exists", "/cmd/none", check=False)
    assert missing.returncode == 1 and missing.stdout.strip() == "false" and missing.stderr == ""
    names = json.loads(run("--json", "storagepolicy").stdout)
    assert [p["name"] for p in names] == ["HOT", "ALL_LOCAL", "ONE_S3"]
    assert run("storagepolicy", "/cmd/a", "all_local").stdout.strip() == "ALL_LOCAL"
    assert run("storagepolicy", "/cmd/a/b/x").stdout.strip() == "ALL_LOCAL"  # the file below follows
    assert run("storagepolicy", "--unset", "/cmd/a").stdout.strip() == "HOT"
    run("evict", "/cmd/moved")
    assert dfs(cli_cluster, "exists", "/cmd/moved", check=False).returncode == 1
    run("rm", "-r", "/cmd/copy")
    run("rm", "-f", "/cmd/never-there")
    assert run("ls", "/cmd").stdout.split() == ["a"]
    fsck = json.loads(run("--json", "fsck", "/cmd").stdout)
    assert fsck["status"] == "HEALTHY" and fsck["files"] == 1


def test_operator_commands(cli_cluster):
    run = lambda *args: dfs(cli_cluster, *args)  # noqa: E731
    status = json.loads(run("--json", "status").stdout)
    assert len(status["datanodes"]) == 4 and status["safemode"]["on"] is False
    text = run("status").stdout
    node = status["datanodes"][0]["id"]
    assert node in text and "safe mode: off" in text
    assert "Safe mode is ON" in run("safemode", "enter").stdout
    refused = dfs(cli_cluster, "mkdir", "/sm", check=False)
    assert refused.returncode == 1 and "safe mode" in refused.stderr and refused.stderr.count("\n") == 1
    assert "Safe mode is OFF" in run("safemode", "leave").stdout
    assert json.loads(run("--json", "decommission", node).stdout)["admin"] == "decommissioning"
    run("recommission", node)
    assert json.loads(run("--json", "maintenance", "--minutes", "5", node).stdout)["admin"] == "maintenance"
    run("recommission", node)
    assert json.loads(run("--json", "balancer", "status").stdout)["state"] in ("idle", "done", "stopped")


def test_address_from_flag_environment_or_config_file(cli_cluster, tmp_path):
    config = tmp_path / "dfs.toml"
    config.write_text(f'namenode = "{cli_cluster.namenode_url}"\n')
    from_file = dfs(None, "ls", "/", env=environment(None, DFS_CONFIG=str(config)))
    assert from_file.returncode == 0
    flag = dfs(None, "--namenode", cli_cluster.namenode_url, "ls", "/",
               env=environment(None, DFS_NAMENODE_URL="http://127.0.0.1:1"))
    assert flag.returncode == 0
    wrong = dfs(None, "ls", "/", env=environment(None, DFS_NAMENODE_URL="http://127.0.0.1:1"), check=False)
    assert wrong.returncode == 1 and wrong.stderr.startswith("dfs: ls: ") and wrong.stderr.count("\n") == 1
    broken = tmp_path / "broken.toml"
    broken.write_text("namenode = [")
    bad = dfs(None, "ls", "/", env=environment(None, DFS_CONFIG=str(broken)), check=False)
    assert bad.returncode == 1 and "config file" in bad.stderr and bad.stderr.count("\n") == 1


BAD_INPUT = [
    [],
    ["frobnicate"],
    ["ls", "/no/such"],
    ["ls", "-z"],
    ["cat", "/"],
    ["cat", "/no/such"],
    ["put", "/no/such/local/file", "/x"],
    ["put"],
    ["get", "/no/such", "out"],
    ["mkdir", "/bad-parent/child"],
    ["mv", "/no/such", "/x"],
    ["cp", "/no/such", "/x"],
    ["rm", "/no/such"],
    ["rm", "/"],
    ["du", "/no/such"],
    ["stat", "/no/such"],
    ["chmod", "9z9", "/"],
    ["chmod", "755", "/no/such"],
    ["chown", ":", "/"],
    ["setrep", "0", "/"],
    ["setrep", "abc", "/"],
    ["storagepolicy", "/", "WARM"],
    ["storagepolicy", "/no/such"],
    ["fsck", "/no/such"],
    ["decommission", "no-such-node"],
    ["recommission", "no-such-node"],
    ["maintenance", "--minutes", "x", "node"],
    ["balancer", "start", "--threshold", "500", "--no-wait"],
    ["safemode", "sideways"],
    ["evict", "/no/such"],
    ["mount", "/no/such/mount/point"],
    ["--namenode", "http://127.0.0.1:1", "df"],
    ["--namenode", "http://127.0.0.1:1", "status"],
]


def test_bad_input_is_one_line_and_a_failing_exit(cli_cluster):
    with ThreadPoolExecutor(6) as pool:  # each run is mostly interpreter start-up
        results = list(pool.map(lambda args: (args, dfs(cli_cluster, *args, check=False)), BAD_INPUT))
    for args, done in results:
        assert done.returncode != 0, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("dfs"), (args, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
