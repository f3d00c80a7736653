"""Fixtures for the data node's unit tests: a fake name node and data nodes served in threads."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from data_node import DataNode
from dfs_common.settings import DATA_NODE_CLASS, Settings


@dataclass
class FakeNameNode:
    """Records what data nodes tell it; answers with whatever a test queues."""

    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    bad_blocks: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    delete_on_report: list[str] = field(default_factory=list)
    ask_report: bool = False
    dead: list[str] = field(default_factory=list)  # what heartbeat answers call dead
    url: str = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = json.loads(request.get_data() or b"{}")
        name = request.path.rsplit("/", 1)[-1]
        answer: dict[str, Any] = {}
        if name == "heartbeat":
            self.heartbeats.append(body)
            answer = {"commands": self.commands[:], "block_report": self.ask_report, "dead": self.dead[:]}
            self.commands.clear()
            self.ask_report = False
        elif name == "block_received":
            self.received.append(body)
            rejected = [b for b in body["blocks"] if b["blockId"] in self.reject]
            answer = {"rejected": rejected} if rejected else {}
        elif name == "block_report":
            self.reports.append(body)
            answer = {"delete": self.delete_on_report[:]}
        elif name == "bad_block":
            self.bad_blocks.append(body)
        else:
            return Response("{}", status=404)(environ, start_response)
        return Response(json.dumps(answer), mimetype="application/json")(environ, start_response)

    def holders(self, block_id: str) -> list[str]:
        """Nodes confirmed to hold the block (by themselves or by the head of their pipeline)."""
        return [holder for r in self.received for b in r["blocks"] if b["blockId"] == block_id
                for holder in b.get("holders", [r["id"]])]


class Served:
    """A WSGI app on an ephemeral loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def data_settings(root: Path, namenode_url: str, port: int = 8181, **extra: Any) -> Settings:
    values: dict[str, Any] = {"node_class": DATA_NODE_CLASS, "fs_root": str(root), "port": port,
                              "host": "127.0.0.1", "namenode_url": namenode_url,
                              "block_size": 4096, "max_block_size": 64 * 1024, "heartbeat": 0.1}
    values.update(extra)
    return Settings(**values)


@pytest.fixture
def namenode() -> Iterator[FakeNameNode]:
    fake = FakeNameNode()
    served = Served(fake)
    fake.url = served.url
    yield fake
    served.close()


@pytest.fixture
def make_node(tmp_path: Path, namenode: FakeNameNode) -> Iterator[Any]:
    """``make_node(name)`` -> a DataNode on its own root (not served, threads not started)."""
    nodes: list[DataNode] = []

    def make(name: str = "dn", port: int = 8181, **extra: Any) -> DataNode:
        url = extra.pop("namenode_url", namenode.url)
        node = DataNode(data_settings(tmp_path / name, url, port, **extra))
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop()


@pytest.fixture
def live_nodes(tmp_path: Path, namenode: FakeNameNode) -> Iterator[Any]:
    """``live_nodes(n, **settings)`` -> n (DataNode, Served) pairs, each on its own port and root."""
    started: list[tuple[DataNode, Served]] = []

    def make(count: int, **extra: Any) -> list[tuple[DataNode, Served]]:
        for _ in range(count):
            served = Served(lambda environ, start_response: [])
            node = DataNode(data_settings(tmp_path / f"live{len(started)}", namenode.url, served.port,
                                          **extra))
            served.server.app = node
            started.append((node, served))
        return started[-count:]

    yield make
    for node, served in started:
        served.close()
        node.stop()


@pytest.fixture
def serve_app() -> Iterator[Any]:
    """``serve_app(wsgi_app)`` -> a Served on a free loopback port, closed after the test."""
    servers: list[Served] = []

    def serve(app: Any) -> Served:
        servers.append(Served(app))
        return servers[-1]

    yield serve
    for served in servers:
        served.close()
