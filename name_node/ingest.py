"""Ingest buffers, the operations: create, post a record, freeze, release, status and log.

What the gravitational-wave data buffer's users do by hand, as namespace changes: small records
stream into a directory, a consumer freezes the batch once it holds ``max_bytes``, works on it,
then releases it: the batch becomes ``NAME.<UTC time>`` and an empty buffer takes its name, in one
transaction. Rows and hooks are in ``buffers``; each function here runs in the caller's write
transaction.
"""
from __future__ import annotations

import marshal
import re
import time
from typing import Any

from dfs_common.errors import AlreadyExists, IllegalArgument, NotADirectory, NotFound, WrongState
from dfs_common.paths import join, split_path

from . import blockmap, namespace, storagepolicy
from .buffers import FROZEN, OPERATIONAL, Buffer, check_writable, forget, get, put, resized
from .permissions import WRITE, Caller, check
from .store import DIR, Inode, Txn, pack_u64, unpack_u64

MAX_SUFFIX = 32  # a record name's suffix (".json"): the name stays far below 255 bytes
_SUFFIX = re.compile(r"[A-Za-z0-9._-]*")
LOG_PAGE = 1000  # log entries per GETBUFFERLOG answer


# -- the operations ----------------------------------------------------------------------------

def resolve_buffer(txn: Txn, path: str, caller: Caller) -> tuple[namespace.Resolved, int, Inode, Buffer]:
    where = namespace.resolve(txn, path, caller, follow=True)
    ino, inode = where.existing()
    buffer = get(txn, ino)
    if buffer is None:
        raise NotFound(f"Not a buffer: {path}")
    return where, ino, inode, buffer


def create(txn: Txn, path: str, caller: Caller, max_bytes: int, mode: int, now: int) -> dict[str, Any]:
    """Make ``path`` a buffer: a new directory, or an existing one (its files count from now)."""
    try:
        where: namespace.Resolved | None = namespace.resolve(txn, path, caller, follow=True)
    except NotFound:
        where = None  # a parent is missing: made, as ``mkdir -p``
    if where is None or where.ino is None:
        namespace.mkdirs(txn, path, caller, mode, now)
        where = namespace.resolve(txn, path, caller, follow=True)
    ino, inode = where.existing()
    if not inode.is_dir:
        raise NotADirectory(f"{path} is not a directory")
    check(caller, inode, WRITE, path)
    if get(txn, ino) is not None:
        raise AlreadyExists(f"{path} is already a buffer")
    size = 0
    for _, child in txn.children(ino):
        node = txn.inode(child)
        if node is not None and node.kind != DIR:
            size += node.size
    buffer = Buffer(txn.bump("buffer_ids"), max_bytes, size, created=now)
    put(txn, ino, buffer)
    log(txn, buffer, now, caller.user, "created", maxBytes=max_bytes, path=path)
    return describe(path, inode, buffer)


def post_record(txn: Txn, path: str, caller: Caller, entries: list[tuple[str | None, int, str | None]],
                now: int, suffix: str, mode: int, replication: int, block_size: int) -> tuple[int, Inode, dict[str, Any]]:
    """One record: a new file named by its arrival time, holding ``entries`` (confirmed blocks)."""
    check_suffix(suffix)
    where, dir_ino, dir_inode, buffer = resolve_buffer(txn, path, caller)
    check_writable(txn, dir_ino, path)
    arrival = max(now, buffer.last_record + 1)
    buffer.last_record = arrival
    put(txn, dir_ino, buffer)
    name = record_name(arrival) + suffix
    target = namespace.Resolved(join(path, name), None, None, dir_ino, dir_inode, name)
    if txn.child(dir_ino, name) is not None:
        raise AlreadyExists(f"{target.path} already exists")
    ino, inode = namespace.create_file(txn, target, caller, mode, replication, block_size, now)
    storagepolicy.stamp_new_file(txn, ino, dir_ino)
    _, inode.size, adopted = blockmap.swap_extents(txn, ino, entries)
    resized(txn, dir_ino, 0, inode.size)
    txn.put_inode(ino, inode)
    fresh = get(txn, dir_ino)
    assert fresh is not None
    dir_node = txn.inode(dir_ino)
    assert dir_node is not None
    return ino, inode, {"name": name, "path": target.path, "length": inode.size, "adopted": adopted,
                        **_counters(dir_node, fresh)}


def check_suffix(suffix: str) -> None:
    if len(suffix) > MAX_SUFFIX or not _SUFFIX.fullmatch(suffix):
        raise IllegalArgument(f"A record suffix is at most {MAX_SUFFIX} of A-Z a-z 0-9 . _ -: {suffix[:40]!r}")


