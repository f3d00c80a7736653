"""Shared helpers of the deployment tests: where the repository is, and tools that may be missing.

These tests need no Docker engine: compose files are checked with `docker-compose config` (and with
`docker stack config`, the swarm loader, when the docker CLI is present), the wrapper `dcc` runs
against stub commands, the Kubernetes manifests and the Dockerfile are parsed, and the multi-host
test builds its network out of Linux network namespaces.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """The tool's path; a missing tool skips the test on a developer's machine but fails in CI,
    where scripts/install.sh --test installs it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (bash scripts/install.sh --test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(command: list[str], *, env: dict[str, str] | None = None, cwd: Path | str | None = None,
        check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; on an unexpected status the failure shows both streams."""
    result = subprocess.run(command, env=env, cwd=cwd, input=input, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"{command} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without the variables the compose file interpolates."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATA_HOST", "DFS_IMAGE", "DFS_REPLICATION", "DFS_HEARTBEAT", "COMPOSE_PROJECT_NAME",
                        "COMPOSE_FILE", "DOCKER_HOST", "DFS_SECRET", "DFS_ADMIN_TOKEN")}
    env.update(DEPLOY_SECRETS)  # the compose file demands both; a test may take them away again
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


DEPLOY_SECRETS = {"DFS_SECRET": "deploy-test-secret-0123456789abcdef", "DFS_ADMIN_TOKEN": "deploy-test-admin-0123456789abcdef"}
