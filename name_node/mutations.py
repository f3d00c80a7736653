"""The WebHDFS operations that change the namespace or the block map; each is one write txn."""
from __future__ import annotations

import stat
import time
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from dfs_common.blocks import format_block_id
from dfs_common.erasure import parse_policy
from dfs_common.errors import (AlreadyExists, Conflict, DFSError, IllegalArgument, NoAttribute, NotFound, NotPermitted)
from dfs_common.paths import split_path
from dfs_common.web import MAX_INT64, json_response, read_json_object

from . import blockmap, buffers, erasure, groups, namespace
from .filestatus import SPECIAL_KIND_OF, check_xattr_name, decode_xattr_value, file_status
from .permissions import WRITE, check, check_owner
from .store import DIR, FILE
from .webhdfs import Call, _require_file, check_block_size, empty, parse_block_param

MAX_RDEV = (1 << 64) - 1  # dev_t is 64 bits on Linux

MAX_COMMIT_BODY = 64 * 1024 * 1024  # a block list of a multi-TiB file still fits
MAX_BLOCK_LIST = 10_000  # block ids per RENEWBLOCKS or ABANDONBLOCKS (clients send batches)
MAX_BLOCK_LIST_BODY = 1024 * 1024
MAX_REPLICATION = 512  # replicas a file may ask for; placement never gives more than 32

if TYPE_CHECKING:
    from .app import NameNode

_RENAME_OPTIONS = ("NONE", "OVERWRITE")


def _boolean(value: bool) -> Response:
    return json_response({"boolean": value})


def _boolean_at(call: Call, value: bool, now: int) -> Response:
    """``{"boolean"}``, plus ``timeNs`` (the time the change gave what it touched) when the caller
    asked with ``timens=true``: plain WebHDFS answers stay exactly Hadoop's."""
    if call.params.boolean("timens", False):
        return json_response({"boolean": value, "timeNs": now})
    return _boolean(value)


