"""Write pipelines between data nodes served on real loopback ports."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import requests

from dfs_common.blocks import checksum
from dfs_common.errors import NoSpace
from dfs_common.web import error_response

BLOCK = "00000000000000c3"
DATA = b"pipeline bytes " * 3000  # 45000 bytes


def dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def put(url: str, data: Any, pipeline: list[str], block_id: str = BLOCK, digest: str | None = None) -> Any:
    return requests.put(f"{url}/blocks/{block_id}", data=data, timeout=30,
                        headers={"X-DFS-Checksum": digest or checksum(DATA),
                                 "X-DFS-Pipeline": ",".join(pipeline)})


def test_three_node_pipeline_stores_everywhere_and_confirms_each(live_nodes: Any, namenode: Any) -> None:
    (a, sa), (b, sb), (c, sc) = live_nodes(3)
    response = put(sa.url, DATA, [sb.url, sc.url])
    assert response.status_code == 201, response.text
    assert response.json()["stored"] == [a.node_id, b.node_id, c.node_id]
    assert sorted(namenode.holders(BLOCK)) == sorted([a.node_id, b.node_id, c.node_id])
    for served in (sa, sb, sc):
        got = requests.get(f"{served.url}/blocks/{BLOCK}", timeout=10)
        assert got.content == DATA and got.headers["X-DFS-Checksum"] == checksum(DATA)


def test_chunked_upload_is_accepted(live_nodes: Any) -> None:
    (a, sa), (b, sb) = live_nodes(2)

    def chunks() -> Iterator[bytes]:
        for at in range(0, len(DATA), 7000):
            yield DATA[at: at + 7000]

    response = put(sa.url, chunks(), [sb.url])
    assert response.status_code == 201, response.text
    assert b.root.info(BLOCK).length == len(DATA)


def test_chunked_upload_over_the_limit_is_413_and_nothing_is_kept(live_nodes: Any) -> None:
    ((a, sa),) = live_nodes(1)

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"z" * 4096

    response = put(sa.url, chunks(), [], digest="0123456789abcdef")
    assert response.status_code == 413
    assert a.root.count() == 0


def test_dead_downstream_is_502_naming_it_and_no_copy_is_left(live_nodes: Any, namenode: Any) -> None:
    (a, sa), (b, sb) = live_nodes(2)
    dead = dead_url()
    response = put(sa.url, DATA, [sb.url, dead])
    assert response.status_code == 502
    remote = response.json()["RemoteException"]
    assert remote["failed"] == dead
    assert not a.root.exists(BLOCK) and not b.root.exists(BLOCK)
    assert namenode.holders(BLOCK) == []


def test_first_hop_failure_names_the_first_hop(live_nodes: Any) -> None:
    ((a, sa),) = live_nodes(1)
    dead = dead_url()
    response = put(sa.url, DATA, [dead, "http://127.0.0.1:9"])
    assert response.status_code == 502 and response.json()["RemoteException"]["failed"] == dead
    assert not a.root.exists(BLOCK)


def test_downstream_refusal_is_reported_as_that_node(live_nodes: Any, serve_app: Any) -> None:
    (a, sa), (b, sb) = live_nodes(2)
    full = serve_app(lambda environ, start_response: error_response(NoSpace("disk full"))(environ, start_response))
    response = put(sa.url, DATA, [sb.url, full.url])
    assert response.status_code == 502
    assert response.json()["RemoteException"]["failed"] == full.url
    assert not a.root.exists(BLOCK) and not b.root.exists(BLOCK)


def test_a_pipeline_entry_that_is_not_http_is_400_before_anything_is_stored(live_nodes: Any) -> None:
    ((a, sa),) = live_nodes(1)
    assert put(sa.url, DATA, ["ftp://example.org"]).status_code == 400
    assert not a.root.exists(BLOCK)


def test_replicate_pushes_a_local_block_down_a_fresh_pipeline(live_nodes: Any, namenode: Any) -> None:
    (a, sa), (b, sb), (c, sc) = live_nodes(3)
    assert put(sa.url, DATA, []).status_code == 201
    stored = a.blocks.replicate(BLOCK, [sb.url, sc.url])
    assert stored == [b.node_id, c.node_id]
    assert c.root.info(BLOCK).checksum == checksum(DATA)
