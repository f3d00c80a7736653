"""One WebHDFS request, parsed: its parameters, path and caller, and the plain answers.

Every handler reads its parameters through here, so a bad value is the same 400 everywhere.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from dfs_common.blocks import parse_block_id
from dfs_common.errors import IllegalArgument
from dfs_common.settings import Settings
from dfs_common.web import MAX_INT64, Params, json_response, read_json_object

from .. import snapshots
from ..identity import effective_user
from ..permissions import Caller, GroupMapping
from ..store import Store, Txn

PREFIX = "/webhdfs/v1"
MAX_REPLICATION = 512  # replicas a file may ask for; placement never gives more than 32
MAX_BLOCK_LIST = 10_000  # block ids per RENEWBLOCKS or ABANDONBLOCKS (clients send batches)
MAX_BLOCK_LIST_BODY = 1024 * 1024


@dataclass(slots=True)
class Call:
    """One WebHDFS request: its parsed parameters, path and caller; ``snapshot`` when the path
    is below a ``.snapshot`` directory (only read ops get that far)."""

    request: Request
    params: Params
    path: str
    caller: Caller
    snapshot: snapshots.SnapshotPath | None = None

    def read(self, store: Store) -> AbstractContextManager[Txn]:
        """The read transaction a read op resolves ``path`` in: the live tree, or a snapshot's."""
        if self.snapshot is None:
            return store.read()
        return snapshots.reading(store, self.snapshot, self.caller)


def caller_of(request: Request, groups: GroupMapping) -> Caller:
    """Who asks: the user ``Identity.admit`` authenticated (or whom an administrator acts for
    with ``doas``); in insecure mode ``user.name``, or whom it acts for with ``doas``."""
    user, authenticated = effective_user(request)
    if authenticated:
        return groups.caller(user)
    return groups.caller(user, Params(request.args).user("doas"))


def empty() -> Response:
    return Response(b"", status=200, content_type="application/octet-stream")


def boolean(value: bool) -> Response:
    return json_response({"boolean": value})


def boolean_at(call: Call, value: bool, now: int) -> Response:
    """``{"boolean"}``, plus ``timeNs`` (the time the change gave what it touched) when the caller
    asked with ``timens=true``: plain WebHDFS answers stay exactly Hadoop's."""
    if call.params.boolean("timens", False):
        return json_response({"boolean": value, "timeNs": now})
    return boolean(value)


def parse_block_param(params: Params, name: str = "blockid") -> int:
    return int(parse_block_id(params.required(name)), 16)


def check_block_size(settings: Settings, block_size: int | None) -> None:
    """A block size a data node will accept (``DFS_MAX_BLOCK_SIZE``), checked before any byte moves."""
    if block_size is not None and not 1 <= block_size <= settings.max_block_size:
        raise IllegalArgument(f'Invalid value for webhdfs parameter "blocksize": {block_size} '
                              f"(the limit is {settings.max_block_size})")


def replication_param(call: Call, required: bool = False) -> int | None:
    replication = call.params.integer("replication", None, minimum=1, maximum=MAX_REPLICATION)
    if replication is None and required:
        raise IllegalArgument('Missing webhdfs parameter "replication"')
    return replication


def time_ns(call: Call, name: str) -> int | None:
    """A time from the ns extension parameter, else the WebHDFS ms one; -1 means unchanged.

    Times run from the epoch to 2**63-1 ns (April 2262): what a stat's ``st_mtime_ns`` carries;
    anything else is a 400 rather than a time no client could show."""
    value = call.params.integer(name + "ns", None, minimum=-1)
    if value is None:
        ms = call.params.integer(name, None, minimum=-1, maximum=MAX_INT64 // 1_000_000)
        value = None if ms is None else ms * 1_000_000 if ms >= 0 else -1
    return None if value is None or value < 0 else value


def block_list(call: Call, op: str) -> list[int]:
    """The block numbers of a ``{"blocks": [ids]}`` body."""
    ids = read_json_object(call.request, MAX_BLOCK_LIST_BODY, f"{op} body").get("blocks")
    if not isinstance(ids, list) or len(ids) > MAX_BLOCK_LIST:
        raise IllegalArgument(f'{op} needs "blocks": a list of at most {MAX_BLOCK_LIST} block ids')
    return [int(parse_block_id(block_id), 16) for block_id in ids]


def optional_int(body: dict[str, Any], name: str) -> int | None:
    """A COMMIT body field: absent, or an integer in [0, 2**63-1]."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise IllegalArgument(f"COMMIT field {name!r} must be an integer between 0 and 2**63-1")
    return value


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value or "\0" in value):
        raise IllegalArgument(f"COMMIT field {name!r} must be a non-empty string")
    return value


def optional_mode(value: Any) -> int | None:
    if value is None:
        return None
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise IllegalArgument(f"COMMIT permission must be octal, not {str(value)[:10]!r}") from None
    if not 0 <= mode <= 0o7777:
        raise IllegalArgument(f"COMMIT permission out of range: {value}")
    return mode
