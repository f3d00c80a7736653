"""Fixtures of the ecosystem tests (fsspec, ProxyStore, encryption): clients of the shared cluster."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from dfs_client import HttpNameNode, Transport
from tests.cluster import Cluster


class RecordingTransport(Transport):
    """A real ``Transport`` that also remembers every request it sent (method, URL, query) and the
    most block GETs it had in flight at once: how a test sees where bytes came from."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_in_flight = 0

    def call(self, method: str, url: str, query: str = "", json_body: Any = None, **options: Any) -> Any:
        with self._lock:
            self.sent.append((method, url, query))
        return super().call(method, url, query, json_body, **options)

    def request(self, method: str, url: str, **options: Any) -> Any:
        with self._lock:
            self.sent.append((method, url, str(options.get("params") or "")))
        return super().request(method, url, **options)

    def get(self, url: str, headers: Any = None, expect: Any = (200,)) -> Any:
        transport = self
        inner = super().get(url, headers, expect)

        class Counted:
            def __enter__(self) -> Any:
                with transport._lock:
                    transport.sent.append(("GET", url, ""))
                    transport._in_flight += 1
                    transport.most_in_flight = max(transport.most_in_flight, transport._in_flight)
                try:
                    return inner.__enter__()
                except BaseException:
                    with transport._lock:
                        transport._in_flight -= 1
                    raise

            def __exit__(self, *exc: Any) -> Any:
                with transport._lock:
                    transport._in_flight -= 1
                return inner.__exit__(*exc)

        return Counted()


def client_options(cluster: Cluster) -> dict[str, Any]:
    """What a client of ``cluster`` must be given besides the address (a token when secured)."""
    token = getattr(cluster, "token", None)
    return {"token": token} if token else {}


@pytest.fixture
def recording_client(cluster: Cluster) -> Any:
    transport = RecordingTransport()
    client = HttpNameNode(cluster.namenode_url, transport=transport, **client_options(cluster))
    try:
        yield client
    finally:
        client.close()
