"""Bad input against real nodes: every answer is a 4xx with a RemoteException body, nothing is stored
or created outside a storage root, and the node serves the next request."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from dfs_common.blocks import checksum as block_checksum
from tests.cluster import REPO, Cluster, Node, remote_exception, send_raw, web
from tests.integration.payload import MiB, Pattern


def raw_request(node_url: str, method: str, target: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send ``target`` byte for byte to the node at ``node_url``; its status and body."""
    status, _, content = send_raw(int(node_url.rsplit(":", 1)[1]), method, target, body, headers)
    return status, content


def assert_remote_error(status: int, body: bytes, expected: tuple[int, ...] = ()) -> dict[str, Any]:
    assert 400 <= status < 500, (status, body[:300])
    if expected:
        assert status in expected, (status, body[:300])
    response = requests.models.Response()
    response.status_code, response._content = status, body
    return remote_exception(response)


def assert_serving(*nodes: Node) -> None:
    for node in nodes:
        assert web.get(node.url + "/ping_alive", timeout=10).json() == {"alive": True}, node


def nn_call(cluster: Cluster, method: str, path: str, **params: str) -> requests.Response:
    return web.request(method, f"{cluster.namenode_url}/webhdfs/v1{path}",
                            params={"user.name": "root", **params}, allow_redirects=False, timeout=30)


def stray_files(name: str) -> list[Path]:
    """Files called ``name`` where an escaping path could have put them."""
    places = [Path("/"), Path("/etc"), Path("/tmp"), REPO, Path.cwd()]
    return [place / name for place in places if (place / name).exists()]


# -- the name node: operations and parameters ----------------------------------------------------

@pytest.mark.parametrize("method, op", [("GET", "NOSUCHOP"), ("PUT", "FORMAT_EVERYTHING"), ("POST", "open "),
                                        ("DELETE", "MKDIRS")])
def test_unknown_or_misplaced_op_is_illegal_argument(cluster: Cluster, method: str, op: str) -> None:
    response = nn_call(cluster, method, "/", op=op)
    remote = assert_remote_error(response.status_code, response.content, (400, 405))
    assert remote["exception"] in ("IllegalArgumentException", "UnsupportedOperationException"), remote
    assert_serving(cluster.namenode)


def test_missing_op_is_illegal_argument(cluster: Cluster) -> None:
    response = web.get(f"{cluster.namenode_url}/webhdfs/v1/", timeout=30)
    assert_remote_error(response.status_code, response.content, (400,))
    assert_serving(cluster.namenode)


@pytest.mark.parametrize("method, op, params", [
    ("PUT", "RENAME", {}),                                   # destination missing
    ("PUT", "RENAME", {"destination": "relative/path"}),
    ("PUT", "SETPERMISSION", {"permission": "999"}),
    ("PUT", "SETPERMISSION", {"permission": "77777"}),
    ("PUT", "SETREPLICATION", {"replication": "three"}),
    ("PUT", "SETTIMES", {"modificationtime": "yesterday"}),
    ("GET", "OPEN", {"offset": "-1"}),
    ("GET", "OPEN", {"offset": "abc"}),
    ("GET", "OPEN", {"length": "1e3"}),
    ("PUT", "CREATE", {"overwrite": "maybe"}),
    ("PUT", "CREATE", {"blocksize": "-4"}),
    ("PUT", "CREATE", {"replication": "0"}),
    ("POST", "TRUNCATE", {}),                                 # newlength missing
    ("POST", "TRUNCATE", {"newlength": "-1"}),
    ("PUT", "MKDIRS", {"permission": "rwxr-xr-x"}),
])
def test_missing_or_malformed_parameter_is_illegal_argument(cluster: Cluster, unique_path: str, method: str,
                                                            op: str, params: dict[str, str]) -> None:
    web.put(f"{cluster.namenode_url}/webhdfs/v1{unique_path}", params={"op": "MKDIRS", "user.name": "root"},
                 timeout=30).raise_for_status()
    target = unique_path + "/file"
    first = web.put(f"{cluster.namenode_url}/webhdfs/v1{target}",
                         params={"op": "CREATE", "user.name": "root"}, allow_redirects=False, timeout=30)
    assert first.status_code == 307, first.text
    assert web.put(first.headers["Location"], data=b"0123456789", timeout=30).status_code == 201
    response = nn_call(cluster, method, target, op=op, **params)
    remote = assert_remote_error(response.status_code, response.content, (400,))
    assert remote["exception"] == "IllegalArgumentException", remote
    assert web.get(f"{cluster.namenode_url}/webhdfs/v1{target}", params={"op": "OPEN", "user.name": "root"},
                        timeout=30).content == b"0123456789"
    assert_serving(cluster.namenode)


