"""``DFSFile``: the streaming file of ``HttpNameNode.open``, and the one mechanism of every write.

Reads fetch whole blocks straight from data nodes (verified, with failover, read-ahead and a small
cache). Writes edit the file's block layout (``layout.Layout``): full blocks are shipped in the
background as soon as they are complete (at most ``SHIPS_IN_FLIGHT`` at once, so a long write loop
uses bounded memory and overlaps the network with the caller), and ``flush`` ships the rest and
COMMITs the whole new block list in one name-node transaction. ``pread``/``pwrite`` are safe from
many threads on one handle, which is how the FUSE mount uses it.
"""
from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING, Any

from dfs_common.errors import AlreadyExists, DFSError, IllegalArgument, NotFound, from_remote_exception
from dfs_common.filestatus import FileStatus

from .blockio import read_range
from .cache import Block, BlockCache
from .layout import Layout, NeedBlocks, Segment
from .positioned import PositionedFile
from .renewal import BATCH

if TYPE_CHECKING:
    from .namenode import HttpNameNode

log = logging.getLogger("dfs.client.files")

DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024  # the cluster's default, used if the name node names none
SHIPS_IN_FLIGHT = 4  # blocks of one file being written at once: overlaps network, bounds memory
READ_AHEAD = 4  # blocks fetched ahead of a sequential reader
# A read starting this close to where the last one ended counts as sequential: wide enough for the
# kernel's 1 MiB FUSE requests arriving out of order from several threads, narrow enough that random
# reads rarely trigger whole-block fetches and read-ahead.
SEQUENTIAL_WINDOW = 1024 * 1024
# A block handed out at open is used only this soon after (a pending block expires after an hour).
FIRST_BLOCK_SECONDS = 600.0
MAX_DIRTY = 16  # unfinished blocks (random writes) kept before shipping the oldest
CACHE_BYTES = 64 * 1024 * 1024  # per open file, but always room for read-ahead plus two blocks


