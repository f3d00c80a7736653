"""The data node's WSGI app: routing, dispatch, and the lifecycle of its background threads.

Built inside the gunicorn worker after the fork (``DataNode(settings)``), then ``start()``ed;
``stop()`` ends the threads. Every error leaves through ``dfs_common.web.answer`` as a
RemoteException, so a bad id, a garbage body or a wrong method is a 4xx, never a crash.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Callable

from werkzeug.exceptions import HTTPException

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from dfs_client.liveness import Liveness
from dfs_client.transport import Transport
from dfs_common.metrics import RequestMetrics, StateCollector
from dfs_common.auth import RequestSigner
from dfs_common.settings import Settings
from dfs_common.errors import IllegalArgument
from dfs_common.web import answer, json_response, read_json_object

from .access import Access
from .blocks import BlockService
from .namenode import NameNodeLink
from .pipeline import Forwarder
from .reporter import Reporter
from .roots import StorageRoot, capped, open_root, root_kind
from .scrubber import Scrubber
from .webhdfs import WebHdfs

log = logging.getLogger("dfs.data_node")

StartResponse = Callable[..., Any]

# Every route of a data node (the fuzz test walks this list, so a new route is fuzzed too).
# merge_slashes/strict_slashes off: no redirects, a malformed path is simply not routed.
URL_MAP = Map([
    Rule("/blocks/<path:block_id>", endpoint="put_block", methods=["PUT"]),
    Rule("/blocks/<block_id>/digests", endpoint="get_digests", methods=["GET"]),
    Rule("/blocks/<path:block_id>", endpoint="get_block", methods=["GET"]),
    Rule("/bundle", endpoint="put_bundle", methods=["PUT"]),
    Rule("/sync", endpoint="sync", methods=["POST"]),
    Rule("/ping_alive", endpoint="ping_alive", methods=["GET"]),
    Rule("/status", endpoint="status", methods=["GET"]),
    Rule("/metrics", endpoint="metrics", methods=["GET"]),
    Rule("/webhdfs/v1/<path:path>", endpoint="webhdfs", methods=["GET", "PUT", "POST"]),
    Rule("/webhdfs/v1/", endpoint="webhdfs", defaults={"path": ""}, methods=["GET", "PUT", "POST"]),
], strict_slashes=False, merge_slashes=False)


class DataNode:
    """One data node: a storage root behind a small HTTP API, plus reporter and scrubber threads."""

    def __init__(self, settings: Settings, root: StorageRoot | None = None) -> None:
        self.settings = settings
        # Never wipes anything: a restarted node keeps its blocks and its id.
        self.root = root if root is not None else open_root(settings.fs_root, settings)
        self.node_id = self.root.node_id()
        connect, read = NameNodeLink.TIMEOUT
        self.transport = Transport(pool_size=max(settings.threads, 4), connect_timeout=connect, read_timeout=read,
                                   ca_bundle=settings.tls_ca or None)
        self.liveness = Liveness()  # fed by heartbeat answers: forwards to dead nodes are cut
        signer = RequestSigner(settings.secret, self.node_id) if settings.secure else None
        self.namenode = NameNodeLink(settings.namenode_url, self.transport, self.liveness, signer)
        self.access = Access(settings)
        self.blocks = BlockService(settings, self.root, Forwarder(self.transport, self.liveness, self.access),
                                   self.namenode)
        self.scrubber = Scrubber(settings, self.root, self.namenode)
        self.reporter = Reporter(settings, self.root, self.namenode, self.blocks, self.scrubber)
        self.webhdfs = WebHdfs(settings, self.root, self.scrubber)
        self.url_map = URL_MAP
        self.metrics = RequestMetrics("datanode")
        self.metrics.add(StateCollector(self._state_metrics))
        self._handlers: dict[str, Callable[..., Response]] = {
            "put_block": self.on_put_block,
            "put_bundle": self.on_put_bundle,
            "get_block": self.on_get_block,
            "get_digests": self.on_get_digests,
            "sync": self.on_sync,
            "ping_alive": self.on_ping_alive,
            "status": self.on_status,
            "metrics": self.on_metrics,
            "webhdfs": self.on_webhdfs,
        }
        log.info("data node %s on %s, root %s, name node %s", self.node_id, settings.node_url,
                 self.root.url, settings.namenode_url)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "DataNode":
        self.reporter.start()
        self.scrubber.start()
        return self

    def stop(self) -> None:
        self.reporter.stop()
        self.scrubber.stop()
        self.transport.close()
        self.root.close()

    # -- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self.metrics.measure(self._endpoint_name(request), request,
                                        lambda: answer(self._dispatch, request))
        return response(environ, start_response)

    def _endpoint_name(self, request: Request) -> str:
        try:
            endpoint, _ = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException:
            return "other"
        return str(endpoint)

    def _state_metrics(self) -> Iterator[tuple[str, str, str, Any, tuple[str, ...]]]:
        usage = capped(self.root.usage(), self.settings.capacity)
        yield "dfs_datanode_blocks", "Blocks stored on this node", "gauge", self.root.count(), ()
        yield "dfs_datanode_capacity_bytes", "Bytes this node offers (DFS_CAPACITY or its disk)", "gauge", usage.capacity, ()
        yield "dfs_datanode_used_bytes", "Bytes of the blocks stored here", "gauge", usage.used, ()
        yield "dfs_datanode_remaining_bytes", "Bytes still free for blocks", "gauge", usage.remaining, ()
        scrubber = self.scrubber
        yield "dfs_datanode_scrub_verified_blocks", "Replicas re-verified", "counter", scrubber.verified_blocks, ()
        yield "dfs_datanode_scrub_verified_bytes", "Bytes re-verified", "counter", scrubber.verified_bytes, ()
        yield "dfs_datanode_scrub_bad_blocks", "Replicas found bad and quarantined", "counter", scrubber.bad_blocks, ()
        yield "dfs_datanode_scrub_passes", "Scrub passes over every block finished", "counter", scrubber.passes, ()
        progress = scrubber.pass_bytes / scrubber.pass_total if scrubber.pass_total else 1.0
        yield "dfs_datanode_scrub_pass_progress_ratio", "Share of the current scrub pass done", "gauge", min(1.0, progress), ()

    def _dispatch(self, request: Request) -> Response:
        endpoint, args = self.url_map.bind_to_environ(request.environ).match()
        self.access.admit(request, endpoint, args)  # every route, before any handler
        return self._handlers[endpoint](request, **args)

    # -- handlers ---------------------------------------------------------------------------

    def on_put_block(self, request: Request, block_id: str) -> Response:
        return json_response(self.blocks.receive(request, block_id), status=201)

    def on_put_bundle(self, request: Request) -> Response:
        return json_response(self.blocks.receive_bundle(request, self.access.check_bundle), status=201)

    def on_get_block(self, request: Request, block_id: str) -> Response:
        return self.blocks.serve(request, block_id)

    def on_get_digests(self, request: Request, block_id: str) -> Response:
        return self.blocks.serve_digests(request, block_id)

    def on_sync(self, request: Request) -> Response:
        # 4 MiB: 40,000 block ids with their signed queries, a 160 GiB file of 4 MiB blocks here.
        body = read_json_object(request, 4 << 20, "POST /sync body")
        blocks = body.get("blocks")
        if not isinstance(blocks, list) or not all(isinstance(item, str) for item in blocks):
            raise IllegalArgument('POST /sync needs a JSON body {"blocks": [block ids]}')
        self.access.check_sync(blocks, body.get("access"))
        return json_response({"synced": self.blocks.sync(blocks)})

    def on_ping_alive(self, request: Request) -> Response:
        return json_response({"alive": True})

    def on_status(self, request: Request) -> Response:
        usage = capped(self.root.usage(), self.settings.capacity)
        return json_response({"id": self.node_id, "url": self.settings.node_url,
                              "public_url": self.settings.client_url, "root": self.root.url,
                              "capacity": usage.capacity, "used": usage.used,
                              "remaining": usage.remaining, "blocks": self.root.count(),
                              "kind": root_kind(self.root), "healthy": self.reporter.healthy,
                              "site": self.settings.site, "rack": self.settings.rack,
                              "durability": {"mode": self.settings.sync,
                                             "synced_blocks": self.blocks.synced_blocks}})

    def on_metrics(self, request: Request) -> Response:
        return self.metrics.respond()

    def on_webhdfs(self, request: Request, path: str) -> Response:
        return self.webhdfs.handle(request, path)


def create_app(settings: Settings) -> DataNode:
    """The WSGI callable for ``settings`` (threads not started: call ``start()``)."""
    return DataNode(settings)
