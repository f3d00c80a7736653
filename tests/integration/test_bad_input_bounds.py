"""Bad input that used to get a 500, and absurd values that used to be accepted: each is a 400 (or
the 4xx gunicorn chose) with a RemoteException body, nothing changes, and the node keeps serving."""
from __future__ import annotations

import json
import socket
import uuid

import pytest
import requests

from dfs_common.blocks import checksum as block_checksum
from dfs_common.errors import IllegalArgument
from dfs_common.settings import ConfigError, Settings
from dfs_common.web import Params
from tests.cluster import Cluster, remote_exception, web
from tests.integration.test_bad_input import assert_remote_error, assert_serving, nn_call, raw_request

MAX_FILE_SIZE = 2**50  # the documented default of DFS_MAX_FILE_SIZE
MAX_INT64 = 2**63 - 1  # what a stat's st_size and st_mtime_ns (signed 64-bit) carry


def webhdfs(cluster: Cluster, method: str, path: str, body: bytes | None = None, **params: str) -> requests.Response:
    return web.request(method, f"{cluster.namenode_url}/webhdfs/v1{path}",
                            params={"user.name": "root", **params}, data=body, allow_redirects=False, timeout=30)


def assert_illegal(response: requests.Response) -> dict[str, object]:
    remote = assert_remote_error(response.status_code, response.content, (400,))
    assert remote["exception"] == "IllegalArgumentException", remote
    return remote


# -- user.name with a NUL, on both node kinds ------------------------------------------------------

@pytest.mark.parametrize("user", ["a\0b", "\0", "root\0", "x\n\ty", "u" * 300])
def test_user_name_that_no_system_can_hold_is_refused_by_the_name_node(cluster: Cluster, unique_path: str,
                                                                        user: str) -> None:
    for method, op in (("GET", "GETFILESTATUS"), ("PUT", "MKDIRS"), ("GET", "LISTSTATUS"), ("PUT", "CREATE")):
        response = web.request(method, f"{cluster.namenode_url}/webhdfs/v1{unique_path}",
                                    params={"op": op, "user.name": user}, allow_redirects=False, timeout=30)
        assert_illegal(response)
    response = web.post(f"{cluster.namenode_url}/mkfs", params={"user.name": user}, timeout=30)
    assert_illegal(response)
    response = nn_call(cluster, "GET", "/", op="GETFILESTATUS", doas=user)
    assert_illegal(response)
    assert nn_call(cluster, "GET", unique_path, op="GETFILESTATUS").status_code == 404
    assert_serving(cluster.namenode)


def test_user_name_with_a_nul_is_refused_by_a_data_node(cluster: Cluster, unique_path: str) -> None:
    node = cluster.datanodes[0]
    address = cluster.namenode_url.removeprefix("http://")
    for method, op in (("GET", "OPEN"), ("PUT", "CREATE"), ("POST", "APPEND"), ("GET", "GETFILECHECKSUM")):
        response = web.request(method, f"{node.url}/webhdfs/v1{unique_path}/f",
                                    params={"op": op, "user.name": "a\0b", "namenoderpcaddress": address},
                                    data=b"bytes" if method != "GET" else None, timeout=30)
        assert_illegal(response)
    assert nn_call(cluster, "GET", unique_path, op="GETFILESTATUS").status_code == 404
    assert_serving(node)


# -- heartbeats: strict JSON numbers ---------------------------------------------------------------

@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize("field", ["capacity", "used", "remaining", "blocks"])
def test_heartbeat_with_a_non_finite_number_is_refused(cluster: Cluster, field: str, number: str) -> None:
    node_id = "fuzz-" + uuid.uuid4().hex[:8]
    body = f'{{"id": "{node_id}", "url": "http://127.0.0.1:1", "{field}": {number}}}'.encode()
    response = web.post(f"{cluster.namenode_url}/internal/heartbeat", data=body, timeout=30)
    assert_illegal(response)
    assert node_id not in {d["id"] for d in cluster.status()["datanodes"]}, "no half-registered node"
    assert_serving(cluster.namenode)


def test_commit_body_with_a_non_finite_number_is_refused(cluster: Cluster, unique_path: str) -> None:
    for body in (b'{"blocks": [], "create": true, "mtimeNs": NaN}', b'{"blocks": [{"length": Infinity}]}',
                 b'{"blocks": [], "create": true, "replication": 1e999}'):
        assert_illegal(webhdfs(cluster, "POST", unique_path, body, op="COMMIT"))
    assert webhdfs(cluster, "GET", unique_path, op="GETFILESTATUS").status_code == 404


# -- lengths bounded by DFS_MAX_FILE_SIZE, times by what a stat carries ----------------------------

def test_truncate_beyond_the_maximum_file_size_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    path = unique_path + "/f"
    nn.tee(path, b"0123456789")
    for length in (10**30, 2**63, MAX_FILE_SIZE + 1):
        assert_illegal(webhdfs(cluster, "POST", path, op="TRUNCATE", newlength=str(length)))
        assert nn.stat(path)["length"] == 10
    assert webhdfs(cluster, "POST", path, op="TRUNCATE", newlength=str(MAX_FILE_SIZE)).json() == {"boolean": True}
    assert nn.stat(path)["length"] == MAX_FILE_SIZE  # the limit itself is a (sparse) file
    assert webhdfs(cluster, "POST", path, op="TRUNCATE", newlength="4").json() == {"boolean": True}
    assert nn.cat(path) == b"0123"
    nn.delete(unique_path, recursive=True)


