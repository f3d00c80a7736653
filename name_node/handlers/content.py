"""Changing what a file holds: ADDBLOCK, COMMIT, TRUNCATE, CONCAT and the pending-block calls.

A writer asks ADDBLOCK for a block id and a pipeline, ships the bytes to the data nodes itself, and
COMMITs the block list in one write transaction (invariant 4: replicas count only once the data
nodes confirm them). RENEWBLOCKS and ABANDONBLOCKS keep alive or give up blocks not yet committed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

from dfs_common.blocks import format_block_id
from dfs_common.errors import (AlreadyExists, Conflict, DFSError, IllegalArgument, NoSpace, NotFound,
                               Unauthenticated, to_remote_exception)
from dfs_common.paths import normalize
from dfs_common.settings import Settings
from dfs_common.web import json_response, read_json_object

from dfs_common.erasure import parse_policy

from .. import attributes, blockmap, buffers, erasure, groups, namespace, storagepolicy
from ..filestatus import file_status
from ..heal import Healer
from ..audit import AuditLog
from ..identity import Identity, valid_user_name
from ..members import Member, Members
from ..permissions import WRITE, Caller, GroupMapping, check
from ..placement import Placement
from ..store import Store, Txn
from .call import (MAX_REPLICATION, Call, block_list, boolean, check_block_size, empty, optional_int,
                   optional_mode, optional_str, parse_block_param)

MAX_COMMIT_BODY = 64 * 1024 * 1024  # a block list of a multi-TiB file still fits


class ContentOps:
    """The block list of files: allocation, commit, truncation, concatenation."""

    def __init__(self, store: Store, members: Members, placement: Placement, healer: Healer,
                 settings: Settings, identity: Identity, groups: GroupMapping, audit: AuditLog,
                 admit_change: Callable[[str, str], None]) -> None:
        self.identity = identity  # signs the block URLs it hands out
        # for a writer's COMMIT sent with its block: who it acts for, its audit line, and the
        # checks the WebHDFS entry makes of any change (safe mode, a path below .snapshot)
        self.groups, self.audit, self.admit_change = groups, audit, admit_change
        self.block_ids = identity.block_ids  # numbers blocks unguessably (None: a counter)
        self.store = store
        self.members = members
        self.placement = placement
        self.healer = healer
        self.settings = settings

    def op_truncate(self, call: Call) -> Response:
        new_length = call.params.integer("newlength", None, minimum=0, maximum=self.settings.max_file_size)
        if new_length is None:
            raise IllegalArgument('Missing webhdfs parameter "newlength"')
        with self.store.write() as txn:
            attributes.truncate(txn, call.path, call.caller, new_length, time.time_ns())
        return boolean(True)

    def op_concat(self, call: Call) -> Response:
        sources = [s for s in (call.params.required("sources")).split(",") if s]
        with self.store.write() as txn:
            namespace.concat(txn, call.path, sources, call.caller, time.time_ns())
        return empty()

    def op_addblock(self, call: Call) -> Response:
        replication = call.params.integer("replication", None, minimum=1, maximum=MAX_REPLICATION)
        exclude = [n for n in (call.params.text("exclude") or "").split(",") if n]
        length = call.params.integer("length", None, minimum=0)  # our extension: the space to reserve
        block_size = self.settings.block_size
        with self.store.read() as txn:
            where = namespace.resolve(txn, call.path, call.caller, follow=True)
            if where.inode is not None:
                namespace.require_file(where.inode, call.path)
                check(call.caller, where.inode, WRITE, call.path)
                replication = replication or where.inode.replication
                block_size = where.inode.block_size or block_size
            else:
                namespace.check_create(call.caller, where)
            buffers.check_writable(txn, where.parent_ino, call.path)
            policy = storagepolicy.effective(txn, where.parent_ino if where.ino is None else where.ino)
        reserve = block_size if length is None else min(length, self.settings.max_block_size)
        coding = call.params.text("ecpolicy")
        if coding:  # our extension: a whole erasure-coded group, ``length`` being one fragment's
            group = erasure.add_group(self.store, self.placement, parse_policy(coding), exclude, reserve,
                                      self.block_ids)
            return json_response({"BlockGroup": self.identity.sign_group(group)})
        return json_response({"Block": self._new_block(replication, reserve, exclude, policy, call.caller.user)})

    def _new_block(self, replication: int | None, reserve: int, exclude: list[str],
                   policy: storagepolicy.StoragePolicy, user: str) -> dict[str, object]:
        """A fresh pending block and its pipeline (what ADDBLOCK answers, and a create's
        ``addBlock``), signed for the data nodes: the caller's right to write the file was
        checked already."""
        with self.store.write() as txn:
            number = blockmap.allocate(txn, time.time_ns(), self.block_ids)
        try:  # placed under its number: the reservation ends when the block is confirmed or abandoned
            pipeline = self.placement.choose(min(replication or self.settings.replication, 32),
                                             reserve, exclude, block=number, policy=policy)
        except DFSError:
            with self.store.write() as txn:
                blockmap.abandon(txn, [number])
            raise
        return self._signed(number, pipeline, user)

    def _signed(self, number: int, pipeline: list[Member], user: str) -> dict[str, object]:
        """A block as ADDBLOCK answers it: its pipeline, the signed URL its head takes, and (with
        ``DFS_SECRET``) ``commitGrant``, with which the head may commit ``user``'s file when it
        confirms the block (``commit_for_writers``)."""
        block_id = format_block_id(number)
        block: dict[str, object] = {"blockId": block_id,
                                    "pipeline": [{"id": m.id, "url": m.client_url} for m in pipeline]}
        if self.identity.tokens is not None:
            block["commitGrant"] = self.identity.tokens.commit_grant(block_id, user)
        return self.identity.sign_write(block)

    def op_commit(self, call: Call) -> Response:
        body = read_json_object(call.request, MAX_COMMIT_BODY, "COMMIT body")
        if body.get("check", False) is True:
            return json_response(self._check_commit(call, body))
        return json_response(self.commit_file(call.caller, call.path, body))

    def commit_file(self, caller: Caller, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A COMMIT (``body`` as WebHDFS clients send it) by ``caller``: the file's whole block list
        in one transaction; answers ``{"FileStatus"}`` (and a create's first ``Block``)."""
        with self.store.write() as txn:
            answer, short = self._commit_in(txn, caller, path, body)
        if short:
            self.healer.suspect(short)
        return answer

    def _commit_in(self, txn: Txn, caller: Caller, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
        """``commit_file`` within ``txn``: its answer, and the blocks it adopted that lack replicas."""
        settings = self.settings
        entries = blockmap.parse_extents(body.get("blocks"), settings.max_block_size, settings.max_file_size)
        crcs = blockmap.parse_crcs(body.get("blocks"))
        create, overwrite, file_id, replication, block_size = _commit_options(settings, body)
        mode = optional_mode(body.get("permission"))
        mtime = optional_int(body, "mtimeNs")
        now = time.time_ns()
        first: dict[str, object] | None = None
        where = namespace.resolve(txn, path, caller, follow=True)
        if not _writes_existing(path, caller, where, create, overwrite, file_id):
            ino, inode = namespace.create_file(
                txn, where, caller, 0o644 if mode is None else mode, replication,
                block_size, now, optional_str(body, "owner"), optional_str(body, "group"))
            coded = erasure.record_for_file(txn, ino, where.parent_ino)
            storagepolicy.stamp_new_file(txn, ino, where.parent_ino)
            if body.get("addBlock", False) is True and not entries and coded is None:
                first = self.first_block(txn, inode.replication, storagepolicy.effective(txn, ino), caller.user)
        else:
            ino, inode = where.existing()
            buffers.check_writable(txn, where.parent_ino, path)
        old_size = inode.size
        _, inode.size, adopted = blockmap.swap_extents(txn, ino, entries, crcs)
        buffers.resized(txn, where.parent_ino, old_size, inode.size)
        inode.mtime = mtime if mtime is not None else now
        inode.ctime = now
        txn.put_inode(ino, inode)
        short = [n for n in adopted if len(txn.block(n).replicas) < inode.replication]  # type: ignore[union-attr]
        status = file_status("", ino, inode)
        coding = erasure.policy_of(txn, ino)
        if coding is not None:
            status["ecPolicy"] = coding
        return {"FileStatus": status, **({"Block": first} if first is not None else {})}, short

    def commit_for_writers(self, commits: list[tuple[Any, dict[str, Any]]], address: str | None) -> list[dict[str, Any]]:
        """The COMMITs writers sent with their files' one block each (``X-DFS-Commit``, or a
        bundle's manifest), made when the head of the pipeline confirms those blocks: one request
        of each writer's saved, and a bundle's files committed in one transaction (each in a
        nested one of its own, so one refused leaves the others). Each acts for the user its
        block's ``commitGrant`` names (in insecure mode, the ``user`` it claims) and commits
        exactly the block the data nodes verified. Answers, per COMMIT, ``{"commit": its answer}``
        or ``{"commitError": its RemoteException}``; a block stays confirmed either way (pending,
        like one whose COMMIT failed)."""
        outcomes: list[dict[str, Any]] = [{} for _ in commits]
        users: list[str | None] = [None] * len(commits)
        paths = ["?"] * len(commits)
        prepared: list[tuple[int, dict[str, Any]]] = []
        for index, (commit, block) in enumerate(commits):
            try:
                paths[index], users[index], body = self._writer_commit(commit, block)
                prepared.append((index, body))
            except DFSError as error:
                outcomes[index] = {"commitError": to_remote_exception(error), "status": error.status}
        short: list[int] = []
        if prepared:
            with self.store.write() as txn:
                for index, body in prepared:
                    child = Txn(self.store.env.begin(write=True, parent=txn.txn), txn.db)
                    try:
                        answer, lacking = self._commit_in(child, self.groups.caller(users[index]), paths[index], body)
                        child.txn.commit()
                    except DFSError as error:
                        child.txn.abort()
                        outcomes[index] = {"commitError": to_remote_exception(error), "status": error.status}
                    else:
                        outcomes[index] = {"commit": answer}
                        short += lacking
        if short:
            self.healer.suspect(short)
        for index, outcome in enumerate(outcomes):
            self.audit.record_commit(users[index], paths[index], address, outcome.pop("status", 200))
        return outcomes

    def _writer_commit(self, commit: Any, block: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """A COMMIT sent with ``block``, checked: its path, the user it acts for, its body."""
        if not isinstance(commit, dict) or not isinstance(commit.get("path"), str) \
                or not isinstance(commit.get("body"), dict):
            raise IllegalArgument('"commit" needs a "path" and a COMMIT "body"')
        path = normalize(commit["path"])
        self.admit_change(path, "COMMIT")
        if self.identity.tokens is not None:
            grant = commit.get("grant")
            if not isinstance(grant, str):
                raise Unauthenticated("A commit sent with a block needs the block's commitGrant")
            user = self.identity.tokens.commit_principal(grant, str(block["blockId"])).name
        else:
            user = valid_user_name(commit.get("user"))
        body = {key: value for key, value in commit["body"].items() if key not in ("blocks", "check", "addBlock")}
        body["blocks"] = [{"blockId": block["blockId"], "length": block["length"], "checksum": block["checksum"]}]
        return path, user, body

    def first_block(self, txn: Txn, replication: int, policy: storagepolicy.StoragePolicy, user: str,
                    chosen: dict[tuple[int, str], list[Member]] | None = None) -> dict[str, object] | None:
        """What a creating COMMIT with ``addBlock`` hands out beside the new file: its first block
        and pipeline, allocated in the same transaction, so the first write of a small file needs
        no ADDBLOCK (the mount's create). It reserves no space, since it may never be written
        (``touch``; an unwritten one expires with the other pending blocks): a node that turns out
        to have no room fails the PUT, and the writer asks ADDBLOCK for another pipeline.
        ``chosen``: pipelines picked already for this request's other files, reused, so a batch
        of small files shares one pipeline and travels in one bundle (``dfs_common.bundles``)."""
        key = (min(replication, 32), policy.name)
        pipeline = chosen.get(key) if chosen is not None else None
        if pipeline is None:
            try:
                pipeline = self.placement.choose(key[0], 0, policy=policy)
            except NoSpace:
                return None
            if chosen is not None:
                chosen[key] = pipeline
        return self._signed(blockmap.allocate(txn, time.time_ns(), self.block_ids), pipeline, user)

    def _check_commit(self, call: Call, body: dict[str, Any]) -> dict[str, Any]:
        """COMMIT with ``"check": true``: every check this COMMIT would make, nothing written. A
        writer opening ``wb``/``xb`` learns at open what would refuse its first commit, while the
        old file (or the absence of one) stays until that commit. With ``addBlock`` the answer also
        hands out the writer's first block (an erasure-coded file's is a group: none)."""
        create, overwrite, file_id, replication, block_size = _commit_options(self.settings, body)
        with self.store.read() as txn:
            where = namespace.resolve(txn, call.path, call.caller, follow=True)
            buffers.check_writable(txn, where.parent_ino, call.path)
            if not _writes_existing(call.path, call.caller, where, create, overwrite, file_id):
                namespace.check_create(call.caller, where)
                answer: dict[str, Any] = {"FileStatus": None, "blockSize": block_size, "replication": replication,
                          "ecPolicy": erasure.effective(txn, where.parent_ino)}
                policy = storagepolicy.effective(txn, where.parent_ino)
            else:
                status = file_status("", where.ino, where.inode)  # type: ignore[arg-type]
                answer = {"FileStatus": status, "blockSize": status["blockSize"],
                          "replication": status["replication"], "ecPolicy": erasure.policy_of(txn, where.ino)}  # type: ignore[arg-type]
                policy = storagepolicy.effective(txn, where.ino)  # type: ignore[arg-type]
        answer["storagePolicy"] = policy.name
        if body.get("addBlock", False) is True and not answer["ecPolicy"]:
            try:  # it reserves a whole block size: where that does not fit, the writer's own
                answer["Block"] = self._new_block(answer["replication"], answer["blockSize"], [], policy,
                                                  call.caller.user)
            except NoSpace:  # ADDBLOCK reserves the length it really ships
                pass
        return answer

    def op_renewblocks(self, call: Call) -> Response:
        """A writer's pending blocks (shipped, not yet committed) stay alive another lifetime."""
        numbers = block_list(call, "RENEWBLOCKS")
        with self.store.write() as txn:
            renewed = blockmap.renew(txn, numbers, time.time_ns())
        return json_response({"renewed": renewed})

    def op_abandonblocks(self, call: Call) -> Response:
        """A writer gives up pending blocks it will never commit: their replicas are deleted now."""
        numbers = block_list(call, "ABANDONBLOCKS")
        with self.store.write() as txn:
            pending = [n for n in numbers if (record := txn.block(n)) is not None and not record.owner]
            pending += [f for n in list(pending) if (found := groups.group(txn, n)) for f in found[1]]
            abandoned = blockmap.abandon(txn, pending)
        self.placement.abandoned(pending)  # the nodes it was sent to delete their copies
        return json_response({"abandoned": abandoned})

    def op_reportbadblock(self, call: Call) -> Response:
        number = parse_block_param(call.params)
        node_id = call.params.required("datanode")
        with self.store.read() as txn:
            record = txn.block(number)
        if record is not None and node_id in record.replicas:
            self.members.queue(node_id, {"op": "verify", "blockId": format_block_id(number)})
        return empty()


def _commit_options(settings: Settings, body: dict[str, Any]) -> tuple[bool, bool, int | None, int, int]:
    """A COMMIT body's (create, overwrite, fileId, replication, blockSize), checked."""
    replication = min(optional_int(body, "replication") or settings.replication, MAX_REPLICATION)
    block_size = optional_int(body, "blockSize") or settings.block_size
    check_block_size(settings, block_size)
    return (bool(body.get("create", False)), bool(body.get("overwrite", False)), optional_int(body, "fileId"),
            replication, block_size)


def _writes_existing(path: str, caller: Caller, where: namespace.Resolved, create: bool, overwrite: bool,
                     file_id: int | None) -> bool:
    """Whether a COMMIT writes the file ``where`` names (else it creates one); raises what refuses
    it, the same for a real COMMIT and a ``check``."""
    if where.inode is None:
        if file_id is not None:
            raise Conflict(f"{path} no longer names file {file_id}")
        if not create:
            raise NotFound(f"File does not exist: {path}")
        return False
    namespace.require_file(where.inode, path)
    if file_id is not None and file_id != where.ino:
        raise Conflict(f"{path} no longer names file {file_id}")
    if file_id is None and create and not overwrite:
        raise AlreadyExists(f"{path} already exists")
    check(caller, where.inode, WRITE, path)
    return True
