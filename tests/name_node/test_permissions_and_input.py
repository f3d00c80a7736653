"""Permission checks (bits, sticky, chown/chmod rules, setgid) and the bad input table."""
from __future__ import annotations

import pytest

from nn_helpers import NN


def test_ordinary_user_cannot_write_root(nn: NN) -> None:
    status, body, _ = nn.call("PUT", "/x", "MKDIRS", user="nobody")
    assert status == 403 and body["RemoteException"]["exception"] == "AccessControlException"
    status, body, _ = nn.call("PUT", "/x", "MKDIRS", user=None)  # dr.who
    assert status == 403


def test_sticky_directory_protects_others_entries(nn: NN) -> None:
    nn.ok("PUT", "/tmp", "MKDIRS", permission="1777")
    nn.ok("PUT", "/tmp/alice", "MKDIRS", user="nobody")
    status, body, _ = nn.call("DELETE", "/tmp/alice", "DELETE", user="daemon")
    assert status == 403
    status, _, _ = nn.call("PUT", "/tmp/alice", "RENAME", user="daemon", destination="/tmp/mine")
    assert status == 403
    assert nn.ok("DELETE", "/tmp/alice", "DELETE", user="nobody") == {"boolean": True}


def test_permission_bits(nn: NN) -> None:
    nn.ok("PUT", "/p", "MKDIRS", permission="700")
    nn.ok("PUT", "/p", "SETOWNER", owner="nobody")
    assert nn.call("PUT", "/p/in", "MKDIRS", user="nobody")[0] == 200
    assert nn.call("GET", "/p/in", "GETFILESTATUS", user="daemon")[0] == 403
    assert nn.call("GET", "/p", "LISTSTATUS", user="daemon")[0] == 403


def test_only_owner_chmods_and_only_superuser_chowns(nn: NN) -> None:
    nn.ok("PUT", "/o", "MKDIRS")
    nn.ok("PUT", "/o", "SETOWNER", owner="nobody")
    status, body, _ = nn.call("PUT", "/o", "SETPERMISSION", user="daemon", permission="777")
    assert status == 403 and body["RemoteException"]["errno"] == "EPERM"
    assert nn.call("PUT", "/o", "SETPERMISSION", user="nobody", permission="750")[0] == 200
    status, body, _ = nn.call("PUT", "/o", "SETOWNER", user="nobody", owner="daemon")
    assert status == 403 and body["RemoteException"]["errno"] == "EPERM"


def test_setgid_directory_passes_group_and_bit(nn: NN) -> None:
    nn.ok("PUT", "/g", "MKDIRS", permission="2775")
    nn.ok("PUT", "/g", "SETOWNER", group="projects")
    nn.ok("PUT", "/g/sub", "MKDIRS")
    status = nn.ok("GET", "/g/sub", "GETFILESTATUS")["FileStatus"]
    assert status["group"] == "projects" and status["permission"] == "2755"


def test_new_entries_take_the_parent_directorys_group_as_hdfs_does(nn: NN) -> None:
    nn.ok("PUT", "/h", "MKDIRS", permission="777")
    nn.ok("PUT", "/h", "SETOWNER", group="lab")  # no setgid bit: HDFS's rule is BSD's, always
    nn.ok("PUT", "/h/d", "MKDIRS", user="nobody")  # nobody's primary group is nogroup
    status = nn.ok("GET", "/h/d", "GETFILESTATUS")["FileStatus"]
    assert (status["owner"], status["group"], status["permission"]) == ("nobody", "lab", "755")


def test_superuser_sets_owner_at_create(nn: NN) -> None:
    nn.ok("PUT", "/u", "MKDIRS", owner="alice", group="staff")
    status = nn.ok("GET", "/u", "GETFILESTATUS")["FileStatus"]
    assert (status["owner"], status["group"]) == ("alice", "staff")
    nn.ok("PUT", "/u", "SETPERMISSION", permission="777")
    nn.ok("PUT", "/u/v", "MKDIRS", user="nobody", owner="mallory")
    assert nn.ok("GET", "/u/v", "GETFILESTATUS")["FileStatus"]["owner"] == "nobody"


