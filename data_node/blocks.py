"""The block store's HTTP-facing logic: receive (verify, make durable, forward, confirm) and serve.

A write is answered 201 only when this node and every node after it hold the verified block and
the head of the pipeline has confirmed all those copies to the name node (invariant 4); on any
downstream failure the local copy is removed, so a failed pipeline leaves nothing half-replicated
and nothing confirmed behind.
"""
from __future__ import annotations

import io
import logging
from concurrent import futures
import threading
import time
from collections.abc import Callable
from typing import IO, Any, BinaryIO, cast

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from dfs_common import bundles, crc
from dfs_common.blocks import (CHECKSUM_HEADER, COMMIT_HEADER, CONFIRM_HEADER, DIGESTS_HEADER, PIPELINE_HEADER,
                               SYNC_HEADER, chunk_count, decode_commit, parse_block_id, parse_checksum)
from dfs_common.errors import AlreadyExists, IllegalArgument, RangeNotSatisfiable, TooLarge, to_remote_exception
from dfs_common.settings import Settings
from dfs_common.web import error_response

from .namenode import NameNodeLink
from .pipeline import Forwarder, PipelineRules
from .roots import BlockInfo, StorageRoot
from .roots.base import Readable

log = logging.getLogger("dfs.data_node.blocks")

# Ids of blocks the name node dropped, remembered so a copy that lands after the deletion (a pipeline
# that failed while this node was stopped, finishing once it runs again) is deleted on arrival. An
# hour: the name node's own limit for a pending block; the count only bounds memory.
TOMBSTONE_SECONDS = 3600.0
MAX_TOMBSTONES = 100_000

# 2048 digests (a 128 MiB block): 32 KiB of hex, half of what http.client accepts in one header line.
# A larger block's ranged GET omits the header; its reader asks ``GET /blocks/<id>/digests``.
MAX_HEADER_DIGESTS = 2048


