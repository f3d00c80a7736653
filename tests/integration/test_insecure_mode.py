"""The development mode (no ``DFS_SECRET``; ``DFS_INSECURE=1`` for scripts/up.sh): ``user.name`` is
believed, as on an HDFS without security, and the security operations answer as such an HDFS does
(GETDELEGATIONTOKEN: ``{"Token": null}``) or say what they need."""
from __future__ import annotations

from collections.abc import Callable

import hdfs
import requests

from tests.cluster import Cluster


def test_user_name_is_believed_and_there_are_no_tokens(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(secure=False)
    nn = f"{cluster.namenode_url}/webhdfs/v1"
    made = requests.put(f"{nn}/home-alice", params={"op": "MKDIRS", "user.name": "root"}, timeout=30)
    assert made.json() == {"boolean": True}
    requests.put(f"{nn}/home-alice", params={"op": "SETOWNER", "owner": "alice", "user.name": "root"}, timeout=30)

    client = hdfs.InsecureClient(cluster.namenode_url, user="alice")  # HdfsCLI as against such an HDFS
    client.write("/home-alice/a.txt", data=b"plain")
    assert client.status("/home-alice/a.txt")["owner"] == "alice"
    with client.read("/home-alice/a.txt") as reader:
        assert reader.read() == b"plain"
    denied = requests.put(f"{nn}/home-alice/b", params={"op": "MKDIRS", "user.name": "bob"}, timeout=30)
    assert denied.status_code == 403  # permissions still hold, for whoever one claims to be

    token = requests.get(f"{nn}/", params={"op": "GETDELEGATIONTOKEN", "user.name": "alice"}, timeout=30)
    assert (token.status_code, token.json()) == (200, {"Token": None})
    users = requests.get(f"{cluster.namenode_url}/users", params={"user.name": "root"}, timeout=30)
    assert users.status_code in (400, 405) and "DFS_SECRET" in users.json()["RemoteException"]["message"]
