"""Cutting block transfers to data nodes the name node has declared dead.

A hung data node (a stopped process, a frozen VM) keeps its connections open and answers nothing,
so a socket timeout long enough for a slow but live transfer (a 256 MiB block fsynced on a busy
disk) holds a writer for a minute. The name node knows better within a few heartbeats: a node
silent for ``dead_after`` heartbeats is dead. ``Liveness`` holds the in-flight transfers of one
process and the name node's latest verdict; when a node a transfer depends on is declared dead,
its socket is shut down, so the transfer fails at once and the writer retries without that node.
A live node is never cut however slow it is, and without news from the name node nothing is cut
(the socket timeouts remain the backstop).

Two ways to hear the verdict: a data node's heartbeat answers carry it (``update``), a client polls
the name node's ``GET /liveness`` once a heartbeat interval while it has transfers in flight.
"""
from __future__ import annotations

import itertools
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("dfs.client.liveness")

# Until the name node said how often data nodes heartbeat: poll at this pace.
DEFAULT_POLL = 1.0
# A poller with nothing to watch for this long ends (the next transfer starts it again).
IDLE_EXIT = 30.0


class Cut:
    """One transfer's off switch: ``fire`` records the dead node and shuts the socket down (never
    closes it: the transfer's own thread owns the descriptor), waking a blocked send or receive."""

    def __init__(self) -> None:
        self.node: str | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """The transfer's socket, once connected (a cut that came first shuts it at once)."""
        with self._lock:
            self._sock = sock
            if self.node is not None:
                _shutdown(sock)

    def detach(self) -> None:
        with self._lock:
            self._sock = None

    def fire(self, node: str) -> None:
        with self._lock:
            if self.node is None:
                self.node = node
            _shutdown(self._sock)


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected


class Liveness:
    """The in-flight transfers of a process and the dead data nodes they must not wait for.

    Nodes are named by any string the name node's verdict uses for them: id, URL or public URL.
    ``poll`` (a client's) answers the name node's ``/liveness`` body; without it (a data node's)
    the verdict arrives through ``update``.
    """

    def __init__(self, poll: Callable[[], Any] | None = None) -> None:
        self._poll = poll
        self._lock = threading.Lock()
        self._watches: dict[int, tuple[frozenset[str], Cut]] = {}
        self._ids = itertools.count()
        self._interval = DEFAULT_POLL
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def watch(self, nodes: Iterable[str]) -> Iterator[Cut]:
        """``with liveness.watch(ids_or_urls) as cut``: a transfer that depends on ``nodes``;
        only verdicts heard after it began can cut it (an older one may predate a restart)."""
        cut = Cut()
        names = frozenset(str(node).rstrip("/") for node in nodes)
        with self._lock:
            token = next(self._ids)
            self._watches[token] = (names, cut)
            if self._poll is not None and not self._closed and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dfs-liveness", daemon=True)
                self._thread.start()
        try:
            yield cut
        finally:
            with self._lock:
                del self._watches[token]

    def update(self, answer: Any) -> None:
        """The name node's verdict (a ``/liveness`` body, or the ``dead`` list of a heartbeat
        answer): cut every transfer that depends on a node it calls dead."""
        if isinstance(answer, dict):
            interval = answer.get("heartbeat")
            if isinstance(interval, (int, float)) and not isinstance(interval, bool) and 0.05 <= interval <= 60:
                self._interval = float(interval)
            answer = answer.get("dead")
        if not isinstance(answer, list):
            return
        dead = {str(node).rstrip("/") for node in answer if isinstance(node, str)}
        if not dead:
            return
        with self._lock:
            doomed = [(names & dead, cut) for names, cut in self._watches.values() if names & dead]
        for names, cut in doomed:
            node = sorted(names)[0]
            log.warning("cutting a block transfer: the name node declared %s dead", node)
            cut.fire(node)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()

    def _run(self) -> None:
        idle = 0.0
        while True:
            with self._lock:
                if self._closed or (not self._watches and idle >= IDLE_EXIT):
                    self._thread = None
                    return
                busy = bool(self._watches)
            if busy:
                idle = 0.0
                try:
                    assert self._poll is not None
                    self.update(self._poll())
                except Exception as error:  # noqa: BLE001 - no verdict: cut nothing, ask again
                    log.debug("liveness poll failed: %s", error)
            else:
                idle += self._interval
            with self._lock:
                if not self._closed:
                    self._wake.wait(self._interval)