@pytest.mark.parametrize("blocks", [
    [{"blockId": None, "length": 2**70}],
    [{"blockId": None, "length": MAX_FILE_SIZE + 1}],
    [{"blockId": None, "length": MAX_FILE_SIZE}, {"blockId": None, "length": 1}],
    [{"blockId": None, "length": 2**49}] * 3,
])
def test_commit_of_a_hole_beyond_the_maximum_file_size_is_refused(cluster: Cluster, unique_path: str,
                                                                  blocks: list[dict[str, object]]) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    nn.tee(unique_path + "/kept", b"kept")
    for target in (unique_path + "/kept", unique_path + "/new"):
        body = json.dumps({"blocks": blocks, "create": True, "overwrite": True}).encode()
        assert_illegal(webhdfs(cluster, "POST", target, body, op="COMMIT"))
    assert nn.cat(unique_path + "/kept") == b"kept"
    assert nn.ls(unique_path) == ["kept"]
    body = json.dumps({"blocks": [{"blockId": None, "length": MAX_FILE_SIZE}], "create": True}).encode()
    assert webhdfs(cluster, "POST", unique_path + "/hole", body, op="COMMIT").status_code == 200
    assert nn.stat(unique_path + "/hole")["length"] == MAX_FILE_SIZE
    nn.delete(unique_path, recursive=True)


