"""dcc, the compose wrapper: finds a compose, runs the repository's compose file from anywhere,
passes subcommands through, demands DATA_HOST where it matters, and turns `config` into a file
`docker stack deploy` accepts with either compose version.

Compose v1 and v2 are simulated by stub commands that record their arguments; the real v1 runs too.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, base_env, require_tool, run

DCC = REPO / "dcc"
SYSTEM_PATH = "/usr/bin:/bin"

# A v2 `docker compose config` answer in the shape that trips up `docker stack deploy`: a `name`
# key, no `version`, published ports as strings.
V2_CONFIG = """name: dfs
services:
  data:
    deploy:
      mode: global
    environment:
      DFS_PUBLIC_URL: http://192.0.2.10:8181
    image: dfs:latest
    ports:
      - mode: host
        target: 8181
        published: "8181"
        protocol: tcp
  name:
    image: dfs:latest
    ports:
      - mode: ingress
        target: 8180
        published: "8180"
        protocol: tcp
volumes:
  blocks:
    name: dfs_blocks
"""


def write_stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def stub_v1(directory: Path) -> Path:
    log = directory / "calls.log"
    # a docker CLI without the compose plugin, so a real v2 elsewhere on PATH cannot win
    write_stub(directory, "docker", 'echo "docker: unknown command: docker compose" >&2; exit 1\n')
    write_stub(directory, "docker-compose", f'printf "%s\\n" "$@" > {log}\necho "stub v1 $COMPOSE_PROJECT_NAME"\n')
    return log


def stub_v2(directory: Path) -> Path:
    log = directory / "calls.log"
    config = directory / "v2-config.yml"
    config.write_text(V2_CONFIG)
    write_stub(directory, "docker", f"""
[ "$1" = compose ] || exit 1
[ "$2" = version ] && {{ echo "Docker Compose version v2.99.0"; exit 0; }}
printf "%s\\n" "$@" > {log}
for arg in "$@"; do
  [ "$arg" = config ] && {{ cat {config}; exit 0; }}
