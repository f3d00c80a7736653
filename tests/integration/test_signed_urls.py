"""Data nodes serve and take bytes only on URLs the name node signed; ids are not guessable; the
audit log; TLS. Real processes, DFS_SECRET set, plain HTTP as an attacker would send it."""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from dfs_common.blocks import CHECKSUM_HEADER, PIPELINE_HEADER, checksum
from tests.cluster import ADMIN_AUTH, Cluster, remote_exception


def nn_url(cluster: Cluster, path: str) -> str:
    return f"{cluster.namenode_url}/webhdfs/v1{path}"


def with_query(url: str, change: Any) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(change(parse_qsl(parts.query)))))


def assert_denied(response: requests.Response) -> None:
    assert response.status_code in (401, 403), (response.status_code, response.text[:300])
    assert remote_exception(response)["exception"] in ("AccessControlException", "SecurityException")


def redirect(cluster: Cluster, path: str, op: str = "OPEN", method: str = "GET", **params: str) -> str:
    answer = requests.request(method, nn_url(cluster, path), params={"op": op, **params}, headers=ADMIN_AUTH,
                              allow_redirects=False, timeout=30)
    assert answer.status_code == 307, answer.text
    return str(answer.headers["Location"])


def locations(cluster: Cluster, path: str) -> list[dict[str, Any]]:
    answer = requests.get(nn_url(cluster, path), params={"op": "GETFILEBLOCKLOCATIONS"}, headers=ADMIN_AUTH, timeout=30)
    return list(answer.json()["BlockLocations"]["BlockLocation"])


def test_a_redirect_url_unsigned_altered_or_for_another_path_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client()
    nn.mkdirs(unique_path)
    nn.tee(unique_path + "/a", b"0123456789" * 100)
    nn.tee(unique_path + "/b", b"other file")
    location = redirect(cluster, unique_path + "/a", offset="10", length="5")
    assert requests.get(location, timeout=30).content == b"01234"
    # a second copy of a parameter appended (HdfsCLI's TokenClient appends delegation=): every
    # handler reads the first, signed one, so it changes nothing and is let through
    assert requests.get(location + "&offset=0&length=1000", timeout=30).content == b"01234"
    tampered = {
        "unsigned": with_query(location, lambda q: [(k, v) for k, v in q if k != "dfs.sig"]),
        "offset": with_query(location, lambda q: [(k, "0" if k == "offset" else v) for k, v in q]),
        "length": with_query(location, lambda q: [(k, "1000" if k == "length" else v) for k, v in q]),
        "op": with_query(location, lambda q: [(k, "GETFILECHECKSUM" if k == "op" else v) for k, v in q]),
        "later expiry": with_query(location, lambda q: [(k, str(int(v) + 3600) if k == "dfs.exp" else v) for k, v in q]),
        "other user": with_query(location, lambda q: [(k, "alice" if k == "user.name" else v) for k, v in q]),
        "other path": location.replace(unique_path + "/a", unique_path + "/b"),
        "added parameter": location + "&OFFSET=0",
    }
    for what, url in tampered.items():
        response = requests.get(url, timeout=30)
        assert_denied(response)
        assert b"other file" not in response.content and b"0123" not in response.content, what


