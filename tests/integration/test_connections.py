"""Kept-alive connections, against real nodes: the name node and data nodes answer every request
of a connection whatever the gaps between them (``server.NodeWorker`` serves a busy connection's
next request on the thread that answered the last one, a quiet one goes back to gunicorn's poller),
and a client's block PUTs reuse their connections without ever writing into a dead one."""
from __future__ import annotations

import http.client
import socket
import threading
import time
import pytest

from server import LINGER_SECONDS
from tests.cluster import Cluster, wait_for

PING = b"GET /ping_alive HTTP/1.1\r\nHost: test\r\n\r\n"


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """The status lines of the next ``count`` answers on ``sock`` (bodies read and dropped)."""
    reader = sock.makefile("rb")
    statuses = []
    for _ in range(count):
        status = reader.readline()
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        reader.read(length)
        statuses.append(status.strip())
    return statuses


@pytest.mark.parametrize("node", ["name", "data"])
def test_one_connection_is_answered_back_to_back_pipelined_and_after_pauses(cluster: Cluster, node: str) -> None:
    port = cluster.namenode_port if node == "name" else cluster.datanodes[0].port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(5):  # back to back: served by the lingering thread
            sock.sendall(PING)
            assert read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]
        sock.sendall(PING * 3)  # pipelined: the next requests are already read ahead
        assert read_answers(sock, 3) == [b"HTTP/1.1 200 OK"] * 3
        for pause in (LINGER_SECONDS / 2, LINGER_SECONDS * 3, 0.3):  # within, past the linger: the poller's
            time.sleep(pause)
            sock.sendall(PING)
            assert read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]


def test_many_busy_connections_and_a_new_one_are_all_served(cluster: Cluster) -> None:
    """More busy connections than half the pool (the most that linger): the others go through the
    poller, and a newcomer is answered while they run."""
    errors: list[BaseException] = []
    done = threading.Event()

    def busy() -> None:
        try:
            with socket.create_connection(("127.0.0.1", cluster.namenode_port), timeout=20) as sock:
                while not done.is_set():
                    sock.sendall(PING)
                    assert read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=busy) for _ in range(40)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        connection = http.client.HTTPConnection("127.0.0.1", cluster.namenode_port, timeout=20)
        connection.request("GET", "/ping_alive")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert errors == []


def count_connects(monkeypatch: pytest.MonkeyPatch, ports: set[int]) -> list[int]:
    """Every new connection made to one of ``ports`` from now on, by port."""
    made: list[int] = []
    connect = http.client.HTTPConnection.connect

    def counted(self: http.client.HTTPConnection) -> None:
        if self.port in ports:
            made.append(self.port)
        connect(self)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", counted)
    return made


def test_block_puts_reuse_their_connections_and_skip_those_a_restart_closed(
        fresh_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    nn = fresh_cluster.client()
    ports = {node.port for node in fresh_cluster.datanodes}
    made = count_connects(monkeypatch, ports)
    nn.mkdirs("/kept")
    for i in range(20):
        nn.tee(f"/kept/f{i}", b"%d" % i * 5000)
    # the client opens at most one connection per head node for 20 files (was: one per file)
    assert 1 <= len(made) <= len(ports)

    killed = fresh_cluster.datanodes[0]  # kill -9 and back on its port: its kept connections are dead
    killed.kill()
    killed.fixed_port = True
    killed.start()
    wait_for(lambda: killed.node_id in fresh_cluster.alive_ids() and len(fresh_cluster.alive_ids()) == 3)
    made.clear()
    for i in range(20, 40):
        nn.tee(f"/kept/f{i}", b"%d" % i * 5000)
    for i in range(40):
        assert nn.cat(f"/kept/f{i}") == b"%d" % i * 5000
    # no write failed into a stale connection: every block still went to all three nodes
    for i in range(20, 40):
        blocks = nn.block_locations(f"/kept/f{i}")["BlockLocation"]
        assert [len(block["dataNodes"]) for block in blocks] == [3], blocks
    assert made, "the killed node's connection was not replaced by a new one"
