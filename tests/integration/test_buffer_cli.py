"""``dfs buffer`` from the shell: create, post, stat --json (the seed's fields), list, log,
freeze (refused below the threshold: one line, exit 1), release."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cluster import REPO, Cluster


def dfs(cluster: Cluster, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    token = ["--token", cluster.token] if cluster.token else []
    command = [sys.executable, "-m", "dfs_cli", "--namenode", cluster.namenode_url, "--user", "root", *token, *args]
    return subprocess.run(command, cwd=REPO, input=stdin.decode() if stdin else None, capture_output=True,
                          text=True, timeout=120)


def test_buffer_command(cluster: Cluster, unique_path: str, tmp_path: Path) -> None:
    buffer = unique_path + "/buf"
    created = dfs(cluster, "buffer", "create", buffer, "--max-bytes", "20")
    assert created.returncode == 0 and "OPERATIONAL, 0 records, 0 of 20 bytes" in created.stdout, created
    record = tmp_path / "event.json"
    record.write_text('{"gps": 1}')
    posted = dfs(cluster, "buffer", "post", buffer, str(record))
    assert posted.returncode == 0 and posted.stdout.strip().endswith("Z.json"), posted
    assert dfs(cluster, "buffer", "post", buffer, "-", stdin=b"12345").returncode == 0

    stat = dfs(cluster, "buffer", "stat", buffer, "--json")
    assert stat.returncode == 0, stat
    fields = json.loads(stat.stdout)
    assert (fields["n_itm"], fields["buff_size"], fields["dstatus"]) == (2, 15, "OPERATIONAL")

    refused = dfs(cluster, "buffer", "freeze", buffer)
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "below the threshold" in refused.stderr

    listing = dfs(cluster, "buffer", "list", buffer).stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["10", "5"] and listing[0].endswith(".json")

    assert dfs(cluster, "buffer", "post", buffer, "-", stdin=b"x" * 5).returncode == 0
    frozen = dfs(cluster, "buffer", "freeze", buffer)
    assert frozen.returncode == 0 and "FROZEN" in frozen.stdout and "frozen by root" in frozen.stdout
    late = dfs(cluster, "buffer", "post", buffer, "-", stdin=b"late")
    assert late.returncode == 1 and "frozen" in late.stderr
    released = dfs(cluster, "buffer", "release", buffer, "--json")
    assert released.returncode == 0, released
    archive = json.loads(released.stdout)["archive"]
    assert archive.startswith(buffer + ".")
    assert json.loads(dfs(cluster, "buffer", "stat", buffer, "--json").stdout)["n_itm"] == 0
    log = dfs(cluster, "buffer", "log", buffer).stdout.splitlines()
    assert [line.split()[3] for line in log] == ["created", "frozen", "released"]
    assert dfs(cluster, "buffer", "stat", unique_path).returncode == 1  # not a buffer