class WriteOps:
    node: "NameNode"

    def op_mkdirs(self, call: Call) -> Response:
        mode = call.params.permission(default=0o755)
        with self.node.store.write() as txn:
            namespace.mkdirs(txn, call.path, call.caller, mode, time.time_ns(),  # type: ignore[arg-type]
                             call.params.boolean("parents", True), call.params.user("owner"),
                             call.params.user("group"))
        return _boolean(True)

    def op_createsymlink(self, call: Call) -> Response:
        target = call.params.required("destination")
        with self.node.store.write() as txn:
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
        with self.node.store.write() as txn:
            done = namespace.rename(txn, call.path, destination, call.caller, now, options)
        return _boolean_at(call, done, now)

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
        with self.node.store.write() as txn:
            ino, inode = namespace.mknod(txn, call.path, kind, mode, rdev, call.caller,  # type: ignore[arg-type]
                                         time.time_ns(), call.params.text("owner"), call.params.text("group"))
            status = file_status("", ino, inode)
        return json_response({"FileStatus": status})

    def op_link(self, call: Call) -> Response:
        destination = call.params.required("destination")
        with self.node.store.write() as txn:
            namespace.link(txn, call.path, destination, call.caller, time.time_ns())
        return empty()

    def op_delete(self, call: Call) -> Response:
        recursive = call.params.boolean("recursive", False)
        kind = call.params.text("kind") or None
        if kind not in (None, "file", "directory"):
            raise IllegalArgument(f"Invalid value for kind: {kind[:40]!r} (file or directory)")
        now = time.time_ns()
        with self.node.store.write() as txn:
            done = namespace.delete(txn, call.path, call.caller, recursive, now, kind)
        return _boolean_at(call, done, now)

    def op_setpermission(self, call: Call) -> Response:
        mode = call.params.permission(default=0o755)
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller)
            check_owner(call.caller, inode, call.path, "change the permission of")
            if not call.caller.superuser and inode.kind != DIR and not call.caller.in_group(inode.group):
                mode &= ~stat.S_ISGID  # as chmod(2): setgid needs membership of the file's group
            inode.mode = mode & 0o7777  # type: ignore[operator]
            inode.ctime = time.time_ns()
            txn.put_inode(ino, inode)
        return empty()

    def op_setowner(self, call: Call) -> Response:
        owner = call.params.user("owner")
        group = call.params.user("group")
        if owner is None and group is None:
            raise IllegalArgument("Both owner and group are empty")
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller)
            if not call.caller.superuser:
                if owner is not None and owner != inode.owner:
                    raise NotPermitted(f"Non-super user cannot change owner of {call.path}")
                check_owner(call.caller, inode, call.path, "change the group of")
                if group is not None and not call.caller.in_group(group):
                    raise NotPermitted(f"User {call.caller.user} does not belong to {group}")
            inode.owner, inode.group = owner or inode.owner, group or inode.group
            if inode.kind != DIR:  # as chown(2) on Linux: every non-directory loses setuid
                inode.mode &= ~stat.S_ISUID
                if inode.mode & stat.S_IXGRP:
                    inode.mode &= ~stat.S_ISGID
            inode.ctime = time.time_ns()
            txn.put_inode(ino, inode)
        return empty()

    def op_settimes(self, call: Call) -> Response:
        mtime = _time_ns(call, "modificationtime")
        atime = _time_ns(call, "accesstime")
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller)
            if call.caller.user != inode.owner:
                check(call.caller, inode, WRITE, call.path)
            if mtime is not None:
                inode.mtime = mtime
            if atime is not None:
                inode.atime = atime
            inode.ctime = time.time_ns()
            txn.put_inode(ino, inode)
        return empty()

    def op_setreplication(self, call: Call) -> Response:
        replication = call.params.integer("replication", None, minimum=1, maximum=MAX_REPLICATION)
        if replication is None:
            raise IllegalArgument('Missing webhdfs parameter "replication"')
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            if inode.kind != FILE:
                return _boolean(False)
            check(call.caller, inode, WRITE, call.path)
            inode.replication = replication
            inode.ctime = time.time_ns()
            txn.put_inode(ino, inode)
            numbers = [number for number, _ in txn.extents(ino) if number]
        self.node.healer.suspect(numbers)
        return _boolean(True)

    def op_setxattr(self, call: Call) -> Response:
        name = check_xattr_name(call.params.text("xattr.name"))
        value = decode_xattr_value(call.params.text("xattr.value"))
        flags = {f.strip().upper() for f in (call.params.text("flag") or "").split(",") if f.strip()}
        if flags - {"CREATE", "REPLACE"}:
            raise IllegalArgument('Invalid value for webhdfs parameter "flag"')
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            self._check_xattr_write(call, inode, name)
            exists = txn.xattr(ino, name) is not None
            if exists and flags == {"CREATE"}:
                raise AlreadyExists(f"XAttr: {name} already exists")
            if not exists and flags == {"REPLACE"}:
                raise NoAttribute(f"XAttr: {name} does not exist")
            txn.put_xattr(ino, name, value)
            inode.ctime = time.time_ns()
            txn.put_inode(ino, inode)
        return empty()

    def op_removexattr(self, call: Call) -> Response:
        name = check_xattr_name(call.params.text("xattr.name"))
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller, follow=True)
            self._check_xattr_write(call, inode, name)
            if not txn.delete_xattr(ino, name):
                raise NoAttribute(f"No matching attributes found for remove operation: {name}")
            inode.ctime = time.time_ns()
            txn.put_inode(ino, inode)
        return empty()

    def _check_xattr_write(self, call: Call, inode: Any, name: str) -> None:
        if not name.startswith("user.") and not call.caller.superuser:
            raise NotPermitted(f"Only the superuser may set {name.split('.')[0]} attributes")
        if inode.kind == DIR and inode.mode & stat.S_ISVTX and call.caller.user != inode.owner:
            check_owner(call.caller, inode, call.path, "set attributes on")
        check(call.caller, inode, WRITE, call.path)

    def op_truncate(self, call: Call) -> Response:
        new_length = call.params.integer("newlength", None, minimum=0, maximum=self.node.settings.max_file_size)
        if new_length is None:
            raise IllegalArgument('Missing webhdfs parameter "newlength"')
        now = time.time_ns()
        with self.node.store.write() as txn:
            where = namespace.resolve(txn, call.path, call.caller, follow=True)
            ino, inode = where.existing()
            _require_file(inode, call.path)
            check(call.caller, inode, WRITE, call.path)
            buffers.check_writable(txn, where.parent_ino, call.path)
            entries: list[tuple[str | None, int, str | None]] = []
            position = 0
            for number, size in txn.extents(ino):
                if position >= new_length:
                    break
                keep = min(size, new_length - position)
                entries.append((format_block_id(number) if number else None, keep, None))
                position += keep
            if new_length > position:
                entries.append((None, new_length - position, None))
            old_size = inode.size
            _, inode.size, _ = blockmap.swap_extents(txn, ino, entries)
            if inode.size != old_size:  # POSIX truncate(2): times change only with the size
                inode.mtime = inode.ctime = now
            txn.put_inode(ino, inode)
            buffers.resized(txn, where.parent_ino, old_size, inode.size)
        return _boolean(True)

    def op_concat(self, call: Call) -> Response:
        sources = [s for s in (call.params.required("sources")).split(",") if s]
        now = time.time_ns()
        with self.node.store.write() as txn:
            ino, inode = namespace.resolve_existing(txn, call.path, call.caller)
            _require_file(inode, call.path)
            check(call.caller, inode, WRITE, call.path)
            extents = txn.extents(ino)
            seen = {ino}
            for source in sources:
                where = namespace.resolve(txn, source, call.caller)
                src_ino, src = where.existing()
                _require_file(src, source)
                if src_ino in seen:
                    raise IllegalArgument(f"concat: {source} is the target or listed twice")
                seen.add(src_ino)
                check(call.caller, where.parent, WRITE | 1, source)
                moved = txn.extents(src_ino)
                for number, _ in moved:
                    record = txn.block(number) if number else None
                    if record is not None:
                        record.owner = ino
                        txn.put_block(number, record)
                extents.extend(moved)
                inode.size += src.size
                txn.put_extents(src_ino, [])
                src.size = 0
                namespace.remove_entry(txn, where.parent_ino, where.parent, where.name, src, now)
                namespace.release(txn, src_ino, src, now)
            txn.put_extents(ino, extents)
            inode.mtime = inode.ctime = now
            txn.put_inode(ino, inode)
        return empty()

    # block-level writes ------------------------------------------------------------------
    def op_addblock(self, call: Call) -> Response:
        replication = call.params.integer("replication", None, minimum=1, maximum=MAX_REPLICATION)
        exclude = [n for n in (call.params.text("exclude") or "").split(",") if n]
        length = call.params.integer("length", None, minimum=0)  # our extension: the space to reserve
        block_size = self.node.settings.block_size
        with self.node.store.read() as txn:
            where = namespace.resolve(txn, call.path, call.caller, follow=True)
            if where.inode is not None:
                _require_file(where.inode, call.path)
                check(call.caller, where.inode, WRITE, call.path)
                replication = replication or where.inode.replication
                block_size = where.inode.block_size or block_size
            else:
                namespace.check_create(call.caller, where)
            buffers.check_writable(txn, where.parent_ino, call.path)
        reserve = block_size if length is None else min(length, self.node.settings.max_block_size)
        coding = call.params.text("ecpolicy")
        if coding:  # our extension: a whole erasure-coded group, ``length`` being one fragment's
            group = erasure.add_group(self.node.store, self.node.placement, parse_policy(coding), exclude, reserve)
            return json_response({"BlockGroup": group})
        with self.node.store.write() as txn:
            number = blockmap.allocate(txn, time.time_ns())
        try:  # placed under its number: the reservation ends when the block is confirmed or abandoned
            pipeline = self.node.placement.choose(min(replication or self.node.settings.replication, 32),
                                                  reserve, exclude, block=number)
        except DFSError:
            with self.node.store.write() as txn:
                blockmap.abandon(txn, [number])
            raise
        return json_response({"Block": {"blockId": format_block_id(number),
                                        "pipeline": [{"id": m.id, "url": m.client_url} for m in pipeline]}})

    def op_commit(self, call: Call) -> Response:
        body = read_json_object(call.request, MAX_COMMIT_BODY, "COMMIT body")
        settings = self.node.settings
        entries = blockmap.parse_extents(body.get("blocks"), settings.max_block_size, settings.max_file_size)
        create, overwrite = bool(body.get("create", False)), bool(body.get("overwrite", False))
        file_id = _optional_int(body, "fileId")
        mode = _optional_mode(body.get("permission"))
        replication = min(_optional_int(body, "replication") or settings.replication, MAX_REPLICATION)
        block_size = _optional_int(body, "blockSize") or settings.block_size
        check_block_size(settings, block_size)
        mtime = _optional_int(body, "mtimeNs")
        if body.get("check", False) is True:
            return self._check_commit(call, create, overwrite, file_id, replication, block_size)
        now = time.time_ns()
        with self.node.store.write() as txn:
            where = namespace.resolve(txn, call.path, call.caller, follow=True)
            if not _writes_existing(call, where, create, overwrite, file_id):
                ino, inode = namespace.create_file(
                    txn, where, call.caller, 0o644 if mode is None else mode, replication,
                    block_size, now, _optional_str(body, "owner"), _optional_str(body, "group"))
                erasure.record_for_file(txn, ino, where.parent_ino)
            else:
                ino, inode = where.ino, where.inode  # type: ignore[assignment]
                buffers.check_writable(txn, where.parent_ino, call.path)
            old_size = inode.size
            _, inode.size, adopted = blockmap.swap_extents(txn, ino, entries)  # type: ignore[arg-type]
            buffers.resized(txn, where.parent_ino, old_size, inode.size)
            inode.mtime = mtime if mtime is not None else now
            inode.ctime = now
            txn.put_inode(ino, inode)  # type: ignore[arg-type]
            short = [n for n in adopted if len(txn.block(n).replicas) < inode.replication]  # type: ignore[union-attr]
            status = file_status("", ino, inode)  # type: ignore[arg-type]
            coding = erasure.policy_of(txn, ino)  # type: ignore[arg-type]
            if coding is not None:
                status["ecPolicy"] = coding
        if short:
            self.node.healer.suspect(short)
        return json_response({"FileStatus": status})

    def _check_commit(self, call: Call, create: bool, overwrite: bool, file_id: int | None,
                      replication: int, block_size: int) -> Response:
        """COMMIT with ``"check": true``: every check this COMMIT would make, nothing written. A
        writer opening ``wb``/``xb`` learns at open what would refuse its first commit, while the
        old file (or the absence of one) stays until that commit."""
        with self.node.store.read() as txn:
            where = namespace.resolve(txn, call.path, call.caller, follow=True)
            buffers.check_writable(txn, where.parent_ino, call.path)
            if not _writes_existing(call, where, create, overwrite, file_id):
                namespace.check_create(call.caller, where)
                return json_response({"FileStatus": None, "blockSize": block_size,
                                      "replication": replication,
                                      "ecPolicy": erasure.effective(txn, where.parent_ino)})
            status = file_status("", where.ino, where.inode)  # type: ignore[arg-type]
            coding = erasure.policy_of(txn, where.ino)  # type: ignore[arg-type]
        return json_response({"FileStatus": status, "blockSize": status["blockSize"],
                              "replication": status["replication"], "ecPolicy": coding})

    def op_renewblocks(self, call: Call) -> Response:
        """A writer's pending blocks (shipped, not yet committed) stay alive another lifetime."""
        numbers = _block_list(call, "RENEWBLOCKS")
        with self.node.store.write() as txn:
            renewed = blockmap.renew(txn, numbers, time.time_ns())
        return json_response({"renewed": renewed})

    def op_abandonblocks(self, call: Call) -> Response:
        """A writer gives up pending blocks it will never commit: their replicas are deleted now."""
        numbers = _block_list(call, "ABANDONBLOCKS")
        with self.node.store.write() as txn:
            pending = [n for n in numbers if (record := txn.block(n)) is not None and not record.owner]
            pending += [f for n in list(pending) if (found := groups.group(txn, n)) for f in found[1]]
            abandoned = blockmap.abandon(txn, pending)
        self.node.placement.abandoned(pending)  # the nodes it was sent to delete their copies
        return json_response({"abandoned": abandoned})

    def op_reportbadblock(self, call: Call) -> Response:
        number = parse_block_param(call.params)
        node_id = call.params.required("datanode")
        with self.node.store.read() as txn:
            record = txn.block(number)
        if record is not None and node_id in record.replicas:
            self.node.members.queue(node_id, {"op": "verify", "blockId": format_block_id(number)})
        return empty()