done
echo "stub v2"
""")
    return log


def dcc(args: list[str], path: str, cwd: Path, **env: str):
    return run(["/bin/bash", str(DCC), *args], env=base_env(PATH=path, **env), cwd=cwd, check=False)


def test_dcc_is_executable() -> None:
    assert os.access(DCC, os.X_OK)
    assert DCC.read_text().startswith("#!/usr/bin/env bash")


@pytest.mark.parametrize("subcommand", ["config", "up", "create", "run", "convert"])
def test_missing_data_host_is_one_clear_error(subcommand: str, stubs: Path, tmp_path: Path) -> None:
    log = stub_v1(stubs)
    result = dcc([subcommand], f"{stubs}:{SYSTEM_PATH}", tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcc: ") and "DATA_HOST" in lines[0]
    assert not log.exists()  # compose never ran


def test_missing_data_host_found_after_global_options(stubs: Path, tmp_path: Path) -> None:
    stub_v1(stubs)
    result = dcc(["-p", "other", "--env-file", "x.env", "up", "-d"], f"{stubs}:{SYSTEM_PATH}", tmp_path)
    assert result.returncode != 0 and "DATA_HOST" in result.stderr


@pytest.mark.parametrize("args", [["ps"], ["down"], ["logs", "-f", "data"], ["build"]])
def test_other_subcommands_need_no_data_host(args: list[str], stubs: Path, tmp_path: Path) -> None:
    log = stub_v1(stubs)
    result = dcc(args, f"{stubs}:{SYSTEM_PATH}", tmp_path)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[-len(args):] == args


def test_neither_compose_is_one_clear_error(stubs: Path, tmp_path: Path) -> None:
    result = dcc(["ps"], str(stubs), tmp_path, DATA_HOST="192.0.2.10")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcc: ")
    assert "docker compose" in lines[0] and "docker-compose" in lines[0]


def test_docker_without_compose_plugin_and_no_v1_is_an_error(stubs: Path, tmp_path: Path) -> None:
    write_stub(stubs, "docker", 'echo "docker: unknown command: docker compose" >&2; exit 1\n')
    result = dcc(["config"], str(stubs), tmp_path, DATA_HOST="192.0.2.10")
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "installed" in result.stderr


def test_v1_gets_the_repository_compose_file_and_all_arguments(stubs: Path, tmp_path: Path) -> None:
    log = stub_v1(stubs)
    result = dcc(["up", "-d", "--build"], f"{stubs}:{SYSTEM_PATH}", tmp_path, DATA_HOST="192.0.2.10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stub v1 dfs"  # project name defaults to dfs
    calls = log.read_text().splitlines()
    assert calls == ["--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"), "up", "-d", "--build"]


def test_v2_preferred_over_v1(stubs: Path, tmp_path: Path) -> None:
    stub_v1(stubs)
    (stubs / "calls.log").unlink(missing_ok=True)
    log = stub_v2(stubs)
    result = dcc(["ps", "-a"], f"{stubs}:{SYSTEM_PATH}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stub v2"
    assert log.read_text().splitlines() == ["compose", "--project-directory", str(REPO), "-f",
                                            str(REPO / "docker-compose.yml"), "ps", "-a"]


def test_v2_config_is_rewritten_for_docker_stack(stubs: Path, tmp_path: Path) -> None:
    stub_v2(stubs)
    result = dcc(["config"], f"{stubs}:{SYSTEM_PATH}", tmp_path, DATA_HOST="192.0.2.10")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert "name" not in config
    assert str(config["version"]).startswith("3")
    assert config["services"]["data"]["ports"][0]["published"] == 8181
    assert config["services"]["name"]["ports"][0]["published"] == 8180
    assert config["volumes"]["blocks"]["name"] == "dfs_blocks"  # nested name keys stay
    if shutil.which("docker"):
        stack_file = tmp_path / "stack.yml"
        stack_file.write_text(result.stdout)
        run(["docker", "stack", "config", "-c", str(stack_file)], env=base_env())


def test_v2_config_other_formats_pass_untouched(stubs: Path, tmp_path: Path) -> None:
    stub_v2(stubs)
    result = dcc(["config", "--services"], f"{stubs}:{SYSTEM_PATH}", tmp_path, DATA_HOST="192.0.2.10")
    assert result.stdout == V2_CONFIG  # the stub answers the same text; dcc must not rewrite it


def test_real_config_from_another_directory(tmp_path: Path) -> None:
    require_tool("docker-compose")
    result = run([str(DCC), "config"], env=base_env(DATA_HOST="198.51.100.7"), cwd=tmp_path)
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {"name", "data"}
    name, data = config["services"]["name"], config["services"]["data"]
    assert data["deploy"]["mode"] == "global"
    assert data["environment"]["DFS_PUBLIC_URL"] == "http://198.51.100.7:8181"
    assert data["environment"]["DFS_NAMENODE_URL"] == "http://name:8180"
    assert name["healthcheck"]["test"] and data["healthcheck"]["test"]
    assert [p["published"] for p in name["ports"]] == [8180]
    assert [(p["published"], p["mode"]) for p in data["ports"]] == [(8181, "host")]
    assert str(config["version"]).startswith("3") and "name" not in config
    if shutil.which("docker"):  # the swarm stack loader, as `docker stack deploy -c <(dcc config)` uses it
        stack_file = tmp_path / "stack.yml"
        stack_file.write_text(result.stdout)
        run(["docker", "stack", "config", "-c", str(stack_file)], env=base_env())


def test_real_config_through_a_symlink(tmp_path: Path) -> None:
    require_tool("docker-compose")
    link = tmp_path / "dcc"
    link.symlink_to(DCC)
    result = run([str(link), "config"], env=base_env(DATA_HOST="198.51.100.8"), cwd=tmp_path)
    assert "http://198.51.100.8:8181" in result.stdout
