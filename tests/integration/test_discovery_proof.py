"""What a discovered name node must prove before a data node or a mount trusts it: the answer to a
fresh nonce under the cluster secret (``dfs_common.discovery.prove``), against the real name node and
against an impostor that announces itself and answers anything."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dfs_common import discovery
from tests.cluster import SECRET, Cluster


class Impostor(BaseHTTPRequestHandler):
    """Answers every identify request 200 with a made-up proof (it does not know the secret)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"proof": "0" * 64}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_cluster_name_node_proves_the_secret_and_others_do_not(cluster: Cluster, impostor: str) -> None:
    assert discovery.prove(cluster.namenode_url, SECRET)
    assert not discovery.prove(cluster.namenode_url, "another cluster's secret, 32 characters")  # 401
    assert not discovery.prove(impostor, SECRET)  # 200, but no proof
    assert discovery.prove(impostor, "")  # an insecure finder takes the first that answers, as documented
