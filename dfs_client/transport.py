"""The one HTTP choke point of the client: every request to a name node or a data node goes through
``Transport``, which is where connection pooling, timeouts, retries and the translation of
RemoteException bodies into ``dfs_common.errors`` classes happen (and nowhere else).

Two ways out, one set of rules (``_send``): ``request`` is the full ``requests`` path (uploads,
redirects); ``call`` (small metadata requests, with a ready query string) and ``get`` (block
reads) go straight through the urllib3 pool the session's adapter owns: requests' per-call work
(merging settings, hooks, cookies, preparing and re-quoting the URL) costs about as much client
CPU as the server's whole answer to a GETFILESTATUS.
"""
from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import default_user_agent
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.wait import wait_for_read

from dfs_common.errors import DFSError, Unavailable, from_remote_exception

from .liveness import Cut

# 5 s to connect: a live node on a LAN answers a SYN in microseconds, so longer only delays failover
# away from a dead one. 60 s to read: a data node answers a block PUT only after every node of the
# pipeline has fsynced, which on a busy disk can take a while for a 256 MiB block.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
# A block GET streams from its first byte (sendfile), so a replica silent this long is hung (a stopped
# process, a dead disk): give up on it and read another replica instead of waiting READ_TIMEOUT.
BLOCK_READ_TIMEOUT = 10.0
# Many threads of one process (a FUSE mount, read-ahead and write-behind pools) share one session; a
# pool smaller than that would open and close connections at every request.
POOL_SIZE = 64
# Retries of idempotent requests after a connection failure, with these pauses between attempts.
RETRY_PAUSES = (0.1, 0.5)
# Bytes per send of a block body: a cut (``Cut.fire``) or a stalled peer is noticed between sends.
SEND_SLICE = 1024 * 1024
# Block PUT connections kept open between blocks, per data node, and for how long: well inside the
# nodes' own keep-alive (75 s, server.py), so an idle one is closed by us, not under a PUT by them.
PUT_IDLE_PER_NODE = 8
PUT_IDLE_SECONDS = 20.0

_IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS"))
_HEADERS = {"User-Agent": default_user_agent(), "Accept": "application/json"}
_JSON_HEADERS = {**_HEADERS, "Content-Type": "application/json"}
_BYTES_HEADERS = {"User-Agent": _HEADERS["User-Agent"]}
# What a failed connection raises: requests wraps urllib3's errors, urlopen raises them bare.
_REQUESTS_ERRORS: tuple[type[Exception], ...] = (requests.RequestException,)
_URLLIB3_ERRORS: tuple[type[Exception], ...] = (urllib3.exceptions.HTTPError, OSError)
T = TypeVar("T")


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
                 read_timeout: float = READ_TIMEOUT, ca_bundle: str | None = None) -> None:
        """``ca_bundle``: the PEM file https peers are verified against (default: the system's)."""
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or netrc from the environment for cluster traffic
        self.session.verify = ca_bundle or True
        self._tls = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
        self._pool_tls = {"ssl_context": self._tls}  # the lean path (``call``, ``get``) verifies alike
        adapter = HTTPAdapter(pool_connections=32, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.timeout = (connect_timeout, read_timeout)
        self._retries = adapter.max_retries  # what requests hands urlopen: no retry of its own
        self._pool_timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._get_timeout = urllib3.Timeout(connect=connect_timeout, read=min(read_timeout, BLOCK_READ_TIMEOUT))
        self._closed = threading.Event()
        self._puts = _PutConnections(self._tls)

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
        replayable = data is None or isinstance(data, (bytes, bytearray, memoryview))
        response = self._send(method, url, idempotent, retry and replayable, _REQUESTS_ERRORS, lambda: self.session.request(
            method, url, params=_clean(params), json=json_body, data=data, headers=dict(headers or {}),
            stream=stream, allow_redirects=allow_redirects, timeout=timeout or self.timeout))
        wanted = set(expect) if expect is not None else None
        ok = response.status_code in wanted if wanted is not None else 200 <= response.status_code < 300
        if not ok:
            raise self._error(response)
        return response

    def call(self, method: str, url: str, query: str = "", json_body: Any = None, *,
             idempotent: bool | None = None, headers: Mapping[str, str] | None = None,
             sign: Callable[[str, str, str, bytes | None], Mapping[str, str]] | None = None) -> Any:
        """A small metadata request (no stream, no redirect, 2xx expected): its decoded JSON answer,
        ``None`` for an empty body. ``query`` is ready-encoded (see ``encode_query``).

        The same pool, timeouts, retry rules and error translation as ``request``, without
        requests' per-call machinery: the bytes go through the urllib3 connection pool that the
        session's adapter owns, so keep-alive connections are shared with ``request``.
        ``headers`` are added (a bearer token); ``sign(method, url, query, body)`` answers headers
        that authenticate this exact request, made afresh for each retry (a node's signature).
        """
        if json_body is None:
            body, base = None, _HEADERS
        else:
            body, base = json.dumps(json_body, separators=(",", ":"), allow_nan=False).encode(), _JSON_HEADERS
        if headers:
            base = {**base, **headers}
        if sign is None:
            response = self._urlopen(method, url, query, body, base, idempotent, True, preload=True)
        else:
            response = self._urlopen(method, url, query, body, lambda: {**base, **sign(method, url, query, body)},
                                     idempotent, True, preload=True)
        content = response.data
        if not 200 <= response.status < 300:
            raise _remote_error(response.status, content)
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError:
            raise Unavailable(f"{method} {_short(url)}: answer is not JSON") from None

    @contextmanager
    def get(self, url: str, headers: Mapping[str, str] | None = None,
            expect: Iterable[int] = (200,)) -> Iterator[urllib3.HTTPResponse]:
        """``with transport.get(url) as response``: a GET whose body the caller reads, through the
        same lean path as ``call`` (a small block read pays no more client CPU than it must).
        Never retried (block reads fail over to another replica instead), and a node silent for
        ``BLOCK_READ_TIMEOUT`` counts as unreachable; a status outside ``expect`` raises the error
        its body names; the connection goes back to the pool after."""
        response = self._urlopen("GET", url, "", None, {**_BYTES_HEADERS, **(headers or {})}, True, False,
                                 preload=False, timeout=self._get_timeout)
        try:
            if response.status not in expect:
                raise _remote_error(response.status, response.read())
            yield response
        except BaseException:
            response.close()  # a body left half read must not go back to the pool usable
            raise
        finally:
            response.release_conn()

    def put_block(self, url: str, body: bytes | bytearray | memoryview | Iterable[bytes],
                  headers: Mapping[str, str], length: int | None = None,
                  cut: Cut | None = None, timeout: tuple[float, float] | None = None) -> Any:
        """PUT a block body to a data node on a connection only this transfer uses, so that
        ``cut`` can shut it down from another thread when the name node declares a node the
        transfer waits for dead (see ``liveness``); answers the decoded JSON body of a 2xx, else
        raises the error it names. ``body`` is bytes or an iterable of chunks (``length`` bytes in
        all: without it, chunked). Never retried: a failed block write goes to a fresh pipeline.

        The connection is kept for the next block to the same node (a small file's whole write
        is this one request: a new TCP connection and gunicorn's accept cost as much again).
        Each send and receive must progress within the read timeout, so a slow but live transfer
        of any size goes on, while a hung peer is cut as soon as the name node gives it up."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if isinstance(body, (bytes, bytearray, memoryview)):
            length = len(body)
        connect_timeout, read_timeout = timeout or self.timeout
        connection = None
        kept = False
        try:
            try:
                connection = self._puts.take(parts.scheme, parts.netloc, connect_timeout)
                connection.sock.settimeout(read_timeout)
                if cut is not None:
                    cut.attach(connection.sock)
                connection.putrequest("PUT", target, skip_accept_encoding=True)
                for name, value in {**_BYTES_HEADERS, **headers}.items():
                    connection.putheader(name, value)
                if length is not None:
                    connection.putheader("Content-Length", str(length))
                else:
                    connection.putheader("Transfer-Encoding", "chunked")
                connection.endheaders()
                _send_body(connection, body, chunked=length is None)
                response = connection.getresponse()
                status, content = response.status, response.read()
                kept = not response.will_close
            except (OSError, http.client.HTTPException) as error:
                if isinstance(error, DFSError):
                    raise
                if cut is not None and cut.node is not None:
                    raise NodeUnreachable(f"PUT {_short(url)}: cut, the name node declared {cut.node} dead",
                                          url=url, dead=cut.node) from None
                raise NodeUnreachable(f"PUT {_short(url)}: {type(error).__name__}: {error}", url=url) from None
        finally:
            if cut is not None:
                cut.detach()
            if connection is not None:
                if kept and not self._closed.is_set():
                    self._puts.give(parts.scheme, parts.netloc, connection)
                else:
                    connection.close()
        if not 200 <= status < 300:
            raise _remote_error(status, content)
        try:
            return json.loads(content) if content else {}
        except ValueError:
            raise Unavailable(f"PUT {_short(url)}: answer is not JSON") from None

    def _urlopen(self, method: str, url: str, query: str, body: bytes | None,
                 headers: Mapping[str, str] | Callable[[], Mapping[str, str]],
                 idempotent: bool | None, retry: bool, preload: bool,
                 timeout: urllib3.Timeout | None = None) -> urllib3.HTTPResponse:
        manager = cast(HTTPAdapter, self.session.get_adapter(url)).poolmanager
        pool = manager.connection_from_url(url, pool_kwargs=self._pool_tls) if url.startswith("https:") \
            else manager.connection_from_url(url)
        target = "/" + url.partition("://")[2].partition("/")[2]
        if query:
            target += "?" + query
        return self._send(method, url, idempotent, retry, _URLLIB3_ERRORS, lambda: pool.urlopen(
            method, target, body=body, headers=headers() if callable(headers) else headers,
            retries=self._retries, redirect=False,
            assert_same_host=False, timeout=timeout or self._pool_timeout, preload_content=preload,
            decode_content=False))

    def _send(self, method: str, url: str, idempotent: bool | None, retry: bool,
              failures: tuple[type[Exception], ...], send: Callable[[], T]) -> T:
        """Run ``send`` under the retry rules: a connection failure (one of ``failures``, the
        sending library's classes) is ``NodeUnreachable``, retried only when the request may be
        repeated (see ``request``)."""
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        attempt = 0
        while True:
            try:
                return send()
            except failures as error:
                if retry and attempt < len(RETRY_PAUSES) and (_never_sent(error) or idempotent) \
                        and not self._closed.is_set():
                    time.sleep(RETRY_PAUSES[attempt])
                    attempt += 1
                    continue
                raise NodeUnreachable(f"{method} {_short(url)}: {_describe(error)}", url=url) from None

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
            return _remote_error(response.status_code, response.content)
        finally:
            response.close()

    def close(self) -> None:
        self._closed.set()
        self.session.close()
        self._puts.close()


class _PutConnections:
    """Idle block-PUT connections by node, newest first out.

    One is reused only while it is younger than ``PUT_IDLE_SECONDS`` and its socket has nothing to
    read: a node that restarted or closed it shows as end-of-file there, so a stale connection is
    dropped here instead of failing a pipeline.
    """

    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self._idle: dict[tuple[str, str], list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()

    def take(self, scheme: str, netloc: str, connect_timeout: float) -> http.client.HTTPConnection:
        """A kept connection to ``netloc`` still fit for use, else a newly connected one."""
        while True:
            with self._lock:
                idle = self._idle.get((scheme, netloc))
                since, connection = idle.pop() if idle else (0.0, None)
            if connection is None:
                break
            if time.monotonic() - since < PUT_IDLE_SECONDS and _quiet(connection):
                return connection
            connection.close()
        connection = http.client.HTTPSConnection(netloc, timeout=connect_timeout, context=self._tls) \
            if scheme == "https" else http.client.HTTPConnection(netloc, timeout=connect_timeout)
        connection.connect()
        return connection

    def give(self, scheme: str, netloc: str, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault((scheme, netloc), [])
            if len(idle) < PUT_IDLE_PER_NODE:
                idle.append((time.monotonic(), connection))
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, connection in connections:
                connection.close()


def _quiet(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection's socket has nothing to read: not its end (a node that restarted
    or closed it), nor bytes nobody asked for. urllib3's check polls, so any fd number works."""
    try:
        return connection.sock is not None and not wait_for_read(connection.sock, timeout=0)
    except (OSError, ValueError):
        return False


def _send_body(connection: http.client.HTTPConnection, body: Any, *, chunked: bool) -> None:
    if isinstance(body, (bytes, bytearray, memoryview)):
        view = memoryview(body)
        for start in range(0, len(view), SEND_SLICE):
            connection.send(view[start:start + SEND_SLICE])
        return
    for chunk in body:
        if not chunk:
            continue
        connection.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
    if chunked:
        connection.send(b"0\r\n\r\n")


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


def encode_query(params: Mapping[str, Any]) -> str:
    """``params`` as a query string, spelt as ``request`` would send them (``_clean``, then
    form-encoded like requests does)."""
    return urlencode(_clean(params) or {})


def _remote_error(status: int, content: bytes) -> DFSError:
    """The error a non-success answer stands for, rebuilt from its RemoteException body."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    return from_remote_exception(status, body)


def _never_sent(error: Exception) -> bool:
    """True when the connection was never established (nothing of the request reached a server):
    requests wraps urllib3's MaxRetryError, whose ``reason`` says what happened."""
    if isinstance(error, (requests.ConnectTimeout, ConnectTimeoutError)):
        return True
    if isinstance(error, requests.RequestException):
        error = error.args[0] if error.args else error
    return isinstance(getattr(error, "reason", None), (NewConnectionError, ConnectTimeoutError))


def _describe(error: Exception) -> str:
    """``Class: message`` of a connection failure, in requests' class names whichever path failed."""
    if isinstance(error, requests.RequestException):
        return f"{type(error).__name__}: {error}"
    name = "ReadTimeout" if isinstance(error, urllib3.exceptions.ReadTimeoutError) else \
        "ConnectTimeout" if _never_sent(error) and not isinstance(getattr(error, "reason", None), NewConnectionError) \
        else "ConnectionError"
    return f"{name}: {error}"


def _short(url: str) -> str:
    return url if len(url) <= 200 else url[:200] + "…"