@pytest.mark.parametrize("suffix", ["/../etc", "/%2e%2e/etc", "/./x", "/%2E/x", "/a%00b", "//x", "/x//y",
                                    "/%2e%2e%2f%2e%2e%2fetc"])
@pytest.mark.parametrize("op, method", [("MKDIRS", "PUT"), ("GETFILESTATUS", "GET"), ("CREATE", "PUT"),
                                        ("DELETE", "DELETE")])
def test_path_with_dot_dot_nul_or_empty_segment_is_refused(cluster: Cluster, unique_path: str, suffix: str,
                                                           op: str, method: str) -> None:
    web.put(f"{cluster.namenode_url}/webhdfs/v1{unique_path}", params={"op": "MKDIRS", "user.name": "root"},
                 timeout=30).raise_for_status()
    status, body = raw_request(cluster.namenode_url, method, f"/webhdfs/v1{unique_path}{suffix}?op={op}&user.name=root")
    remote = assert_remote_error(status, body, (400,))
    assert remote["exception"] == "IllegalArgumentException", remote
    listing = web.get(f"{cluster.namenode_url}/webhdfs/v1{unique_path}",
                           params={"op": "LISTSTATUS", "user.name": "root"}, timeout=30).json()
    assert listing["FileStatuses"]["FileStatus"] == [], "nothing may be created by a refused path"
    for name in ("etc", "x"):
        assert web.get(f"{cluster.namenode_url}/webhdfs/v1/{name}",
                            params={"op": "GETFILESTATUS", "user.name": "root"}, timeout=30).status_code == 404
    assert_serving(cluster.namenode)


def test_rename_of_a_directory_into_itself_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path + "/a/b")
    response = nn_call(cluster, "PUT", unique_path + "/a", op="RENAME", destination=unique_path + "/a/b/c",
                       renameoptions="NONE")
    remote = assert_remote_error(response.status_code, response.content, (400,))
    assert remote.get("errno") == "EINVAL", remote
    # HDFS semantics (no renameoptions): false, or an error, but never a move
    plain = nn_call(cluster, "PUT", unique_path + "/a", op="RENAME", destination=unique_path + "/a/b")
    assert plain.status_code >= 400 or plain.json() == {"boolean": False}, plain.text
    with pytest.raises(OSError) as caught:
        nn.rename(unique_path + "/a", unique_path + "/a/b/c", overwrite=False)
    assert caught.value.errno == 22
    assert sorted(nn.ls(unique_path)) == ["a"] and nn.ls(unique_path + "/a") == ["b"]
    assert nn.ls(unique_path + "/a/b") == []
    assert_serving(cluster.namenode)


# -- JSON bodies: COMMIT and every /internal/ endpoint --------------------------------------------

GARBAGE_BODIES = [b"", b"not json at all", b"{", b"[]", b"null", b"42", b'"text"', b'{"id": 5}',
                  b'{"id": "ffffffffffffffff", "blocks": "nope"}', b'{"id": null, "blocks": [1, 2, 3]}',
                  b'{"id": "x", "blocks": [{"blockId": "../../etc/passwd", "length": -1, "checksum": 7}]}',
                  b'{"id": "x", "blockId": {"a": 1}, "reason": []}', b"\xff\xfe\x00garbage",
                  b"[" * 5000 + b"]" * 5000]