class BlockService:
    """Receives, forwards, confirms and serves the blocks of one storage root."""

    def __init__(self, settings: Settings, root: StorageRoot, forwarder: Forwarder,
                 namenode: NameNodeLink) -> None:
        self.settings = settings
        self.root = root
        self.forwarder = forwarder
        self.namenode = namenode
        self.node_id = root.node_id()
        self.pipelines = PipelineRules(settings)
        self._receiving: set[str] = set()  # block ids whose PUT is in progress here
        self._receiving_lock = threading.Lock()
        self._tombstones: dict[str, float] = {}  # block id -> until (monotonic), insertion order
        self.always_sync = settings.sync == "always"
        self.synced_blocks = 0  # blocks this process fsynced (at store or by ``sync``): /status
        self._synced_lock = threading.Lock()

    # -- writes -----------------------------------------------------------------------------

    def receive(self, request: Request, raw_id: str) -> dict[str, Any]:
        """``PUT /blocks/<id>``: the whole write path of one pipeline hop."""
        block_id = parse_block_id(raw_id)
        checksum = request.headers.get(CHECKSUM_HEADER)
        if not checksum:
            raise IllegalArgument(f"Missing {CHECKSUM_HEADER} header")
        checksum = parse_checksum(checksum.strip().lower())
        pipeline = self.pipelines.parse(request.headers.get(PIPELINE_HEADER))
        with self._receiving_lock:
            if block_id in self._receiving:  # a pipeline that came back here under another name
                raise IllegalArgument(f"Block {block_id} is already being received here: "
                                      f"{PIPELINE_HEADER} loops back to this node")
            self._receiving.add(block_id)
        try:
            return self._receive(request, block_id, checksum, pipeline)
        finally:
            with self._receiving_lock:
                self._receiving.discard(block_id)

    def _receive(self, request: Request, block_id: str, checksum: str,
                 pipeline: list[str]) -> dict[str, Any]:
        head = request.headers.get(CONFIRM_HEADER, "").strip().lower() != "upstream"
        commit_header = request.headers.get(COMMIT_HEADER) if head else None
        commit = decode_commit(commit_header) if commit_header else None
        sync = self.always_sync or request.headers.get(SYNC_HEADER, "").strip() == "1"
        limit = self.settings.max_block_size
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"Block body of {request.content_length} bytes is over the limit of {limit}")
        # Blocks are immutable: other bytes under a stored id are refused, and the same bytes again
        # (a repeated heal) never lead to the stored copy being removed if this write fails.
        existing = self.root.info(block_id)
        if existing is not None and existing.checksum != checksum:
            raise AlreadyExists(f"Block {block_id} is stored here with other contents")
        # The block's CRC32C, taken on the way in and kept in the name node's block record: the
        # WebHDFS COMPOSITE-CRC32C file checksum is composed from these without reading a byte.
        body = _CrcReader(request.stream)
        if not pipeline:
            relay = None
            info = self.root.store(block_id, body, limit, checksum, sync=sync)
        else:
            # Cut-through: downstream receives while we do, so the pipeline's stores and fsyncs
            # overlap; each node still verifies its own bytes before keeping them.
            relay = self.forwarder.relay(block_id, checksum, pipeline, request.content_length, sync)
            try:
                info = self.root.store(block_id, relay.tee(body), limit, checksum, sync=sync)
            except BaseException:
                relay.abort()
                raise
        if sync:
            self._count_synced(1)
        try:
            stored = [self.node_id, *(relay.finish() if relay is not None else [])]
            if self._buried(block_id):  # its writer gave it up while it was on its way here
                raise IllegalArgument(f"Block {block_id} was abandoned by its writer")
            # only when the root read the body to its end, i.e. the CRC covers the stored bytes
            crc32c = crc.to_hex(body.crc) if body.length == info.length else None
            outcome = self.confirm(info, stored, crc32c, commit) if head else {}
        except BaseException:
            if existing is None:
                self.root.delete(block_id)  # a failed pipeline leaves nothing half-replicated here
            raise
        return {**info.as_json(), "stored": stored, **outcome}

    def receive_bundle(self, request: Request, admit: Callable[[list[dict[str, Any]], str], None]) -> dict[str, Any]:
        """``PUT /bundle``: several whole blocks on one pipeline (``dfs_common.bundles``), each
        verified and stored as its own block, the bundle sent on down the pipeline meanwhile; the
        head confirms them all, with their COMMITs, in one name-node call. ``admit`` checks the
        manifest's signed access for the pipeline header. Answers ``{"stored": node ids,
        "blocks": [each block's info and its COMMIT's outcome, or its "error"]}``; fails whole
        (nothing kept here) when this node or a node downstream fails."""
        pipeline_header = request.headers.get(PIPELINE_HEADER, "")
        pipeline = self.pipelines.parse(pipeline_header)
        length = request.content_length
        if length is None:
            raise IllegalArgument("PUT /bundle needs a Content-Length")
        if length > bundles.MAX_BYTES + bundles.MAX_MANIFEST:
            raise TooLarge(f"Bundle of {length} bytes is over the limit of {bundles.MAX_BYTES}")
        body = _read_exactly(request.stream, length)
        items = bundles.decode(body)
        admit([entry for entry, _ in items], pipeline_header)
        ids = [entry["blockId"] for entry, _ in items]
        with self._receiving_lock:
            if self._receiving.intersection(ids):
                raise IllegalArgument(f"A block of this bundle is already being received here: "
                                      f"{PIPELINE_HEADER} loops back to this node")
            self._receiving.update(ids)
        try:
            head = request.headers.get(CONFIRM_HEADER, "").strip().lower() != "upstream"
            sync = self.always_sync or request.headers.get(SYNC_HEADER, "").strip() == "1"
            return self._receive_bundle(items, pipeline, head, sync)
        finally:
            with self._receiving_lock:
                self._receiving.difference_update(ids)

    def _receive_bundle(self, items: list[tuple[dict[str, Any], memoryview]], pipeline: list[str],
                        head: bool, sync: bool) -> dict[str, Any]:
        fresh: list[str] = []  # stored by this request: removed again if it fails
        for entry, _ in items:
            existing = self.root.info(entry["blockId"])
            if existing is not None and existing.checksum != entry["checksum"]:
                raise AlreadyExists(f"Block {entry['blockId']} is stored here with other contents")
        downstream = self.forwarder.send_bundle(items, pipeline, sync) if pipeline else None
        try:
            confirmed: list[dict[str, Any]] = []
            for entry, data in items:
                if self.root.info(entry["blockId"]) is None:
                    fresh.append(entry["blockId"])
                info = self.root.store(entry["blockId"], io.BytesIO(data), self.settings.max_block_size,
                                       entry["checksum"], sync=sync)
                confirmed.append({**info.as_json(), "crc32c": crc.to_hex(crc.crc32c(data))})
            if sync:
                self._count_synced(len(items))
            stored = [self.node_id, *(downstream.result() if downstream is not None else [])]
            if any(self._buried(entry["blockId"]) for entry, _ in items):
                raise IllegalArgument("A block of this bundle was abandoned by its writer")
            answers: list[dict[str, Any]] = [{} for _ in items]
            rejected: list[str] = []
            if head:
                commits = [entry.get("commit") for entry, _ in items]
                rejected, answers = self.namenode.bundle_received(
                    self.node_id, [{**item, "holders": stored} for item in confirmed], commits)
                for block_id in rejected:  # unknown to the name node: the writer writes it again
                    log.warning("name node rejected block %s of a bundle; deleting it", block_id)
                    if block_id in fresh:
                        self.root.delete(block_id)
        except BaseException:
            if downstream is not None:  # answered once the nodes below are done too (they fail alike)
                futures.wait([downstream])
            for block_id in fresh:
                self.root.delete(block_id)
            raise
        for item, answer in zip(confirmed, answers):
            item.update(answer)
            if item["blockId"] in rejected:
                item["error"] = to_remote_exception(IllegalArgument(f"Name node rejected block {item['blockId']}"))
        return {"stored": stored, "blocks": confirmed}

    def sync(self, block_ids: list[str]) -> int:
        """``POST /sync``: fsync blocks stored earlier without it (a writer's fsync or hsync of
        blocks it shipped before); answers how many are stored here."""
        ids = [parse_block_id(block_id) for block_id in block_ids]
        count = self.root.sync(ids)
        self._count_synced(count)
        return count

    def _count_synced(self, count: int) -> None:
        with self._synced_lock:
            self.synced_blocks += count

    def replicate(self, block_id: str, targets: list[str]) -> list[str]:
        """A name-node ``replicate`` command: push a local block down a fresh pipeline."""
        block_id = parse_block_id(block_id)
        return self.forwarder.forward(self.root, block_id, self.pipelines.parse(",".join(targets)))

    def confirm(self, info: BlockInfo, holders: list[str], crc32c: str | None = None,
                commit: dict[str, Any] | None = None) -> dict[str, Any]:
        """Tell the name node which nodes hold this verified block: the head of a pipeline does it
        once for all of them (each answered it had stored it), so one name-node transaction
        covers a block however many replicas it has. ``crc32c`` (``dfs_common.crc.to_hex``) is the
        block's CRC32C as received, which the name node keeps with the block. A rejected block
        (unknown or mismatching) is deleted and the write fails. ``commit``: the writer's COMMIT
        sent with the block (``COMMIT_HEADER``), made with it; answers its outcome."""
        item: dict[str, Any] = {**info.as_json(), "holders": holders}
        if crc32c is not None:
            item["crc32c"] = crc32c
        rejected, outcome = self.namenode.block_received(self.node_id, [item], commit)
        if info.block_id in rejected:
            log.warning("name node rejected block %s; deleting it", info.block_id)
            raise IllegalArgument(f"Name node rejected block {info.block_id}")
        return outcome

    def delete(self, block_ids: list[str], gone: bool = False) -> int:
        """Remove local copies. ``gone``: the name node dropped these blocks for good, so a copy
        still being received here is deleted as soon as it lands (see ``TOMBSTONE_SECONDS``)."""
        removed = 0
        for raw in block_ids:
            try:
                block_id = parse_block_id(str(raw))
            except IllegalArgument:
                log.warning("ignoring delete of invalid block id %r", str(raw)[:40])
                continue
            if gone:
                self._bury(block_id)  # before the delete: a store finishing meanwhile sees it
            removed += self.root.delete(block_id)
        return removed

    def _bury(self, block_id: str) -> None:
        now = time.monotonic()
        with self._receiving_lock:
            self._tombstones.pop(block_id, None)
            self._tombstones[block_id] = now + TOMBSTONE_SECONDS
            while self._tombstones:
                oldest, until = next(iter(self._tombstones.items()))
                if until > now and len(self._tombstones) <= MAX_TOMBSTONES:
                    break
                del self._tombstones[oldest]

    def _buried(self, block_id: str) -> bool:
        with self._receiving_lock:
            return self._tombstones.get(block_id, 0.0) > time.monotonic()

    # -- reads ------------------------------------------------------------------------------

    def serve(self, request: Request, raw_id: str) -> Response:
        """``GET /blocks/<id>``: the bytes via ``wsgi.file_wrapper`` (sendfile under gunicorn).
        A ranged GET also carries the block's chunk digests, so the reader can verify a part."""
        block_id = parse_block_id(raw_id)
        info = self.root.info(block_id)
        file, length = self.root.open(block_id)
        try:
            return self._respond(request, block_id, file, length, info.checksum if info else "")
        except BaseException:
            file.close()
            raise

    def serve_digests(self, request: Request, raw_id: str) -> Response:
        """``GET /blocks/<id>/digests``: the chunk digests (8 bytes each, concatenated) as the
        body, for blocks too large to carry them in a header."""
        block_id = parse_block_id(raw_id)
        info = self.root.info(block_id)
        digests = self.root.digests(block_id)
        return Response(digests, mimetype="application/octet-stream",
                        headers={CHECKSUM_HEADER: info.checksum if info else ""})

    def _respond(self, request: Request, block_id: str, file: BinaryIO, length: int,
                 checksum: str) -> Response:
        headers = {CHECKSUM_HEADER: checksum, "Accept-Ranges": "bytes"}
        start, stop, status = 0, length, 200
        wanted = request.range
        if wanted is not None:
            span = wanted.range_for_length(length)
            if span is not None:
                (start, stop), status = span, 206
                headers["Content-Range"] = f"bytes {start}-{stop - 1}/{length}"
                if chunk_count(length) <= MAX_HEADER_DIGESTS:
                    headers[DIGESTS_HEADER] = self.root.digests(block_id).hex()
            elif len(wanted.ranges) == 1:
                file.close()
                response = error_response(
                    RangeNotSatisfiable(f"Range not satisfiable for a block of {length} bytes"))
                response.headers["Content-Range"] = f"bytes */{length}"
                return response
        headers["Content-Length"] = str(stop - start)
        if request.method == "HEAD":
            file.close()
            response = Response(b"", status=status, mimetype="application/octet-stream")
            response.headers.update(headers)  # after the body: werkzeug sets 0 for b""
            return response
        if start:
            file.seek(start)
        if stop < length and hasattr(file, "window"):
            file.window(stop)  # an object store's reader then GETs exactly the range asked for
        body = wrap_file(request.environ, cast(BinaryIO, _BoundedFile(file, stop - start)))
        response = Response(body, status=status, headers=headers,
                            mimetype="application/octet-stream", direct_passthrough=True)
        response.headers["Content-Length"] = str(stop - start)
        return response


class _BoundedFile(io.RawIOBase):
    """A window of a real file: ``read`` stops after ``limit`` bytes, while ``fileno`` and the
    current offset stay the real file's, so gunicorn's sendfile sends exactly the window
    (it uses the fd's offset and the Content-Length) and other servers iterate ``read``."""

    def __init__(self, file: BinaryIO, limit: int) -> None:
        super().__init__()
        self._file = file
        self._left = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def fileno(self) -> int:
        try:
            return self._file.fileno()
        except AttributeError:
            raise io.UnsupportedOperation("fileno") from None

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # socket.sendfile seeks the file past what it sent; the window is then used up anyway.
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            super().close()


def _read_exactly(stream: IO[bytes], length: int) -> bytes:
    """A request body of ``length`` bytes, whole; IllegalArgument if it ends early."""
    parts, left = [], length
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            raise IllegalArgument(f"Body ended after {length - left} of its {length} bytes")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class _CrcReader:
    """A block body as ``StorageRoot.store`` reads it, with the CRC32C and the count of every byte
    read so far (``dfs_common.crc``)."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        self.crc = 0
        self.length = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._source.read(size)
        if chunk:
            self.crc = crc.crc32c(chunk, self.crc)
            self.length += len(chunk)
        return chunk
