"""Reading a file's bytes on a data node: local replicas first, peers otherwise.

WebHDFS OPEN is redirected to a node that holds the block at its offset (a replica chosen afresh
for each request, so every copy gets read), so most bytes are on this node's own root. A local
replica is read and verified against its checksum before a byte leaves; a bad or vanished one is
quarantined or forgotten and reported like the scrubber would, and the block is fetched from the
other replicas instead (``dfs_client``'s ``read_block``, which verifies, spreads and fails over).
A range that covers only part of a block reads and verifies just the 64 KiB chunks under it
(``read_range`` from a peer). Memory is bounded by one block.
"""
from __future__ import annotations

import hashlib
import logging
import struct
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dfs_common import crc
from dfs_common.blocks import checksum as block_checksum
from dfs_common.blocks import chunk_span, digests_checksum, verify_span
from dfs_common.errors import IllegalArgument, NotFound, Unavailable

from .roots import CHUNK, StorageRoot
from .scrubber import Scrubber

if TYPE_CHECKING:
    from dfs_client import HttpNameNode

log = logging.getLogger("dfs.data_node.reading")

# Hadoop's defaults for its MD5-of-MD5-of-CRC32 file checksum: one CRC32 per 512 bytes.
BYTES_PER_CRC = 512


class FileBlocks:
    """The block list of one file (from GETFILEBLOCKLOCATIONS) and a way to fetch each block."""

    def __init__(self, client: HttpNameNode, path: str, root: StorageRoot, scrubber: Scrubber) -> None:
        self.client = client
        self.root = root
        self.scrubber = scrubber
        answer = client.block_locations(path)
        located = answer.get("BlockLocations", answer) if isinstance(answer, dict) else None
        if not isinstance(located, dict):
            raise Unavailable(f"Name node gave no block locations for {path}")
        self.blocks: list[dict[str, Any]] = list(located.get("BlockLocation") or [])
        self.length = int(located.get("fileLength", sum(int(b.get("length", 0)) for b in self.blocks)))

    def stream(self, start: int, stop: int) -> Iterator[bytes]:
        """The bytes ``[start, stop)`` in chunks of at most 1 MiB."""
        for location in self.blocks:
            block_start = int(location.get("offset", 0))
            block_length = int(location.get("length", 0))
            low, high = max(start, block_start), min(stop, block_start + block_length)
            if low >= high:
                continue
            if not location.get("blockId"):
                yield from _zeros(high - low)
                continue
            if high - low == block_length:
                data = memoryview(self.fetch(location))
            else:  # part of a block: only the chunks that cover it are read and verified
                data = memoryview(self.fetch_part(location, low - block_start, high - low))
                block_start = low
            for at in range(low - block_start, high - block_start, CHUNK):
                yield bytes(data[at: min(at + CHUNK, high - block_start)])

    def fetch(self, location: dict[str, Any]) -> bytes:
        """One whole block, verified: the local replica if this node has a good one."""
        block_id = str(location.get("blockId"))
        expected = location.get("checksum")
        data = self._local(block_id, expected)
        length = int(location.get("length", 0))
        if data is not None and len(data) == int(location.get("blockLength", length)) > length:
            data = data[:length]  # a truncated file uses a prefix of the block (as read_block answers)
        if data is None:
            data = bytes(self.client.read_block(self._peers(location)))
        if len(data) != int(location.get("length", len(data))):
            raise Unavailable(f"Block {block_id} has {len(data)} bytes, the file expects "
                              f"{location.get('length')}")
        return data

    def fetch_part(self, location: dict[str, Any], offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of one block, fetching and verifying only the 64 KiB
        chunks that cover them: the local replica if this node has a good one."""
        block_id = str(location.get("blockId"))
        data = self._local(block_id, location.get("checksum"), offset, length)
        if data is None:
            data = bytes(self.client.read_range(self._peers(location), offset, length))
        if len(data) != length:
            raise Unavailable(f"Block {block_id} gave {len(data)} bytes at {offset}, expected {length}")
        return data

    def _local(self, block_id: str, expected: Any, offset: int = 0, length: int | None = None) -> bytes | None:
        """The local replica's bytes (all, or ``length`` at ``offset``) once verified: the whole
        block against its checksum, a part chunk by chunk against the digest list."""
        try:
            info = self.root.info(block_id)
        except IllegalArgument:
            return None
        if info is None or (expected and expected != info.checksum):
            return None
        try:
            file, _ = self.root.open(block_id)
            with file:
                if length is None:
                    data = file.read()
                    if len(data) == info.length and block_checksum(data) == info.checksum:
                        return data
                else:
                    digests = self.root.digests(block_id)
                    start, stop = chunk_span(offset, length, info.length)
                    file.seek(start)
                    span = file.read(stop - start)
                    if digests_checksum(digests) == info.checksum and verify_span(span, start, digests):
                        return span[offset - start:offset - start + length]
        except NotFound:  # the file vanished: the root forgot it, the name node must too
            self.scrubber.verify(block_id)
            return None
        log.warning("local replica of block %s is bad; reading a peer's", block_id)
        self.scrubber.verify(block_id)  # quarantines and reports it
        return None

    def _peers(self, location: dict[str, Any]) -> dict[str, Any]:
        """The location without this node: its own copy was just found absent or bad (and
        reported), so the client's failover spreads over the other replicas only."""
        own = self.root.node_id()
        return {**location, "dataNodes": [n for n in location.get("dataNodes") or [] if n.get("id") != own]}

    def composite_checksum(self) -> dict[str, Any]:
        """HDFS's ``COMPOSITE-CRC32C`` file checksum (``dfs.checksum.combine.mode=COMPOSITE_CRC``):
        the CRC32C of the file's bytes, 4 bytes big-endian, composed from each block's CRC32C and
        length (``dfs_common.crc``), so it does not depend on block sizes and matches an HDFS
        cluster's for the same bytes. Each block's CRC32C comes from the name node's record, kept
        when a data node received it (an erasure-coded group's: from its writer, of its logical
        bytes): no byte is read. Read and computed here only for blocks without one (written
        before it was kept) and blocks a truncated file uses a prefix of. Holes are composed
        from their length. An empty file answers what HDFS answers for one whatever the
        mode: its MD5MD5CRC form with no CRCs (``empty_checksum``)."""
        if self.length == 0:
            return empty_checksum()
        parts: list[tuple[int, int]] = []
        for location in self.blocks:
            length = int(location.get("length", 0))
            if not location.get("blockId"):
                parts.append((crc.zeros(length), length))
                continue
            stored = crc.parse_hex(location.get("crc32c"))
            whole = int(location.get("blockLength", length)) == length
            if stored is None or not whole:
                stored = crc.crc32c(self.fetch(location))
            parts.append((stored, length))
        return {"FileChecksum": {"algorithm": "COMPOSITE-CRC32C", "bytes": crc.to_hex(crc.compose(parts)),
                                 "length": 4}}

    def checksum(self) -> dict[str, Any]:
        """Hadoop's ``MD5-of-<n>MD5-of-512CRC32`` of the file, as WebHDFS answers it.

        Per block: MD5 over the big-endian CRC32s of each 512-byte chunk; the file: MD5 over the
        block MD5s. ``n`` (CRCs per block) is that of the first block when the file has more than
        one block, else 0, as HDFS computes it, so Hadoop's Java client accepts the answer. An
        empty file answers HDFS's fixed value for one (``empty_checksum``)."""
        if self.length == 0:
            return empty_checksum()
        block_md5s = hashlib.md5()
        crc_per_block = 0
        for index, location in enumerate(self.blocks):
            length = int(location.get("length", 0))
            crcs = hashlib.md5()
            if location.get("blockId"):
                data = memoryview(self.fetch(location))
                for at in range(0, length, BYTES_PER_CRC):
                    crcs.update(struct.pack(">I", zlib.crc32(data[at: at + BYTES_PER_CRC])))
            else:
                zero_crc = struct.pack(">I", zlib.crc32(bytes(BYTES_PER_CRC)))
                for at in range(0, length, BYTES_PER_CRC):
                    part = min(BYTES_PER_CRC, length - at)
                    crcs.update(zero_crc if part == BYTES_PER_CRC else struct.pack(">I", zlib.crc32(bytes(part))))
            block_md5s.update(crcs.digest())
            if index == 0 and len(self.blocks) > 1:
                crc_per_block = -(-length // BYTES_PER_CRC)
        raw = struct.pack(">iq", BYTES_PER_CRC, crc_per_block) + block_md5s.digest()
        return {"FileChecksum": {
            "algorithm": f"MD5-of-{crc_per_block}MD5-of-{BYTES_PER_CRC}CRC32",
            "bytes": raw.hex(),
            "length": len(raw),
        }}


def empty_checksum() -> dict[str, Any]:
    """What HDFS answers for an empty file in either combine mode (its ``FileChecksumHelper``
    keeps the value older versions gave): ``MD5-of-0MD5-of-0CRC32``, 0 bytes per CRC, 0 CRCs per
    block, and the MD5 of 32 zero bytes."""
    raw = struct.pack(">iq", 0, 0) + hashlib.md5(bytes(32)).digest()
    return {"FileChecksum": {"algorithm": "MD5-of-0MD5-of-0CRC32", "bytes": raw.hex(), "length": len(raw)}}


def _zeros(count: int) -> Iterator[bytes]:
    while count > 0:
        part = min(count, CHUNK)
        yield bytes(part)
        count -= part
