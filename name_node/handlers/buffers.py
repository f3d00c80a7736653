"""The HTTP face of ingest buffers: CREATEBUFFER, POSTRECORD, COMMITRECORD, GETBUFFERSTATUS,
GETBUFFERLOG, FREEZEBUFFER and RELEASEBUFFER, on ``/webhdfs/v1/<buffer path>``.

Each handler parses its call and runs one ``ingest`` function in one write transaction. A record's
bytes never pass through the name node: ``POSTRECORD`` (what ``curl -L -X POST -T rec.json``
sends) is answered with a 307 to a data node, which stores the body in blocks like any client and
ends with ``COMMITRECORD``, the one transaction that names the record and counts it.
"""
from __future__ import annotations

import time

from werkzeug.wrappers import Response

from dfs_common.errors import IllegalArgument
from dfs_common.paths import normalize, split_path
from dfs_common.settings import Settings
from dfs_common.web import MAX_INT64, json_response, read_json_object

from .. import blockmap, buffers, ingest
from ..heal import Healer
from ..identity import Identity
from ..permissions import EXECUTE, WRITE, check
from ..placement import Placement
from ..store import Store
from .call import Call
from .redirects import redirect

MAX_RECORD_COMMIT_BODY = 1024 * 1024  # a record's block list: thousands of blocks fit
MAX_REPLICATION = 512

# op → HTTP method, added to the name node's table.
BUFFER_OPERATIONS: dict[str, str] = {
    "CREATEBUFFER": "PUT", "FREEZEBUFFER": "PUT", "RELEASEBUFFER": "PUT",
    "POSTRECORD": "POST", "COMMITRECORD": "POST",
    "GETBUFFERSTATUS": "GET", "GETBUFFERLOG": "GET",
}


class BufferOps:
    """Ingest buffers over HTTP."""

    def __init__(self, store: Store, placement: Placement, healer: Healer, settings: Settings,
                 identity: Identity) -> None:
        self.identity = identity
        self.store = store
        self.placement = placement
        self.healer = healer
        self.settings = settings

    def op_createbuffer(self, call: Call) -> Response:
        max_bytes = call.params.integer("maxbytes", None, minimum=1, maximum=MAX_INT64)
        if max_bytes is None:
            raise IllegalArgument('Missing webhdfs parameter "maxbytes"')
        mode = call.params.permission(default=0o755)
        with self.store.write() as txn:
            status = ingest.create(txn, call.path, call.caller, max_bytes, mode, time.time_ns())
        return json_response({"BufferStatus": status})

    def op_getbufferstatus(self, call: Call) -> Response:
        with self.store.read() as txn:
            status = ingest.status(txn, call.path, call.caller)
        return json_response({"BufferStatus": status})

    def op_getbufferlog(self, call: Call) -> Response:
        after = call.params.integer("after", 0, minimum=0) or 0
        with self.store.read() as txn:
            entries = ingest.log_entries(txn, call.path, call.caller, after)
        return json_response({"BufferLog": entries, "remaining": len(entries) >= ingest.LOG_PAGE})

    def op_freezebuffer(self, call: Call) -> Response:
        force = call.params.boolean("force", False)
        with self.store.write() as txn:
            status = ingest.freeze(txn, call.path, call.caller, force, time.time_ns())
        return json_response({"BufferStatus": status})

    def op_releasebuffer(self, call: Call) -> Response:
        force = call.params.boolean("force", False)
        archive_dir = call.params.text("archivedir") or None
        if archive_dir is not None:
            split_path(archive_dir)
            archive_dir = normalize(archive_dir)
        with self.store.write() as txn:
            status = ingest.release(txn, call.path, call.caller, force, time.time_ns(), archive_dir)
        return json_response({"BufferStatus": status})

    def op_postrecord(self, call: Call) -> Response:
        """Step one: refused at once (403) while frozen, else redirected to a data node."""
        ingest.check_suffix(call.params.text("suffix") or "")
        with self.store.read() as txn:
            _, ino, inode, _ = ingest.resolve_buffer(txn, call.path, call.caller)
            check(call.caller, inode, WRITE | EXECUTE, call.path)
            buffers.check_writable(txn, ino, call.path)
        return redirect(call, self.placement.any_alive(), self.identity)

    def op_commitrecord(self, call: Call) -> Response:
        """``{"blocks": [...], "suffix", "permission", "replication"}``: the record's confirmed
        blocks become one new file named by its arrival time, counted in the same transaction."""
        body = read_json_object(call.request, MAX_RECORD_COMMIT_BODY, "COMMITRECORD body")
        settings = self.settings
        entries = blockmap.parse_extents(body.get("blocks"), settings.max_block_size, settings.max_file_size)
        suffix = body.get("suffix") or ""
        if not isinstance(suffix, str):
            raise IllegalArgument("COMMITRECORD suffix must be a string")
        mode = body.get("permission", "644")
        try:
            mode = int(str(mode), 8)
        except ValueError:
            raise IllegalArgument(f"COMMITRECORD permission must be octal, not {str(mode)[:10]!r}") from None
        replication = body.get("replication") or settings.replication
        if isinstance(replication, bool) or not isinstance(replication, int) \
                or not 1 <= replication <= MAX_REPLICATION or not 0 <= mode <= 0o7777:
            raise IllegalArgument("COMMITRECORD replication must be 1-512 and permission octal up to 7777")
        with self.store.write() as txn:
            _, inode, record = ingest.post_record(txn, call.path, call.caller, entries, time.time_ns(),
                                                  suffix, mode, replication, settings.block_size)
            adopted = record.pop("adopted")
            short = [n for n in adopted if len(txn.block(n).replicas) < inode.replication]  # type: ignore[union-attr]
        if short:
            self.healer.suspect(short)
        return json_response({"Record": record})