@pytest.mark.parametrize("endpoint", ["heartbeat", "block_received", "block_report", "bad_block"])
def test_garbage_json_to_internal_endpoints_is_refused(cluster: Cluster, endpoint: str) -> None:
    for body in GARBAGE_BODIES:
        response = web.post(f"{cluster.namenode_url}/internal/{endpoint}", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=30)
        remote = assert_remote_error(response.status_code, response.content)
        assert remote["exception"] == "IllegalArgumentException", (body[:60], remote)
        assert_serving(cluster.namenode)
    assert len(cluster.status()["datanodes"]) == len(cluster.datanodes)


def test_garbage_json_to_commit_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdirs(unique_path)
    nn.tee(unique_path + "/kept", b"kept bytes")
    bodies = GARBAGE_BODIES + [
        b'{"blocks": "all of them"}', b'{"blocks": [{"blockId": "zz", "length": 1, "checksum": "00"}]}',
        b'{"blocks": [{"blockId": "00000000000fffff", "length": 10, "checksum": "0123456789abcdef"}]}',
        b'{"blocks": [{"blockId": null, "length": -5}]}', b'{"blocks": [], "permission": "999"}',
        b'{"blocks": [], "replication": "many"}', b'{"blocks": [{}]}',
    ]
    for target in (unique_path + "/kept", unique_path + "/new"):
        for body in bodies:
            response = web.post(f"{cluster.namenode_url}/webhdfs/v1{target}",
                                     params={"op": "COMMIT", "user.name": "root"}, data=body,
                                     headers={"Content-Type": "application/json"}, timeout=30)
            remote = assert_remote_error(response.status_code, response.content)
            assert remote["exception"] in ("IllegalArgumentException", "FileNotFoundException"), (body[:60], remote)
            assert_serving(cluster.namenode)
    assert nn.cat(unique_path + "/kept") == b"kept bytes"
    assert nn.ls(unique_path) == ["kept"]


# -- the data nodes: block ids, checksums, sizes ---------------------------------------------------

BAD_IDS = ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "00000000000000AB",
           "0000000000000000", "00000000000000abc", "0" * 15, "a" * 200, "g" * 16, "%00" + "a" * 15,
           "..", "%2e%2e", "00000000000000ab.meta", "node-id"]


@pytest.mark.parametrize("block_id", BAD_IDS)
def test_block_id_that_is_not_one_is_refused(cluster: Cluster, block_id: str) -> None:
    node = cluster.datanodes[0]
    before = node.block_files()
    status, body = raw_request(node.url, "GET", "/blocks/" + block_id)
    assert 400 <= status < 500, (status, body[:200])
    if status != 404:  # a route that does not match may answer a plain 404
        assert_remote_error(status, body)
    assert b"root:" not in body
    marker = f"pwned-{uuid.uuid4().hex[:8]}"
    payload = b"evil bytes"
    status, body = raw_request(node.url, "PUT", "/blocks/" + block_id.replace("passwd", marker), payload,
                               {"X-DFS-Checksum": block_checksum(payload)})
    assert 400 <= status < 500, (status, body[:200])
    assert not stray_files(marker)
    assert node.block_files() == before
    assert (node.root / "node-id").read_text().strip() == node.node_id
    assert_serving(node)


def test_block_put_whose_bytes_do_not_match_the_checksum_stores_nothing(cluster: Cluster) -> None:
    node = cluster.datanodes[1]
    before = node.block_files()
    data = Pattern(3 * MiB, chunk=MiB, seed=41).bytes()
    block_id = "fff" + uuid.uuid4().hex[:13]
    wrong = block_checksum(data + b"!")
    response = web.put(f"{node.url}/blocks/{block_id}", data=data, headers={"X-DFS-Checksum": wrong}, timeout=60)
    remote = assert_remote_error(response.status_code, response.content, (400,))
    assert remote["exception"] == "ChecksumException", remote
    for headers in ({}, {"X-DFS-Checksum": "not-a-checksum"}, {"X-DFS-Checksum": "ABCDEF0123456789"}):
        response = web.put(f"{node.url}/blocks/{block_id}", data=data, headers=headers, timeout=60)
        assert_remote_error(response.status_code, response.content, (400,))
    assert node.block_files() == before
    assert not node.block_path(block_id).exists()
    assert not list(node.block_path(block_id).parent.glob(f"*{block_id}*")), "no temp file or sidecar left"
    assert web.get(f"{node.url}/blocks/{block_id}", timeout=30).status_code == 404
    assert_serving(node)


