"""The Dockerfile and its entry point, checked without building: instructions parsed, and the entry
point script run with a stub `python` to see what it hands the server."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO, run

ENTRYPOINT = REPO / "docker" / "entrypoint.sh"


@dataclass
class Instruction:
    keyword: str
    arguments: str
    stage: int


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped; stage counts FROMs."""
    instructions: list[Instruction] = []
    pending = ""
    stage = -1
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, arguments.strip(), stage))
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


@pytest.fixture(scope="module")
def final_stage() -> list[Instruction]:
    instructions = parse_dockerfile(REPO / "Dockerfile")
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.arguments):
                key, _, value = word.partition("=")
                values[key] = value
    return values


def test_every_stage_is_python_slim() -> None:
    froms = [i.arguments.split()[0] for i in parse_dockerfile(REPO / "Dockerfile") if i.keyword == "FROM"]
    assert froms and all(image == "python:3.11-slim" for image in froms)


def test_final_stage_installs_fuse_and_the_project(final_stage: list[Instruction]) -> None:
    runs = " ".join(i.arguments for i in final_stage if i.keyword == "RUN")
    assert "fuse3" in runs
    copies = [i.arguments for i in final_stage if i.keyword == "COPY"]
    assert any("--from=build" in c for c in copies)
    assert any("docker/entrypoint.sh" in c for c in copies)
    build_runs = " ".join(i.arguments for i in parse_dockerfile(REPO / "Dockerfile") if i.keyword == "RUN" and i.stage == 0)
    assert "pip install ." in build_runs


def test_runs_as_a_non_root_user(final_stage: list[Instruction]) -> None:
    user = only(final_stage, "USER").arguments.split(":")[0]
    assert user not in ("root", "0", "")


def test_healthcheck_asks_ping_alive_on_the_node_port(final_stage: list[Instruction]) -> None:
    healthcheck = only(final_stage, "HEALTHCHECK").arguments
    assert " CMD " in f" {healthcheck} "
    assert "/ping_alive" in healthcheck and "DFS_PORT" in healthcheck and "python" in healthcheck


def test_healthcheck_command_works(final_stage: list[Instruction], tmp_path: Path) -> None:
    """The one-liner itself: against nothing it fails, against a server answering /ping_alive it passes."""
    import http.server
    import threading

    command = only(final_stage, "HEALTHCHECK").arguments.split(" CMD ", 1)[1]

    class Alive(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"alive": true}' if self.path == "/ping_alive" else b"{}"
            self.send_response(200 if self.path == "/ping_alive" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Alive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = str(server.server_address[1])
        env = {"PATH": os.environ["PATH"], "DFS_PORT": port}
        assert run(["/bin/sh", "-c", command], env=env, check=False).returncode == 0
        env["DFS_PORT"] = str(free_port())
        assert run(["/bin/sh", "-c", command], env=env, check=False).returncode != 0
    finally:
        server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_data_volume_ports_and_defaults(final_stage: list[Instruction]) -> None:
    volume = only(final_stage, "VOLUME").arguments
    assert volume.strip("[]\" ") == "/data"
    assert set(only(final_stage, "EXPOSE").arguments.split()) == {"8180", "8181"}
    env = env_of(final_stage)
    assert env["DFS_DB_PATH"] == "/data/name"
    assert env["DFS_FS_ROOT"] == "/data/blocks"
    assert env["DFS_HOST"] == "0.0.0.0"
    assert env["DFS_NODE_CLASS"] == "name_node.NameNode"
    assert env["DFS_NAMENODE_URL"] == "http://name:8180"
    assert "DFS_PORT" not in env  # each kind keeps its own default port
    assert "DFS_ADVERTISE_HOST" not in env  # the entry point fills it in


def test_entrypoint_and_default_command(final_stage: list[Instruction]) -> None:
    entrypoint = json.loads(only(final_stage, "ENTRYPOINT").arguments)
    copy = [i.arguments.split() for i in final_stage if i.keyword == "COPY" and "docker/entrypoint.sh" in i.arguments]
    assert entrypoint == [copy[0][-1]]
    assert json.loads(only(final_stage, "CMD").arguments) == ["python", "-m", "server"]


def test_dockerignore_keeps_what_the_build_needs() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "data", "tests"} <= ignored
    for needed in ("pyproject.toml", "server.py", "dfs.py", "dfs_common", "dfs_client", "name_node",
                   "data_node", "dfs_fuse", "docker", "docker/entrypoint.sh"):
        assert needed not in ignored


# --- the entry point script, with a stub python that reports what it was given ---------------------

