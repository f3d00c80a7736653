"""The name node WSGI app: one routing table, one dispatch, one error boundary.

``NameNode(settings)`` opens LMDB (call it after gunicorn forks), ``start()`` runs the single
background healer, ``stop()`` ends it and closes the environment. The object is the WSGI callable.
The handlers live in ``handlers/``, one object per resource, each given only what it uses.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from werkzeug.wrappers import Request, Response

from dfs_common.discovery import Announcer
from dfs_common.errors import DFSError, IllegalArgument, MethodNotAllowed, NotFound, SnapshotReadOnly, Unsupported
from dfs_common.metrics import RequestMetrics, StateCollector
from dfs_common.settings import Settings
from dfs_common.web import Params, answer

from .admin import AdminOps
from .audit import AuditLog
from .balancer import Balancer
from .decommission import Drainer

from .handlers.attributes import ACL_OPERATIONS, AttributeOps
from .handlers.buffers import BUFFER_OPERATIONS, BufferOps
from .handlers.call import PREFIX, Call, caller_of
from .handlers.content import ContentOps
from .handlers.erasure import ERASURE_OPERATIONS, ErasureOps
from .handlers.leases import LeaseOps, session_of
from .handlers.internal import InternalOps
from .handlers.redirects import RedirectOps
from .handlers.server import ServerOps
from .handlers.snapshots import SNAPSHOT_OPERATIONS, SNAPSHOT_READS, SnapshotOps
from .handlers.status import StatusOps
from .handlers.storagepolicy import STORAGE_POLICY_OPERATIONS, StoragePolicyOps
from .handlers.tree import TreeOps
from .heal import Healer
from . import namespace
from .identity import Identity
from .leases import DirLeases
from .members import Members
from .metrics import namenode_metrics
from .permissions import Caller, GroupMapping
from .placement import Placement
from .safemode import SafeModeState
from .snapshots import READ_ONLY, locate
from .store import Store
from .ui import WebPages
from .users import UserOps

log = logging.getLogger("dfs.name_node")

# op → HTTP method; the handler is ``op_<name lower-case>`` on exactly one handler object.
OPERATIONS: dict[str, str] = {
    "OPEN": "GET", "GETFILESTATUS": "GET", "GETFILELINKSTATUS": "GET", "GETLINKTARGET": "GET",
    "LISTSTATUS": "GET", "LISTSTATUS_BATCH": "GET", "GETCONTENTSUMMARY": "GET", "GETQUOTAUSAGE": "GET",
    "GETFILECHECKSUM": "GET", "GETFILEBLOCKLOCATIONS": "GET", "GETHOMEDIRECTORY": "GET",
    "GETTRASHROOT": "GET", "GETXATTRS": "GET", "LISTXATTRS": "GET", "CHECKACCESS": "GET",
    "GETACLSTATUS": "GET", "GETSTATUS": "GET", "GETSERVERDEFAULTS": "GET", "GETDELEGATIONTOKEN": "GET",
    "RENEWDELEGATIONTOKEN": "PUT", "CANCELDELEGATIONTOKEN": "PUT",
    "CREATE": "PUT", "MKDIRS": "PUT", "CREATESYMLINK": "PUT", "MKNOD": "PUT", "RENAME": "PUT", "LINK": "PUT",
    "SETREPLICATION": "PUT", "SETOWNER": "PUT", "SETPERMISSION": "PUT", "SETTIMES": "PUT",
    "SETXATTR": "PUT", "REMOVEXATTR": "PUT",
    "APPEND": "POST", "CONCAT": "POST", "TRUNCATE": "POST", "ADDBLOCK": "POST", "COMMIT": "POST",
    "REPORTBADBLOCK": "POST", "RENEWBLOCKS": "POST", "ABANDONBLOCKS": "POST", "SYNC": "POST",
    "DELETE": "DELETE", "BATCH": "POST",
    **BUFFER_OPERATIONS,
    **ERASURE_OPERATIONS,
    **STORAGE_POLICY_OPERATIONS,
    **SNAPSHOT_OPERATIONS,
    **ACL_OPERATIONS,
}

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/internal/heartbeat"): "on_heartbeat",
    ("POST", "/internal/block_received"): "on_block_received",
    ("POST", "/internal/block_report"): "on_block_report",
    ("POST", "/internal/bad_block"): "on_bad_block",
    ("GET", "/ping_alive"): "on_ping_alive",
    ("GET", "/internal/identify"): "on_identify",
    ("GET", "/status"): "on_status",
    ("GET", "/liveness"): "on_liveness",
    ("GET", "/df"): "on_df",
    ("POST", "/mkfs"): "on_mkfs",
    ("POST", "/admin/decommission"): "on_decommission",
    ("POST", "/admin/recommission"): "on_recommission",
    ("POST", "/admin/maintenance"): "on_maintenance",
    ("GET", "/admin/safemode"): "on_safemode_get",
    ("POST", "/admin/safemode"): "on_safemode",
    ("GET", "/admin/balancer"): "on_balancer_get",
    ("POST", "/admin/balancer"): "on_balancer",
    ("GET", "/fsck"): "on_fsck",
    ("GET", "/metrics"): "on_metrics",
    ("GET", "/"): "on_ui_overview",
    ("GET", "/ui/browse"): "on_ui_browse",
    ("GET", "/ui/file"): "on_ui_file",
    ("GET", "/ui/node"): "on_ui_node",
}
# Changes a name node in safe mode still takes: they keep writers alive or only drop what their
# writer gave up, and refusing them would lose nothing but time.
SAFE_MODE_ALLOWED = frozenset(("RENEWBLOCKS", "ABANDONBLOCKS", "REPORTBADBLOCK"))
USERS = "/users"  # and /users/<name>[/token], and /whoami: see users.py
# Ops whose answer or change covers a whole subtree: they recall the leases of directories below.
SUBTREE_OPS = frozenset(("DELETE", "RENAME", "GETCONTENTSUMMARY", "GETQUOTAUSAGE", "CREATESNAPSHOT"))


class NameNode:
    """Metadata service: namespace, block map, members, placement and healing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.db_path, settings.db_map_size, settings.superuser, settings.supergroup,
                           sync=settings.sync, sync_interval=settings.sync_interval)
        self.groups = GroupMapping(settings.superuser, settings.supergroup)
        self.identity = Identity(settings, self.store)
        self.audit = AuditLog(settings.audit_log)
        self.users = UserOps(self.identity)
        self.members = Members(self.store, settings)
        self.placement = Placement(self.members)
        self.healer = Healer(self.store, self.members, self.placement, settings)
        self.safemode = SafeModeState(self.store, settings.safemode_threshold)
        self.healer.paused = lambda: self.safemode.on
        self.drainer = Drainer(self.store, self.members, self.healer, min(1.0, settings.heartbeat))
        self.balancer = Balancer(self.store, self.members, self.placement, settings)
        self.balancer.paused = lambda: self.safemode.on
        self.healer.extra_ticks += [self.drainer.tick, self.balancer.tick]
        self.metrics = RequestMetrics("namenode")
        self.metrics.add(StateCollector(lambda: namenode_metrics(self)))
        self.leases = DirLeases(self.store)
        content = ContentOps(self.store, self.members, self.placement, self.healer, settings, self.identity,
                             self.groups, self.audit, self.admit_change)
        internal = InternalOps(self.store, self.members, self.placement, self.healer, self.groups, settings,
                               safemode=self.safemode, balancer=self.balancer, commit=content.commit_for_writers)
        leased = LeaseOps(self.store, self.leases, settings, content.first_block)
        resources = [leased, StatusOps(self.store, self.members, self.identity), TreeOps(self.store, leased),
                     AttributeOps(self.store, self.healer),
                     content,
                     RedirectOps(self.store, self.members, self.placement, settings, self.identity), self.users,
                     ServerOps(self.members, settings, self.store),
                     BufferOps(self.store, self.placement, self.healer, settings, self.identity), ErasureOps(self.store),
                     SnapshotOps(self.store), StoragePolicyOps(self.store, self.healer)]
        self._handlers = _handler_table(resources)
        routes = [internal, AdminOps(self), WebPages(self)]
        self._routes = {key: next(getattr(r, name) for r in routes if hasattr(r, name))
                        for key, name in ROUTES.items()}
        self._paths = {path for _, path in ROUTES}
        self.announcer = Announcer(settings.port, urlparse(settings.node_url).scheme, settings.advertise_host) \
            if settings.discover else None

    def start(self) -> None:
        self.store.start_syncer()
        self.healer.start()
        if self.announcer is not None:
            self.announcer.start()

    def stop(self) -> None:
        if self.announcer is not None:
            self.announcer.stop()
        self.healer.stop()
        self.store.close()
        self.audit.close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.metrics.measure(self.op_name(request), request,
                                        lambda: answer(self.admitted, request))
        self.audit.record(request, response)
        return response(environ, start_response)

    def admitted(self, request: Request) -> Response:
        """Every request passes ``identity.admit`` (authentication, the rules of its path) first."""
        self.identity.admit(request)
        return self.dispatch(request)

    def op_name(self, request: Request) -> str:
        """The bounded label a request is counted under: its WebHDFS op or its route."""
        path = request.path
        if path == PREFIX or path.startswith(PREFIX + "/"):
            op = (request.args.get("op") or "").upper()
            return op if op in OPERATIONS else "invalid"
        return path if path in self._paths else "other"

    def caller_of(self, request: Request) -> Caller:
        return caller_of(request, self.groups)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path == USERS or path.startswith(USERS + "/"):
            return self.users.on_users(request)
        if path == "/whoami" and request.method == "GET":
            return self.users.on_whoami(request)
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.webhdfs(request, path[len(PREFIX):] or "/")
        route = self._routes.get((request.method, path))
        if route is not None:
            return route(request)
        if path in self._paths:
            raise MethodNotAllowed(f"Method {request.method} not allowed on {path}")
        raise NotFound(f"No such endpoint: {path}")

    def admit_change(self, path: str, op: str) -> None:
        """What refuses any change of ``path``, whatever route it came by: below a snapshot (read
        only), and safe mode."""
        if locate(path) is not None:
            raise SnapshotReadOnly(f"{READ_ONLY}: {path}")
        self.safemode.check(op)

    def webhdfs(self, request: Request, path: str) -> Response:
        params = Params(request.args)
        op = (params.raw("op") or "").upper()
        method = OPERATIONS.get(op)
        if method is None:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "op": No enum constant {op[:40]}')
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            # HDFS's words: the op is parsed as an enum of the request's method
            kind = request.method[:10].capitalize()
            raise IllegalArgument(f'Invalid value for webhdfs parameter "op": No enum constant '
                                  f"org.apache.hadoop.hdfs.web.resources.{kind}OpParam.Op.{op} "
                                  f"({op} is a {method} operation)")
        snapshot = locate(path)
        if snapshot is not None and op not in SNAPSHOT_READS:
            if method == "GET":
                raise Unsupported(f"{op} is not available below a .snapshot directory")
            raise SnapshotReadOnly(f"{READ_ONLY}: {path}")
        if method != "GET" and locate(params.raw("destination") or "/") is not None and op in ("RENAME", "LINK"):
            raise SnapshotReadOnly(f"{READ_ONLY}: {params.raw('destination')}")
        if method != "GET" and op not in SAFE_MODE_ALLOWED:
            self.safemode.check(op)
        sync = method != "GET" and params.boolean("sync", False)  # parsed first: a bad value changes nothing
        call = Call(request, params, path, self.caller_of(request), snapshot)
        if self.leases and snapshot is None and op != "BATCH":
            self._recall_leases(call, op)
        response = self._handlers[op](call)
        if sync:
            self.store.sync()  # a writer's fsync/hsync: this change is on disk before the answer
        return response

    def _recall_leases(self, call: Call, op: str) -> None:
        """Before another client's request touches a directory a session holds the lease of (the
        directory, a name in it, a subtree holding it), the lease is recalled and its holder's
        changes are in: ``leases.py``."""
        session = session_of(call.request)
        others = self.leases.others(session)
        if not others:
            return
        paths = [call.path, call.params.raw("destination"), *(call.params.raw("sources") or "").split(",")]
        touched: set[int] = set()
        with self.store.read() as txn:
            for path in paths:
                if not path:
                    continue
                try:
                    where = namespace.resolve(txn, path, call.caller)
                except DFSError:
                    continue  # (the handler answers the same error)
                touched.add(where.parent_ino)
                if where.ino is not None and where.inode is not None:
                    touched.add(where.ino)
                    if op in SUBTREE_OPS and where.inode.is_dir:
                        touched.update(ino for ino in others if namespace.is_inside(txn, ino, where.ino))
        wanted = touched.intersection(others)
        if wanted:
            self.leases.clear_way(wanted, session)


def _handler_table(resources: list[Any]) -> dict[str, Callable[[Call], Response]]:
    """op → bound ``op_<op>`` of the one resource that has it: an op without a handler, or with
    two, fails at start-up rather than on its first request."""
    table: dict[str, Callable[[Call], Response]] = {}
    for op in OPERATIONS:
        found = [getattr(r, "op_" + op.lower()) for r in resources if hasattr(r, "op_" + op.lower())]
        if len(found) != 1:
            raise RuntimeError(f"WebHDFS op {op} has {len(found)} handlers")
        table[op] = found[0]
    return table


def create_app(settings: Settings) -> NameNode:
    """The WSGI app for ``settings`` (background loops not started: call ``start()``)."""
    return NameNode(settings)
