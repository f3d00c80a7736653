"""The operators' endpoints: decommission, maintenance, safe mode, the balancer, fsck, metrics.

Changes need the superuser (``DFS_SUPERUSER`` or a member of ``DFS_SUPERGROUP``), like ``/mkfs``;
fsck and metrics only read. Every answer is JSON, every error a RemoteException.

    POST /admin/decommission?node=ID     drain a node (its blocks copied away, no new ones)
    POST /admin/recommission?node=ID     back in service (from decommission or maintenance)
    POST /admin/maintenance?node=ID&minutes=M   a planned outage, not healed around for M minutes
    GET  /admin/safemode                 {"on", "manual", "blocks_total", "blocks_needed", …}
    POST /admin/safemode?action=enter|leave
    GET  /admin/balancer                 its progress
    POST /admin/balancer?action=start|stop[&threshold=PERCENT][&rate=BYTES_PER_S]
    GET  /fsck?path=/P                   files under /P with missing, under-replicated, mis-placed
                                         or corrupt blocks
    GET  /metrics                        Prometheus text format
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from dfs_common.errors import IllegalArgument, NotPermitted
from dfs_common.paths import normalize
from dfs_common.web import Params, json_response

from . import fsck

if TYPE_CHECKING:
    from .app import NameNode
    from .members import Member


def _node_answer(member: "Member") -> Response:
    return json_response({"id": member.id, "admin": member.admin,
                          "maintenance_until": member.maintenance_until or None})


class AdminOps:
    def __init__(self, node: "NameNode") -> None:
        self.node = node

    def _operator(self, request: Request, what: str) -> Params:
        caller = self.node.caller_of(request)
        if not caller.superuser:
            raise NotPermitted(f"Only the superuser may {what}")
        return Params(request.args)

    def on_decommission(self, request: Request) -> Response:
        params = self._operator(request, "decommission a data node")
        return _node_answer(self.node.drainer.decommission(params.required("node")))

    def on_recommission(self, request: Request) -> Response:
        params = self._operator(request, "recommission a data node")
        return _node_answer(self.node.drainer.recommission(params.required("node")))

    def on_maintenance(self, request: Request) -> Response:
        params = self._operator(request, "put a data node in maintenance")
        raw = params.text("minutes") or str(self.node.settings.maintenance_minutes)
        try:
            minutes = float(raw)
        except ValueError:
            raise IllegalArgument(f'Invalid value for parameter "minutes": {raw[:40]!r}') from None
        return _node_answer(self.node.drainer.maintain(params.required("node"), minutes))

    def on_safemode_get(self, request: Request) -> Response:
        return json_response({"safemode": self.node.safemode.status()})

    def on_safemode(self, request: Request) -> Response:
        params = self._operator(request, "change safe mode")
        action = (params.text("action") or "").lower()
        if action == "enter":
            self.node.safemode.enter()
        elif action == "leave":
            self.node.safemode.leave()
        elif action != "get":
            raise IllegalArgument('Parameter "action" must be enter, leave or get')
        return json_response({"safemode": self.node.safemode.status()})

    def on_balancer_get(self, request: Request) -> Response:
        return json_response({"balancer": self.node.balancer.status()})

    def on_balancer(self, request: Request) -> Response:
        params = self._operator(request, "run the balancer")
        action = (params.text("action") or "").lower()
        if action == "start":
            threshold = params.text("threshold")
            try:
                value = float(threshold) if threshold else None
            except ValueError:
                raise IllegalArgument(f'Invalid value for parameter "threshold": {str(threshold)[:40]!r}') from None
            self.node.balancer.start(value, params.integer("rate", None, minimum=1))
        elif action == "stop":
            self.node.balancer.stop_run("stopped by an operator")
        elif action != "get":
            raise IllegalArgument('Parameter "action" must be start, stop or get')
        return json_response({"balancer": self.node.balancer.status()})

    def on_fsck(self, request: Request) -> Response:
        params = Params(request.args)
        path = normalize(params.text("path") or "/")
        caller = self.node.caller_of(request)
        with self.node.store.read() as txn:
            return json_response({"fsck": fsck.check(self.node, txn, path, caller)})

    def on_metrics(self, request: Request) -> Response:
        return self.node.metrics.respond()
