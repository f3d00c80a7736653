"""mypy and ruff, with their configuration in pyproject.toml, as part of the test command: the
types (``FileStatus``, ``NameNodeAPI`` that both clients satisfy) and the lint stay true."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)


def test_mypy_finds_no_type_error() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Success" in result.stdout


def test_ruff_finds_no_lint_error() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