@pytest.mark.parametrize("params", [
    {"modificationtimens": str(2**70)}, {"accesstimens": str(2**63)}, {"modificationtimens": "-2"},
    {"modificationtime": str(2**63 // 10**6 + 1)}, {"accesstime": str(2**70)}, {"modificationtime": "-7"},
    {"modificationtime": "1" + "0" * 5000},
])
def test_settimes_beyond_what_a_stat_can_carry_is_refused(cluster: Cluster, unique_path: str,
                                                          params: dict[str, str]) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    before = nn.stat(unique_path)
    assert_illegal(webhdfs(cluster, "PUT", unique_path, op="SETTIMES", **params))
    after = nn.stat(unique_path)
    assert (after["modificationTimeNs"], after["accessTimeNs"]) == (before["modificationTimeNs"], before["accessTimeNs"])


def test_settimes_at_the_edges_of_the_range_is_kept(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    webhdfs(cluster, "PUT", unique_path, op="SETTIMES", modificationtimens=str(MAX_INT64),
            accesstimens="0").raise_for_status()
    status = nn.stat(unique_path)
    assert (status["modificationTimeNs"], status["accessTimeNs"]) == (MAX_INT64, 0)
    webhdfs(cluster, "PUT", unique_path, op="SETTIMES", modificationtime=str(MAX_INT64 // 10**6),
            accesstime="-1").raise_for_status()
    status = nn.stat(unique_path)
    assert (status["modificationTimeNs"], status["accessTimeNs"]) == (MAX_INT64 // 10**6 * 10**6, 0)


@pytest.mark.parametrize("method, op, params", [
    ("GET", "OPEN", {"offset": str(2**64)}), ("GET", "OPEN", {"length": str(10**30)}),
    ("GET", "GETFILEBLOCKLOCATIONS", {"offset": str(2**63)}), ("PUT", "CREATE", {"blocksize": str(2**80)}),
    ("PUT", "CREATE", {"replication": str(2**40)}), ("PUT", "SETREPLICATION", {"replication": str(2**64)}),
    ("PUT", "SETPERMISSION", {"permission": "7" * 400}), ("POST", "ADDBLOCK", {"replication": str(10**20)}),
])
def test_integer_parameters_out_of_range_are_refused(cluster: Cluster, unique_path: str, method: str, op: str,
                                                     params: dict[str, str]) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    nn.tee(unique_path + "/f", b"data")
    assert_illegal(webhdfs(cluster, method, unique_path + "/f", op=op, **params))
    assert nn.cat(unique_path + "/f") == b"data"
    assert_serving(cluster.namenode)


def test_params_bound_every_integer() -> None:
    params = Params({"a": str(MAX_INT64), "b": str(MAX_INT64 + 1), "c": "-" + str(2**63 + 1), "d": "9" * 5000,
                     "e": "10", "p": "777", "q": "1" + "0" * 40})
    assert params.integer("a") == MAX_INT64
    for name in ("b", "c", "d", "q"):
        with pytest.raises(IllegalArgument):
            params.integer(name)
    assert params.integer("e", maximum=10) == 10
    with pytest.raises(IllegalArgument):
        params.integer("e", maximum=9)
    assert params.permission("p") == 0o777
    with pytest.raises(IllegalArgument):
        params.permission("q")


def test_max_file_size_is_a_setting() -> None:
    assert Settings.from_env({}).max_file_size == MAX_FILE_SIZE
    assert Settings.from_env({"DFS_MAX_FILE_SIZE": str(2**40)}).max_file_size == 2**40
    for bad in ("0", str(2**63), "-1"):
        with pytest.raises(ConfigError, match="DFS_MAX_FILE_SIZE"):
            Settings.from_env({"DFS_MAX_FILE_SIZE": bad})


# -- gunicorn's own errors are RemoteException JSON too --------------------------------------------

def raw_exchange(node_url: str, data: bytes) -> bytes:
    """Send ``data`` as is and read the answer until the server closes (bounded by a timeout)."""
    host, port = node_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def parse_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


# No 414: both node kinds take request lines of any length (long paths travel in the URL; PROTOCOL.md).
@pytest.mark.parametrize("request_bytes, expected", [
    (b"GET /ping_alive HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /ping_alive HTTP/1.1\r\nHost: x\r\nExpect: something-odd\r\n\r\n", 417),
    (b"GET /ping_alive HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /ping_alive HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    (b"PUT /ping_alive HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n", 400),
    (b"PUT /ping_alive HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"PUT /ping_alive HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
])
def test_gunicorn_errors_answer_remote_exception_json(cluster: Cluster, request_bytes: bytes, expected: int) -> None:
    for node in (cluster.namenode, cluster.datanodes[0]):
        status, headers, body = parse_answer(raw_exchange(node.url, request_bytes))
        assert status == expected, (node, status, body[:200])
        assert headers.get("content-type", "").startswith("application/json"), headers
        assert int(headers["content-length"]) == len(body)
        response = requests.models.Response()
        response.status_code, response._content = status, body
        remote = remote_exception(response)
        assert remote["exception"] in ("IllegalArgumentException", "UnsupportedOperationException"), remote
        assert_serving(node)


def test_bad_chunked_body_is_a_client_error(cluster: Cluster, unique_path: str) -> None:
    target = f"/webhdfs/v1{unique_path}?op=COMMIT&user.name=root"
    for tail in (b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"2;\x01=\r\n{}\r\n0\r\n\r\n"):
        answer = raw_exchange(cluster.namenode_url, b"POST " + target.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" + tail)
        status, headers, body = parse_answer(answer)
        assert 400 <= status < 500, (status, body[:200])
        assert headers.get("content-type", "").startswith("application/json"), (headers, body[:200])
    status, _ = raw_request(cluster.namenode_url, "GET", f"/webhdfs/v1{unique_path}?op=GETFILESTATUS&user.name=root")
    assert status == 404
    assert_serving(cluster.namenode)


# -- a block PUT never replaces or removes a replica it did not write ------------------------------

def test_block_put_over_a_stored_block_id_changes_nothing(cluster: Cluster, unique_path: str) -> None:
    """Found by the fuzz test: a PUT of other bytes (with their own valid checksum) under the id of
    a stored block replaced the replica, and the name node's rejection then deleted it."""
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    data = b"the real block " * 1000
    nn.tee(unique_path + "/f", data)
    location = nn.block_locations(unique_path + "/f")["BlockLocation"][0]
    block_id = location["blockId"]
    holders = [cluster.datanode_by_id(node["id"]) for node in location["dataNodes"]]
    evil = b"other bytes"
    others = [node for node in cluster.datanodes if node not in holders]
    for index, node in enumerate(holders):
        headers = {"X-DFS-Checksum": block_checksum(evil)}
        if index % 2:  # as a pipeline hop, which confirms nothing, and as a pipeline head
            headers["X-DFS-Confirm"] = "upstream"
        if others:
            headers["X-DFS-Pipeline"] = others[0].url
        response = web.put(f"{node.url}/blocks/{block_id}", data=evil, headers=headers, timeout=30)
        remote = assert_remote_error(response.status_code, response.content, (403,))
        assert remote["exception"] == "FileAlreadyExistsException", remote
        assert node.block_path(block_id).read_bytes() == data
        # the same bytes again (a repeated heal) are fine, and a failing pipeline then removes nothing
        response = web.put(f"{node.url}/blocks/{block_id}", data=data, timeout=30,
                                headers={"X-DFS-Checksum": location["checksum"], "X-DFS-Confirm": "upstream",
                                         "X-DFS-Pipeline": "http://127.0.0.1:1"})
        assert response.status_code == 502, response.text
        assert node.block_path(block_id).read_bytes() == data
    for node in others:
        assert not node.block_path(block_id).exists()
    assert nn.cat(unique_path + "/f") == data


@pytest.mark.parametrize("pipeline", ["http://[::1", "http://[::1]:99999", "http://h:port", "http://[zz]:1"])
def test_malformed_url_in_a_pipeline_header_is_refused(cluster: Cluster, pipeline: str) -> None:
    node = cluster.datanodes[0]
    before = node.block_files()
    data = b"block bytes"
    block_id = "ffd" + uuid.uuid4().hex[:13]
    response = web.put(f"{node.url}/blocks/{block_id}", data=data, timeout=30,
                            headers={"X-DFS-Checksum": block_checksum(data), "X-DFS-Pipeline": pipeline})
    assert_illegal(response)
    assert node.block_files() == before
    assert_serving(node)
