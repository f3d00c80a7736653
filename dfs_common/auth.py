"""The cluster secret at work: signed requests between nodes, and the keys tokens are hashed with.

Nodes prove they know ``DFS_SECRET`` without sending it: each internal request carries
``X-DFS-Auth: v1 <sender> <unix time> <nonce> <hmac>``, an HMAC-SHA256 over the method, the path,
the query, the sender, the time, the nonce and the SHA-256 of the body. A receiver accepts it once
(the nonce is remembered for as long as the time is within ``SKEW``), so a captured request cannot
be replayed, altered or sent from anyone who lacks the secret.

Each use of the secret has its own derived key (``derive``), so a value made for one purpose (a
token hash, a signed data-node URL) is never valid as another.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

from .errors import IllegalArgument, Unauthenticated

HEADER = "X-DFS-Auth"
WSGI_HEADER = "HTTP_X_DFS_AUTH"
VERSION = "v1"
# Seconds a signed request is valid either side of the receiver's clock: NTP keeps a LAN within
# milliseconds; 60 s tolerates a node whose clock drifted while the replay cache stays small.
SKEW = 60.0
MAX_SIGNED_BODY = 256 * 1024 * 1024  # the largest internal body (a block report of millions of blocks)
_NONCES_KEPT = 1_000_000  # far beyond what a cluster signs within 2 * SKEW; bounds memory under attack


def derive(secret: str, purpose: str) -> bytes:
    """The key for one ``purpose`` of the cluster secret."""
    return hmac.new(secret.encode(), b"dfs/" + purpose.encode(), hashlib.sha256).digest()


def mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _message(method: str, path: bytes, query: str, sender: str, stamp: str, nonce: str, body: bytes) -> bytes:
    return b"\n".join([VERSION.encode(), method.upper().encode(), path, query.encode("latin-1"),
                       sender.encode(), stamp.encode(), nonce.encode(), hashlib.sha256(body).hexdigest().encode()])


class RequestSigner:
    """Signs the requests a node sends to other nodes as ``sender`` (its id or role)."""

    def __init__(self, secret: str, sender: str) -> None:
        self._key = derive(secret, "request")
        self.sender = quote(sender, safe="")

    def headers(self, method: str, url: str, query: str = "", body: bytes | None = None) -> dict[str, str]:
        """The header that authenticates this exact request; ``query`` is what goes after ``?``
        (when it is not already part of ``url``)."""
        parts = urlsplit(url)
        query = query or parts.query
        stamp, nonce = f"{time.time():.3f}", secrets.token_hex(16)
        signature = mac(self._key, _message(method, unquote_to_bytes(parts.path or "/"), query, self.sender,
                                            stamp, nonce, body or b""))
        return {HEADER: f"{VERSION} {self.sender} {stamp} {nonce} {signature}"}


class RequestVerifier:
    """Checks ``X-DFS-Auth`` on arriving requests; remembers nonces so each is accepted once."""

    def __init__(self, secret: str) -> None:
        self._key = derive(secret, "request")
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, environ: dict[str, Any]) -> str | None:
        """The sender of a correctly signed request, None if it carries no signature; a bad,
        stale or replayed one is ``Unauthenticated``. The body is read (it is part of what is
        signed) and put back for the handler."""
        header = environ.get(WSGI_HEADER)
        if header is None:
            return None
        fields = header.split(" ")
        if len(fields) != 5 or fields[0] != VERSION:
            raise Unauthenticated(f"Malformed {HEADER} header")
        _, sender, stamp, nonce, signature = fields
        try:
            age = abs(time.time() - float(stamp))
        except ValueError:
            raise Unauthenticated(f"Malformed {HEADER} time") from None
        if not age <= SKEW:
            raise Unauthenticated(f"{HEADER} is {age:.0f} s away from this node's clock (at most {SKEW:.0f} s)")
        body = _take_body(environ)
        path = environ.get("PATH_INFO", "").encode("latin-1")
        expected = mac(self._key, _message(environ.get("REQUEST_METHOD", "GET"), path or b"/",
                                           environ.get("QUERY_STRING", ""), sender, stamp, nonce, body))
        if not hmac.compare_digest(expected, signature):
            raise Unauthenticated("Bad request signature: not signed with this cluster's DFS_SECRET")
        self._remember(nonce)
        return unquote(sender)

    def _remember(self, nonce: str) -> None:
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if at > now - 2 * SKEW and len(self._seen) < _NONCES_KEPT:
                    break
                self._seen.popitem(last=False)
            if nonce in self._seen:
                raise Unauthenticated("Replayed request: this signature was already used")
            self._seen[nonce] = now


def _take_body(environ: dict[str, Any]) -> bytes:
    """Read the whole body (bounded) and hand the handler an equivalent stream."""
    length_text = environ.get("CONTENT_LENGTH") or ""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length_text:
        try:
            length = int(length_text)
        except ValueError:
            raise IllegalArgument("Malformed Content-Length") from None
        if length > MAX_SIGNED_BODY:
            raise IllegalArgument(f"A signed body is at most {MAX_SIGNED_BODY} bytes")
        body = stream.read(length) if length > 0 else b""
    elif environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = stream.read(MAX_SIGNED_BODY + 1)
        if len(body) > MAX_SIGNED_BODY:
            raise IllegalArgument(f"A signed body is at most {MAX_SIGNED_BODY} bytes")
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input_terminated"] = False
    return body


def bearer_of(environ: Mapping[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    header = environ.get("HTTP_AUTHORIZATION") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def new_token(prefix: str) -> tuple[str, str, str]:
    """A fresh token ``<prefix>.<id>.<secret part>``: (token, id, secret part). 128 bits of id
    (the lookup key) and 256 bits of secret (only its keyed hash is stored)."""
    token_id, secret_part = secrets.token_hex(16), secrets.token_urlsafe(32)
    return f"{prefix}.{token_id}.{secret_part}", token_id, secret_part
