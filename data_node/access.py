"""Who may do what on a data node: its one admission point, run after routing and before any
handler.

With ``DFS_SECRET``, bytes move only on URLs the name node signed (``dfs_common.signed_urls``):
block reads (``GET /blocks/<id>``, ``…/digests``) need a read signature of that block, block
writes a write signature of that block *and* of the ``X-DFS-Pipeline`` the request carries, and
WebHDFS (the second step of a 307) a signature of that path, operation and every parameter, and
``POST /sync`` a read signature of every block it names, expired or not (checked by ``check_sync``
once the body is read: a writer's fsync of blocks it was given). Any other route, including ones added later,
needs a node's request signature (``dfs_common.auth``); only ``/ping_alive`` and ``/metrics``
(counters only: no ids, paths or URLs) are public. Without a secret everything is open
(insecure development mode).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request

from dfs_common.auth import RequestVerifier
from dfs_common.blocks import PIPELINE_HEADER
from dfs_common.errors import AccessDenied, Unauthenticated
from dfs_common.paths import normalize
from dfs_common.settings import Settings
from dfs_common.signed_urls import UrlSigner
from dfs_common.web import Params

log = logging.getLogger("dfs.data_node.access")

PUBLIC = frozenset({"ping_alive", "metrics"})
BLOCK_READS = frozenset({"get_block", "get_digests"})


class Access:
    def __init__(self, settings: Settings) -> None:
        self.secure = settings.secure
        self.urls = UrlSigner(settings.secret) if self.secure else None
        self._verifier = RequestVerifier(settings.secret) if self.secure else None
        if not self.secure:
            log.warning("INSECURE development mode: DFS_SECRET is not set, so anyone may read, write "
                        "and delete blocks on this node by id")

    def admit(self, request: Request, endpoint: str, args: Mapping[str, Any]) -> None:
        """Return if ``request`` may reach ``endpoint``; raise the 401/403 it deserves if not."""
        if self.urls is None or endpoint in PUBLIC:
            return
        params = list(request.args.items(multi=True))
        if endpoint in BLOCK_READS:
            self.urls.check(f"block:{args['block_id']}", "read", params)
        elif endpoint == "put_block":
            self.urls.check(f"block:{args['block_id']}", "write", params,
                            pipeline=request.headers.get(PIPELINE_HEADER, ""))
        elif endpoint in ("sync", "put_bundle"):
            return  # its block ids are in the body: ``check_sync``, ``check_bundle``
        elif endpoint == "webhdfs":
            op = (Params(request.args).text("op") or "").upper()
            self.urls.check(f"path:{normalize('/' + args['path'])}", op, params)
        else:
            assert self._verifier is not None
            if self._verifier.verify(request.environ) is None:
                raise Unauthenticated("This endpoint answers other nodes only: sign the request with DFS_SECRET")

    def check_sync(self, block_ids: list[str], access: object) -> None:
        """``POST /sync``'s body must carry, in ``access``, the read query of each block it names."""
        if self.urls is None:
            return
        if not isinstance(access, list) or len(access) != len(block_ids) \
                or not all(isinstance(query, str) for query in access):
            raise AccessDenied('POST /sync needs "access": the signed query of each block, in order')
        # An expired signature will do: an fsync reads and changes no byte, and a file may stay
        # open for writing far longer than a URL lives.
        for block_id, query in zip(block_ids, access):
            self.urls.check(f"block:{block_id}", "read", parse_qsl(query, keep_blank_values=True), expired_too=True)

    def check_bundle(self, entries: list[dict[str, Any]], pipeline: str) -> None:
        """A bundle's manifest must carry, in each block's ``access``, its signed write query for
        the pipeline the request names: what a PUT of that block alone carries in its URL."""
        if self.urls is None:
            return
        for entry in entries:
            query = entry.get("access")
            if not isinstance(query, str):
                raise AccessDenied(f"Block {entry['blockId']} of the bundle has no signed \"access\"")
            self.urls.check(f"block:{entry['blockId']}", "write", parse_qsl(query, keep_blank_values=True),
                            pipeline=pipeline)

    def block_query(self, block_id: str, op: str, pipeline: str = "") -> str:
        """The signed query of a node-to-node block request (a forward, a copy, a fragment read
        for a rebuild): ``op`` is "read" or "write"; "" if insecure."""
        return "" if self.urls is None else self.urls.query(f"block:{block_id}", op, pipeline)
