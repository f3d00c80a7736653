"""Mount fixtures: real FUSE mounts, unmounted in teardown, logs printed on failure.

- ``memory_mount``: the driver over the in-memory name node (no cluster needed).
- ``mount`` / ``second_mount``: two mounts of the ``cluster`` fixture (tests/conftest.py), started
  exactly as users do: ``python dfs.py MNT 127.0.0.1 PORT``.
- ``mount_of(cluster)``: the same for a cluster a test made itself.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def unmount(path: Path) -> None:
    for tool in ("fusermount3", "fusermount"):
        if shutil.which(tool) and subprocess.run([tool, "-u", "-z", str(path)], capture_output=True).returncode == 0:
            return


def wait_unmounted(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while os.path.ismount(path) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def memory_mount(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = tmp_path / "memory_mount.log"
    with open(log, "w") as log_file:
        proc = subprocess.Popen([sys.executable, str(HERE / "memory_mount.py"), str(mnt), "-o", "allow_other"],
                                stdout=subprocess.PIPE, stderr=log_file, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "ready", log.read_text()
        try:
            yield mnt
        finally:
            unmount(mnt)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            wait_unmounted(mnt)
            if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
                print("---- memory mount log ----\n" + log.read_text())


def _dfs_mount(cluster, base: Path, logs: Path, name: str,  # type: ignore[no-untyped-def]
               extra: list[str]) -> Iterator[Path]:
    mnt = base / name
    mnt.mkdir()
    log = logs / f"{name}.log"
    command = [sys.executable, str(REPO / "dfs.py"), str(mnt), "127.0.0.1", str(cluster.namenode_port),
               "--log", str(log), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=cluster.mount_env())
    assert done.returncode == 0, f"{command}: {done.stderr}"
    assert os.path.ismount(mnt)
    try:
        yield mnt
    finally:
        unmount(mnt)
        wait_unmounted(mnt)
        if log.exists() and log.stat().st_size:
            print(f"---- {name} log ----\n" + log.read_text()[-20000:])


@pytest.fixture
def mount_base() -> Iterator[Path]:
    """Where mount points go: a folder other users can search (pytest's tmp_path is root-only), so
    the non-root tests reach the mount as they would on a real machine."""
    base = Path(tempfile.mkdtemp(prefix="dfs-mounts-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mount(cluster, mount_base: Path, tmp_path: Path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    yield from _dfs_mount(cluster, mount_base, tmp_path, "mnt1", ["-o", "allow_other"])


@pytest.fixture
def mount_of(mount_base: Path, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``mount_of(cluster)`` -> a mount of that cluster, unmounted at the end of the test."""
    with ExitStack() as stack:
        def make(cluster, name: str = "own", extra: list[str] | None = None) -> Path:  # type: ignore[no-untyped-def]
            return stack.enter_context(contextmanager(_dfs_mount)(cluster, mount_base, tmp_path, name, extra or []))
        yield make


@pytest.fixture
def second_mount(cluster, mount: Path, mount_base: Path,  # type: ignore[no-untyped-def]
                 tmp_path: Path) -> Iterator[Path]:
    yield from _dfs_mount(cluster, mount_base, tmp_path, "mnt2", ["-o", "allow_other"])


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