@pytest.mark.timeout(300)
def test_block_body_over_the_max_block_size_is_refused(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(env={"DFS_MAX_BLOCK_SIZE": str(8 * MiB), "DFS_BLOCK_SIZE": str(MiB)})
    node = cluster.datanodes[0]
    data = Pattern(9 * MiB, chunk=MiB, seed=42).bytes()
    digest = block_checksum(data)
    block_id = "ffe" + uuid.uuid4().hex[:13]

    sized = web.put(f"{node.url}/blocks/{block_id}", data=data, headers={"X-DFS-Checksum": digest}, timeout=60)
    assert_remote_error(sized.status_code, sized.content, (413,))
    chunks = (data[i:i + MiB] for i in range(0, len(data), MiB))
    try:
        chunked = web.put(f"{node.url}/blocks/{block_id}", data=chunks, headers={"X-DFS-Checksum": digest},
                               timeout=60)
        assert_remote_error(chunked.status_code, chunked.content, (413,))
    except requests.ConnectionError:
        pass  # the node may close the connection on a body it will not read; what matters is below
    assert node.block_files() == {}
    assert not list(node.root.rglob(f"*{block_id}*"))

    create = web.put(f"{cluster.namenode_url}/webhdfs/v1/big", params={"op": "CREATE", "user.name": "root",
                                                                         "blocksize": str(16 * MiB)},
                          allow_redirects=False, timeout=30)
    assert_remote_error(create.status_code, create.content, (400, 413))

    # an ordinary write still works: the client cuts 9 MiB into 1 MiB blocks
    nn = cluster.client("root")
    nn.tee("/fine", data)
    assert nn.cat("/fine") == data
    assert_serving(cluster.namenode, *cluster.datanodes)


def test_data_node_webhdfs_with_bad_parameters_is_refused(cluster: Cluster, unique_path: str) -> None:
    node = cluster.datanodes[2]
    for target in (f"/webhdfs/v1{unique_path}/x?op=CREATE",  # no namenoderpcaddress
                   f"/webhdfs/v1{unique_path}/x?op=NOSUCHOP&namenoderpcaddress=127.0.0.1:1",
                   f"/webhdfs/v1{unique_path}/../x?op=OPEN&namenoderpcaddress={cluster.namenode_url[7:]}",
                   f"/webhdfs/v1{unique_path}/x?op=OPEN&offset=-3&namenoderpcaddress={cluster.namenode_url[7:]}"):
        status, body = raw_request(node.url, "PUT" if "CREATE" in target else "GET", target, b"data")
        assert_remote_error(status, body)
        assert_serving(node)


def test_unknown_routes_answer_remote_exceptions(cluster: Cluster) -> None:
    for node in (cluster.namenode, cluster.datanodes[0]):
        for method, target in (("GET", "/nothing/here"), ("DELETE", "/ping_alive"), ("GET", "/internal/x")):
            status, body = raw_request(node.url, method, target)
            assert_remote_error(status, body, (404, 405))
        assert_serving(node)


def test_json_of_every_error_names_its_class(cluster: Cluster) -> None:
    response = nn_call(cluster, "GET", f"/no-such-{uuid.uuid4().hex}", op="GETFILESTATUS")
    remote = assert_remote_error(response.status_code, response.content, (404,))
    assert remote["exception"] == "FileNotFoundException"
    assert remote["javaClassName"] == "java.io.FileNotFoundException"
    assert "does not exist" in remote["message"]
    assert json.loads(response.content)["RemoteException"]["errno"] == "ENOENT"
