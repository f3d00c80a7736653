#!/usr/bin/env python3
"""One entry point for both node kinds: ``DFS_NODE_CLASS`` picks ``name_node.NameNode`` or
``data_node.DataNode``; gunicorn serves it with settings that suit the kind.

Both kinds run one worker process with threads: LMDB must be opened after the fork and only one
process may run the background loops (heartbeats, healing, scrubbing), and the data path is I/O that
releases the GIL. The app is built inside the worker (no preload), so nothing is shared across fork.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import select
import sys
import threading
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from dfs_common import discovery
from dfs_common.errors import DFSError, IllegalArgument, Unsupported, to_remote_exception
from dfs_common.settings import ConfigError, Settings


def build_node(settings: Settings) -> Any:
    """The WSGI app object of the configured kind, its background loops started."""
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    module_name, class_name = settings.node_class.rsplit(".", 1)
    node = getattr(importlib.import_module(module_name), class_name)(settings)
    node.start()
    return node


class _ErrorPage:
    """Stands in for the client socket while gunicorn renders an error: keeps its status line."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.written = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.written += data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


# How long a pool thread that just answered on a kept-alive connection waits there for the next
# request before handing the connection back to gunicorn's poller (see ``NodeWorker.handle``).
# 10 ms: several times a client's think time between requests here (a mount's create loop ~1-2 ms),
# short enough that a thread is back in the pool at once when a connection goes quiet.
LINGER_SECONDS = 0.010


class NodeWorker(ThreadWorker):
    """gunicorn's gthread worker with two changes.

    **The next request on a busy connection is served by the thread that answered the last one.**
    gthread hands every kept-alive connection back to its poller thread after each answer, and the
    next request travels poller -> thread pool -> poller again: measured on this project's machine
    (2 cores, a hello-world WSGI app, one keep-alive client), 420-510 us per request against 230 us
    for a bare threaded socket server; the sync worker (no keep-alive: a connection per request)
    took 760 us and gevent 820-890 us. A client of DFS sends its requests back to back (a mount's
    creates, a pipeline's blocks, a data node's reports), so the answering thread waits up to
    ``LINGER_SECONDS`` for the connection's next request and serves it at once (300-350 us on the
    same bench); a quiet connection goes back to the poller as before. At most half the pool
    serves connections this way, so the rest always finds threads.

    **Errors gunicorn answers itself** (a bad request line or header, a URL over
    ``limit_request_line``, an odd ``Expect``, broken chunking) get a RemoteException body like
    every other DFS error instead of an HTML page. gunicorn still decides the status and logs as
    usual; only the body is ours.
    """

    def init_process(self) -> None:
        self._owners = 0  # threads serving one connection's requests in a row
        self._owners_lock = threading.Lock()
        super().init_process()

    def handle(self, conn: Any) -> Any:
        keepalive = super().handle(conn)
        if keepalive is not True or not self._take_ownership():
            return keepalive
        try:
            while keepalive is True and self.alive and self._next_request_arrives(conn):
                conn.data_ready = True
                keepalive = super().handle(conn)
        finally:
            with self._owners_lock:
                self._owners -= 1
        return keepalive

    def _take_ownership(self) -> bool:
        """Whether this thread may keep serving its connection: at most half the pool does, so
        the other half always comes back to serve every other connection (a busy connection
        never lets its thread go, which without this cap starved newcomers behind 32 of them)."""
        with self._owners_lock:
            if self._owners >= self.cfg.threads // 2:
                return False
            self._owners += 1
            return True

    @staticmethod
    def _next_request_arrives(conn: Any) -> bool:
        """Whether the connection's next request is here or comes within ``LINGER_SECONDS``."""
        if conn.parser.unreader.buf.getvalue() or getattr(conn.sock, "pending", lambda: 0)():
            return True  # read ahead already (a drained body, TLS records): no wait at all
        try:
            poller = select.poll()
            poller.register(conn.sock, select.POLLIN)
            return bool(poller.poll(LINGER_SECONDS * 1000))
        except (OSError, ValueError):
            return False  # closed meanwhile: gunicorn's own path notices and cleans up

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _ErrorPage(client)
        super().handle_error(req, page, addr, exc)
        status_line = page.written.split(b"\r\n", 1)[0].split(b" ", 2)
        try:
            status = int(status_line[1])
            reason = status_line[2].decode("latin-1") if len(status_line) > 2 else ""
        except (IndexError, ValueError):
            status, reason = 500, "Internal Server Error"
        cls = Unsupported if status == 501 else IllegalArgument if status < 500 else DFSError
        error = cls(f"{reason}: {exc}"[:500] if status < 500 else reason)
        body = json.dumps(to_remote_exception(error), separators=(",", ":")).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            util.write_nonblock(client, head + body)
        except OSError:
            self.log.debug("Failed to send error message.")


class NodeServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": 1,
            "worker_class": NodeWorker,  # gthread, lingering on busy connections, JSON error bodies
            "threads": s.threads,
            "timeout": 300,
            "graceful_timeout": 10,
            "keepalive": 75,
            "loglevel": s.log_level,
            "accesslog": None,
            "errorlog": "-",
            "proc_name": f"dfs-{'name' if s.is_name_node else 'data'}",
            # 0: no line limit (gunicorn allows nothing between 8190 and unlimited). Paths travel in
            # the URL and may be 64 KiB (dfs_common.paths.MAX_PATH_BYTES); every handler validates it.
            "limit_request_line": 0,
            # gunicorn 27's control socket is one path per user: several nodes on a host would share it.
            "control_socket_disable": True,
        }
        if s.tls_cert:  # https only: gunicorn's own TLS options, from DFS_TLS_CERT / DFS_TLS_KEY
            options.update({"certfile": s.tls_cert, "keyfile": s.tls_key})
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return build_node(self.settings)


def main() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 2
    if not settings.is_name_node and not settings.namenode_url:  # DFS_DISCOVER=1, no address given
        logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr)
        settings = dataclasses.replace(settings, namenode_url=discovery.discover(settings.secret))
    NodeServer(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
