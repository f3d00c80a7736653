"""The one HTTP choke point of the client: every request to a name node or a data node goes through
``Transport.request``, which is where connection pooling, timeouts, retries and the translation of
RemoteException bodies into ``dfs_common.errors`` classes happen (and nowhere else).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from dfs_common.errors import DFSError, Unavailable, from_remote_exception

# 5 s to connect: a live node on a LAN answers a SYN in microseconds, so longer only delays failover
# away from a dead one. 60 s to read: a data node answers a block PUT only after every node of the
# pipeline has fsynced, which on a busy disk can take a while for a 256 MiB block.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
# Many threads of one process (a FUSE mount, read-ahead and write-behind pools) share one session; a
# pool smaller than that would open and close connections at every request.
POOL_SIZE = 64
# Retries of idempotent requests after a connection failure, with these pauses between attempts.
RETRY_PAUSES = (0.1, 0.5)


class NodeUnreachable(Unavailable):
    """The node could not be reached, or the connection broke before it answered.

    Distinct from an ``Unavailable`` a node *answered* with: a block writer excludes an unreachable
    node from its next pipeline.
    """


class Transport:
    """A keep-alive ``requests.Session`` shared by every thread of a client.

    ``requests.Session`` is safe for concurrent requests as long as nobody mutates its settings,
    which this class never does after construction.
    """

    def __init__(self, *, pool_size: int = POOL_SIZE, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or netrc from the environment for cluster traffic
        adapter = HTTPAdapter(pool_connections=32, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.timeout = (connect_timeout, read_timeout)
        self._closed = threading.Event()

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                stream: bool = False, idempotent: bool | None = None, retry: bool = True,
                expect: Iterable[int] | None = None, allow_redirects: bool = False,
                timeout: tuple[float, float] | None = None) -> requests.Response:
        """Send one request; answer the response or raise the ``DFSError`` the server meant.

        A status outside ``expect`` (default: any 2xx) is turned into the error class its
        RemoteException body names. Connection failures become ``NodeUnreachable``; they are retried
        only when repeating the request cannot do harm: always when the connection was never made,
        and for idempotent requests (GET/HEAD/PUT/DELETE unless told otherwise) also when it broke
        mid-way. A request carrying a streamed body is never retried (the stream is spent), nor
        one with ``retry=False`` (block transfers: trying another replica or pipeline beats waiting).
        """
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        replayable = data is None or isinstance(data, (bytes, bytearray, memoryview))
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method, url, params=_clean(params), json=json_body, data=data,
                    headers=dict(headers or {}), stream=stream, allow_redirects=allow_redirects,
                    timeout=timeout or self.timeout)
                break
            except requests.RequestException as error:
                never_sent = isinstance(error, requests.ConnectTimeout) or _refused(error)
                if retry and attempt < len(RETRY_PAUSES) and replayable and (never_sent or idempotent) \
                        and not self._closed.is_set():
                    time.sleep(RETRY_PAUSES[attempt])
                    attempt += 1
                    continue
                raise NodeUnreachable(f"{method} {_short(url)}: {type(error).__name__}: {error}",
                                      url=url) from None
        wanted = set(expect) if expect is not None else None
        ok = response.status_code in wanted if wanted is not None else 200 <= response.status_code < 300
        if not ok:
            raise self._error(response)
        return response

    def json(self, method: str, url: str, **options: Any) -> Any:
        """``request`` and decode the JSON answer; an empty body answers ``None``."""
        response = self.request(method, url, **options)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Unavailable(f"{method} {_short(url)}: answer is not JSON") from None

    @staticmethod
    def _error(response: requests.Response) -> DFSError:
        """The error a non-success answer stands for, rebuilt from its RemoteException body."""
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        finally:
            response.close()
        return from_remote_exception(response.status_code, body)

    def close(self) -> None:
        self._closed.set()
        self.session.close()


def _clean(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query parameters as WebHDFS spells them: ``None`` left out, booleans lower-case."""
    if params is None:
        return None
    cleaned: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return cleaned


def _refused(error: requests.RequestException) -> bool:
    """True when the connection was never established (nothing of the request reached a server):
    requests wraps urllib3's MaxRetryError, whose ``reason`` says what happened."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _short(url: str) -> str:
    return url if len(url) <= 200 else url[:200] + "…"
