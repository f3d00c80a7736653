"""A storage root in an S3 bucket, under a prefix: ``DFS_FS_ROOT=s3://BUCKET/PREFIX``.

Any S3 endpoint works (AWS, MinIO, Ceph RGW, SeaweedFS): endpoint, region and credentials come from
the standard AWS configuration chain that boto3 reads (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/config``, instance roles).
One prefix belongs to one data node. Layout under it::

    node-id                  this node's id, created once
    blocks/<id>              the block's bytes; metadata ``dfs-checksum`` and, for blocks of at
                             most 64 chunks (4 MiB), ``dfs-digests`` (the chunk digests in hex)
    digests/<id>             the chunk digests of a larger block (binary), written before it
    quarantine/<id>.<ns>     corrupt replicas moved aside; metadata ``dfs-reason``

Why this is crash-safe: an object appears whole or not at all, and only after its bytes were
verified: a small block is read into memory, checked, then PUT; a large one goes up as a multipart
upload that is completed only once the checksum matched (aborted otherwise), so a data node killed
half-way leaves an unfinished upload nobody can read, aborted on the next start, like an orphan
``digests/`` object. The checksum travels with the object (its metadata, set in the same PUT), is
re-checked when a read covers the whole object and by the scrubber.

Requests retry with exponential backoff (botocore's standard mode). An endpoint that does not
answer makes the root unhealthy (``check_health``, asked before each heartbeat): the node keeps
heartbeating, says so, and the name node stops placing blocks on it and reading from it; when the
bucket answers again the root is healthy, its index reloaded if it never was. Capacity is the
configured quota (``DFS_S3_QUOTA``), since a bucket has no size of its own.
"""
from __future__ import annotations

import builtins
import io
import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, BinaryIO
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from dfs_common.blocks import chunk_count, digests_checksum, hasher, parse_block_id, parse_checksum
from dfs_common.errors import (ChecksumMismatch, DFSError, IllegalArgument, NoSpace, NotFound, TooLarge,
                               Unavailable)
from dfs_common.settings import Settings

from .base import CHUNK, BlockInfo, Readable, StorageRoot, Usage

log = logging.getLogger("dfs.data_node.roots.s3")

# 8 MiB parts: above S3's 5 MiB minimum part size, so a block of the default 4 MiB is one PUT and a
# 256 MiB block 32 parts, each held in memory once while it is sent.
PART_SIZE = 8 * 1024 * 1024
# Chunk digests inline in the object's metadata up to 64 chunks (a 4 MiB block, 1 KiB of hex):
# S3 allows 2 KiB of user metadata per object.
INLINE_DIGESTS = 64
# Every S3 call retries with exponential backoff and jitter (botocore "standard" mode); the health
# probe does not retry and gives up fast, since it runs before each heartbeat.
RETRIES = {"mode": "standard", "total_max_attempts": 5}
CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 60.0
PROBE_TIMEOUT = 2.0
LOAD_WORKERS = 8  # concurrent HEADs while indexing a bucket at start
_MISSING = ("NoSuchKey", "404", "NotFound")


