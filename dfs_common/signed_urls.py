"""Data-node URLs the name node signs: a data node serves and accepts bytes only on them.

A signature binds one resource (``block:<id>`` or ``path:<path>``), one operation (``read``,
``write`` or a WebHDFS op), every query parameter (so WebHDFS's ``offset``/``length``, the
caller's grant and our own ``dfs.exp`` expiry cannot be changed) and, for a block write, the
pipeline in ``X-DFS-Pipeline``: the data nodes the name node placed, in order, each once. It is an
HMAC with a key derived from ``DFS_SECRET``, so every node can check it and data nodes can mint
one for their own node-to-node copies; a client cannot.
"""
from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from urllib.parse import urlencode

from .auth import derive, mac
from .errors import AccessDenied

EXPIRES, SIGNATURE = "dfs.exp", "dfs.sig"
# An hour: longer than any one block transfer, and a reader holding older locations asks the
# name node for fresh ones once every replica refused (what it does for a dead replica too).
URL_TTL = 3600.0


def _message(resource: str, op: str, params: Iterable[tuple[str, str]], pipeline: str) -> bytes:
    # The first value of each name, as every handler reads it (``dfs_common.web.Params``): a
    # client that appends its own copy of a parameter (HdfsCLI's TokenClient adds
    # ``delegation=<its token>`` to every URL) changes nothing a handler sees. Any other added
    # or changed name is in the message, so it breaks the signature.
    first: dict[str, str] = {}
    for name, value in params:
        if name != SIGNATURE:
            first.setdefault(name, value)
    canonical = urlencode(sorted(first.items()))
    return "\n".join(["dfs-url-v1", resource, op, canonical, pipeline]).encode("utf-8", "surrogateescape")


class UrlSigner:
    """Makes and checks signatures; one per node, from ``DFS_SECRET``."""

    def __init__(self, secret: str, ttl: float = URL_TTL) -> None:
        self._key = derive(secret, "url")
        self.ttl = ttl

    def sign(self, resource: str, op: str, params: Iterable[tuple[str, str]] = (), pipeline: str = "",
             ttl: float | None = None) -> list[tuple[str, str]]:
        """The query parameters to add: ``params``' own are signed too and must travel as given."""
        expires = str(int(time.time() + (self.ttl if ttl is None else ttl)))
        signed = [*params, (EXPIRES, expires)]
        return [(EXPIRES, expires), (SIGNATURE, mac(self._key, _message(resource, op, signed, pipeline)))]

    def query(self, resource: str, op: str, pipeline: str = "") -> str:
        """``dfs.exp=…&dfs.sig=…`` for a block URL, which carries no other parameter."""
        return urlencode(self.sign(resource, op, pipeline=pipeline))

    def check(self, resource: str, op: str, params: Iterable[tuple[str, str]], pipeline: str = "",
              expired_too: bool = False) -> None:
        """``AccessDenied`` (403) unless ``params`` carry a valid, unexpired signature (or, with
        ``expired_too``, one that was valid once)."""
        pairs = list(params)
        given = [v for k, v in pairs if k == SIGNATURE]
        expires = [v for k, v in pairs if k == EXPIRES]
        if len(given) != 1 or len(expires) != 1:
            raise AccessDenied("Unsigned data node URL: ask the name node for one "
                               "(a block by bare id is refused)")
        expected = mac(self._key, _message(resource, op, pairs, pipeline))
        if not hmac.compare_digest(expected, given[0]):
            raise AccessDenied("Bad signature: this URL was altered or is for another block, path, "
                               "operation or pipeline")
        try:
            alive = float(expires[0]) >= time.time()
        except ValueError:
            alive = False
        if not alive and not expired_too:
            raise AccessDenied("Expired data node URL: ask the name node for a fresh one")
