"""The audit log: one JSON line per request that reads or changes the namespace, like HDFS's
``hdfs-audit.log`` — when, who (and for whom, with ``doas``), from where, which operation on which
path(s), and how it ended. Refused requests are logged too: they are what an audit is for.

Written by the name node's one WSGI entry (``NameNode.__call__``), so an endpoint added later is
audited without doing anything, to the file ``DFS_AUDIT_LOG`` names (unset: no audit log).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from dfs_common.web import Params

from .identity import PRINCIPAL

log = logging.getLogger("dfs.name_node.audit")

# Not the namespace: the cluster's own traffic and probes, which would drown the lines that matter.
NOT_AUDITED = ("/internal/", "/ping_alive", "/liveness", "/status", "/df", "/whoami", "/metrics")


class AuditLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1, encoding="utf-8") if path else None  # noqa: SIM115
        if self._file is not None:
            os.chmod(path, 0o600)
            log.info("audit log: %s", path)

    def record(self, request: Request, response: Response) -> None:
        if self._file is None or request.path.startswith(NOT_AUDITED):
            return
        params = Params(request.args)
        principal = request.environ.get(PRINCIPAL)
        who = principal.name if principal is not None and principal.kind == "user" else params.raw("user.name")
        entry: dict[str, Any] = {
            "time": _now(),
            "user": who or None, "via": principal.via if principal is not None else None,
            "ip": request.remote_addr, "method": request.method,
            "op": (params.raw("op") or request.path.split("/")[1] or "").upper()[:64],
            "path": request.path[len("/webhdfs/v1"):] or "/" if request.path.startswith("/webhdfs/v1")
            else request.path,
            "status": response.status_code, "allowed": response.status_code < 400,
        }
        for name in ("doas", "destination"):
            if params.raw(name):
                entry["dst" if name == "destination" else name] = params.raw(name)
        self._write(entry)

    def record_commit(self, user: str | None, path: str, ip: str | None, status: int) -> None:
        """A COMMIT that reached the name node with its file's block (a pipeline's confirmation),
        not as a request of its own: logged as the writer's COMMIT."""
        if self._file is None:
            return
        self._write({"time": _now(), "user": user, "via": "commit grant", "ip": ip, "method": "POST",
                     "op": "COMMIT", "path": path, "status": status, "allowed": status < 400})

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._file is not None
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"