class S3Root(StorageRoot):
    """Blocks as objects in ``s3://bucket/prefix``; an index of (length, checksum) in memory."""

    kind = "s3"

    def __init__(self, url: str, quota: int = 0, client: Any = None, probe_client: Any = None,
                 part_size: int = PART_SIZE) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise IllegalArgument(f"An S3 root is s3://BUCKET/PREFIX, not {url!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.url = f"s3://{self.bucket}/{self.prefix}"
        self.quota = quota
        self.part_size = max(part_size, 5 * 1024 * 1024)
        if client is None or probe_client is None:
            session = boto3.session.Session()
            client = client or session.client("s3", config=botocore.config.Config(
                retries=RETRIES, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                max_pool_connections=32))
            probe_client = probe_client or session.client("s3", config=botocore.config.Config(
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT))
        self._s3 = client
        self._probe = probe_client
        self._lock = threading.Lock()
        self._index: dict[str, BlockInfo] = {}
        self._used = 0
        self._node_id: str | None = None
        self._loaded = False
        self._healthy = False
        self._load_lock = threading.Lock()
        try:
            self._load()
        except Unavailable as error:
            log.warning("S3 root %s unreachable at start (%s): unhealthy until it answers", self.url, error)

    # -- identity ---------------------------------------------------------------------------

    def node_id(self) -> str:
        """Read (or create) ``node-id``; while the bucket does not answer this waits, retrying,
        so a node started during an outage comes up when the bucket does instead of crashing."""
        delay = 0.5
        while self._node_id is None:
            try:
                self._node_id = self._load_or_create_node_id()
            except Unavailable as error:
                log.warning("S3 root %s: cannot read node-id (%s); retrying in %.0fs", self.url, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        return self._node_id

    def _load_or_create_node_id(self) -> str:
        key = self._key("node-id")
        try:
            with self._errors("read node-id"):
                body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
                existing = body.read().decode("ascii", "replace").strip()
            if existing:
                return existing
        except NotFound:
            pass
        new_id = secrets.token_hex(8)
        with self._errors("write node-id"):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=(new_id + "\n").encode("ascii"))
        log.info("created node id %s in %s", new_id, self.url)
        return new_id

    # -- health -----------------------------------------------------------------------------

    def check_health(self) -> bool:
        try:
            self._probe.head_bucket(Bucket=self.bucket)
            if not self._loaded:
                self._load()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, DFSError) as error:
            self._set_healthy(False, str(error))
            return False
        self._set_healthy(True)
        return True

    def _set_healthy(self, healthy: bool, why: str = "") -> None:
        if healthy != self._healthy:
            if healthy:
                log.info("S3 root %s answers again: healthy", self.url)
            else:
                log.warning("S3 root %s unhealthy: %s", self.url, why)
        self._healthy = healthy

    # -- writing ----------------------------------------------------------------------------

    def store(self, block_id: str, source: Readable, max_length: int,
              expected_checksum: str | None, sync: bool = True) -> BlockInfo:
        # ``sync`` changes nothing: an object is durable once the PUT (or the completion of its
        # multipart upload) is answered, which is before this returns.
        block_id = parse_block_id(block_id)
        if expected_checksum is not None:
            expected_checksum = parse_checksum(expected_checksum)
        self._require_loaded()
        reader = _HashingReader(source, max_length, self._room())
        first = reader.read_part(self.part_size)
        if len(first) < self.part_size:  # the whole block: check, then one PUT
            digest, digests = reader.finish()
            _check(block_id, digest, expected_checksum)
            self._put_small(block_id, first, digest, digests)
        elif expected_checksum is None:
            # A multipart upload carries its metadata from the start: learn the checksum first.
            with tempfile.SpooledTemporaryFile(self.part_size * 2) as spool:
                spool.write(first)
                while part := reader.read_part(self.part_size):
                    spool.write(part)
                digest, _ = reader.finish()
                spool.seek(0)
                return self.store(block_id, spool, max_length, digest)
        else:
            digest, digests = self._put_multipart(block_id, first, reader, expected_checksum)
        info = BlockInfo(block_id, reader.length, digest)
        with self._lock:
            self._remember(info)
        return info

    def _put_small(self, block_id: str, data: bytes, digest: str, digests: bytes) -> None:
        metadata = {"dfs-checksum": digest}
        if chunk_count(len(data)) <= INLINE_DIGESTS:
            metadata["dfs-digests"] = digests.hex()
        else:
            with self._errors(f"store digests of block {block_id}"):
                self._s3.put_object(Bucket=self.bucket, Key=self._key("digests", block_id), Body=digests)
        with self._errors(f"store block {block_id}"):
            self._s3.put_object(Bucket=self.bucket, Key=self._key("blocks", block_id), Body=data,
                                Metadata=metadata)

    def _put_multipart(self, block_id: str, first: bytes, reader: "_HashingReader",
                       expected: str) -> tuple[str, bytes]:
        key = self._key("blocks", block_id)
        with self._errors(f"start the upload of block {block_id}"):
            upload = self._s3.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                      Metadata={"dfs-checksum": expected})["UploadId"]
        try:
            parts, part, number = [], first, 1
            while part:
                with self._errors(f"upload part {number} of block {block_id}"):
                    etag = self._s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload,
                                                PartNumber=number, Body=part)["ETag"]
                parts.append({"ETag": etag, "PartNumber": number})
                part, number = reader.read_part(self.part_size), number + 1
            digest, digests = reader.finish()
            _check(block_id, digest, expected)
            with self._errors(f"store digests of block {block_id}"):
                self._s3.put_object(Bucket=self.bucket, Key=self._key("digests", block_id), Body=digests)
            with self._errors(f"complete the upload of block {block_id}"):
                self._s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                   MultipartUpload={"Parts": parts})
            upload = ""
            return digest, digests
        finally:
            if upload:
                self._abort(key, upload)

    def delete(self, block_id: str) -> bool:
        block_id = parse_block_id(block_id)
        with self._lock:
            known = self._forget(block_id)
        with self._errors(f"delete block {block_id}"):
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Quiet": True, "Objects": [
                {"Key": self._key("blocks", block_id)}, {"Key": self._key("digests", block_id)}]})
        return known

    def quarantine(self, block_id: str, reason: str) -> bool:
        block_id = parse_block_id(block_id)
        with self._lock:
            self._forget(block_id)
        source = self._key("blocks", block_id)
        target = self._key("quarantine", f"{block_id}.{time.time_ns()}")
        ascii_reason = reason.encode("ascii", "replace").decode("ascii")[:1024]
        try:
            with self._errors(f"quarantine block {block_id}"):
                self._s3.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source},
                                     MetadataDirective="REPLACE", Metadata={"dfs-reason": ascii_reason})
        except NotFound:
            return False
        with self._errors(f"quarantine block {block_id}"):
            self._s3.delete_objects(Bucket=self.bucket, Delete={"Quiet": True, "Objects": [
                {"Key": source}, {"Key": self._key("digests", block_id)}]})
        log.warning("quarantined block %s: %s", block_id, reason)
        return True

    # -- reading ----------------------------------------------------------------------------

    def open(self, block_id: str) -> tuple[BinaryIO, int]:
        block_id, info = self.held(block_id)
        return _ObjectReader(self, info), info.length  # type: ignore[return-value]

    def digests(self, block_id: str) -> bytes:
        block_id, info = self.held(block_id)
        found: bytes | None = None
        try:
            if chunk_count(info.length) <= INLINE_DIGESTS:
                with self._errors(f"read the digests of block {block_id}"):
                    head = self._s3.head_object(Bucket=self.bucket, Key=self._key("blocks", block_id))
                found = bytes.fromhex(head.get("Metadata", {}).get("dfs-digests", ""))
            else:
                with self._errors(f"read the digests of block {block_id}"):
                    found = self._s3.get_object(Bucket=self.bucket,
                                                Key=self._key("digests", block_id))["Body"].read()
        except (NotFound, ValueError):
            found = None
        if found is None or digests_checksum(found) != info.checksum:
            return super().digests(block_id)  # re-hash the bytes: a read verifies them anyway
        return found

    def info(self, block_id: str) -> BlockInfo | None:
        with self._lock:
            return self._index.get(block_id)

    def list(self) -> Iterator[BlockInfo]:
        with self._lock:
            return iter(list(self._index.values()))

    def mark_verified(self, block_id: str) -> None:
        with self._lock:
            info = self._index.pop(block_id, None)
            if info is not None:
                self._index[block_id] = info

    def audit(self) -> builtins.list[str]:
        """Forget blocks whose objects are gone (deleted in the bucket behind our back). An
        unreachable bucket audits nothing: the index stays what it was."""
        before = {info.block_id: info for info in self.list()}
        try:
            present = {block_id for block_id, _ in self._list_objects("blocks")}
        except Unavailable:
            return []
        dropped = []
        with self._lock:
            for block_id, info in before.items():
                if block_id not in present and self._index.get(block_id) is info:
                    self._forget(block_id)
                    dropped.append(block_id)
        if dropped:
            log.warning("%d block(s) gone from %s behind our back: %s", len(dropped), self.url,
                        ", ".join(dropped[:20]))
        return dropped

    def count(self) -> int:
        with self._lock:
            return len(self._index)

    def usage(self) -> Usage:
        with self._lock:
            used = self._used
        if not self.quota:
            return Usage(capacity=0, used=used, remaining=0)  # 0: unbounded, as placement reads it
        return Usage(capacity=self.quota, used=used, remaining=max(0, self.quota - used))

    # -- internals --------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def _room(self) -> int | None:
        if not self.quota:
            return None
        with self._lock:
            return max(0, self.quota - self._used)

    def _remember(self, info: BlockInfo) -> None:
        old = self._index.get(info.block_id)
        self._used += info.length - (old.length if old else 0)
        self._index[info.block_id] = info

    def _forget(self, block_id: str) -> bool:
        old = self._index.pop(block_id, None)
        if old is not None:
            self._used -= old.length
        return old is not None

    def _require_loaded(self) -> None:
        if not self._loaded:
            self._load()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """botocore's errors as ours: a missing object is NotFound, anything else Unavailable
        (and, for a fault of the endpoint rather than of one object, the root unhealthy)."""
        try:
            yield
        except botocore.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in _MISSING:
                raise NotFound(f"{what}: no such object in {self.url}") from None
            if status >= 500 or code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId",
                                         "SignatureDoesNotMatch"):
                self._set_healthy(False, f"{what}: {code or status}")
            raise Unavailable(f"S3 root {self.url} cannot {what}: {code or status} {error}") from None
        except botocore.exceptions.BotoCoreError as error:
            self._set_healthy(False, f"{what}: {error}")
            raise Unavailable(f"S3 root {self.url} cannot {what}: {error}") from None

    def _list_objects(self, folder: str) -> Iterator[tuple[str, int]]:
        """(name under ``folder``, size) of every object there."""
        start = self._key(folder) + "/"
        with self._errors(f"list {folder}"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            found = [(item["Key"][len(start):], int(item["Size"])) for page in pages
                     for item in page.get("Contents", [])]
        return iter(found)

    def _abort(self, key: str, upload: str) -> None:
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            log.warning("could not abort the upload %s of %s (%s); it is aborted on the next start",
                        upload, key, error)

    def _load(self) -> None:
        """Index the bucket: every block object's length and checksum (one HEAD each, a few at a
        time), after aborting unfinished uploads and sweeping orphan digests of a crashed write."""
        with self._load_lock:
            if self._loaded:
                return
            started = time.monotonic()
            blocks_prefix = self._key("blocks") + "/"
            with self._errors("list unfinished uploads"):
                pages = self._s3.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=blocks_prefix)
                unfinished = [(u["Key"], u["UploadId"]) for page in pages for u in page.get("Uploads", [])]
            for key, upload in unfinished:
                self._abort(key, upload)
            names = dict(self._list_objects("blocks"))
            ids = []
            for name in names:
                try:
                    ids.append(parse_block_id(name))
                except IllegalArgument:
                    continue  # not ours; never delete what we did not write
            with ThreadPoolExecutor(LOAD_WORKERS) as pool:
                heads = list(pool.map(self._head_quietly, ids))
            index = {}
            for block_id, head in zip(ids, heads):
                recorded = (head or {}).get("Metadata", {}).get("dfs-checksum")
                try:
                    index[block_id] = BlockInfo(block_id, names[block_id], parse_checksum(str(recorded)))
                except IllegalArgument:
                    log.warning("object %s in %s has no checksum: left out", block_id, self.url)
            orphans = [name for name, _ in self._list_objects("digests") if name not in names]
            if orphans:
                with self._errors("sweep orphan digests"):
                    for at in range(0, len(orphans), 1000):
                        self._s3.delete_objects(Bucket=self.bucket, Delete={"Quiet": True, "Objects": [
                            {"Key": self._key("digests", name)} for name in orphans[at:at + 1000]]})
            with self._lock:
                for info in index.values():
                    self._remember(info)
            self._loaded = True
            self._set_healthy(True)
            log.info("indexed %d blocks (%d bytes) in %s in %.2fs (%d unfinished uploads aborted)",
                     len(index), self._used, self.url, time.monotonic() - started, len(unfinished))

    def _head_quietly(self, block_id: str) -> dict[str, Any] | None:
        try:
            with self._errors(f"read the metadata of block {block_id}"):
                return dict(self._s3.head_object(Bucket=self.bucket, Key=self._key("blocks", block_id)))
        except NotFound:
            return None

    def _get(self, block_id: str, start: int, stop: int) -> Any:
        """The streaming body of bytes [start, stop) of a block's object."""
        try:
            with self._errors(f"read block {block_id}"):
                return self._s3.get_object(Bucket=self.bucket, Key=self._key("blocks", block_id),
                                           Range=f"bytes={start}-{stop - 1}")["Body"]
        except NotFound:
            with self._lock:
                known = self._index.get(block_id)
                if known is not None:
                    self._forget(block_id)
            log.warning("block %s vanished from %s; forgotten", block_id, self.url)
            raise NotFound(f"Block {block_id} not found") from None

    def _corrupt(self, block_id: str, reason: str) -> None:
        try:
            self.quarantine(block_id, reason)
        except DFSError as error:
            log.warning("could not quarantine block %s: %s", block_id, error)


