"""Block ids and checksums, shared by the name node, the data nodes and the clients.

A block id is a 64-bit counter the name node never reuses, spelt as 16 lower-case hex digits.

A checksum is a one-level hash tree, 16 hex digits: the block's bytes are cut into chunks of
``DIGEST_CHUNK`` bytes (the last one shorter, none for an empty block), each chunk has an xxh3-64
*digest* (8 bytes, big-endian), and the block's checksum is xxh3-64 of the concatenated digests.
Why a tree: a reader of a few bytes fetches only the chunks that cover them plus the digest list;
the list is checked against the checksum the name node recorded and each chunk against its digest,
so every byte is still verified end to end (invariant 3) without moving the whole block.
Writers, the data nodes' verify-on-receive, the scrubber and the readers all use ``BlockHasher`` or
``checksum`` from here, so they cannot disagree.
"""
from __future__ import annotations

import base64
import json
import re

import xxhash

from .errors import IllegalArgument

_HEX16 = re.compile(r"[0-9a-f]{16}")

CHECKSUM_HEADER = "X-DFS-Checksum"
PIPELINE_HEADER = "X-DFS-Pipeline"
# Sent by a pipeline node to the next: "upstream" confirms this replica to the name node (the
# head of a pipeline confirms every copy it stored, in one call, once all of them answered).
CONFIRM_HEADER = "X-DFS-Confirm"
# On a ranged block GET: the hex of every chunk digest of the block, in order.
DIGESTS_HEADER = "X-DFS-Digests"
# On a block PUT, "1": every node of the pipeline fsyncs the block before it answers, whatever its
# DFS_SYNC (how a writer's fsync/hsync makes its last block durable without another round trip).
SYNC_HEADER = "X-DFS-Sync"
# On a block PUT to a pipeline's head: the writer's COMMIT of a file closed with this one block
# (base64url of ``{"path", "body", "grant"}``, or ``"user"`` in insecure mode), made by the name
# node when the head confirms the block; the PUT's answer carries its ``commit`` (or
# ``commitError``), and the writer sends no COMMIT of its own.
COMMIT_HEADER = "X-DFS-Commit"
MAX_COMMIT_HEADER = 6000  # bytes: under gunicorn's 8190-byte header limit, with room for the rest


def encode_commit(commit: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(commit, separators=(",", ":")).encode()).decode()


def decode_commit(header: str) -> dict[str, object]:
    """An ``X-DFS-Commit`` header's object; IllegalArgument if it is not one."""
    try:
        commit = json.loads(base64.urlsafe_b64decode(header.encode("ascii")))
    except (ValueError, UnicodeError):
        raise IllegalArgument(f"{COMMIT_HEADER} is not base64url JSON") from None
    if not isinstance(commit, dict):
        raise IllegalArgument(f"{COMMIT_HEADER} must hold a JSON object")
    return commit

# 64 KiB: a 4 KiB random read moves and hashes 64 KiB instead of a 4 MiB block, while a 4 MiB
# block's digest list (64 × 8 bytes, 1 KiB in hex) still fits in one HTTP header.
DIGEST_CHUNK = 64 * 1024
DIGEST_SIZE = 8  # bytes of one xxh3-64 digest


class BlockHasher:
    """The streaming form of ``checksum``: feed any pieces with ``update``, in order."""

    def __init__(self) -> None:
        self._digests = bytearray()
        self._chunk = xxhash.xxh3_64()
        self._filled = 0  # bytes in the current, unfinished chunk
        self.length = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.length += len(view)
        at = 0
        if self._filled:
            take = min(len(view), DIGEST_CHUNK - self._filled)
            self._chunk.update(view[:take])
            self._filled += take
            at = take
            if self._filled == DIGEST_CHUNK:
                self._digests += self._chunk.digest()
                self._chunk.reset()
                self._filled = 0
        while len(view) - at >= DIGEST_CHUNK:
            self._digests += xxhash.xxh3_64_digest(view[at:at + DIGEST_CHUNK])
            at += DIGEST_CHUNK
        if at < len(view):
            self._chunk.update(view[at:])
            self._filled += len(view) - at

    def chunk_digests(self) -> bytes:
        """The digests of every chunk so far (the last, partial chunk included), concatenated."""
        if self._filled:
            return bytes(self._digests) + self._chunk.digest()
        return bytes(self._digests)

    def hexdigest(self) -> str:
        return digests_checksum(self.chunk_digests())


def hasher() -> BlockHasher:
    return BlockHasher()


def checksum(data: bytes | bytearray | memoryview) -> str:
    """The checksum of a whole block held in memory."""
    return digests_checksum(chunk_digests(data))


def chunk_digests(data: bytes | bytearray | memoryview) -> bytes:
    view = memoryview(data).cast("B")
    return b"".join(xxhash.xxh3_64_digest(view[at:at + DIGEST_CHUNK])
                    for at in range(0, len(view), DIGEST_CHUNK))


def digests_checksum(digests: bytes | bytearray | memoryview) -> str:
    """The block checksum that a digest list stands for (the root of the tree)."""
    return xxhash.xxh3_64_hexdigest(digests)


def chunk_count(length: int) -> int:
    return -(-length // DIGEST_CHUNK)


def chunk_span(offset: int, length: int, block_length: int) -> tuple[int, int]:
    """``[start, stop)``: the chunk-aligned byte range of a block that covers ``length`` bytes at
    ``offset`` (clipped to the block), i.e. the least a verifying reader must fetch."""
    stop = min(block_length, offset + length)
    if offset >= stop:
        return offset, offset
    start = offset - offset % DIGEST_CHUNK
    return start, min(block_length, chunk_count(stop) * DIGEST_CHUNK)


def verify_span(data: bytes | bytearray | memoryview, start: int, digests: bytes) -> bool:
    """Whether ``data`` (the block's bytes from ``start``, a chunk boundary) matches ``digests``,
    the block's whole digest list. Each chunk in ``data`` must be whole, except the block's last."""
    if start % DIGEST_CHUNK:
        return False
    view = memoryview(data).cast("B")
    first = start // DIGEST_CHUNK
    for index, at in enumerate(range(0, len(view), DIGEST_CHUNK), first):
        wanted = digests[index * DIGEST_SIZE:(index + 1) * DIGEST_SIZE]
        if len(wanted) != DIGEST_SIZE or xxhash.xxh3_64_digest(view[at:at + DIGEST_CHUNK]) != wanted:
            return False
    return True


def parse_digests(text: str, length: int) -> bytes:
    """The digest list of a ``length``-byte block from its hex, else IllegalArgument."""
    try:
        raw = bytes.fromhex(text)
    except (TypeError, ValueError):
        raise IllegalArgument(f"Invalid digest list: {str(text)[:40]!r}") from None
    if len(raw) != chunk_count(length) * DIGEST_SIZE:
        raise IllegalArgument(f"Digest list of {len(raw)} bytes for a block of {length} bytes")
    return raw


def format_block_id(number: int) -> str:
    return f"{number:016x}"


def parse_block_id(text: str) -> str:
    """``text`` if it is a block id, else IllegalArgument (so no id can name a path)."""
    if not isinstance(text, str) or not _HEX16.fullmatch(text) or text == "0" * 16:
        raise IllegalArgument(f"Invalid block id: {str(text)[:40]!r}")
    return text


def parse_checksum(text: str) -> str:
    if not isinstance(text, str) or not _HEX16.fullmatch(text):
        raise IllegalArgument(f"Invalid checksum: {str(text)[:40]!r}")
    return text
