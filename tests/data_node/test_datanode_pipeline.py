"""Write pipelines between data nodes served on real loopback ports."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dfs_common.blocks import checksum
from dfs_common.errors import NoSpace
from dfs_common.web import error_response
from tests.cluster import web

BLOCK = "00000000000000c3"
DATA = b"pipeline bytes " * 3000  # 45000 bytes
BIG_LIMIT = 8 * 1024 * 1024  # for blocks of several relay chunks


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


def test_three_node_pipeline_stores_everywhere_and_the_head_confirms_all_at_once(live_nodes: Any,
                                                                                 namenode: Any) -> None:
    (a, sa), (b, sb), (c, sc) = live_nodes(3)
    response = put(sa.url, DATA, [sb.url, sc.url])
    assert response.status_code == 201, response.text
    assert response.json()["stored"] == [a.node_id, b.node_id, c.node_id]
    assert sorted(namenode.holders(BLOCK)) == sorted([a.node_id, b.node_id, c.node_id])
    assert [r["id"] for r in namenode.received] == [a.node_id]  # one name-node call per block
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


def test_a_bad_checksum_at_the_head_is_400_and_no_node_keeps_anything(live_nodes: Any, namenode: Any) -> None:
    (a, sa), (b, sb), (c, sc) = live_nodes(3)
    response = put(sa.url, DATA, [sb.url, sc.url], digest="0123456789abcdef")
    assert response.status_code == 400, response.text
    assert response.json()["RemoteException"]["exception"] == "ChecksumException"
    for node in (a, b, c):
        assert node.root.count() == 0
    assert namenode.holders(BLOCK) == []


def test_an_upstream_that_dies_mid_body_leaves_nothing_downstream(live_nodes: Any, namenode: Any,
                                                                 monkeypatch: Any) -> None:
    """Cut-through: the head is already forwarding when its client vanishes; the downstream must
    see a cut body, not a short block."""
    (a, sa), (b, sb) = live_nodes(2, max_block_size=BIG_LIMIT)
    outcomes: list[str] = []
    for node in (a, b):
        monkeypatch.setattr(node.root, "store", _recording(node.root.store, outcomes))
    big = b"x" * (3 * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", sa.port)) as sock:
        sock.sendall((f"PUT /blocks/{BLOCK} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(big)}\r\n"
                      f"X-DFS-Checksum: {checksum(big)}\r\nX-DFS-Pipeline: {sb.url}\r\n\r\n").encode())
        sock.sendall(big[: 2 * 1024 * 1024])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(outcomes) < 2:
        time.sleep(0.02)
    assert outcomes == ["failed", "failed"]
    assert a.root.count() == 0 and b.root.count() == 0
    assert not [p for node in (a, b) for p in Path(node.root.path).rglob(".tmp-*")]
    assert namenode.holders(BLOCK) == []


def _recording(store: Any, outcomes: list[str]) -> Any:
    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            info = store(*args, **kwargs)
        except BaseException:
            outcomes.append("failed")
            raise
        outcomes.append("stored")
        return info
    return recorded


def test_the_pipeline_receives_in_parallel(live_nodes: Any, namenode: Any) -> None:
    """Each node confirms while its downstream is still working: every confirmation arrives
    before the head answers, and all of them stand."""
    nodes = live_nodes(3, max_block_size=BIG_LIMIT)
    (a, sa), (b, sb), (c, sc) = nodes
    big = bytes(range(256)) * (4 * 4096)  # 4 MiB: several relay chunks
    response = put(sa.url, big, [sb.url, sc.url], digest=checksum(big))
    assert response.status_code == 201, response.text
    assert response.json()["stored"] == [a.node_id, b.node_id, c.node_id]
    assert sorted(namenode.holders(BLOCK)) == sorted([a.node_id, b.node_id, c.node_id])
    for node, _ in nodes:
        assert node.root.info(BLOCK).checksum == checksum(big)



# -- pipeline headers a data node must refuse at once (real processes) ---------------------------

def _bad_pipelines(node_urls: list[str]) -> dict[str, list[str]]:
    me, other = node_urls[0], node_urls[1]
    return {
        "itself 32 times": [me] * 32,
        "itself once": [other, me],
        "itself by another spelling": [me.replace("127.0.0.1", "localhost")],
        "a duplicate": [other, other],
        "too many nodes": [f"http://127.0.0.2:{port}" for port in range(1000, 1040)],
        "an unclosed IPv6 host": ["http://[::1"],
        "a port out of range": ["http://127.0.0.1:99999"],
    }


@pytest.mark.timeout(180)
def test_a_bad_pipeline_header_is_400_at_once_and_the_node_keeps_serving(cluster: Any) -> None:
    """A header naming the node itself (32 times held every worker thread for a minute), a
    duplicate, too many nodes or a malformed URL is refused before a byte is stored, even on a
    URL signed for it (a node's own mistake: tests/integration/test_signed_urls.py has the
    unsigned ones)."""
    head = cluster.datanodes[0]
    urls = [node.url for node in cluster.datanodes]
    for number, (case, pipeline) in enumerate(_bad_pipelines(urls).items()):
        block_id = f"{0xbad0000 + number:016x}"
        response = web.put(f"{head.url}/blocks/{block_id}", data=DATA, timeout=20,
                                headers={"X-DFS-Checksum": checksum(DATA),
                                         "X-DFS-Pipeline": ",".join(pipeline)})
        assert response.status_code == 400, (case, response.status_code, response.text[:300])
        remote = response.json()["RemoteException"]
        assert remote["exception"] == "IllegalArgumentException", (case, remote)
        assert "X-DFS-Pipeline" in remote["message"], (case, remote)
        assert block_id not in head.block_files(), case
        assert requests.get(f"{head.url}/ping_alive", timeout=10).status_code == 200, case


def test_a_pipeline_that_loops_back_under_an_unknown_alias_fails_at_the_second_visit(live_nodes: Any) -> None:
    """A name for this node it cannot recognise (a DNS alias): the block id already in flight
    here stops the loop at once instead of one held thread per hop."""
    ((a, sa),) = live_nodes(1)
    a.blocks.pipelines._own.clear()  # as if sa.url were an alias this node does not know
    response = put(sa.url, DATA, [sa.url])
    assert response.status_code == 502, response.text
    assert "loops back" in response.json()["RemoteException"]["message"]
    assert not a.root.exists(BLOCK)


def test_a_forward_to_a_node_the_name_node_declares_dead_is_cut_at_once(live_nodes: Any,
                                                                       namenode: Any) -> None:
    """A hung downstream (it accepts connections and never answers) held the head for the read
    timeout (55 s); the heartbeat answer that calls it dead now cuts the forward."""
    ((a, sa),) = live_nodes(1)
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # the kernel completes handshakes and buffers bytes; nobody reads them
        hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        namenode.dead = [hung_url]

        def heartbeat_soon() -> None:
            time.sleep(1.0)
            a.reporter.heartbeat_once()

        threading.Thread(target=heartbeat_soon, daemon=True).start()
        started = time.monotonic()
        response = put(sa.url, DATA, [hung_url])
        took = time.monotonic() - started
    assert response.status_code == 502, response.text
    assert response.json()["RemoteException"]["failed"] == hung_url
    assert took < 20, took
    assert not a.root.exists(BLOCK)
