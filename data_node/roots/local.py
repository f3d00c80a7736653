"""A storage root in a local (or any POSIX, e.g. NFS) directory.

Layout under the root directory::

    node-id                         this node's id, created once, never rewritten
    blocks/<id[-2:]>/<id>           the block's bytes, nothing else (so it can be sendfile'd)
    blocks/<id[-2:]>/<id>.meta      "<checksum> <length> <chunk digests hex>\\n", kept durably
    blocks/<id[-2:]>/.tmp-<id>-*    a write in progress (removed on start)
    quarantine/<id>.<ns>[.meta|.reason]   corrupt replicas moved aside by the scrubber

Why a sidecar for the checksum: the block file must hold exactly the block's bytes (sendfile and
Range need that) and the protocol fixes its name, while xattrs are missing on some filesystems
(tmpfs, some NFS). The sidecar is renamed into place *before* the data file, so a visible block
always has its checksum; a crash in between leaves an orphan sidecar, swept on the next start.
The in-memory index is rebuilt from the sidecars on start, so a restart costs one directory scan;
its order is the scrub order (least recently verified first). A block file deleted behind our back
leaves the index when a read or an ``audit`` (before each block report) finds it gone.
The chunk digests (``dfs_common.blocks``) are recorded at store time, so a ranged GET answers its
digest list from the sidecar (1 KiB for 4 MiB) instead of re-reading the block; they stay on disk,
not in the index, whose memory would otherwise grow by 1/8192 of the stored bytes. A sidecar
without a digest list (written before they existed) has them recomputed on start; if those do not
add up to the recorded checksum the block is quarantined like any other that fails its checksum.
"""
from __future__ import annotations

import builtins
import errno
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from dfs_common.blocks import digests_checksum, hasher, parse_block_id, parse_checksum, parse_digests
from dfs_common.errors import ChecksumMismatch, DFSError, IllegalArgument, NoSpace, NotFound, TooLarge

from .base import CHUNK, BlockInfo, Readable, StorageRoot, Usage

log = logging.getLogger("dfs.data_node.roots.local")

