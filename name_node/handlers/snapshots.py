"""The HTTP face of snapshots, as WebHDFS spells it: ALLOWSNAPSHOT, DISALLOWSNAPSHOT,
CREATESNAPSHOT, RENAMESNAPSHOT (PUT), DELETESNAPSHOT (DELETE), GETSNAPSHOTDIFF,
GETSNAPSHOTTABLEDIRECTORYLIST and GETSNAPSHOTLIST (GET). Each is one transaction (``snapshots``);
reads below ``<dir>/.snapshot/`` are the ordinary read ops through a snapshot view (``Call.read``).
"""
from __future__ import annotations

import time

from werkzeug.wrappers import Response

from dfs_common.web import json_response

from .. import snapshots
from ..store import Store
from .call import Call, empty

SNAPSHOT_OPERATIONS: dict[str, str] = {
    "ALLOWSNAPSHOT": "PUT", "DISALLOWSNAPSHOT": "PUT", "CREATESNAPSHOT": "PUT", "RENAMESNAPSHOT": "PUT",
    "DELETESNAPSHOT": "DELETE", "GETSNAPSHOTDIFF": "GET", "GETSNAPSHOTTABLEDIRECTORYLIST": "GET",
    "GETSNAPSHOTLIST": "GET",
}
# The read ops a path under ``.snapshot`` may take: each reads through ``Call.read``.
SNAPSHOT_READS = frozenset((
    "OPEN", "GETFILESTATUS", "GETFILELINKSTATUS", "GETLINKTARGET", "LISTSTATUS", "LISTSTATUS_BATCH",
    "GETCONTENTSUMMARY", "GETQUOTAUSAGE", "GETFILECHECKSUM", "GETFILEBLOCKLOCATIONS", "GETXATTRS",
    "LISTXATTRS", "CHECKACCESS", "GETACLSTATUS",
))


class SnapshotOps:
    def __init__(self, store: Store) -> None:
        self.store = store

    def op_allowsnapshot(self, call: Call) -> Response:
        with self.store.write() as txn:
            snapshots.allow(txn, call.path, call.caller)
        return empty()

    def op_disallowsnapshot(self, call: Call) -> Response:
        with self.store.write() as txn:
            snapshots.disallow(txn, call.path, call.caller)
        return empty()

    def op_createsnapshot(self, call: Call) -> Response:
        name = call.params.text("snapshotname")
        with self.store.write() as txn:
            path = snapshots.create(txn, call.path, name, call.caller, time.time_ns())
        return json_response({"Path": path})

    def op_renamesnapshot(self, call: Call) -> Response:
        old, new = call.params.required("oldsnapshotname"), call.params.required("snapshotname")
        with self.store.write() as txn:
            snapshots.rename(txn, call.path, old, new, call.caller)
        return empty()

    def op_deletesnapshot(self, call: Call) -> Response:
        name = call.params.required("snapshotname")
        with self.store.write() as txn:
            snapshots.delete(txn, call.path, name, call.caller)
        return empty()

    def op_getsnapshotdiff(self, call: Call) -> Response:
        old = call.params.text("oldsnapshotname") or ""
        new = call.params.text("snapshotname") or ""
        with self.store.read() as txn:
            report = snapshots.diff(txn, call.path, old, new, call.caller)
        return json_response({"SnapshotDiffReport": report})

    def op_getsnapshottabledirectorylist(self, call: Call) -> Response:
        with self.store.read() as txn:
            listed = snapshots.snapshottable_directories(txn, call.caller)
        return json_response({"SnapshottableDirectoryList": listed})

    def op_getsnapshotlist(self, call: Call) -> Response:
        with self.store.read() as txn:
            listed = snapshots.snapshot_list(txn, call.path, call.caller)
        return json_response({"SnapshotList": listed})
