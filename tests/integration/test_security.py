"""Security with DFS_SECRET, tried the way an attacker on the same network would: real processes,
plain HTTP, no credential or the wrong one."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from dfs_common.auth import RequestSigner
from tests.cluster import ADMIN_AUTH, DATA_NODE_CLASS, SECRET, Cluster, Node, remote_exception, auth_headers, wait_for


def nn_url(cluster: Cluster, path: str) -> str:
    return f"{cluster.namenode_url}/webhdfs/v1{path}"


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: requests.Response, status: int, exception: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert remote_exception(response)["exception"] == exception, response.text[:300]


def replicas(cluster: Cluster, path: str) -> list[list[str]]:
    answer = requests.get(nn_url(cluster, path), params={"op": "GETFILEBLOCKLOCATIONS"}, headers=ADMIN_AUTH, timeout=30)
    answer.raise_for_status()
    return [sorted(b["names"]) for b in answer.json()["BlockLocations"]["BlockLocation"]]


# -- users and tokens --------------------------------------------------------------------------

@pytest.mark.parametrize("method,target", [
    ("GET", "/webhdfs/v1/?op=LISTSTATUS"), ("GET", "/webhdfs/v1/?op=LISTSTATUS&user.name=root"),
    ("PUT", "/webhdfs/v1/anon?op=MKDIRS&user.name=root"), ("DELETE", "/webhdfs/v1/?op=DELETE&recursive=true&user.name=root"),
    ("POST", "/mkfs?user.name=root"), ("GET", "/status"), ("GET", "/df"), ("GET", "/users"),
    ("GET", "/whoami?user.name=root"), ("GET", "/liveness"), ("GET", "/no-such-endpoint"),
])
def test_anonymous_and_user_name_only_requests_get_401(cluster: Cluster, method: str, target: str) -> None:
    response = requests.request(method, cluster.namenode_url + target, timeout=30)
    assert_refused(response, 401, "SecurityException")
    wrong = requests.request(method, cluster.namenode_url + target, headers=bearer("dfs1.00.forged"), timeout=30)
    assert_refused(wrong, 401, "SecurityException")
    assert requests.get(cluster.namenode_url + "/webhdfs/v1/?op=GETFILESTATUS", headers=ADMIN_AUTH,
                        timeout=30).status_code == 200, "the namespace is intact"


def test_ping_alive_stays_public_for_probes(cluster: Cluster) -> None:
    assert requests.get(cluster.namenode_url + "/ping_alive", timeout=30).json() == {"alive": True}


def test_administrator_creates_users_and_a_user_cannot(cluster: Cluster) -> None:
    name = "u" + uuid.uuid4().hex[:8]
    made = requests.post(cluster.namenode_url + "/users", json={"name": name}, headers=ADMIN_AUTH, timeout=30)
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert made.json()["name"] == name and len(token) > 40
    me = requests.get(cluster.namenode_url + "/whoami?user.name=root", headers=bearer(token), timeout=30).json()
    assert me["name"] == name and me["admin"] is False, "user.name changes nothing once authenticated"
    assert_refused(requests.post(cluster.namenode_url + "/users", json={"name": name + "x"}, headers=bearer(token),
                                 timeout=30), 403, "AccessControlException")
    assert_refused(requests.get(cluster.namenode_url + "/users", headers=bearer(token), timeout=30),
                   403, "AccessControlException")
    assert_refused(requests.post(cluster.namenode_url + "/users", json={"name": name}, headers=ADMIN_AUTH,
                                 timeout=30), 403, "FileAlreadyExistsException")
    listed = requests.get(cluster.namenode_url + "/users", headers=ADMIN_AUTH, timeout=30).json()["users"]
    assert name in {u["name"] for u in listed}
    assert token not in json.dumps(listed), "a token is shown once, never listed"


def test_a_users_private_file_is_theirs_alone(cluster: Cluster, unique_path: str) -> None:
    admin, alice, bob = cluster.client(), cluster.client("alice"), cluster.client("bob")
    admin.mkdirs(unique_path, permission=0o1777)
    private = unique_path + "/diary"
    alice.tee(private, b"alice's secret")
    alice._set_permission(private, permission="600")
    bob_auth = bearer(cluster.token_for("bob"))
    for method, params in [("GET", {"op": "OPEN"}), ("PUT", {"op": "CREATE", "overwrite": "true"}),
                           ("POST", {"op": "APPEND"}), ("PUT", {"op": "RENAME", "destination": unique_path + "/mine"}),
                           ("DELETE", {"op": "DELETE"}), ("PUT", {"op": "SETPERMISSION", "permission": "777"}),
                           ("GET", {"op": "OPEN", "user.name": "alice"}), ("GET", {"op": "OPEN", "doas": "alice"})]:
        response = requests.request(method, nn_url(cluster, private), params=params, headers=bob_auth,
                                    allow_redirects=False, timeout=30)
        assert_refused(response, 403, "AccessControlException")
    with pytest.raises(PermissionError):
        bob.cat(private)
    assert alice.cat(private) == b"alice's secret"
    alice.tee(private, b"rewritten by alice")
    assert alice.cat(private) == b"rewritten by alice"
    alice.mv(private, unique_path + "/diary2")
    alice.rm(unique_path + "/diary2")
    assert not admin.ls(unique_path)


def test_doas_is_for_administrators_only(cluster: Cluster, unique_path: str) -> None:
    cluster.client().mkdirs(unique_path, permission=0o777)
    carol = bearer(cluster.token_for("carol"))
    response = requests.put(nn_url(cluster, unique_path + "/x"), params={"op": "MKDIRS", "doas": "root"},
                            headers=carol, timeout=30)
    assert_refused(response, 403, "AccessControlException")
    made = requests.put(nn_url(cluster, unique_path + "/by-carol"), params={"op": "MKDIRS", "doas": "carol"},
                        headers=ADMIN_AUTH, timeout=30)
    assert made.status_code == 200, made.text
    status = requests.get(nn_url(cluster, unique_path + "/by-carol"), params={"op": "GETFILESTATUS"},
                          headers=carol, timeout=30).json()["FileStatus"]
    assert status["owner"] == "carol"


def test_a_revoked_or_rotated_token_stops_working_at_once(cluster: Cluster, unique_path: str) -> None:
    name = "r" + uuid.uuid4().hex[:8]
    token = requests.post(cluster.namenode_url + "/users", json={"name": name}, headers=ADMIN_AUTH,
                          timeout=30).json()["token"]
    probe = nn_url(cluster, "/") + "?op=GETFILESTATUS"
    assert requests.get(probe, headers=bearer(token), timeout=30).status_code == 200
    rotated = requests.post(f"{cluster.namenode_url}/users/{name}/token", headers=ADMIN_AUTH, timeout=30)
    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["token"]
    assert_refused(requests.get(probe, headers=bearer(token), timeout=30), 401, "SecurityException")
    assert requests.get(probe, headers=bearer(new_token), timeout=30).status_code == 200
    # a redirect's grant dies with the user too
    cluster.client().mkdirs(unique_path, permission=0o777)
    step1 = requests.put(nn_url(cluster, unique_path + "/f"), params={"op": "CREATE"}, headers=bearer(new_token),
                         allow_redirects=False, timeout=30)
    assert step1.status_code == 307
    assert requests.delete(f"{cluster.namenode_url}/users/{name}", headers=ADMIN_AUTH, timeout=30).status_code == 200
    assert_refused(requests.get(probe, headers=bearer(new_token), timeout=30), 401, "SecurityException")
    step2 = requests.put(step1.headers["Location"], data=b"too late", timeout=30)
    assert step2.status_code == 401, step2.text
    assert cluster.client().ls(unique_path) == []


def test_delegation_tokens_get_renew_cancel(cluster: Cluster) -> None:
    dave = bearer(cluster.token_for("dave"))
    got = requests.get(nn_url(cluster, "/"), params={"op": "GETDELEGATIONTOKEN", "renewer": "dave"}, headers=dave,
                       timeout=30)
    assert got.status_code == 200, got.text
    token = got.json()["Token"]["urlString"]
    me = requests.get(cluster.namenode_url + "/whoami", params={"delegation": token}, timeout=30).json()
    assert me["name"] == "dave" and me["via"] == "delegation token"
    status = requests.get(nn_url(cluster, "/"), params={"op": "GETFILESTATUS", "delegation": token}, timeout=30)
    assert status.status_code == 200
    renewed = requests.put(nn_url(cluster, "/"), params={"op": "RENEWDELEGATIONTOKEN", "token": token},
                           headers=dave, timeout=30)
    assert renewed.status_code == 200 and renewed.json()["long"] > time.time() * 1000
    other = bearer(cluster.token_for("erin"))
    assert_refused(requests.put(nn_url(cluster, "/"), params={"op": "CANCELDELEGATIONTOKEN", "token": token},
                                headers=other, timeout=30), 403, "AccessControlException")
    cancelled = requests.put(nn_url(cluster, "/"), params={"op": "CANCELDELEGATIONTOKEN", "token": token},
                             headers=dave, timeout=30)
    assert cancelled.status_code == 200
    assert_refused(requests.get(nn_url(cluster, "/"), params={"op": "GETFILESTATUS", "delegation": token},
                                timeout=30), 401, "SecurityException")


def test_failed_authentications_are_rate_limited(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=0, env={"DFS_AUTH_FAILURES": "5"})
    codes = [requests.get(cluster.namenode_url + "/status", headers=bearer(f"dfs1.{n}.guess"), timeout=30).status_code
             for n in range(8)]
    assert codes[0] == 401 and codes[-1] == 429, codes
    response = requests.get(cluster.namenode_url + "/status", headers=ADMIN_AUTH, timeout=30)
    assert_refused(response, 429, "SecurityException")  # even the right token waits out the window


# -- nodes and internal calls ---------------------------------------------------------------------

def test_a_data_node_with_a_wrong_secret_never_joins(cluster: Cluster, tmp_path: Any) -> None:
    before = {d["id"] for d in cluster.status()["datanodes"]}
    intruder = Node(DATA_NODE_CLASS, "intruder", tmp_path / "intruder", tmp_path / "intruder.log",
                    dict(cluster.env, DFS_NAMENODE_URL=cluster.namenode_url, DFS_SECRET="not-the-cluster-secret-at-all"))
    intruder.start()
    try:
        wait_for(lambda: "DFS_SECRET" in intruder.log_text(), 20,
                 message="the intruder's heartbeat refused")
        time.sleep(1.5)  # three more heartbeats
        assert {d["id"] for d in cluster.status()["datanodes"]} == before
        assert intruder.node_id not in before
    finally:
        intruder.stop()


def _signed(method: str, url: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    return RequestSigner(secret, "attacker").headers(method, url, body=body)


def test_forged_internal_calls_change_nothing(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client()
    nn.tee(unique_path, b"precious" * 1000)
    before = replicas(cluster, unique_path)
    assert before and len(before[0]) == 3
    block = requests.get(nn_url(cluster, unique_path), params={"op": "GETFILEBLOCKLOCATIONS"}, headers=ADMIN_AUTH,
                         timeout=30).json()["BlockLocations"]["BlockLocation"][0]["blockId"]
    real = cluster.datanodes[0].node_id
    forged = {
        "heartbeat": {"id": "evil", "url": "http://127.0.0.1:9", "capacity": 10**15, "used": 0,
                      "remaining": 10**15, "blocks": 0},
        "block_report": {"id": real, "blocks": []},
        "block_received": {"id": real, "blocks": [{"blockId": block, "length": 8000, "checksum": "0" * 16,
                                                   "holders": ["ghost1", "ghost2"]}]},
        "bad_block": {"id": real, "blockId": block, "reason": "forged"},
    }
    for name, payload in forged.items():
        url = f"{cluster.namenode_url}/internal/{name}"
        body = json.dumps(payload).encode()
        for headers in ({}, ADMIN_AUTH, _signed("POST", url, body, secret="a-wrong-secret-0123456789")):
            response = requests.post(url, data=body, headers={"Content-Type": "application/json", **headers},
                                     timeout=30)
            assert_refused(response, 401, "SecurityException")
        # a correctly signed call replayed, or with its body altered, is refused as well
        good = _signed("POST", url, json.dumps({"id": real, "blocks": [], "signed": "this body"}).encode())
        altered = requests.post(url, data=body, headers={"Content-Type": "application/json", **good}, timeout=30)
        assert_refused(altered, 401, "SecurityException")
    time.sleep(2.0)  # four heartbeats and a heal pass
    assert "evil" not in {d["id"] for d in cluster.status()["datanodes"]}
    assert replicas(cluster, unique_path) == before
    assert nn.cat(unique_path) == b"precious" * 1000


def test_a_signed_internal_call_is_accepted_once(cluster: Cluster) -> None:
    node = cluster.datanodes[0].node_id
    url = f"{cluster.namenode_url}/internal/block_received"
    body = json.dumps({"id": node, "blocks": []}).encode()
    headers = {"Content-Type": "application/json", **auth_headers("POST", url, body, {"Authorization": "none"})}
    first = requests.post(url, data=body, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert_refused(requests.post(url, data=body, headers=headers, timeout=30), 401, "SecurityException")
