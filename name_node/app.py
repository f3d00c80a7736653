"""The name node WSGI app: one routing table, one dispatch, one error boundary.

``NameNode(settings)`` opens LMDB (call it after gunicorn forks), ``start()`` runs the single
background healer, ``stop()`` ends it and closes the environment. The object is the WSGI callable.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from dfs_common.errors import IllegalArgument, NotFound, Unsupported
from dfs_common.settings import Settings
from dfs_common.web import Params, answer

from .buffer_ops import BUFFER_OPERATIONS, BufferOps
from .erasure_ops import ERASURE_OPERATIONS, ErasureOps
from .heal import Healer
from .internal import InternalOps
from .members import Members
from .mutations import WriteOps
from .permissions import Caller, GroupMapping
from .placement import Placement
from .store import Store
from .webhdfs import PREFIX, Call, ReadOps

log = logging.getLogger("dfs.name_node")

# op → HTTP method; the handler is ``op_<name lower-case>`` on the NameNode.
OPERATIONS: dict[str, str] = {
    "OPEN": "GET", "GETFILESTATUS": "GET", "GETFILELINKSTATUS": "GET", "GETLINKTARGET": "GET",
    "LISTSTATUS": "GET", "LISTSTATUS_BATCH": "GET", "GETCONTENTSUMMARY": "GET", "GETQUOTAUSAGE": "GET",
    "GETFILECHECKSUM": "GET", "GETFILEBLOCKLOCATIONS": "GET", "GETHOMEDIRECTORY": "GET",
    "GETTRASHROOT": "GET", "GETXATTRS": "GET", "LISTXATTRS": "GET", "CHECKACCESS": "GET",
    "GETACLSTATUS": "GET", "GETSTATUS": "GET", "GETSERVERDEFAULTS": "GET",
    "CREATE": "PUT", "MKDIRS": "PUT", "CREATESYMLINK": "PUT", "MKNOD": "PUT", "RENAME": "PUT", "LINK": "PUT",
    "SETREPLICATION": "PUT", "SETOWNER": "PUT", "SETPERMISSION": "PUT", "SETTIMES": "PUT",
    "SETXATTR": "PUT", "REMOVEXATTR": "PUT",
    "APPEND": "POST", "CONCAT": "POST", "TRUNCATE": "POST", "ADDBLOCK": "POST", "COMMIT": "POST",
    "REPORTBADBLOCK": "POST", "RENEWBLOCKS": "POST", "ABANDONBLOCKS": "POST",
    "DELETE": "DELETE",
    **BUFFER_OPERATIONS,
    **ERASURE_OPERATIONS,
}

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/internal/heartbeat"): "on_heartbeat",
    ("POST", "/internal/block_received"): "on_block_received",
    ("POST", "/internal/block_report"): "on_block_report",
    ("POST", "/internal/bad_block"): "on_bad_block",
    ("GET", "/ping_alive"): "on_ping_alive",
    ("GET", "/status"): "on_status",
    ("GET", "/liveness"): "on_liveness",
    ("GET", "/df"): "on_df",
    ("POST", "/mkfs"): "on_mkfs",
}


class NameNode(ReadOps, WriteOps, InternalOps):
    """Metadata service: namespace, block map, members, placement and healing."""

    def __init__(self, settings: Settings) -> None:
        self.node = self
        self.settings = settings
        self.store = Store(settings.db_path, settings.db_map_size, settings.superuser, settings.supergroup)
        self.groups = GroupMapping(settings.superuser, settings.supergroup)
        self.members = Members(self.store, settings)
        self.placement = Placement(self.members)
        self.healer = Healer(self.store, self.members, self.placement, settings)
        buffer_ops = BufferOps(self.store, self.placement, self.healer, settings, self._redirect)
        erasure_ops = ErasureOps(self.store)

        def owner(op: str) -> object:
            return buffer_ops if op in BUFFER_OPERATIONS else erasure_ops if op in ERASURE_OPERATIONS else self
        self._handlers: dict[str, Callable[[Call], Response]] = {
            op: getattr(owner(op), "op_" + op.lower()) for op in OPERATIONS}
        self._routes = {key: getattr(self, name) for key, name in ROUTES.items()}
        self._paths = {path for _, path in ROUTES}

    def start(self) -> None:
        self.healer.start()

    def stop(self) -> None:
        self.healer.stop()
        self.store.close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = answer(self.dispatch, request)
        return response(environ, start_response)

    def caller_of(self, request: Request) -> Caller:
        params = Params(request.args)
        return self.groups.caller(params.user("user.name"), params.user("doas"))

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.webhdfs(request, path[len(PREFIX):] or "/")
        route = self._routes.get((request.method, path))
        if route is not None:
            return route(request)
        if path in self._paths:
            error = Unsupported(f"Method {request.method} not allowed on {path}")
            error.status = 405
            raise error
        raise NotFound(f"No such endpoint: {path}")

    def webhdfs(self, request: Request, path: str) -> Response:
        params = Params(request.args)
        op = (params.raw("op") or "").upper()
        method = OPERATIONS.get(op)
        if method is None:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "op": No enum constant {op[:40]}')
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            error = Unsupported(f"Operation {op} needs HTTP {method}, not {request.method}")
            error.status = 405
            raise error
        return self._handlers[op](Call(request, params, path, self.caller_of(request)))


def create_app(settings: Settings) -> NameNode:
    """The WSGI app for ``settings`` (background loops not started: call ``start()``)."""
    return NameNode(settings)