def _writes_existing(call: Call, where: namespace.Resolved, create: bool, overwrite: bool,
                     file_id: int | None) -> bool:
    """Whether a COMMIT writes the file ``where`` names (else it creates one); raises what refuses
    it, the same for a real COMMIT and a ``check``."""
    if where.inode is None:
        if file_id is not None:
            raise Conflict(f"{call.path} no longer names file {file_id}")
        if not create:
            raise NotFound(f"File does not exist: {call.path}")
        return False
    _require_file(where.inode, call.path)
    if file_id is not None and file_id != where.ino:
        raise Conflict(f"{call.path} no longer names file {file_id}")
    if file_id is None and create and not overwrite:
        raise AlreadyExists(f"{call.path} already exists")
    check(call.caller, where.inode, WRITE, call.path)
    return True


def _block_list(call: Call, op: str) -> list[int]:
    """The block numbers of a ``{"blocks": [ids]}`` body."""
    ids = read_json_object(call.request, MAX_BLOCK_LIST_BODY, f"{op} body").get("blocks")
    if not isinstance(ids, list) or len(ids) > MAX_BLOCK_LIST:
        raise IllegalArgument(f'{op} needs "blocks": a list of at most {MAX_BLOCK_LIST} block ids')
    return [int(blockmap.parse_block_id(block_id), 16) for block_id in ids]


def _time_ns(call: Call, name: str) -> int | None:
    """A time from the ns extension parameter, else the WebHDFS ms one; -1 means unchanged.

    Times run from the epoch to 2**63-1 ns (April 2262): what a stat's ``st_mtime_ns`` carries;
    anything else is a 400 rather than a time no client could show."""
    value = call.params.integer(name + "ns", None, minimum=-1)
    if value is None:
        ms = call.params.integer(name, None, minimum=-1, maximum=MAX_INT64 // 1_000_000)
        value = None if ms is None else ms * 1_000_000 if ms >= 0 else -1
    return None if value is None or value < 0 else value


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise IllegalArgument(f"COMMIT field {name!r} must be an integer between 0 and 2**63-1")
    return value


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value or "\0" in value):
        raise IllegalArgument(f"COMMIT field {name!r} must be a non-empty string")
    return value


def _optional_mode(value: Any) -> int | None:
    if value is None:
        return None
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise IllegalArgument(f"COMMIT permission must be octal, not {str(value)[:10]!r}") from None
    if not 0 <= mode <= 0o7777:
        raise IllegalArgument(f"COMMIT permission out of range: {value}")
    return mode
