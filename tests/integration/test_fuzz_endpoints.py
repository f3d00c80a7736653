"""Fuzzing every endpoint of both node kinds with hypothesis, against clusters of the tests' own.

Routes come from the apps' own tables (``name_node.app.OPERATIONS``/``ROUTES``, ``data_node.app.URL_MAP``),
so a new endpoint is fuzzed without touching this file. For every request:

- the answer is a success (2xx/3xx) or a 4xx whose body is a RemoteException; a 5xx only where it is
  a documented retriable state (``ALLOWED_5XX``);
- it comes within a socket timeout (no hang), and the node answers ``/ping_alive`` afterwards;
and for every test: no node logged an unexpected error or restarted its worker, and nothing was
written outside a storage root, the namespace directory or the logs (the cluster's directory tree
is checked file by file, the places an escaping path would land are checked for fuzzed names).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from data_node.app import URL_MAP
from dfs_common.blocks import checksum as block_checksum
from name_node.app import OPERATIONS, ROUTES
from tests.cluster import REPO, Cluster
from tests.integration.fuzzing import (FIXTURE_PATHS, FZ, MARK, METHODS, PARAM_NAMES, WEBHDFS_BODIES, assert_serving,
                                       bad_users, block_ids, check_answer, check_raw_answers, dumps, exchange,
                                       header_safe, internal_bodies, json_body, mostly, params_strategy, pipelines,
                                       query, raw_requests, segment, send, text)

# Lines that mean a node failed a request or lost its worker (the 500 paths of answer() and gunicorn).
BAD_LOG_LINES = re.compile(r"unexpected error on|Error handling request|WORKER TIMEOUT|Worker exiting|"
                           r"Booting worker")

# -- what must not change ---------------------------------------------------------------------------

ALLOWED_FILES = re.compile(r"^(name/(data|lock)\.mdb|logs/[a-z0-9]+\.log|data\d+/(node-id|\.tmp-[^/]*|"
                           r"blocks/[0-9a-f]{2}/(\.tmp-)?[0-9a-f]{16}[^/]*|quarantine/[0-9a-f]{16}[^/]*))$")


def stray_places(cluster: Cluster) -> list[Path]:
    """Where a path that escaped a root or the namespace would land."""
    return [Path("/"), Path("/tmp"), Path("/var/tmp"), Path("/etc"), Path.home(), REPO, Path.cwd(),
            cluster.base_dir.parent, cluster.base_dir, *(node.root for node in cluster.nodes()),
            *(node.root / "blocks" for node in cluster.datanodes)]


def marked_entries(cluster: Cluster) -> set[str]:
    found: set[str] = set()
    for place in stray_places(cluster):
        try:
            found.update(str(place / name) for name in os.listdir(place) if MARK in name)
        except OSError:
            pass
    return found


@pytest.fixture
def guarded(request: pytest.FixtureRequest) -> Iterator[Callable[[Cluster], None]]:
    """``guard(cluster)`` once the cluster is up; at teardown: no stray file, no failure in the logs."""
    guarded_clusters: list[tuple[Cluster, set[str]]] = []

    def guard(cluster: Cluster) -> None:
        guarded_clusters.append((cluster, marked_entries(cluster)))

    yield guard
    if getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed:
        return  # the test's own failure is the report
    for cluster, marked_before in guarded_clusters:
        assert_serving(*cluster.nodes())
        for node in cluster.nodes():
            bad = [line for line in node.log_tail(10**6, since_mark=True).splitlines() if BAD_LOG_LINES.search(line)]
            assert not bad, f"{node.name} logged: " + "\n".join(bad[:10])
        outside = [str(path.relative_to(cluster.base_dir)) for path in cluster.base_dir.rglob("*")
                   if path.is_file() and not ALLOWED_FILES.match(str(path.relative_to(cluster.base_dir)))]
        assert not outside, f"files outside a root, the namespace or the logs: {outside[:20]}"
        assert marked_entries(cluster) == marked_before, "a fuzzed name appeared outside the namespace"


FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=False, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


# -- the name node's WebHDFS operations -------------------------------------------------------------

def ensure_fixture_tree(cluster: Cluster) -> None:
    """FZ/d, FZ/f and FZ/l exist again (a fuzzed DELETE or RENAME may have moved them)."""
    nn = cluster.client("root")
    nn.mkdirs(FZ + "/d")
    try:
        nn.get_status(FZ + "/f")
    except OSError:
        nn.tee(FZ + "/f", b"fixture bytes")
    try:
        nn.get_status(FZ + "/l")
    except OSError:
        nn.symlink(FZ + "/f", FZ + "/l")


@st.composite
def webhdfs_requests(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
    op = draw(mostly(st.sampled_from(sorted(OPERATIONS)), text, odds=9))
    method = draw(mostly(st.just(OPERATIONS.get(op, "GET")), st.sampled_from(METHODS), odds=9))
    spelled = draw(mostly(st.just(op), st.sampled_from([op.lower(), op.title()])))
    where = draw(mostly(st.sampled_from(FIXTURE_PATHS),
                        st.lists(segment, min_size=1, max_size=4).map(lambda parts: FZ + "/" + "/".join(parts))))
    path = quote(where, safe="/%" if draw(st.booleans()) else "/")
    params = draw(params_strategy())
    params["op"] = spelled
    user = draw(mostly(st.sampled_from(["root", "root", "root", "nobody", None]), bad_users, odds=3))
    if user is not None:
        params["user.name"] = user
    body = None
    if method in ("PUT", "POST"):
        body = draw(st.none() | WEBHDFS_BODIES.get(op.upper(), json_body({})) | st.binary(max_size=256))
    return method, f"/webhdfs/v1{path}?{query(params)}", body


@pytest.mark.timeout(600)
def test_every_name_node_operation_answers_success_or_remote_exception(make_cluster: Any, guarded: Any) -> None:
    cluster: Cluster = make_cluster()
    guarded(cluster)
    ensure_fixture_tree(cluster)
    seen_ops: set[str] = set()

    @settings(FUZZ, max_examples=300)
    @given(request=webhdfs_requests())
    # the defects this test first found, always among the examples
    @example(request=("GET", "/webhdfs/v1/?op=GETFILESTATUS&user.name=a%00b", None))
    @example(request=("POST", f"/webhdfs/v1{FZ}/f?op=TRUNCATE&newlength={10**30}&user.name=root", None))
    @example(request=("PUT", f"/webhdfs/v1{FZ}/d?op=SETTIMES&modificationtimens={2**70}&user.name=root", None))
    @example(request=("POST", f"/webhdfs/v1{FZ}/new?op=COMMIT&user.name=root",
                      dumps({"blocks": [{"blockId": None, "length": 2**70}], "create": True})))
    def fuzz(request: tuple[str, str, bytes | None]) -> None:
        method, target, body = request
        answer = send(cluster.namenode, method, target, {"Content-Type": "application/json"}, body)
        check_answer(answer)
        seen_ops.add(target.rsplit("op=", 1)[-1].split("&")[0].upper())
        ensure_fixture_tree(cluster)

    fuzz()
    assert len(seen_ops & set(OPERATIONS)) >= len(OPERATIONS) // 2, sorted(seen_ops & set(OPERATIONS))


# -- the name node's other routes: /internal/*, /status, /df, /ping_alive, /mkfs ----------------------

@pytest.mark.timeout(600)
def test_every_other_name_node_route_answers_success_or_remote_exception(make_cluster: Any, guarded: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=1)
    guarded(cluster)
    nn = cluster.client("root")
    nn.mkdirs(FZ + "/kept")
    bodies = internal_bodies([node.node_id or "" for node in cluster.datanodes])
    routes = sorted(ROUTES)
    plain_user = {"Authorization": f"Bearer {cluster.token_for('nobody')}"} if cluster.secure else {}

    @st.composite
    def route_requests(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
        known_method, path = draw(st.sampled_from(routes))
        method = known_method if draw(st.integers(0, 4)) else draw(st.sampled_from(METHODS))
        if draw(st.integers(0, 9)) == 0:
            path = draw(st.sampled_from([path + "/" + MARK, path + "%00", "/internal/" + MARK, "/" + MARK]))
        params = draw(st.dictionaries(st.sampled_from(PARAM_NAMES) | text, text, max_size=3))
        # /mkfs empties the namespace: the fuzzer never acts as the superuser (garbage must be refused)
        params = {k: v for k, v in params.items() if k.lower() not in ("user.name", "doas")}
        user = draw(st.none() | st.sampled_from(["nobody", "dr.who"]) | bad_users | text.filter(lambda u: u != "root"))
        if user is not None:
            params["user.name"] = user
        body = draw(bodies.get(path, json_body({}))) if method in ("POST", "PUT") else None
        return method, path + ("?" + query(params) if params else ""), body

    @settings(FUZZ, max_examples=150)
    @given(request=route_requests())
    @example(request=("POST", "/internal/heartbeat", b'{"id": "x", "url": "http://127.0.0.1:1", "capacity": NaN}'))
    @example(request=("POST", "/internal/heartbeat", b'{"id": "x", "url": "http://127.0.0.1:1", "used": 1e400}'))
    @example(request=("POST", "/internal/heartbeat", b'{"id": "x", "url": "http://[::1"}'))
    @example(request=("POST", "/mkfs?user.name=a%00b", None))
    def fuzz(request: tuple[str, str, bytes | None]) -> None:
        method, target, body = request
        check_answer(send(cluster.namenode, method, target, {"Content-Type": "application/json", **plain_user}, body))

    fuzz()
    assert nn.ls(FZ) == ["kept"], "a refused /mkfs must leave the namespace alone"
    cluster.wait_ready()  # the real data node is still a member in good standing


# -- the data nodes: every rule of URL_MAP, block ids, headers, pipelines, WebHDFS ------------------

@pytest.mark.timeout(600)
def test_every_data_node_route_answers_success_or_remote_exception(make_cluster: Any, guarded: Any) -> None:
    cluster: Cluster = make_cluster()
    guarded(cluster)
    nn = cluster.client("root")
    nn.mkdirs(FZ + "/d")
    nn.tee(FZ + "/f", b"fixture bytes " * 100)
    kept = FZ + "/kept"  # a file the fuzzer never names (FZ/f it may legitimately APPEND to)
    nn.tee(kept, b"kept bytes " * 100)
    stored = [location["blockId"] for path in (FZ + "/f", kept)
              for location in nn.block_locations(path)["BlockLocation"]]
    replicas = {block_id: next(node.block_path(block_id).read_bytes() for node in cluster.datanodes
                               if node.block_path(block_id).exists()) for block_id in stored}
    rules = [rule for rule in URL_MAP.iter_rules()]
    address = cluster.namenode_url.removeprefix("http://")

    @st.composite
    def data_requests(draw: st.DrawFn) -> tuple[int, str, str, dict[str, str], bytes | None]:
        index = draw(st.integers(0, len(cluster.datanodes) - 1))
        node = cluster.datanodes[index]
        rule = draw(st.sampled_from(rules))
        method = draw(st.sampled_from(sorted(rule.methods or ["GET"]))) if draw(st.integers(0, 4)) \
            else draw(st.sampled_from(METHODS))
        path = rule.rule
        for name in sorted(rule.arguments):
            if name == "block_id":
                value = draw(mostly(st.sampled_from(stored) | block_ids, segment))
            else:
                value = draw(mostly(st.sampled_from([MARK + "/f", MARK + "/d/" + MARK + "n", MARK + "/new"]),
                                    st.lists(segment, min_size=1, max_size=3).map(lambda p: MARK + "/" + "/".join(p))))
            path = re.sub(r"<(?:[a-z]+:)?" + name + ">", quote(value, safe="/%" if draw(st.booleans()) else "/"), path)
        params = draw(params_strategy(max_size=5))
        if "webhdfs" in path:
            params["op"] = draw(mostly(st.sampled_from(["CREATE", "APPEND", "OPEN", "GETFILECHECKSUM", "open"]), text))
            if draw(st.integers(0, 3)):
                params["namenoderpcaddress"] = address
            params["user.name"] = draw(mostly(st.sampled_from(["root", "root", "nobody"]), bad_users | text))
        body = draw(st.binary(max_size=2048)) if method in ("PUT", "POST") else None
        headers: dict[str, str] = {}
        checksum = draw(mostly(st.just("valid"), st.just("missing") | text, odds=2))
        if checksum == "valid":
            if body is not None:
                headers["X-DFS-Checksum"] = block_checksum(body)
        elif checksum != "missing":
            headers["X-DFS-Checksum"] = checksum
        if draw(st.booleans()):
            headers["X-DFS-Pipeline"] = draw(pipelines(cluster, node))
        if draw(st.integers(0, 3)) == 0:
            headers["X-DFS-Confirm"] = draw(st.sampled_from(["upstream", "UPSTREAM"]) | text)
        if draw(st.integers(0, 3)) == 0:
            headers["Range"] = draw(st.sampled_from(["bytes=0-0", "bytes=5-", "bytes=-3", "bytes=9-1",
                                                     "bytes=0-1,4-5", f"bytes={2**70}-", "lines=1-2"]) | text)
        headers = {k: v for k, v in headers.items() if header_safe(v)}
        return index, method, path + ("?" + query(params) if params else ""), headers, body

    @settings(FUZZ, max_examples=250)
    @given(request=data_requests())
    @example(request=(0, "PUT", "/blocks/00000000000000aa", {"X-DFS-Checksum": block_checksum(b"x"),
                                                             "X-DFS-Pipeline": "http://[::1"}, b"x"))
    @example(request=(0, "PUT", f"/blocks/{stored[0]}", {"X-DFS-Checksum": block_checksum(b"x")}, b"x"))
    @example(request=(0, "GET", f"/webhdfs/v1/{MARK}/f?op=OPEN&user.name=a%00b&namenoderpcaddress={address}",
                      {}, None))
    def fuzz(request: tuple[int, str, str, dict[str, str], bytes | None]) -> None:
        index, method, target, headers, body = request
        check_answer(send(cluster.datanodes[index], method, target, headers, body))
        assert_serving(cluster.datanodes[index])

    fuzz()
    for node in cluster.datanodes:  # every replica on disk is still the block it was
        for block_id in stored:
            if node.block_path(block_id).exists():
                assert node.block_path(block_id).read_bytes() == replicas[block_id], (node, block_id)
    assert nn.cat(kept) == b"kept bytes " * 100, "the fuzzed ids never touched a real block"


# -- raw bytes on the socket: request lines, headers, lengths, chunking -----------------------------

@pytest.mark.timeout(600)
def test_raw_socket_garbage_answers_remote_exception_or_closes(make_cluster: Any, guarded: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=1)
    guarded(cluster)
    nodes = [cluster.namenode, cluster.datanodes[0]]

    @settings(FUZZ, max_examples=150)
    @given(index=st.integers(0, 1), data=raw_requests())
    @example(index=0, data=b"GET /ping_alive HTTP/1.1\r\nExpect: odd\r\n\r\n")
    @example(index=1, data=b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    @example(index=1, data=b"PUT /blocks/00000000000000ab HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    def fuzz(index: int, data: bytes) -> None:
        check_raw_answers(data, exchange(nodes[index], data))
        assert_serving(nodes[index])

    fuzz()