def freeze(txn: Txn, path: str, caller: Caller, force: bool, now: int) -> dict[str, Any]:
    """OPERATIONAL → FROZEN, refused below the threshold (``max_bytes``) unless ``force``."""
    where, ino, inode, buffer = resolve_buffer(txn, path, caller)
    check(caller, inode, WRITE, path)
    if buffer.state == FROZEN:
        raise WrongState(f"{path} is already frozen by {buffer.frozen_by}")
    if buffer.size < buffer.max_bytes and not force:
        raise WrongState(f"{path} holds {buffer.size} of its {buffer.max_bytes} bytes: below the "
                         "threshold, not frozen (force=true freezes it anyway)",
                         buff_size=buffer.size, max_bytes=buffer.max_bytes)
    buffer.state, buffer.frozen_by, buffer.frozen_at = FROZEN, caller.user, now
    put(txn, ino, buffer)
    log(txn, buffer, now, caller.user, "frozen", forced=force and buffer.size < buffer.max_bytes,
        n_itm=inode.children, buff_size=buffer.size)
    return describe(path, inode, buffer)


def release(txn: Txn, path: str, caller: Caller, force: bool, now: int,
            archive_dir: str | None = None) -> dict[str, Any]:
    """Rename the (frozen) batch to ``<archive_dir or parent>/<name>.<UTC time>`` and start an
    empty buffer of the same settings under the old name, in one transaction."""
    where, ino, inode, buffer = resolve_buffer(txn, path, caller)
    if buffer.state != FROZEN and not force:
        raise WrongState(f"{path} is {buffer.state}: freeze it before releasing (or force=true)")
    segments = split_path(where.path)
    canonical = "/" + "/".join(segments)
    if not segments:
        raise IllegalArgument("The root cannot be a released buffer")
    parent = archive_dir if archive_dir is not None else ("/" + "/".join(segments[:-1]))
    archive = join(parent, f"{segments[-1]}.{archive_stamp(now)}")
    items, size, forced = inode.children, buffer.size, buffer.state != FROZEN
    forget(txn, ino)  # the archive is a plain directory from now on
    namespace.rename(txn, canonical, archive, caller, now, "NONE")
    namespace.mkdirs(txn, canonical, caller, inode.mode, now, parents=False)
    fresh_ino, fresh = namespace.resolve_existing(txn, canonical, caller)
    buffer.size, buffer.state, buffer.frozen_by, buffer.frozen_at = 0, OPERATIONAL, "", 0
    buffer.batch += 1
    put(txn, fresh_ino, buffer)
    log(txn, buffer, now, caller.user, "released", archive=archive, n_itm=items, buff_size=size,
        forced=forced)
    return {**describe(path, fresh, buffer), "archive": archive, "archived_n_itm": items,
            "archived_buff_size": size}


def status(txn: Txn, path: str, caller: Caller) -> dict[str, Any]:
    _, _, inode, buffer = resolve_buffer(txn, path, caller)
    return describe(path, inode, buffer)


def describe(path: str, inode: Inode, buffer: Buffer) -> dict[str, Any]:
    """The BufferStatus JSON: the seed's ``n_itm``, ``buff_size``, ``dstatus`` and the rest."""
    return {"path": path, **_counters(inode, buffer), "max_bytes": buffer.max_bytes,
            "full": buffer.size >= buffer.max_bytes, "frozen_by": buffer.frozen_by or None,
            "frozen_at": buffer.frozen_at or None, "created": buffer.created, "batch": buffer.batch,
            "buffer_id": buffer.id}


def _counters(inode: Inode, buffer: Buffer) -> dict[str, Any]:
    return {"n_itm": inode.children, "buff_size": buffer.size, "dstatus": buffer.state}


# -- the log -----------------------------------------------------------------------------------

def log(txn: Txn, buffer: Buffer, now: int, user: str, event: str, **detail: Any) -> None:
    """One event of a buffer's life (created, frozen, released), kept across releases."""
    sequence = txn.bump("buffer_log")
    txn.put("bufferlog", pack_u64(buffer.id) + pack_u64(sequence),
            marshal.dumps((now, user, event, detail)))


def log_entries(txn: Txn, path: str, caller: Caller, after: int = 0,
                limit: int = LOG_PAGE) -> list[dict[str, Any]]:
    """The buffer's events, oldest first, those after sequence number ``after``."""
    _, _, _, buffer = resolve_buffer(txn, path, caller)
    prefix = pack_u64(buffer.id)
    entries = []
    for key, value in txn.scan("bufferlog", prefix, prefix + pack_u64(after + 1)):
        at, user, event, detail = marshal.loads(value)
        entries.append({"seq": unpack_u64(key[8:]), "time": at, "user": user, "event": event, **detail})
        if len(entries) >= limit:
            break
    return entries


# -- names -------------------------------------------------------------------------------------

def record_name(arrival_ns: int) -> str:
    """``20261202T142233.123456789Z``: UTC, nanoseconds, so names sort in arrival order."""
    seconds, fraction = divmod(arrival_ns, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def archive_stamp(now_ns: int) -> str:
    seconds, fraction = divmod(now_ns, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f".{fraction // 1000:06d}Z"
