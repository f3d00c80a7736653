"""Changing directory entries: MKDIRS, CREATESYMLINK, MKNOD, LINK, RENAME and DELETE.

Each handler parses its call and runs one ``namespace`` function in one write transaction.
"""
from __future__ import annotations

import time

from werkzeug.wrappers import Response

from dfs_common.errors import IllegalArgument
from dfs_common.paths import split_path
from dfs_common.web import json_response

from .. import namespace
from ..filestatus import SPECIAL_KIND_OF, file_status
from ..store import Store
from .call import Call, boolean, boolean_at, empty
from .leases import LeaseOps

MAX_RDEV = (1 << 64) - 1  # dev_t is 64 bits on Linux
_RENAME_OPTIONS = ("NONE", "OVERWRITE")


class TreeOps:
    """The operations that add, move and remove names."""

    def __init__(self, store: Store, leases: LeaseOps) -> None:
        self.store = store
        self.leases = leases

    def op_mkdirs(self, call: Call) -> Response:
        """With ``lease=true`` (our extension) the answer also carries the new directory's lease
        (``handlers/leases.py``), or ``"Lease": null``."""
        mode = call.params.permission(default=0o755)
        lease = call.params.boolean("lease", False)
        with self.store.write() as txn:
            namespace.mkdirs(txn, call.path, call.caller, mode, time.time_ns(),
                             call.params.boolean("parents", True), call.params.user("owner"),
                             call.params.user("group"))
            granted = self.leases.grant(txn, call, call.path) if lease else None
        if not lease:
            return boolean(True)
        self.leases.granted(call, granted)
        return json_response({"boolean": True, "Lease": granted})

    def op_createsymlink(self, call: Call) -> Response:
        target = call.params.required("destination")
        with self.store.write() as txn:
            namespace.symlink(txn, target, call.path, call.caller, time.time_ns(),
                              call.params.boolean("createParent", True), call.params.user("owner"),
                              call.params.user("group"))
        return empty()

    def op_rename(self, call: Call) -> Response:
        destination = call.params.required("destination")
        split_path(destination)
        options = call.params.text("renameoptions")
        if options is not None and options.upper() not in _RENAME_OPTIONS:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "renameoptions": {options[:20]!r}')
        now = time.time_ns()
        with self.store.write() as txn:
            done = namespace.rename(txn, call.path, destination, call.caller, now, options)
        return boolean_at(call, done, now)

    def op_mknod(self, call: Call) -> Response:
        """Extension: a FIFO, socket or device node (``mknod(2)``), answered with its FileStatus."""
        name = (call.params.required("type")).upper()
        kind = SPECIAL_KIND_OF.get(name)
        if kind is None:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "type": {name[:20]!r} '
                                  "(FIFO, CHAR, BLOCK or SOCKET)")
        rdev = call.params.integer("rdev", 0, minimum=0) or 0
        if rdev > MAX_RDEV:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "rdev": {rdev}')
        mode = call.params.permission(default=0o644)
        with self.store.write() as txn:
            ino, inode = namespace.mknod(txn, call.path, kind, mode, rdev, call.caller,
                                         time.time_ns(), call.params.text("owner"), call.params.text("group"))
            status = file_status("", ino, inode)
        return json_response({"FileStatus": status})

    def op_link(self, call: Call) -> Response:
        destination = call.params.required("destination")
        with self.store.write() as txn:
            namespace.link(txn, call.path, destination, call.caller, time.time_ns())
        return empty()

    def op_delete(self, call: Call) -> Response:
        recursive = call.params.boolean("recursive", False)
        kind = call.params.text("kind") or None
        if kind not in (None, "file", "directory"):
            raise IllegalArgument(f"Invalid value for kind: {kind[:40]!r} (file or directory)")
        now = time.time_ns()
        with self.store.write() as txn:
            done = namespace.delete(txn, call.path, call.caller, recursive, now, kind)
        return boolean_at(call, done, now)
