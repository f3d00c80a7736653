"""BATCH: the changes a client made under its directory leases, applied in one transaction.

The body: ``{"ops": [...], "release": [directory fileIds], "ids": n, "end": bool}``, the session
in the ``X-DFS-Session`` header. Each op runs in its own child transaction (one that fails is
undone alone and answers its RemoteException); ``release`` ends leases once their ops are in;
``ids`` reserves that many inode numbers for files the client will create; ``end``: the session is
over (its unused numbers go); ``wait`` (seconds, for a batch of no ops: the holder's watch) answers
once one of the session's leases is recalled, or after at most half a lease. The answer: ``{"results": [...], "recalled": [fileIds], "ids":
[first, end]}``. docs/PROTOCOL.md has the op shapes.
"""
from __future__ import annotations

import time
from typing import Any

from werkzeug.wrappers import Request, Response

from dfs_common.errors import (AlreadyExists, Conflict, DFSError, IllegalArgument, IsADirectory, NotADirectory,
                               NotFound, to_remote_exception)
from dfs_common.paths import split_path
from dfs_common.settings import Settings
from dfs_common.web import json_response, read_json_object

from .. import buffers, erasure, namespace, storagepolicy
from ..filestatus import file_status
from ..leases import DirLeases, valid_session
from ..permissions import EXECUTE, WRITE, Caller, check, check_sticky
from ..store import Inode, Store, Txn, pack_u64, unpack_u64
from .call import Call, optional_int, optional_mode, optional_str

SESSION_HEADER = "X-DFS-Session"
MAX_BATCH_BODY = 16 * 1024 * 1024
MAX_OPS = 10_000
MAX_IDS = 65_536
IDS_PREFIX = b"lease-ids/"


def session_of(request: Request) -> str | None:
    return valid_session(request.headers.get(SESSION_HEADER))


class LeaseOps:
    """Directory leases: granted by MKDIRS (``grant``), used and ended by BATCH."""

    def __init__(self, store: Store, leases: DirLeases, settings: Settings, first_block: Any) -> None:
        self.store = store
        self.leases = leases
        self.settings = settings
        self.first_block = first_block  # ContentOps.first_block: a new file's first block and pipeline

    def grant(self, txn: Txn, call: Call, path: str) -> dict[str, Any] | None:
        """MKDIRS with ``lease=true``: the new directory's lease for the caller's session, with
        ``ids`` inode numbers for the files it will create in it, in the transaction that made it.
        None where files could not be made blind (an erasure-coded or ingest-buffer directory)."""
        session = session_of(call.request)
        if session is None:
            raise IllegalArgument(f"A lease needs a session ({SESSION_HEADER})")
        where = namespace.resolve(txn, path, call.caller)
        ino, inode = where.existing()
        if not inode.is_dir or erasure.effective(txn, ino) is not None \
                or buffers.get(txn, where.parent_ino) is not None:
            return None
        self.leases.grant(txn, ino, session)
        ids = call.params.integer("ids", 0, minimum=0, maximum=MAX_IDS) or 0
        return {"fileId": ino, "seconds": self.leases.lease_seconds, "ids": _reserve(txn, session, ids),
                "blockSize": self.settings.block_size, "replication": self.settings.replication,
                "FileStatus": file_status("", ino, inode)}

    def granted(self, call: Call, lease: dict[str, Any] | None) -> None:
        """``grant``'s transaction committed: the lease holds from now on."""
        if lease is not None:
            self.leases.granted(lease["fileId"], session_of(call.request) or "")

    def op_batch(self, call: Call) -> Response:
        session = session_of(call.request)
        if session is None:
            raise IllegalArgument(f"BATCH needs a session ({SESSION_HEADER})")
        body = read_json_object(call.request, MAX_BATCH_BODY, "BATCH body")
        ops, release = body.get("ops") or [], body.get("release") or []
        if not isinstance(ops, list) or len(ops) > MAX_OPS or not isinstance(release, list) \
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in release):
            raise IllegalArgument(f'BATCH needs "ops" (a list of at most {MAX_OPS}) and "release" (fileIds)')
        ids = optional_int(body, "ids") or 0
        wait = optional_int(body, "wait") or 0  # seconds to wait for a recall (with no ops)
        if ids > MAX_IDS:
            raise IllegalArgument(f'BATCH "ids" is at most {MAX_IDS}')
        results: list[Any] = []
        pipelines: dict[tuple[int, str], Any] = {}  # the first blocks of this batch's files share them
        with self.store.write() as txn:
            for op in ops:
                child = Txn(self.store.env.begin(write=True, parent=txn.txn), txn.db)
                try:
                    results.append(self._apply(child, call.caller, session, op, pipelines))
                    child.txn.commit()
                except DFSError as error:
                    child.txn.abort()
                    results.append(to_remote_exception(error))
            released = self.leases.release(txn, session, release)
            if body.get("end") is True:
                for key, _ in list(txn.scan("meta", _ids_key(session))):
                    txn.delete("meta", key)
            reserved = _reserve(txn, session, ids)
        self.leases.released(released)
        recalled = self.leases.renew(session, wait if not ops and not release else 0)
        answer: dict[str, Any] = {"results": results, "recalled": recalled,
                                  "seconds": self.leases.lease_seconds}
        if reserved is not None:
            answer["ids"] = reserved
        return json_response(answer)

    def _apply(self, txn: Txn, caller: Caller, session: str, op: Any,
               pipelines: dict[tuple[int, str], Any]) -> dict[str, Any]:
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in ("create", "delete"):
            raise IllegalArgument('A BATCH op is {"op": "create" or "delete", "parent", "name", "fileId", ...}')
        parent_ino, name, file_id = optional_int(op, "parent"), op.get("name"), optional_int(op, "fileId")
        if parent_ino is None or file_id is None or not isinstance(name, str) or len(split_path("/" + name)) != 1:
            raise IllegalArgument(f'A BATCH {kind} needs "parent" (a directory fileId), one "name" and a "fileId"')
        if self.leases.holder(parent_ino) not in (None, session):
            raise Conflict(f"Directory {parent_ino} is leased by another client")
        parent = txn.inode(parent_ino)
        if parent is None:
            raise NotFound(f"Directory {parent_ino} does not exist")
        if not parent.is_dir:
            raise NotADirectory(f"{parent_ino} is not a directory")
        if kind == "delete":
            return _delete(txn, caller, parent_ino, parent, name, file_id)
        existing = txn.child(parent_ino, name)
        if existing == file_id:  # a batch sent again
            return {"FileStatus": file_status("", file_id, txn.inode(file_id))}  # type: ignore[arg-type]
        if not _take_id(txn, session, file_id):
            raise Conflict(f"fileId {file_id} is not one reserved for this session")
        if existing is not None:
            raise AlreadyExists(f"{name} already exists in directory {parent_ino}")
        where = namespace.Resolved(name, None, None, parent_ino, parent, name)
        now = optional_int(op, "mtimeNs") or time.time_ns()
        mode = optional_mode(op.get("permission"))
        ino, inode = namespace.create_file(txn, where, caller, 0o644 if mode is None else mode,
                                           self.settings.replication, self.settings.block_size, now,
                                           optional_str(op, "owner"), optional_str(op, "group"), ino=file_id)
        erasure.record_for_file(txn, ino, parent_ino)
        storagepolicy.stamp_new_file(txn, ino, parent_ino)
        answer: dict[str, Any] = {"FileStatus": file_status("", ino, inode)}
        if op.get("addBlock") is True:
            block = self.first_block(txn, inode.replication, storagepolicy.effective(txn, ino), caller.user,
                                     pipelines)
            if block is not None:
                answer["Block"] = block
        return answer


