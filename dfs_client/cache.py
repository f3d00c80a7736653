"""A small per-file cache of verified blocks and chunks, with the fetches in flight (read-ahead).

Blocks are immutable (invariant 2), so a block id always names the same bytes: the cache never needs
invalidating, only bounding. It lets a FUSE mount's 128 KiB reads of a 4 MiB block cost one fetch,
and lets read-ahead fetch the next blocks while the caller consumes the current one. Random reads
fetch only chunks (``blockio.read_range``); those are kept too, one entry per verified chunk, so
neighbouring small reads in one chunk cost one fetch.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Union

from dfs_common.blocks import DIGEST_CHUNK

Block = Union[bytes, bytearray]


class BlockCache:
    """LRU of block id → bytes (and of ``(block id, chunk index)`` → a chunk's bytes), bounded in
    bytes, plus the futures of whole-block fetches under way."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._blocks: OrderedDict[str | tuple[str, int], Block] = OrderedDict()
        self._pending: dict[str, Future[Block]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, block_id: str) -> Block | None:
        with self._lock:
            data = self._blocks.get(block_id)
            if data is not None:
                self._blocks.move_to_end(block_id)
            return data

    def put(self, block_id: str, data: Block) -> None:
        """Keep ``data`` (which nobody may change afterwards) and evict the least recently used."""
        with self._lock:
            self._keep(block_id, data)

    def get_span(self, block_id: str, start: int, stop: int) -> bytes | None:
        """The bytes ``[start, stop)`` of a block (``start`` chunk-aligned) if every chunk they
        cover is cached, else None."""
        with self._lock:
            chunks = []
            for index in range(start // DIGEST_CHUNK, -(-stop // DIGEST_CHUNK)):
                chunk = self._blocks.get((block_id, index))
                if chunk is None:
                    return None
                self._blocks.move_to_end((block_id, index))
                chunks.append(chunk)
        return b"".join(chunks)[:stop - start]

    def put_span(self, block_id: str, start: int, data: bytes) -> None:
        """Keep verified chunks: ``data`` is a block's bytes from ``start``, a chunk boundary."""
        with self._lock:
            for at in range(0, len(data), DIGEST_CHUNK):
                self._keep((block_id, (start + at) // DIGEST_CHUNK), data[at:at + DIGEST_CHUNK])

    def _keep(self, key: str | tuple[str, int], data: Block) -> None:
        old = self._blocks.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._blocks[key] = data
        self._bytes += len(data)
        while self._bytes > self.capacity and len(self._blocks) > 1:
            _, evicted = self._blocks.popitem(last=False)
            self._bytes -= len(evicted)

    def pending(self, block_id: str) -> Future[Block] | None:
        with self._lock:
            return self._pending.get(block_id)

    def prefetch(self, executor: Executor, block_id: str, fetch: Callable[[], Block]) -> None:
        """Start fetching a block in the background unless it is cached or already coming."""
        with self._lock:
            if block_id in self._blocks or block_id in self._pending:
                return
            future: Future[Block] = Future()
            self._pending[block_id] = future
        try:
            executor.submit(self._run, block_id, future, fetch)
        except RuntimeError:  # the executor is shut down: the reader will fetch by itself
            with self._lock:
                self._pending.pop(block_id, None)
            future.cancel()

    def _run(self, block_id: str, future: Future[Block], fetch: Callable[[], Block]) -> None:
        try:
            data = fetch()
        except BaseException as error:  # handed to whoever waits on the block
            with self._lock:
                self._pending.pop(block_id, None)
            future.set_exception(error)
            return
        self.put(block_id, data)
        with self._lock:
            self._pending.pop(block_id, None)
        future.set_result(data)

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            self._bytes = 0