def test_an_expired_url_is_refused(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(datanodes=1, env={"DFS_URL_TTL": "1", "DFS_REPLICATION": "1"})
    cluster.client().tee("/f", b"expiring")
    late = cluster.client().open("/late", "wb")  # its first block, handed out at open, expires unused
    location = redirect(cluster, "/f")
    block = locations(cluster, "/f")[0]
    block_url = f"{block['dataNodes'][0]['url']}/blocks/{block['blockId']}?{block['access']}"
    assert requests.get(block_url, timeout=30).content == b"expiring"
    time.sleep(2.1)
    assert_denied(requests.get(location, timeout=30))
    assert_denied(requests.get(block_url, timeout=30))
    sync = requests.post(f"{block['dataNodes'][0]['url']}/sync", timeout=30,  # a long-open writer's fsync
                         json={"blocks": [block["blockId"]], "access": [block["access"]]})
    assert sync.json() == {"synced": 1}, sync.text
    assert cluster.client().cat("/f") == b"expiring", "a client asks for fresh locations and reads on"
    late.write(b"written late")
    late.close()  # the refused PUT is retried with a fresh ADDBLOCK
    assert cluster.client().cat("/late") == b"written late"


def test_a_block_by_bare_id_or_with_another_blocks_signature_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client()
    nn.mkdirs(unique_path)
    nn.tee(unique_path + "/secret", b"top secret bytes")
    nn.tee(unique_path + "/mine", b"my own bytes")
    secret, mine = locations(cluster, unique_path + "/secret")[0], locations(cluster, unique_path + "/mine")[0]
    node = secret["dataNodes"][0]["url"]
    bare = f"{node}/blocks/{secret['blockId']}"
    for url in (bare, bare + "/digests", f"{bare}?{mine['access']}", f"{bare}/digests?{mine['access']}"):
        response = requests.get(url, timeout=30)
        assert_denied(response)
        assert b"top secret" not in response.content
    evil = b"overwritten!"
    for url in (bare, f"{bare}?{secret['access']}"):  # unsigned, or a read signature used to write
        assert_denied(requests.put(url, data=evil, headers={CHECKSUM_HEADER: checksum(evil)}, timeout=30))
    assert requests.get(f"{bare}?{secret['access']}", timeout=30).content == b"top secret bytes"
    sync = f"{node}/sync"  # a writer's fsync of stored blocks: each named block needs its signature too
    for body in ({"blocks": [secret["blockId"]]}, {"blocks": [secret["blockId"]], "access": [mine["access"]]}):
        assert_denied(requests.post(sync, json=body, timeout=30))
    assert requests.post(sync, json={"blocks": [secret["blockId"]], "access": [secret["access"]]},
                         timeout=30).json() == {"synced": 1}
    assert nn.cat(unique_path + "/secret") == b"top secret bytes"


def test_a_pipeline_the_name_node_did_not_place_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client()
    nn.tee(unique_path, b"")
    block = nn.add_block(unique_path, replication=3)
    head, rest = block["pipeline"][0]["url"], [node["url"] for node in block["pipeline"][1:]]
    data = b"pipeline bytes"
    url = f"{head}/blocks/{block['blockId']}?{block['access']}"

    def put(pipeline: list[str]) -> requests.Response:
        return requests.put(url, data=data, timeout=30,
                            headers={CHECKSUM_HEADER: checksum(data), PIPELINE_HEADER: ",".join(pipeline)})

    for pipeline in (["http://127.0.0.1:9"], [*rest, "http://169.254.169.254:80"], list(reversed(rest)), rest[:1],
                     [rest[0], rest[0]]):
        assert_denied(put(pipeline))
    assert put(rest).status_code == 201
    other = f"{head}/blocks/{block['blockId'][:-1]}{'0' if block['blockId'][-1] != '0' else '1'}?{block['access']}"
    assert_denied(requests.put(other, data=data, headers={CHECKSUM_HEADER: checksum(data),
                                                          PIPELINE_HEADER: ",".join(rest)}, timeout=30))


def test_block_ids_are_not_a_counter(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client()
    ids = []
    for n in range(4):
        nn.tee(f"{unique_path}-{n}", b"x")
        ids.append(int(locations(cluster, f"{unique_path}-{n}")[0]["blockId"], 16))
    assert len(set(ids)) == 4
    assert all(abs(b - a) > 2**32 for a, b in zip(ids, ids[1:])), [f"{i:016x}" for i in ids]


def test_a_data_node_answers_only_signed_requests_beyond_ping(cluster: Cluster) -> None:
    node = cluster.datanodes[0]
    assert requests.get(node.url + "/ping_alive", timeout=30).status_code == 200
    metrics = requests.get(node.url + "/metrics", timeout=30)  # counters for a scraper, no ids or paths
    assert metrics.status_code == 200 and str(node.root) not in metrics.text and node.node_id not in metrics.text
    response = requests.get(node.url + "/status", headers=ADMIN_AUTH, timeout=30)  # a user's token: not a node
    assert response.status_code == 401, response.text
    assert "root" not in response.text
    assert node.status()["id"] == node.node_id  # signed as a node: answered


def test_the_audit_log_has_one_line_per_operation(make_cluster: Any, tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    cluster: Cluster = make_cluster(datanodes=1, env={"DFS_AUDIT_LOG": str(audit), "DFS_REPLICATION": "1"})
    alice = cluster.token_for("alice")
    before = len(audit.read_text().splitlines())
    auth = {"Authorization": f"Bearer {alice}"}
    base = nn_url(cluster, "/tmp")
    calls = [("PUT", "", {"op": "MKDIRS"}, ADMIN_AUTH), ("PUT", "", {"op": "SETPERMISSION", "permission": "1777"}, ADMIN_AUTH),
             ("PUT", "/a", {"op": "MKDIRS"}, auth), ("GET", "/a", {"op": "GETFILESTATUS"}, auth),
             ("PUT", "/a", {"op": "RENAME", "destination": "/tmp/b"}, auth), ("DELETE", "", {"op": "DELETE"}, auth),
             ("GET", "/b", {"op": "LISTSTATUS"}, {})]
    for method, path, params, headers in calls:
        requests.request(method, base + path, params=params, headers=headers, timeout=30)
    lines = [json.loads(line) for line in audit.read_text().splitlines()[before:]]
    assert [(e["op"], e["path"], e["status"]) for e in lines] == [
        ("MKDIRS", "/tmp", 200), ("SETPERMISSION", "/tmp", 200), ("MKDIRS", "/tmp/a", 200),
        ("GETFILESTATUS", "/tmp/a", 200), ("RENAME", "/tmp/a", 200), ("DELETE", "/tmp", 403),
        ("LISTSTATUS", "/tmp/b", 401)], lines
    assert [e["user"] for e in lines] == ["root", "root", "alice", "alice", "alice", "alice", None]
    assert lines[4]["dst"] == "/tmp/b" and all(e["ip"] == "127.0.0.1" for e in lines)
    assert audit.stat().st_mode & 0o077 == 0


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (``cert.pem``, also the CA clients trust) and its
    key (``key.pem``), made here with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path


def test_tls_end_to_end(make_cluster: Any, certificate: Path) -> None:
    from dfs_client import HttpNameNode, Transport

    cert, key = certificate / "cert.pem", certificate / "key.pem"
    cluster: Cluster = make_cluster(datanodes=2, env={"DFS_TLS_CERT": str(cert), "DFS_TLS_KEY": str(key),
                                                       "DFS_TLS_CA": str(cert), "DFS_REPLICATION": "2"})
    assert cluster.namenode_url.startswith("https://")
    nn = HttpNameNode(cluster.namenode_url, token=cluster.token, transport=Transport(ca_bundle=str(cert)))
    try:
        nn.tee("/tls.bin", b"over TLS" * 1000)
        assert nn.cat("/tls.bin") == b"over TLS" * 1000
        assert all(node["url"].startswith("https://") for node in locations_tls(cluster, cert))
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(cluster.namenode_url + "/ping_alive", timeout=30)  # an unknown CA is refused
        plain = cluster.namenode_url.replace("https://", "http://")
        with pytest.raises(requests.RequestException):
            requests.get(plain + "/ping_alive", timeout=10)
    finally:
        nn.close()
    # the command line verifies with DFS_TLS_CA, and without it refuses the unknown certificate
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFS_")}
    env.update(DFS_CONFIG="/nonexistent/dfs.toml", DFS_NAMENODE_URL=cluster.namenode_url, DFS_TOKEN=cluster.token)
    dfs = [str(Path(sys.executable).parent / "dfs"), "cat", "/tls.bin"]
    trusted = subprocess.run(dfs, env={**env, "DFS_TLS_CA": str(cert)}, capture_output=True, timeout=60)
    assert trusted.returncode == 0 and trusted.stdout == b"over TLS" * 1000, trusted.stderr
    untrusted = subprocess.run(dfs, env=env, capture_output=True, timeout=60)
    assert untrusted.returncode != 0 and not untrusted.stdout
    assert b"certificate" in untrusted.stderr.lower() and len(untrusted.stderr.strip().splitlines()) == 1, \
        untrusted.stderr


def locations_tls(cluster: Cluster, cert: Path) -> list[dict[str, Any]]:
    answer = requests.get(nn_url(cluster, "/tls.bin"), params={"op": "GETFILEBLOCKLOCATIONS"}, headers=ADMIN_AUTH,
                          verify=str(cert), timeout=30)
    return [node for block in answer.json()["BlockLocations"]["BlockLocation"] for node in block["dataNodes"]]