def _delete(txn: Txn, caller: Caller, parent_ino: int, parent: Inode, name: str, file_id: int) -> dict[str, Any]:
    """``unlink(2)`` of ``name`` if it still names file ``file_id`` (gone already: a batch sent again)."""
    child = txn.child(parent_ino, name)
    if child is None:
        return {}
    inode = txn.inode(child)
    if child != file_id or inode is None:
        raise Conflict(f"{name} in directory {parent_ino} no longer names file {file_id}")
    if inode.is_dir:
        raise IsADirectory(f"{name} is a directory")
    check(caller, parent, WRITE | EXECUTE, name)
    check_sticky(caller, parent, inode, name)
    now = time.time_ns()
    namespace.release(txn, child, inode, now)
    namespace.remove_entry(txn, parent_ino, parent, name, inode, now)
    return {"timeNs": now}


def _ids_key(session: str) -> bytes:
    return IDS_PREFIX + session.encode() + b"/"


def _reserve(txn: Txn, session: str, count: int) -> list[int] | None:
    """``count`` fresh inode numbers for ``session``'s blind creates: ``[first, end)``."""
    if not count:
        return None
    end = txn.bump("next_ino", count) + 1
    txn.put("meta", _ids_key(session) + pack_u64(end - count), pack_u64(end))
    return [end - count, end]


def _take_id(txn: Txn, session: str, file_id: int) -> bool:
    """Use ``file_id`` from one of ``session``'s reserved ranges; numbers below it in that range
    go too (a client takes them in order), so no number is ever handed out twice."""
    for key, value in list(txn.scan("meta", _ids_key(session))):
        start, end = unpack_u64(key[-8:]), unpack_u64(value)
        if start <= file_id < end:
            txn.delete("meta", key)
            if file_id + 1 < end:
                txn.put("meta", _ids_key(session) + pack_u64(file_id + 1), value)
            return True
    return False
