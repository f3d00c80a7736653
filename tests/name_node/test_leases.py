"""Directory leases on a real name node (``name_node/leases.py``, ``handlers/leases.py``), driven
through ``HttpNameNode`` sessions: what a grant reserves, what BATCH accepts and refuses, and
that another client's request waits until the holder's creates are in (recall), or until a
silent holder's lease expires."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from dfs_common.errors import AlreadyExists
from name_node.leases import LEASE_SECONDS


def session_client(cluster: Any, session: str) -> Any:
    client = cluster.client()
    client.start_session(session, lambda *_, **__: None)
    return client


def create_op(lease: dict[str, Any], name: str, file_id: int, **extra: Any) -> dict[str, Any]:
    return {"op": "create", "parent": lease["fileId"], "name": name, "fileId": file_id,
            "permission": "640", **extra}


def test_a_grant_reserves_numbers_and_a_batch_creates_with_them(cluster: Any, unique_path: str) -> None:
    holder = session_client(cluster, "holder-a")
    lease = holder.mkdir_leased(unique_path, ids=8)
    first, end = lease["ids"]
    assert end - first == 8 and lease["fileId"] < first
    answer = holder.batch([create_op(lease, "a", first), create_op(lease, "b", first + 3, addBlock=True)],
                          release=[lease["fileId"]])
    a, b = answer["results"]
    assert a["FileStatus"]["fileId"] == first and a["FileStatus"]["permission"] == "640"
    assert b["FileStatus"]["fileId"] == first + 3 and b["Block"]["pipeline"]
    assert holder.get_status(unique_path + "/b")["fileId"] == first + 3
    # numbers are used once and in order: one below the last used, or one used, is refused
    again = holder.batch([create_op(lease, "c", first + 1), create_op(lease, "d", first + 3)])["results"]
    assert [r["RemoteException"]["exception"] for r in again] == ["ConcurrentModificationException"] * 2
    # the same batch sent again (its answer lost) answers the creates as made
    assert holder.batch([create_op(lease, "b", first + 3)])["results"][0]["FileStatus"]["fileId"] == first + 3


def test_another_session_cannot_use_the_numbers_or_a_taken_name(cluster: Any, unique_path: str) -> None:
    holder, other = session_client(cluster, "holder-b"), session_client(cluster, "other-b")
    lease = holder.mkdir_leased(unique_path, ids=4)
    first = lease["ids"][0]
    refused = other.batch([create_op(lease, "x", first)])["results"][0]  # leased by another
    assert refused["RemoteException"]["exception"] == "ConcurrentModificationException"
    unreserved = holder.batch([create_op(lease, "y", 10**12)])["results"][0]
    assert unreserved["RemoteException"]["exception"] == "ConcurrentModificationException"
    holder.batch([create_op(lease, "x", first)], release=[lease["fileId"]])
    with pytest.raises(AlreadyExists):
        other.commit(unique_path + "/x", [], create=True, overwrite=False)
    assert [s["pathSuffix"] for s in other.list_status(unique_path)] == ["x"]


def test_another_client_waits_for_the_holder_to_release(cluster: Any, unique_path: str) -> None:
    holder = session_client(cluster, "holder-c")
    stranger = cluster.client()
    lease = holder.mkdir_leased(unique_path, ids=4)
    seen: list[list[str]] = []
    thread = threading.Thread(target=lambda: seen.append([s["pathSuffix"] for s in stranger.list_status(unique_path)]))
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive() and not seen  # the listing waits on the lease
    answer = holder.batch([create_op(lease, "made-blind", lease["ids"][0])])
    assert answer["recalled"] == [lease["fileId"]]  # the holder learns of the recall in its answer
    holder.batch([], release=[lease["fileId"]])
    thread.join(10)
    assert seen == [["made-blind"]]


def test_a_silent_holder_loses_its_lease(cluster: Any, unique_path: str) -> None:
    holder = session_client(cluster, "holder-d")
    holder.mkdir_leased(unique_path)
    started = time.monotonic()
    assert cluster.client().get_status(unique_path)["type"] == "DIRECTORY"
    waited = time.monotonic() - started
    assert LEASE_SECONDS - 1 <= waited <= LEASE_SECONDS + 5


def test_a_lease_survives_a_name_node_restart(make_cluster: Any) -> None:
    cluster = make_cluster()
    holder = session_client(cluster, "holder-e")
    lease = holder.mkdir_leased("/leased", ids=4)
    cluster.namenode.kill()
    cluster.namenode.restart()
    stranger = cluster.client()
    found: list[Any] = []
    thread = threading.Thread(target=lambda: found.append([s["pathSuffix"] for s in stranger.list_status("/leased")]))
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # still the holder's: its creates, made before the restart, go in first
    holder.batch([create_op(lease, "before-restart", lease["ids"][0])], release=[lease["fileId"]])
    thread.join(10)
    assert found == [["before-restart"]]


def test_bad_batches_are_refused_whole(cluster: Any) -> None:
    holder = session_client(cluster, "holder-f")
    for body in ({"ops": "x"}, {"ops": [], "release": ["a"]}, {"ops": [], "ids": 10**9}):
        with pytest.raises(Exception) as caught:
            holder._batch("/", json_body=body)
        assert getattr(caught.value, "status", None) == 400
    results = holder.batch([{"op": "rmrf"}, {"op": "create", "parent": 1, "name": "a/b", "fileId": 5}])["results"]
    assert [r["RemoteException"]["exception"] for r in results] == ["IllegalArgumentException"] * 2
    no_session = cluster.client()
    with pytest.raises(Exception) as caught:
        no_session.batch([])
    assert getattr(caught.value, "status", None) == 400


def test_a_watch_answers_as_soon_as_the_lease_is_recalled(cluster: Any, unique_path: str) -> None:
    holder = session_client(cluster, "holder-g")
    lease = holder.mkdir_leased(unique_path)
    assert holder.batch([], wait=2)["recalled"] == []  # nobody asked: answered after the wait, renewed
    watched: list[Any] = []
    watch = threading.Thread(target=lambda: watched.append(holder.batch([], wait=2)["recalled"]))
    watch.start()
    listed: list[Any] = []
    stranger = threading.Thread(target=lambda: listed.append(list(cluster.client().list_status(unique_path))))
    stranger.start()
    watch.join(10)
    assert watched == [[lease["fileId"]]] and not listed  # recalled; the stranger still waits
    holder.batch([], release=[lease["fileId"]])
    stranger.join(10)
    assert listed == [[]]


def test_a_blind_delete_removes_only_the_file_it_names(cluster: Any, unique_path: str) -> None:
    holder = session_client(cluster, "holder-h")
    lease = holder.mkdir_leased(unique_path, ids=4)
    first = lease["ids"][0]
    holder.batch([create_op(lease, "a", first), create_op(lease, "b", first + 1)])
    wrong, right, again = holder.batch([
        {"op": "delete", "parent": lease["fileId"], "name": "a", "fileId": first + 1},
        {"op": "delete", "parent": lease["fileId"], "name": "b", "fileId": first + 1},
        {"op": "delete", "parent": lease["fileId"], "name": "b", "fileId": first + 1},  # sent again
    ], release=[lease["fileId"]])["results"]
    assert wrong["RemoteException"]["exception"] == "ConcurrentModificationException"
    assert right["timeNs"] > 0 and again == {}
    assert [s["pathSuffix"] for s in cluster.client().list_status(unique_path)] == ["a"]