class DFSFile(PositionedFile):
    """An open DFS file; modes ``rb``, ``wb``, ``ab``, ``r+b``, ``xb`` (``+`` adds the other side).

    ``wb``/``xb`` check at open everything their first COMMIT would refuse (missing parent,
    directory, permission; ``xb`` and ``overwrite=False``: FileExistsError) but write nothing: the
    handle starts empty, while every other reader keeps seeing the old file (or no file) until the
    first ``flush``/``close`` commits the new block list in one transaction. A writer that dies or
    fails before that leaves the old content. ``xb`` stays exclusive at that commit too. ``ab``
    creates a missing file at open. Every COMMIT after the first names the file's ``fileId``
    (as does the first of ``wb`` over an existing file): if the path now names another inode, it
    fails with ``Conflict`` instead of clobbering someone else's file.

    A block that could not be stored fails the handle for good: the error is raised by that write
    or flush and by every later one and by ``close``, none of which commits, so what is left of a
    failed write is never committed as if it were the whole file.

    ``status``: for ``r``/``r+``, the file's FileStatus as the caller has just been answered it (the
    COMMIT that created it, a GETFILESTATUS at open); an empty file then opens without asking the
    name node for its (empty) block list. With a ``BlockLocation`` list in it (from the
    GETFILEBLOCKLOCATIONS answer that carried the FileStatus) any file does; otherwise a non-empty
    one is located as usual.
    """

    def __init__(self, nn: HttpNameNode, path: str, mode: str = "rb", *, permission: int = 0o644,
                 replication: int | None = None, block_size: int | None = None,
                 owner: str | None = None, group: str | None = None, overwrite: bool = True,
                 status: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._aborted = False
        self.nn, self.path, self.mode = nn, path, mode
        kind, plus = _parse_mode(mode)
        self._readable = kind == "r" or plus
        self._writable = kind != "r" or plus
        self._append = kind == "a"
        self._replication = replication
        self._lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(SHIPS_IN_FLIGHT)
        self._inflight: dict[Future[dict[str, Any]], Segment] = {}
        self._ship_error: BaseException | None = None
        self._failure: BaseException | None = None  # a ship error the caller was told: sticky
        self._first_commit: dict[str, Any] | None = None  # wb/xb: how the first COMMIT creates
        self._version = self._committed = 0
        self._held: set[str] = set()  # shipped blocks not yet committed: kept alive by nn.renewer
        self._held_lock = threading.Lock()
        self._first_block: dict[str, Any] | None = None  # handed out at open, for the first ship
        self._first_block_handed = False  # the client keeps one for this file (``take_first_block``)
        self._synced: set[str] = set()  # block ids every replica fsynced (shipped by ``fsync``, or synced)
        self._done = False  # closed or aborted: a block shipped from now on is given up at once
        self._pos = 0
        self._last_end = -1
        options: dict[str, Any] = dict(permission=permission, replication=replication, blockSize=block_size,
                                       owner=owner, group=group)
        if kind in ("w", "x"):
            replace = overwrite and kind == "w"
            # addBlock: the answer also hands out the first block and its pipeline (no ADDBLOCK for
            # a file of one block); a name node that predates it leaves it out.
            checked = nn.check_commit(path, create=True, overwrite=replace, addBlock=True, **options)
            self._first_block = checked.get("Block")
            self._first_block_at = time.monotonic()
            existing = checked.get("FileStatus") or {k: checked[k] for k in ("blockSize", "replication")}
            self._adopt({**existing, "length": 0, "ecPolicy": checked.get("ecPolicy")}, [], block_size)
            self._first_commit = dict(options, create=True, overwrite=replace, fileId=self.file_id)
            self._version = 1  # the (re)creation itself waits for the first commit
        elif kind == "a":
            try:
                self._locate(block_size)
            except NotFound:
                try:
                    self._adopt(nn.commit(path, [], create=True, overwrite=False, **options), [], block_size)
                except AlreadyExists:
                    self._locate(block_size)
            self._pos = self._layout.size
        elif status is not None and isinstance(status.get("BlockLocation"), list):
            self._adopt(status, status["BlockLocation"], block_size)  # located already (see ``status``)
        elif status is not None and status.get("type", "FILE") == "FILE" and not int(status.get("length") or 0):
            self._adopt(status, [], block_size)
            # a file this client just created (the mount's create): its COMMIT handed out the block
            # its first bytes go to, so they need no ADDBLOCK (taken at the first ship: a file
            # created blind gets it when its create is sent, ``dfs_fuse/leases.py``)
            self._first_block_handed = self._writable and bool(self.file_id)
        else:
            self._locate(block_size)
        shared = getattr(nn, "block_cache", None)
        self._own_cache = shared is None  # else the mount's, shared by its files (``cache``)
        self._cache = BlockCache(max(CACHE_BYTES, (READ_AHEAD + 2) * self._layout.block_size)) \
            if shared is None else shared

    def _locate(self, block_size: int | None) -> None:
        answer = self.nn.block_locations(self.path)
        self._adopt(answer, answer.get("BlockLocation") or [], block_size)

    def _adopt(self, status: Mapping[str, Any], locations: list[dict[str, Any]], wanted: int | None) -> None:
        self.file_id = status.get("fileId")
        size = int(status.get("blockSize") or wanted or DEFAULT_BLOCK_SIZE)
        length = int(status.get("fileLength", status.get("length", 0)) or 0)
        self._layout = Layout(size, locations, length)
        self.status: Mapping[str, Any] = status
        # erasure coding: the policy the file was created with (COMMIT check, block locations or a
        # FileStatus that carries it); its new blocks are then coded groups
        self.ec_policy: str | None = status.get("ecPolicy") or None

    # -- io.RawIOBase ------------------------------------------------------------------------

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    @property
    def size(self) -> int:
        """The length as this handle sees it, unflushed writes included."""
        with self._lock:
            return self._layout.size

    @property
    def block_size(self) -> int:
        return self._layout.block_size

    @property
    def failed(self) -> bool:
        """A block write failed and the caller was told: this handle will never commit again."""
        return self._failure is not None

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = 0
        for piece in self._read_pieces(len(view), self._pos):
            view[count:count + len(piece)] = piece
            count += len(piece)
        self._pos += count
        return count

    def write(self, data: Any) -> int:
        count = self._write(data, None if self._append else self._pos)
        self._pos = self.size if self._append else self._pos + count
        return count

    def truncate(self, size: int | None = None) -> int:
        """Cut or grow (with a hole) to ``size`` (default: the position); committed at ``flush``."""
        self._check_writable()
        size = self._pos if size is None else size
        if size < 0:
            raise IllegalArgument(f"Negative size: {size}")
        self._edit(lambda contents: self._layout.truncate(size, contents))
        return size

    def flush(self) -> None:
        """Ship every dirty block, wait for all, and COMMIT the block list if it changed."""
        self._flush(sync=False)

    def fsync(self) -> None:
        """``fsync(2)``/HDFS ``hsync``: flush, then return only once every byte of the file is on
        the disk of every replica and its namespace entry on the name node's disk. Blocks still
        dirty travel with the pipeline's sync flag; blocks stored before are synced on each of
        their data nodes (``POST /sync``, one request per node); the COMMIT (or, with nothing to
        commit, a SYNC) waits for the name node's LMDB sync."""
        self._check_open()
        committed = self._flush(sync=True)
        with self._lock:
            self._reap()
            locations = [segment.location for segment in self._layout.segments
                         if segment.location is not None and segment.location["blockId"] not in self._synced]
        by_node: dict[str, list[dict[str, Any]]] = {}
        for location in locations:
            for node in location.get("dataNodes") or []:
                by_node.setdefault(str(node["url"]), []).append(location)
            for fragment in location.get("fragments") or []:  # a coded group: each fragment's node
                for node in fragment.get("dataNodes") or []:
                    by_node.setdefault(str(node["url"]), []).append(fragment)
        futures = [self.nn.executor.submit(self.nn.sync_blocks, url, blocks) for url, blocks in by_node.items()]
        for future in futures:
            future.result()  # a replica that could not sync fails the fsync (EIO through FUSE)
        with self._lock:
            self._synced.update(location["blockId"] for location in locations)
        if not committed:
            self.nn.sync()

    def _flush(self, sync: bool) -> bool:
        """``flush``; ``sync``: ship with the pipeline's sync flag and COMMIT with ``sync``.
        True if it committed."""
        if self.closed or self._aborted or getattr(self, "_done", True) \
                or not getattr(self, "_writable", False):
            return False  # (no ``_done`` yet: __init__ failed)
        with self._flush_lock:
            status: FileStatus | None = None
            while True:
                with self._lock:
                    self._reap()
                    self._raise_ship_error()
                    options = self._first_commit or dict(create=False, overwrite=True, fileId=self.file_id)
                    alone = self._whole_file_segment(sync, options)
                    if alone is not None:
                        version = self._version
                        future, buffer = self._start_ship(alone)
                        break
                    shipping = [self._start_ship(segment) for segment in list(self._layout.dirty)]
                    waiting = list(self._inflight)
                    if not shipping and not waiting:
                        if self._version == self._committed:
                            return False
                        version, blocks = self._version, self._layout.commit_blocks()
                        break
                for item in shipping:
                    self._submit(*item, sync=sync)
                wait(waiting + [future for future, _ in shipping])
            if alone is not None:
                status = self._ship_committing(future, buffer, options)
                with self._lock:
                    blocks = self._layout.commit_blocks()
            if status is None:
                status = self.nn.commit(self.path, blocks, sync=sync, **options)
            self._let_go(block["blockId"] for block in blocks if block.get("blockId"))
            with self._lock:
                self._committed = version
                self._first_commit = None
                self.file_id = status.get("fileId", self.file_id)
                self.status = status
        return True

    def abort(self) -> None:
        """Close WITHOUT committing: what was written since the last ``flush`` is dropped (its
        shipped blocks are abandoned), so a failed upload never shows up as a complete file."""
        self._aborted = True
        with self._lock:
            self._layout.dirty.clear()
        self._let_go_of_all()
        super().close()
        self._drop_cache()

    def detach_small(self, limit: int) -> tuple[bytes, dict[str, Any]] | None:
        """Close-behind (``dfs_fuse/leases.py``): when the whole file is one block of at most
        ``limit`` bytes written since its last commit and not shipped, answer those bytes and the
        COMMIT options that make them the file, and close this handle WITHOUT committing: the
        caller writes and commits them later (``blockio.write_bundle``). Else None, and nothing
        changes."""
        with self._flush_lock, self._lock:
            self._reap()
            options = self._first_commit or dict(create=False, overwrite=True, fileId=self.file_id)
            if self.closed or self._done or self._aborted or self._failure is not None or self._ship_error \
                    or self.ec_policy or self._inflight or self._version == self._committed \
                    or (options.get("create") and not options.get("overwrite")):
                return None
            segments = [segment for segment in self._layout.segments if segment.length]
            if len(segments) != 1 or segments[0] not in self._layout.dirty or segments[0].buffer is None \
                    or segments[0].length > limit:
                return None
            data = bytes(segments[0].buffer[:segments[0].length])
        self.abort()
        return data, options

    def close(self) -> None:
        if self.closed or not hasattr(self, "_cache"):  # closed, or __init__ failed (from __del__)
            super().close()
            return
        try:
            self.flush()
        finally:
            self._let_go_of_all()  # superseded, or a failed write's; and no flush after this one
            super().close()
            self._drop_cache()

    def _drop_cache(self) -> None:
        if self._own_cache:
            self._cache.clear()

    # -- positional I/O (thread-safe) --------------------------------------------------------

    def pread(self, size: int, offset: int, *, random_access: bool = False) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at EOF); does not move the position.
        ``random_access``: a read known to be a lone one (an encrypted file's header), fetched
        without whole blocks or read-ahead even at offset 0."""
        pieces = self._read_pieces(size, offset, random_access)
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)

    def pwrite(self, data: Any, offset: int) -> int:
        """Write ``data`` at ``offset`` (beyond EOF leaves a hole); does not move the position."""
        return self._write(data, offset)

    # -- reading -----------------------------------------------------------------------------

    def _read_pieces(self, size: int, offset: int, random_access: bool = False) -> list[Any]:
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")
        if size <= 0 or offset < 0:
            return []
        pieces: list[Any] = []
        fetches: list[tuple[int, dict[str, Any], int, int]] = []
        with self._lock:
            self._reap()
            for segment, inner, count in self._layout.pieces(offset, size):
                if segment.buffer is not None:
                    pieces.append(bytes(segment.buffer[inner:inner + count]))
                elif segment.location is None:
                    pieces.append(bytes(count))
                else:
                    fetches.append((len(pieces), segment.location, inner, count))
                    pieces.append(b"")
            end = offset + sum(len(piece) for piece in pieces) + sum(f[3] for f in fetches)
            sequential = not random_access and (abs(offset - self._last_end) <= SEQUENTIAL_WINDOW or offset == 0)
            ahead = self._layout.stored_after(end, READ_AHEAD) if sequential else []
            self._last_end = end
        if sequential:
            for _, location, _, _ in fetches[1:]:  # several blocks in one read: fetch them together
                self._prefetch(location)
        for segment in ahead:
            assert segment.location is not None
            self._prefetch(segment.location)
        for index, location, inner, count in fetches:
            if not sequential and self._cache.pending(location) is None:
                # a random read: only the 64 KiB chunks that cover it, verified against their digests
                pieces[index] = self._fetch(location, lambda where: read_range(
                    self.nn, where, inner, count, path=self.path, cache=self._cache))
                if self._cache.get(location) is None and self._layout.size <= self._cache.capacity // 2:
                    self._prefetch(location)  # a file that fits: pull its blocks in whole, once
                continue
            block = self._block(location)
            whole = inner == 0 and count == len(block) and isinstance(block, bytes)
            pieces[index] = block if whole else memoryview(block)[inner:inner + count]
        return pieces

    def _prefetch(self, location: dict[str, Any]) -> None:
        self._cache.prefetch(self.nn.executor, location,
                             lambda: self.nn.read_block(location, path=self.path))

    def _block(self, location: dict[str, Any]) -> Block:
        """A verified block: from the cache, a fetch under way, or the data nodes (refreshing the
        replica locations from the name node once if every known replica failed)."""
        cached = self._cache.get(location)
        if cached is not None:
            used = int(location.get("length", len(cached)))
            return cached if used >= len(cached) else bytes(cached[:used])  # a truncated file's prefix
        pending = self._cache.pending(location)
        if pending is not None:
            try:
                return pending.result()
            except DFSError:
                pass  # retried below, with fresh locations if need be
        data: Block = self._fetch(location, lambda where: self.nn.read_block(where, path=self.path))
        self._cache.put(location, data)
        return data

    def _fetch(self, location: dict[str, Any], read: Callable[[dict[str, Any]], Any]) -> Any:
        """``read(location)``, once more with fresh replica locations if every known replica failed."""
        try:
            return read(location)
        except DFSError as error:
            fresh = self._refresh(location["blockId"])
            if fresh is None:
                raise error
            return read(fresh)

    def _refresh(self, block_id: str) -> dict[str, Any] | None:
        """Ask the name node again where ``block_id`` lives (replicas move after failures)."""
        try:
            answer = self.nn.block_locations(self.path)
        except DFSError:
            return None
        for location in answer.get("BlockLocation") or []:
            if location.get("blockId") == block_id:
                with self._lock:
                    for segment in self._layout.segments:
                        if segment.block_id == block_id:
                            segment.location = location
                return location
        return None

    # -- writing -----------------------------------------------------------------------------

    def _write(self, data: Any, offset: int | None) -> int:
        """Write in pieces of at most a block, so a huge ``write`` is shipped as it goes instead of
        being copied whole into dirty buffers. ``offset=None`` appends at the current EOF."""
        self._check_writable()
        view = memoryview(data).cast("B")
        step = self._layout.block_size
        for start in range(0, len(view), step):
            piece = view[start:start + step]
            at = offset + start if offset is not None else None
            self._edit(lambda contents: self._layout.write(
                self._layout.size if at is None else at, piece, contents))
        return len(view)

    def _edit(self, change: Callable[[dict[str, Block]], Any]) -> None:
        """Apply a layout edit under the lock; the stored blocks it must read first are fetched
        outside the lock and the edit retried. Ships whatever the edit completed."""
        contents: dict[str, Block] = {}
        while True:
            with self._lock:
                self._reap()
                self._raise_ship_error()
                try:
                    completed = change(contents) or []
                except NeedBlocks as need:
                    wanted = [segment.location for segment in need.segments]
                else:
                    self._version += 1
                    dirty = self._layout.dirty
                    if len(dirty) > MAX_DIRTY:
                        completed += [s for s in list(dirty)[:len(dirty) - MAX_DIRTY // 2] if s not in completed]
                    shipping = [self._start_ship(segment) for segment in completed
                                if segment.buffer is not None and segment.shipping is None]
                    break
            for location in wanted:
                assert location is not None
                contents[location["blockId"]] = self._block(location)
        for item in shipping:
            self._submit(*item)

    def _whole_file_segment(self, sync: bool, options: dict[str, Any]) -> Segment | None:
        """The one dirty segment that is the whole file, when this flush may send its COMMIT with
        it (``_ship_committing``): nothing else in flight, no fsync (whose COMMIT also syncs the
        name node), a replicated file, and a COMMIT that may be made twice (a lost answer means
        the block is written again, committed again): not an exclusive create."""
        if sync or self.ec_policy or self._inflight or self._version == self._committed \
                or (options.get("create") and not options.get("overwrite")):
            return None
        segments = [segment for segment in self._layout.segments if segment.length]
        if len(segments) != 1 or segments[0] not in self._layout.dirty or segments[0].shipping is not None:
            return None
        return segments[0]

    def _ship_committing(self, future: Future[dict[str, Any]], buffer: bytearray,
                         options: dict[str, Any]) -> FileStatus | None:
        """Ship the file's one block with its COMMIT (``COMMIT_HEADER``): the head of the pipeline
        has the name node commit it when it confirms the block, one request saved. Answers the
        new FileStatus, or None when the block went without it (the caller then COMMITs); raises
        the COMMIT's refusal as a COMMIT would."""
        try:
            location = self.nn.write_block(self.path, buffer, replication=self._replication,
                                           first=self._take_first_block(), commit=options)
        except BaseException as error:
            future.set_exception(error)
            with self._lock:
                self._reap()
                self._raise_ship_error()
            raise
        outcome = {key: location.pop(key) for key in ("commit", "commitError") if key in location}
        self._cache.put(location, buffer)
        if "commit" not in outcome:
            self._hold(location["blockId"])  # pending until a COMMIT takes it
        future.set_result(location)
        with self._lock:
            self._reap()
        if "commitError" in outcome:
            raise from_remote_exception(400, outcome["commitError"])
        if "commit" not in outcome:
            return None
        status: FileStatus = outcome["commit"]["FileStatus"]
        return self.nn.encryption.shown(self.path, status) if self.nn.encryption else status

    def _take_first_block(self) -> dict[str, Any] | None:
        """The block handed out at open, once, while it is young enough to be still pending."""
        with self._lock:
            first, self._first_block = self._first_block, None
            handed, self._first_block_handed = self._first_block_handed, False
        if handed:
            first = self.nn.take_first_block(int(self.file_id or 0))
            if first is not None:
                self._first_block_at = first.pop("handedOut")
        if first is not None and time.monotonic() - self._first_block_at > FIRST_BLOCK_SECONDS:
            return None  # a pending block lives an hour: an old one may be gone by now
        return first

    def _start_ship(self, segment: Segment) -> tuple[Future[dict[str, Any]], bytearray]:
        future: Future[dict[str, Any]] = Future()
        buffer = self._layout.start_shipping(segment, future)
        self._inflight[future] = segment
        return future, buffer

    def _submit(self, future: Future[dict[str, Any]], buffer: bytearray, sync: bool = False) -> None:
        """Hand a block to the pool once a slot is free: this wait is the write backpressure."""
        self._slots.acquire()
        try:
            self.nn.executor.submit(self._ship, future, buffer, sync)
        except BaseException as error:
            self._slots.release()
            future.set_exception(error)

    def _ship(self, future: Future[dict[str, Any]], buffer: bytearray, sync: bool = False) -> None:
        try:
            location = self.nn.write_block(self.path, buffer, replication=self._replication, sync=sync,
                                           first=self._take_first_block(), ec_policy=self.ec_policy)
        except BaseException as error:  # kept for the writer: raised by its next write or flush
            future.set_exception(error)
        else:
            if sync:
                with self._lock:
                    self._synced.add(location["blockId"])
            self._cache.put(location, buffer)
            self._hold(location["blockId"])
            future.set_result(location)
        finally:
            self._slots.release()

    def _hold(self, block_id: str) -> None:
        """A shipped block waits for its COMMIT: keep it alive until then (see ``renewal``)."""
        with self._held_lock:
            if not self._done:
                self._held.add(block_id)
                self.nn.renewer.hold(block_id)
                return
        self._abandon([block_id])  # shipped after a failed close or an abort: never to be committed

    def _let_go(self, block_ids: Iterable[str]) -> None:
        """Committed: no longer ours to keep alive."""
        with self._held_lock:
            block_ids = [block_id for block_id in block_ids if block_id in self._held]
            self._held.difference_update(block_ids)
        self.nn.renewer.release(block_ids)

    def _let_go_of_all(self) -> None:
        """Closed or aborted: what is still held was superseded or belongs to a failed write, and
        will never be committed."""
        with self._held_lock:
            self._done = True
            block_ids, self._held = list(self._held), set()
        self.nn.renewer.release(block_ids)
        self._abandon(block_ids)

    def _abandon(self, block_ids: list[str]) -> None:
        """Let the name node delete them now (best effort: otherwise they expire within the hour)."""
        for start in range(0, len(block_ids), BATCH):
            try:
                self.nn.abandon_blocks(block_ids[start:start + BATCH])
            except DFSError as error:
                log.warning("could not abandon uncommitted blocks of %s: %s", self.path, error)

    def _reap(self) -> None:
        """Fold finished block writes into the layout (caller holds the lock)."""
        for future in [f for f in self._inflight if f.done()]:
            segment = self._inflight.pop(future)
            current = segment.shipping is future  # else superseded by a later write: moot
            self._layout.finish_shipping(segment, future)
            if current and future.exception() is not None:
                self._ship_error = future.exception()

    def _raise_ship_error(self) -> None:
        """Raise the first failed block write, now and at every later write, flush and close."""
        if self._failure is None and self._ship_error is not None:
            self._failure, self._ship_error = self._ship_error, None
        if self._failure is not None:
            raise self._failure

    # -- checks ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<DFSFile {self.path!r} mode={self.mode!r}>"


def _parse_mode(mode: str) -> tuple[str, bool]:
    """``("r"|"w"|"a"|"x", plus)``; binary only (``b`` optional, ``t`` refused)."""
    letters = set(mode)
    kinds = letters & set("rwax")
    if len(kinds) != 1 or not letters <= set("rwaxb+") or len(mode) != len(letters):
        raise IllegalArgument(f"Invalid mode: {mode!r}")
    return kinds.pop(), "+" in letters
