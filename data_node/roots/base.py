"""The storage-root interface: the few things a data node needs from wherever blocks live.

Kept small and backend-neutral so a local directory, a Lustre directory and an S3 prefix can all
stand behind it. A root speaks block ids (already validated) and byte streams, never paths, so no
request can name a location outside it. Errors are ``dfs_common.errors`` classes.
"""
from __future__ import annotations

import abc
import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from dfs_common.blocks import hasher, parse_block_id
from dfs_common.errors import NotFound

# 1 MiB: large enough that per-read overhead vanishes, small enough that many concurrent writes
# keep memory bounded.
CHUNK = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class BlockInfo:
    """One stored replica: id, length in bytes, checksum (``dfs_common.blocks.checksum``)."""

    block_id: str
    length: int
    checksum: str

    def as_json(self) -> dict[str, object]:
        return {"blockId": self.block_id, "length": self.length, "checksum": self.checksum}


@dataclass(frozen=True)
class Usage:
    """Bytes of the backing store (``capacity``, ``remaining``) and of our blocks (``used``)."""

    capacity: int
    used: int
    remaining: int


def capped(usage: Usage, capacity: int) -> Usage:
    """``usage`` as a node offering at most ``capacity`` bytes (``DFS_CAPACITY``; 0: its whole disk)."""
    if capacity <= 0:
        return usage
    return Usage(capacity=min(usage.capacity or capacity, capacity), used=usage.used,
                 remaining=max(0, min(usage.remaining, capacity - usage.used)))


class StorageRoot(abc.ABC):
    """Where one data node keeps its blocks. Every method is safe to call from many threads."""

    url: str
    kind: str = "local"  # what heartbeats and /status call it: local, lustre, s3

    @abc.abstractmethod
    def node_id(self) -> str:
        """This node's id, created on first use and kept with the blocks, so a restarted node
        (or a node whose disk moved to another host) is recognised by the name node."""

    @abc.abstractmethod
    def store(self, block_id: str, source: Readable, max_length: int,
              expected_checksum: str | None, sync: bool = True) -> BlockInfo:
        """Read ``source`` to its end, verifying the checksum while streaming; make the block
        visible only once it is verified (and, with ``sync``, on disk: without it the block is in
        the page cache, which survives a crash of this process but not a power loss, until
        ``sync``). On any failure nothing is kept:
        ChecksumMismatch (400), TooLarge (413, over ``max_length``), NoSpace (507)."""

    def sync(self, block_ids: list[str]) -> int:
        """Make these stored blocks durable (fsync of the data, its checksum and its directory
        entry); answers how many of them are stored here. A root whose ``store`` is always
        durable (an object store) has nothing to do."""
        return sum(1 for block_id in block_ids if self.exists(block_id))

    @abc.abstractmethod
    def open(self, block_id: str) -> tuple[BinaryIO, int]:
        """A readable file object at offset 0 and the block's length; NotFound if absent.
        Local roots return a real file so the server can ``sendfile`` it."""

    def digests(self, block_id: str) -> bytes:
        """The block's chunk digests (``dfs_common.blocks``), concatenated; NotFound if absent.
        This default re-hashes the bytes; a backend that records the digests at ``store`` time
        answers from that record, so a ranged read does not cost a read of the whole block."""
        file, _ = self.open(block_id)
        digest = hasher()
        with file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
        return digest.chunk_digests()

    @abc.abstractmethod
    def info(self, block_id: str) -> BlockInfo | None:
        """The recorded length and checksum, without touching the bytes."""

    def held(self, block_id: str) -> tuple[str, BlockInfo]:
        """``block_id`` parsed and what this root records of it; NotFound if it holds no such block."""
        block_id = parse_block_id(block_id)
        info = self.info(block_id)
        if info is None:
            raise NotFound(f"Block {block_id} not found")
        return block_id, info

    @abc.abstractmethod
    def delete(self, block_id: str) -> bool:
        """Remove a replica; False if it was not there."""

    @abc.abstractmethod
    def quarantine(self, block_id: str, reason: str) -> bool:
        """Move a corrupt replica aside so it is never served again, keeping it for inspection."""

    @abc.abstractmethod
    def list(self) -> Iterator[BlockInfo]:
        """Every stored replica (a snapshot; blocks may come and go meanwhile), least recently
        verified first where the backend keeps that order (see ``mark_verified``)."""

    def mark_verified(self, block_id: str) -> None:
        """The block's bytes were just checked: ``list`` puts it last, so a scrubber walking
        ``list`` in order always checks the block that went longest unchecked (a new block
        counts as checked when stored: it was verified on receipt)."""

    def audit(self) -> builtins.list[str]:
        """Forget every replica whose bytes are no longer where the root keeps them (a file
        deleted or cut short behind our back), so a block report lists only what is really
        there; answers the ids dropped. A backend that cannot lose bytes behind its own back
        keeps this default."""
        return []

    @abc.abstractmethod
    def usage(self) -> Usage: ...

    def check_health(self) -> bool:
        """Whether the root can take and serve blocks right now (asked before every heartbeat,
        so it must answer within a second or two). An unhealthy node keeps heartbeating but the
        name node places no block on it and sends readers elsewhere, until it is healthy again."""
        return True

    def exists(self, block_id: str) -> bool:
        return self.info(block_id) is not None

    def count(self) -> int:
        return sum(1 for _ in self.list())

    def close(self) -> None:
        """Release resources; the root stays valid on disk."""
