"""Cluster fixtures shared by every test directory (see tests/cluster.py for the Cluster interface).

- ``cluster``: session-scoped name node + 3 data nodes, shared; tests work under unique paths
  (``unique_path``) and must leave every node running (restart what they kill).
- ``fresh_cluster``: a function-scoped cluster of the default shape, for destructive tests.
- ``make_cluster(datanodes=3, env=None, heartbeat=0.5)``: function-scoped factory for other shapes
  (e.g. 4 data nodes, a small ``DFS_MAX_BLOCK_SIZE``); every cluster it makes is stopped at teardown.

When a test that used any of them fails, the tail of every node's log since the test began is added
to the failure report ("cluster logs" section).
"""
from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster import Cluster  # noqa: E402

_CLUSTERS_KEY = "_dfs_clusters"


def _clusters_of(item: pytest.Item) -> list[Cluster]:
    found: list[Cluster] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Cluster) and value not in found:
            found.append(value)
    for value in getattr(item, _CLUSTERS_KEY, []):
        if value not in found:
            found.append(value)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
    clusters = _clusters_of(item)
    if report.when == "setup":
        for cluster in clusters:
            cluster.mark_logs()
    if report.failed and clusters:
        for index, cluster in enumerate(clusters):
            title = "cluster logs" + (f" #{index}" if len(clusters) > 1 else "")
            report.sections.append((title, cluster.log_tails(80, since_mark=report.when != "setup")))


def _start(base: Path, **options: Any) -> Cluster:
    return Cluster(base, **options).start()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    shared = _start(tmp_path_factory.mktemp("cluster"))
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def make_cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(datanodes: int = 3, env: dict[str, str] | None = None, heartbeat: float = 0.5,
             **options: Any) -> Cluster:
        new = Cluster(tmp_path_factory.mktemp("fresh"), datanodes=datanodes, env=env, heartbeat=heartbeat,
                      **options)
        made.append(new)
        setattr(request.node, _CLUSTERS_KEY, made)
        new.start()
        new.mark_logs()
        return new

    try:
        yield make
    finally:
        for one in made:
            one.stop()


@pytest.fixture
def fresh_cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    return make_cluster()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3 server (SeaweedFS, tests/s3server.py) shared by the session; tests use their own
    bucket or prefix and must leave it running (one that stops it uses its own ``S3Server``)."""
    from tests.s3server import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    try:
        yield server
    finally:
        server.stop(kill=True)


@pytest.fixture
def unique_path() -> str:
    """A fresh absolute directory name for one test on the shared cluster (not created)."""
    return f"/t-{uuid.uuid4().hex[:12]}"