@pytest.mark.parametrize("method,path,params,status", [
    ("GET", "/", {"op": "NOSUCHOP"}, 400),
    ("GET", "/", {}, 400),
    ("PUT", "/a", {"op": "GETFILESTATUS"}, 400),
    ("GET", "/a", {"op": "MKDIRS"}, 400),
    ("PUT", "/a", {"op": "MKDIRS", "permission": "99x"}, 400),
    ("PUT", "/a", {"op": "MKDIRS", "permission": "77777"}, 400),
    ("PUT", "/a", {"op": "RENAME"}, 400),
    ("PUT", "/a", {"op": "RENAME", "destination": "relative"}, 400),
    ("DELETE", "/a", {"op": "DELETE", "recursive": "maybe"}, 400),
    ("GET", "/a/../b", {"op": "GETFILESTATUS"}, 400),
    ("GET", "//a", {"op": "GETFILESTATUS"}, 400),
    ("GET", "/a%00b", {"op": "GETFILESTATUS"}, 400),
    ("GET", "/", {"op": "LISTSTATUS_BATCH", "startAfter": ""}, 200),
    ("POST", "/f", {"op": "TRUNCATE", "newlength": "-1"}, 400),
    ("GET", "/", {"op": "GETFILEBLOCKLOCATIONS", "offset": "x"}, 400),
    ("POST", "/", {"op": "REPORTBADBLOCK", "blockid": "../../etc", "datanode": "d"}, 400),
    ("PUT", "/", {"op": "SETXATTR", "xattr.name": "noprefix", "xattr.value": "1"}, 400),
    ("GET", "/", {"op": "GETXATTRS", "encoding": "rot13"}, 400),
])
def test_bad_input_table(nn: NN, method: str, path: str, params: dict[str, str], status: int) -> None:
    response = nn.client.open("/webhdfs/v1" + path, method=method, query_string=dict(params, **{"user.name": "root"}))
    assert response.status_code == status, response.get_data()
    if status >= 400:
        assert "RemoteException" in response.json


def test_unknown_op_message(nn: NN) -> None:
    body = nn.call("GET", "/", "FROB")[1]
    assert 'Invalid value for webhdfs parameter "op"' in body["RemoteException"]["message"]


def test_booleans_case_insensitive_and_unknown_params_ignored(nn: NN) -> None:
    nn.ok("PUT", "/b/c", "MKDIRS")
    assert nn.ok("DELETE", "/b", "DELETE", recursive="True", whatever="x") == {"boolean": True}


@pytest.mark.parametrize("endpoint", ["/internal/heartbeat", "/internal/block_received",
                                      "/internal/block_report", "/internal/bad_block"])
@pytest.mark.parametrize("body", [b"", b"garbage{", b"[1,2]", b"\xff\xfe", b'{"id": 5}', b'{"id": "x", "blocks": 7}',
                                  b'{"id":"dn1","url":"ftp://x","blocks":[["a"]]}'])
def test_internal_garbage_is_400(nn: NN, endpoint: str, body: bytes) -> None:
    nn.heartbeat("dn1")
    response = nn.client.post(endpoint, data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data()
    assert "RemoteException" in response.json


def test_internal_wrong_method_and_mkfs_needs_superuser(nn: NN) -> None:
    assert nn.client.get("/internal/heartbeat").status_code == 405
    assert nn.client.post("/mkfs?user.name=nobody").status_code == 403
    nn.ok("PUT", "/z", "MKDIRS")
    assert nn.client.post("/mkfs?user.name=root").status_code == 200
    assert nn.call("GET", "/z", "GETFILESTATUS")[0] == 404
    assert nn.client.get("/ping_alive").json == {"alive": True}