@pytest.fixture
def stub_python(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    report = tmp_path / "report.json"
    stub = bin_dir / "python"
    stub.write_text(f"""#!{shutil.which('python3') or '/usr/bin/python3'}
import json, os, sys
json.dump({{"argv": sys.argv[1:], "advertise": os.environ.get("DFS_ADVERTISE_HOST"),
           "secret": os.environ.get("DFS_SECRET"), "token": os.environ.get("DFS_ADMIN_TOKEN"),
           "files": sorted(k for k in os.environ if k.endswith("_FILE"))}}, open({str(report)!r}, "w"))
""")
    stub.chmod(0o755)
    return bin_dir, report


def run_entrypoint(bin_dir: Path, *args: str, prefix: tuple[str, ...] = (), **env: str) -> None:
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", **env}
    run([*prefix, "/bin/sh", str(ENTRYPOINT), *args], env=environment)


def test_entrypoint_sets_advertise_host_from_hostname(stub_python: tuple[Path, Path]) -> None:
    bin_dir, report = stub_python
    run_entrypoint(bin_dir)
    result = json.loads(report.read_text())
    assert result == {"argv": ["-m", "server"], "advertise": socket.gethostname(), "secret": None, "token": None,
                      "files": []}


def test_entrypoint_uses_the_containers_hostname(stub_python: tuple[Path, Path]) -> None:
    """In a UTS namespace of its own (as in a container) the hostname is the container's."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private hostname")
    bin_dir, report = stub_python
    run(["unshare", "--uts", "/bin/sh", "-c", f"hostname 3f2a1b0c9d8e && exec /bin/sh {ENTRYPOINT}"],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin:/usr/sbin:/sbin"})
    assert json.loads(report.read_text())["advertise"] == "3f2a1b0c9d8e"


def test_entrypoint_keeps_a_given_advertise_host(stub_python: tuple[Path, Path]) -> None:
    bin_dir, report = stub_python
    run_entrypoint(bin_dir, DFS_ADVERTISE_HOST="dn1.example.org")
    assert json.loads(report.read_text())["advertise"] == "dn1.example.org"


def test_entrypoint_runs_another_command_instead(stub_python: tuple[Path, Path]) -> None:
    bin_dir, report = stub_python
    run_entrypoint(bin_dir, "python", "-m", "dfs", "/mnt", "name", "8180")
    assert json.loads(report.read_text())["argv"] == ["-m", "dfs", "/mnt", "name", "8180"]


def test_entrypoint_is_posix_sh_and_executable() -> None:
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh")
    assert os.access(ENTRYPOINT, os.X_OK)
    run(["/bin/sh", "-n", str(ENTRYPOINT)])


def test_entrypoint_starts_a_node_the_healthcheck_accepts(final_stage: list[Instruction], tmp_path: Path) -> None:
    """The container's start-up path for real, minus the container: the image's ENV (paths moved
    under tmp), the entry point, `python -m server` run from another directory, then HEALTHCHECK."""
    import subprocess
    import sys
    import time

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "python"  # the image's `python`: this interpreter, with the repository importable
    wrapper.write_text(f'#!/bin/sh\nexport PYTHONPATH={shlex.quote(str(REPO))}\nexec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    image_env = {k: v for k, v in env_of(final_stage).items() if k.startswith("DFS_")}
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), **image_env}
    env.update(DFS_DB_PATH=str(tmp_path / "data" / "name"), DFS_FS_ROOT=str(tmp_path / "data" / "blocks"),
               DFS_HOST="127.0.0.1", DFS_PORT=str(free_port()))
    command = only(final_stage, "HEALTHCHECK").arguments.split(" CMD ", 1)[1]
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        node = subprocess.Popen(["/bin/sh", str(ENTRYPOINT)], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert node.poll() is None, f"the node exited {node.returncode}:\n{log.read_text()}"
            if run(["/bin/sh", "-c", command], env=env, check=False).returncode == 0:
                break
            assert time.monotonic() < deadline, f"HEALTHCHECK never passed:\n{log.read_text()}"
            time.sleep(0.2)
    finally:
        node.terminate()
        try:
            node.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()


def test_entrypoint_reads_the_secret_and_the_admin_token_from_files(stub_python: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    """Docker and Kubernetes secrets are files: *_FILE names them, the node gets the value."""
    (tmp_path / "secret").write_text("from-a-docker-secret-0123456789\n")
    (tmp_path / "token").write_text("admin-token-from-a-file-0123456789")
    bin_dir, report = stub_python
    run_entrypoint(bin_dir, DFS_SECRET_FILE=str(tmp_path / "secret"), DFS_ADMIN_TOKEN_FILE=str(tmp_path / "token"))
    result = json.loads(report.read_text())
    assert result["secret"] == "from-a-docker-secret-0123456789"
    assert result["token"] == "admin-token-from-a-file-0123456789" and result["files"] == []


def test_entrypoint_refuses_an_unreadable_secret_file(stub_python: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, report = stub_python
    result = subprocess.run(["/bin/sh", str(ENTRYPOINT)], env={"PATH": f"{bin_dir}:/usr/bin:/bin",
                            "DFS_SECRET_FILE": str(tmp_path / "missing")}, capture_output=True, text=True)
    assert result.returncode == 2 and "DFS_SECRET_FILE" in result.stderr and not report.exists()
