"""A cache of verified blocks and chunks, bounded in bytes, with the fetches in flight (read-ahead).

Blocks are immutable (invariant 2), so a block names the same bytes for ever: the cache never needs
invalidating, only bounding. Entries are keyed by the block id *and* its checksum, so even a block
id handed out again by a re-created cluster (``--mkfs``, a new LMDB) can never answer old bytes.

Two owners:

- a ``DFSFile`` of the Python API keeps one of its own (``CACHE_BYTES``), cleared at close: a FUSE
  read of 128 KiB out of a 4 MiB block costs one fetch, and read-ahead has somewhere to land;
- the FUSE mount shares one across every file it opens (``HttpNameNode.block_cache``, sized by
  ``-o cache_size``): the blocks this mount wrote or read stay for the next ``open`` of any file
  that uses them, so re-reading a file, or random 4 KiB reads of one that fits, cost no fetch.
  Close-to-open is untouched: every ``open`` still asks the name node for the file's current block
  list, and a changed file lists new block ids.

Random reads fetch only chunks (``blockio.read_range``); those are kept too, one entry per verified
64 KiB chunk, so neighbouring small reads cost one fetch.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Executor, Future
from typing import Any, Union

from dfs_common.blocks import DIGEST_CHUNK

Block = Union[bytes, bytearray]
Location = Mapping[str, Any]


def block_key(location: Location) -> tuple[str, str]:
    """What names a block's bytes: its id and its checksum (see the module docstring)."""
    return str(location.get("blockId")), str(location.get("checksum") or "")


def stored_length(location: Location) -> int:
    """The length of the block as stored (a file may use only a prefix of it: ``length``)."""
    return int(location.get("blockLength", location.get("length", 0)))


class BlockCache:
    """LRU of whole stored blocks and of ``(block, chunk index)`` → chunk bytes, bounded in bytes
    (``capacity``; one entry larger than that is still kept alone), plus the futures of whole-block
    fetches under way. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Block] = OrderedDict()
        self._pending: dict[Hashable, Future[Block]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held now (never above ``capacity`` once more than one entry is held)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, location: Location) -> Block | None:
        """The whole stored block, if cached."""
        key = block_key(location)
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def put(self, location: Location, data: Block) -> None:
        """Keep a whole stored block (which nobody may change afterwards); a prefix of one (what a
        truncated file reads) is not kept, as it cannot answer every file using the block."""
        if len(data) != stored_length(location):
            return
        with self._lock:
            self._keep(block_key(location), data)

    def get_span(self, location: Location, start: int, stop: int) -> bytes | None:
        """The bytes ``[start, stop)`` of a block (``start`` chunk-aligned) if every chunk they
        cover is cached, else None."""
        ident = block_key(location)
        with self._lock:
            chunks = []
            for index in range(start // DIGEST_CHUNK, -(-stop // DIGEST_CHUNK)):
                key = (*ident, index)
                chunk = self._entries.get(key)
                if chunk is None:
                    return None
                self._entries.move_to_end(key)
                chunks.append(chunk)
        if len(chunks) == 1:
            return bytes(chunks[0][:stop - start])
        return b"".join(chunks)[:stop - start]

    def put_span(self, location: Location, start: int, data: bytes) -> None:
        """Keep verified chunks: ``data`` is a block's stored bytes from ``start``, a chunk boundary."""
        ident = block_key(location)
        with self._lock:
            for at in range(0, len(data), DIGEST_CHUNK):
                self._keep((*ident, (start + at) // DIGEST_CHUNK), data[at:at + DIGEST_CHUNK])

    def _keep(self, key: Hashable, data: Block) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._entries[key] = data
        self._bytes += len(data)
        while self._bytes > self.capacity and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)

    def pending(self, location: Location) -> Future[Block] | None:
        with self._lock:
            return self._pending.get(block_key(location))

    def prefetch(self, executor: Executor, location: Location, fetch: Callable[[], Block]) -> None:
        """Start fetching a whole block in the background unless it is cached or already coming."""
        key = block_key(location)
        with self._lock:
            if key in self._entries or key in self._pending:
                return
            future: Future[Block] = Future()
            self._pending[key] = future
        try:
            executor.submit(self._run, location, future, fetch)
        except RuntimeError:  # the executor is shut down: the reader will fetch by itself
            with self._lock:
                self._pending.pop(key, None)
            future.cancel()

    def _run(self, location: Location, future: Future[Block], fetch: Callable[[], Block]) -> None:
        key = block_key(location)
        try:
            data = fetch()
        except BaseException as error:  # handed to whoever waits on the block
            with self._lock:
                self._pending.pop(key, None)
            future.set_exception(error)
            return
        self.put(location, data)
        with self._lock:
            self._pending.pop(key, None)
        future.set_result(data)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
