"""Ingest buffers on a real cluster: 8 concurrent writers post 5,000 records, the counters stay
exact, a freeze below the threshold is refused and above it succeeds, writes while frozen fail
(ReadOnly, EROFS; 403 over HTTP) and lose nothing accepted, and the release archives every
record exactly once. Also: a freeze that races with writers keeps every record it acknowledged."""
from __future__ import annotations

import errno
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dfs_common.errors import ReadOnly, WrongState
from tests.cluster import Cluster, web

WRITERS = 8
RECORDS = 5000


def record(writer: int, seq: int) -> bytes:
    """A small JSON record, unique per (writer, seq), of varying length."""
    return json.dumps({"writer": writer, "seq": seq, "strain": [seq * 0.5] * (seq % 7)}).encode()


def read_all(nn: Any, directory: str) -> list[bytes]:
    names = [s["pathSuffix"] for s in nn.list_status(directory)]
    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(lambda name: nn.cat(f"{directory}/{name}"), names))


def test_concurrent_posts_freeze_and_release(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    buffer = unique_path + "/buf"
    payloads = {(w, s): record(w, s) for w in range(WRITERS) for s in range(RECORDS // WRITERS)}
    total = sum(len(p) for p in payloads.values())
    created = nn.create_buffer(buffer, max_bytes=total)
    assert (created["n_itm"], created["buff_size"], created["dstatus"]) == (0, 0, "OPERATIONAL")

    refusals: list[WrongState] = []
    done = threading.Event()
    last = (0, RECORDS // WRITERS - 1)  # held back until the freezer stops: below the threshold till then

    def freezer() -> None:
        while not done.wait(0.05):
            try:
                nn.freeze_buffer(buffer)
            except WrongState as error:
                refusals.append(error)

    def writer(w: int) -> None:
        # replication 1: the counters and the names are what is tested, not the pipeline
        for s in range(RECORDS // WRITERS):
            if (w, s) != last:
                nn.post_record(buffer, payloads[(w, s)], suffix=".json", replication=1)

    watcher = threading.Thread(target=freezer)
    watcher.start()
    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            for future in [pool.submit(writer, w) for w in range(WRITERS)]:
                future.result()
    finally:
        done.set()
        watcher.join()
    assert nn.buffer_status(buffer)["dstatus"] == "OPERATIONAL"
    nn.post_record(buffer, payloads[last], suffix=".json", replication=1)
    assert refusals and all(e.errno == errno.EAGAIN for e in refusals)
    status = nn.buffer_status(buffer)
    assert (status["n_itm"], status["buff_size"], status["dstatus"]) == (RECORDS, total, "OPERATIONAL")
    listed = list(nn.list_status(buffer))
    assert len(listed) == RECORDS and sum(s["length"] for s in listed) == total

    frozen = nn.freeze_buffer(buffer)
    assert (frozen["dstatus"], frozen["frozen_by"]) == ("FROZEN", "root")
    with pytest.raises(ReadOnly) as refused:
        nn.post_record(buffer, b'{"late": true}')
    assert refused.value.errno == errno.EROFS
    url = f"{cluster.namenode_url}/webhdfs/v1{buffer}"
    for method, op in (("POST", "POSTRECORD"), ("PUT", "CREATE")):
        target = url if op == "POSTRECORD" else url + "/late.json"
        answer = web.request(method, target, params={"op": op, "user.name": "root"}, data=b"x",
                                  allow_redirects=False, timeout=30)
        assert answer.status_code == 403, answer.text
        assert answer.json()["RemoteException"]["errno"] == "EROFS"
    with pytest.raises(ReadOnly):
        nn.delete(f"{buffer}/{listed[0]['pathSuffix']}")
    with pytest.raises(ReadOnly):
        nn.tee(f"{buffer}/{listed[1]['pathSuffix']}", b"overwritten")
    assert (nn.buffer_status(buffer)["n_itm"], nn.buffer_status(buffer)["buff_size"]) == (RECORDS, total)

    released = nn.release_buffer(buffer)
    archive = released["archive"]
    assert (released["archived_n_itm"], released["archived_buff_size"]) == (RECORDS, total)
    assert (released["n_itm"], released["buff_size"], released["dstatus"]) == (0, 0, "OPERATIONAL")
    contents = read_all(nn, archive)
    assert sorted(contents) == sorted(payloads.values())  # every record, exactly once
    assert nn.post_record(buffer, b"{}")["n_itm"] == 1
    assert [e["event"] for e in nn.buffer_log(buffer)] == ["created", "frozen", "released"]


def test_a_freeze_racing_writers_keeps_every_acknowledged_record(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    buffer = unique_path + "/race"
    nn.create_buffer(buffer, max_bytes=10**9)
    accepted: list[bytes] = []
    refused: list[bytes] = []
    lock = threading.Lock()
    started = threading.Semaphore(0)

    def writer(w: int) -> None:
        for s in range(1000):
            data = record(w, s)
            try:
                nn.post_record(buffer, data, replication=1)
            except ReadOnly:
                with lock:
                    refused.append(data)
                return
            with lock:
                accepted.append(data)
            started.release()

    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(writer, w) for w in range(WRITERS)]
        for _ in range(200):
            started.acquire()
        nn.freeze_buffer(buffer, force=True)
        for future in futures:
            future.result()
    assert len(refused) == WRITERS  # every writer met the freeze
    status = nn.buffer_status(buffer)
    assert status["n_itm"] == len(accepted) and status["buff_size"] == sum(map(len, accepted))
    archive = nn.release_buffer(buffer)["archive"]
    assert sorted(read_all(nn, archive)) == sorted(accepted)


def test_records_over_plain_http(cluster: Cluster, unique_path: str) -> None:
    """curl's view: POSTRECORD follows a 307 to a data node and answers the Record; status JSON."""
    nn = cluster.client("root")
    buffer = unique_path + "/http"
    nn.create_buffer(buffer, max_bytes=8)
    url = f"{cluster.namenode_url}/webhdfs/v1{buffer}"
    first = web.post(url, params={"op": "POSTRECORD", "user.name": "root", "suffix": ".json"},
                          data=b'{"a": 1}', allow_redirects=False, timeout=30)
    assert first.status_code == 307, first.text
    second = web.post(first.headers["Location"], data=b'{"a": 1}', timeout=30)
    assert second.status_code == 201, second.text
    name = second.json()["Record"]["name"]
    assert name.endswith("Z.json") and nn.cat(f"{buffer}/{name}") == b'{"a": 1}'
    followed = web.post(url, params={"op": "POSTRECORD", "user.name": "root"}, data=b"b" * 3, timeout=30)
    assert followed.status_code == 201 and followed.json()["Record"]["n_itm"] == 2
    status = web.get(url, params={"op": "GETBUFFERSTATUS"}, timeout=30).json()["BufferStatus"]
    assert (status["n_itm"], status["buff_size"], status["dstatus"]) == (2, 11, "OPERATIONAL")
    frozen = web.put(url, params={"op": "FREEZEBUFFER", "user.name": "root"}, timeout=30)
    assert frozen.status_code == 200 and frozen.json()["BufferStatus"]["dstatus"] == "FROZEN"