class _HashingReader:
    """Reads a block's source in parts, hashing as it goes: TooLarge past ``max_length``,
    NoSpace past the room left under the quota."""

    def __init__(self, source: Readable, max_length: int, room: int | None) -> None:
        self._source = source
        self._max = max_length
        self._room = room
        self._hasher = hasher()
        self.length = 0

    def read_part(self, size: int) -> bytes:
        part = bytearray()
        while len(part) < size:
            chunk = self._source.read(min(CHUNK, size - len(part), self._max + 1 - self.length))
            if not chunk:
                break
            self.length += len(chunk)
            if self.length > self._max:
                raise TooLarge(f"Block body larger than {self._max} bytes")
            if self._room is not None and self.length > self._room:
                raise NoSpace(f"The S3 quota has no room for {self.length} more bytes")
            self._hasher.update(chunk)
            part += chunk
        return bytes(part)

    def finish(self) -> tuple[str, bytes]:
        digests = self._hasher.chunk_digests()
        return digests_checksum(digests), digests


def _check(block_id: str, digest: str, expected: str | None) -> None:
    if expected is not None and digest != expected:
        raise ChecksumMismatch(f"Checksum mismatch for block {block_id}: got {digest}, expected {expected}")


class _ObjectReader(io.RawIOBase):
    """A block's object as a seekable file: each read after a seek is one ranged GET, up to the
    end of the object or of the ``window`` the server will send. A read that covers the whole
    object from its first byte is checked against the recorded checksum at the end: a mismatch
    quarantines the replica and raises ChecksumMismatch, so a corrupt object is never served whole
    (its reader, as every DFS reader, also checks what it got)."""

    def __init__(self, root: S3Root, info: BlockInfo) -> None:
        super().__init__()
        self._root = root
        self._info = info
        self._pos = 0
        self._stop = info.length
        self._body: Any = None
        self._hasher: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def window(self, stop: int) -> None:
        """Read no further than ``stop`` (exclusive): the next GET asks for that range only."""
        self._drop()
        self._stop = max(0, min(stop, self._info.length))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._info.length}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._drop()
            self._pos = target
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            pieces = []
            while piece := self._read(CHUNK):
                pieces.append(piece)
            return b"".join(pieces)
        return self._read(size)

    def _read(self, size: int) -> bytes:
        stop = self._stop
        left = stop - self._pos
        if left <= 0:
            return b""
        size = min(size, left)
        if self._body is None:
            self._body = self._root._get(self._info.block_id, self._pos, stop)
            self._hasher = hasher() if self._pos == 0 and stop == self._info.length else None
        try:
            data = self._body.read(size)
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            self._drop()
            raise Unavailable(f"Reading block {self._info.block_id} from {self._root.url}: {error}") from None
        if not data:
            self._drop()
            raise Unavailable(f"Block {self._info.block_id} ended at {self._pos} of {self._info.length} bytes")
        self._pos += len(data)
        if self._hasher is not None:
            self._hasher.update(data)
            if self._pos == self._info.length:
                self._verify()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _verify(self) -> None:
        digest, self._hasher = self._hasher.hexdigest(), None
        if digest != self._info.checksum:
            reason = f"checksum mismatch on read: recorded {self._info.checksum}, read {digest}"
            self._root._corrupt(self._info.block_id, reason)
            raise ChecksumMismatch(f"Block {self._info.block_id}: {reason}")

    def _drop(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            except Exception:  # noqa: BLE001 - closing a broken stream
                pass
        self._body, self._hasher = None, None

    def close(self) -> None:
        self._drop()
        super().close()


def open_s3(url: str, settings: Settings) -> StorageRoot:
    return S3Root(url, quota=settings.s3_quota)