_TMP_PREFIX = ".tmp-"
_META = ".meta"
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class LocalRoot(StorageRoot):
    """Blocks as files in a directory; an index of (length, checksum) in memory."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.url = "file://" + self.path
        self._blocks_dir = os.path.join(self.path, "blocks")
        self._quarantine_dir = os.path.join(self.path, "quarantine")
        os.makedirs(self._blocks_dir, exist_ok=True)
        os.makedirs(self._quarantine_dir, exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, BlockInfo] = {}
        self._used = 0
        self._node_id: str | None = None
        self._rebuild_index()

    # -- identity ---------------------------------------------------------------------------

    def node_id(self) -> str:
        with self._lock:
            if self._node_id is None:
                self._node_id = self._load_or_create_node_id()
            return self._node_id

    def _load_or_create_node_id(self) -> str:
        target = os.path.join(self.path, "node-id")
        try:
            with open(target, encoding="ascii") as file:
                existing = file.read().strip()
            if existing:
                return existing
        except FileNotFoundError:
            pass
        new_id = secrets.token_hex(8)
        self._write_durably(self.path, target, (new_id + "\n").encode("ascii"))
        log.info("created node id %s in %s", new_id, self.path)
        return new_id

    # -- writing ----------------------------------------------------------------------------

    def store(self, block_id: str, source: Readable, max_length: int,
              expected_checksum: str | None, sync: bool = True) -> BlockInfo:
        block_id = parse_block_id(block_id)
        if expected_checksum is not None:
            expected_checksum = parse_checksum(expected_checksum)
        directory = self._dir(block_id)
        tmp_path = ""
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp_path = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{block_id}-", dir=directory)
            with os.fdopen(fd, "wb") as file:
                length, digest, digests = _copy_verified(source, file, max_length)
                file.flush()
                if sync:
                    os.fsync(file.fileno())
            if expected_checksum is not None and digest != expected_checksum:
                raise ChecksumMismatch(
                    f"Checksum mismatch for block {block_id}: got {digest}, expected {expected_checksum}")
            info = BlockInfo(block_id, length, digest)
            meta = _format_meta(digest, length, digests)
            with self._lock:
                # Sidecar first: a visible block file always has its checksum beside it.
                self._write_durably(directory, self._path(block_id) + _META, meta, sync_dir=False,
                                    sync=sync)
                os.replace(tmp_path, self._path(block_id))
                tmp_path = ""
                self._remember(info)
            if sync:
                _fsync_dir(directory)
            return info
        except OSError as error:
            if isinstance(error, DFSError):
                raise
            if error.errno in _FULL_ERRNOS:
                raise NoSpace(f"No space left on {self.path} for block {block_id}") from None
            raise
        finally:
            if tmp_path:
                _unlink_quietly(tmp_path)

    def sync(self, block_ids: list[str]) -> int:
        directories: set[str] = set()
        count = 0
        for block_id in block_ids:
            block_id = parse_block_id(block_id)
            path = self._path(block_id)
            try:
                for name in (path + _META, path):  # the sidecar was renamed into place first
                    fd = os.open(name, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except FileNotFoundError:
                continue  # not stored here (or deleted meanwhile): nothing to make durable
            directories.add(self._dir(block_id))
            count += 1
        for directory in directories:  # the renames that made the blocks visible
            _fsync_dir(directory)
        return count

    def delete(self, block_id: str) -> bool:
        block_id = parse_block_id(block_id)
        with self._lock:
            known = self._forget(block_id)
            existed = _unlink_quietly(self._path(block_id))
            _unlink_quietly(self._path(block_id) + _META)
        return known or existed

    def quarantine(self, block_id: str, reason: str) -> bool:
        block_id = parse_block_id(block_id)
        target = os.path.join(self._quarantine_dir, f"{block_id}.{time.time_ns()}")
        with self._lock:
            self._forget(block_id)
            try:
                os.replace(self._path(block_id), target)
            except FileNotFoundError:
                return False
            try:
                os.replace(self._path(block_id) + _META, target + _META)
            except FileNotFoundError:
                pass
        try:  # a note for the operator; the rename above needed no space, a full disk refuses this
            with open(target + ".reason", "w", encoding="utf-8") as file:
                file.write(reason + "\n")
        except OSError as error:
            log.warning("quarantined block %s without its reason file (%s)", block_id, error)
        log.warning("quarantined block %s: %s", block_id, reason)
        return True

    # -- reading ----------------------------------------------------------------------------

    def open(self, block_id: str) -> tuple[BinaryIO, int]:
        block_id, info = self.held(block_id)
        try:
            return open(self._path(block_id), "rb"), info.length
        except FileNotFoundError:
            self._drop_if_gone(block_id, info)
            raise NotFound(f"Block {block_id} not found") from None

    def digests(self, block_id: str) -> bytes:
        block_id = parse_block_id(block_id)
        info = self.info(block_id)
        meta = _read_meta(self._path(block_id) + _META) if info is not None else None
        if info is None or meta is None:
            raise NotFound(f"Block {block_id} not found")
        if meta[2] is None:  # only while a start is still recomputing them
            return super().digests(block_id)
        return meta[2]

    def info(self, block_id: str) -> BlockInfo | None:
        with self._lock:
            return self._index.get(block_id)

    def list(self) -> Iterator[BlockInfo]:
        with self._lock:
            snapshot = list(self._index.values())
        return iter(snapshot)

    def mark_verified(self, block_id: str) -> None:
        # The index is a dict: insertion order is the scrub order, so re-inserting moves it last.
        with self._lock:
            info = self._index.pop(block_id, None)
            if info is not None:
                self._index[block_id] = info

    def audit(self) -> builtins.list[str]:
        """One ``stat`` per block, outside the lock: a missing file leaves the index (and its
        sidecar goes), a file whose size no longer matches is quarantined."""
        dropped = []
        for info in self.list():
            try:
                size = os.stat(self._path(info.block_id)).st_size
            except FileNotFoundError:
                if self._drop_if_gone(info.block_id, info):
                    dropped.append(info.block_id)
                continue
            except OSError as error:
                log.warning("cannot stat block %s (%s): leaving it out of the index", info.block_id, error)
                with self._lock:
                    if self._index.get(info.block_id) is info:
                        self._forget(info.block_id)
                        dropped.append(info.block_id)
                continue
            if size != info.length and self.quarantine(
                    info.block_id, f"size {size} differs from recorded length {info.length}"):
                dropped.append(info.block_id)
        if dropped:
            log.warning("%d block(s) gone from %s behind our back: %s", len(dropped), self.path,
                        ", ".join(dropped[:20]))
        return dropped

    def count(self) -> int:
        with self._lock:
            return len(self._index)

    def check_health(self) -> bool:
        """The blocks directory is still there (a disk unmounted under us is not)."""
        return os.path.isdir(self._blocks_dir)

    def usage(self) -> Usage:
        stats = os.statvfs(self.path)
        with self._lock:
            used = self._used
        return Usage(capacity=stats.f_blocks * stats.f_frsize, used=used,
                     remaining=stats.f_bavail * stats.f_frsize)

    # -- internals --------------------------------------------------------------------------

    def _dir(self, block_id: str) -> str:
        return os.path.join(self._blocks_dir, block_id[-2:])

    def _path(self, block_id: str) -> str:
        return os.path.join(self._dir(block_id), block_id)

    def _remember(self, info: BlockInfo) -> None:
        old = self._index.get(info.block_id)
        self._used += info.length - (old.length if old else 0)
        self._index[info.block_id] = info

    def _drop_if_gone(self, block_id: str, info: BlockInfo) -> bool:
        """The block file vanished (deleted outside DFS): forget the replica and its sidecar, so
        no block report lists it again. False if it is back or was already forgotten."""
        with self._lock:
            if self._index.get(block_id) is not info or os.path.exists(self._path(block_id)):
                return False
            self._forget(block_id)
            _unlink_quietly(self._path(block_id) + _META)
        log.warning("block %s vanished from %s; forgotten", block_id, self.path)
        return True

    def _forget(self, block_id: str) -> bool:
        old = self._index.pop(block_id, None)
        if old is not None:
            self._used -= old.length
        return old is not None

    def _write_durably(self, directory: str, target: str, data: bytes, sync_dir: bool = True,
                       sync: bool = True) -> None:
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                if sync:
                    os.fsync(file.fileno())
            os.replace(tmp, target)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        if sync_dir:
            _fsync_dir(directory)

    def _rebuild_index(self) -> None:
        """Scan the blocks directory: index every block, sweep leftovers of interrupted writes,
        recompute a missing sidecar, quarantine a block whose size disagrees with its sidecar."""
        started = time.monotonic()
        for bucket in sorted(os.listdir(self._blocks_dir)):
            directory = os.path.join(self._blocks_dir, bucket)
            if not os.path.isdir(directory):
                continue
            names = set(os.listdir(directory))
            for name in names:
                path = os.path.join(directory, name)
                if name.startswith(_TMP_PREFIX):
                    _unlink_quietly(path)
                elif name.endswith(_META) and name[: -len(_META)] not in names:
                    _unlink_quietly(path)
            for name in sorted(names):
                if name.startswith(_TMP_PREFIX) or name.endswith(_META):
                    continue
                try:
                    block_id = parse_block_id(name)
                except IllegalArgument:
                    continue  # not ours; never delete what we did not write
                if block_id[-2:] != bucket:
                    continue
                self._index_one(block_id)
        log.info("indexed %d blocks (%d bytes) in %s in %.2fs", len(self._index), self._used,
                 self.path, time.monotonic() - started)

    def _index_one(self, block_id: str) -> None:
        path = self._path(block_id)
        size = os.stat(path).st_size
        meta = _read_meta(path + _META)
        if meta is None or meta[2] is None:
            with open(path, "rb") as file:
                length, digest, digests = _copy_verified(file, None, size)
            if meta is not None and (meta[0], meta[1]) != (digest, length):
                self._remember(BlockInfo(block_id, meta[1], meta[0]))
                self.quarantine(block_id, f"recorded checksum {meta[0]} ({meta[1]} bytes) differs from "
                                          f"the chunk digests' {digest} ({length} bytes)")
                return
            self._write_durably(self._dir(block_id), path + _META, _format_meta(digest, length, digests))
            log.warning("recomputed the missing %s of block %s",
                        "checksum" if meta is None else "chunk digests", block_id)
            meta = (digest, length, digests)
        digest, length, _ = meta
        self._remember(BlockInfo(block_id, length, digest))
        if length != size:
            self.quarantine(block_id, f"size {size} differs from recorded length {length}")


def _copy_verified(source: Readable, sink: BinaryIO | None, max_length: int) -> tuple[int, str, bytes]:
    """Copy ``source`` to ``sink`` in chunks, hashing as it goes; TooLarge past ``max_length``.
    Answers the length, the checksum and the chunk digests."""
    digest = hasher()
    total = 0
    while True:
        chunk = source.read(min(CHUNK, max_length + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if total > max_length:
            raise TooLarge(f"Block body larger than {max_length} bytes")
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
    digests = digest.chunk_digests()
    return total, digests_checksum(digests), digests


def _format_meta(digest: str, length: int, digests: bytes) -> bytes:
    return f"{digest} {length} {digests.hex()}\n".encode("ascii")


def _read_meta(path: str) -> tuple[str, int, bytes | None] | None:
    """(checksum, length, chunk digests) of a sidecar; digests None in the older two-field form
    or when they do not add up to the checksum. None if the sidecar is missing or unreadable."""
    try:
        with open(path, encoding="ascii") as file:
            fields = file.read().split()
        digest, length = parse_checksum(fields[0]), int(fields[1])
        if len(fields) == 2:
            return digest, length, None
        digests = parse_digests(fields[2], length) if len(fields) == 3 else b""
        if len(fields) != 3 or digests_checksum(digests) != digest:
            return digest, length, None
        return digest, length, digests
    except (OSError, ValueError, IndexError, IllegalArgument):
        return None


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
