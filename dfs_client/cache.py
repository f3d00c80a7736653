"""A small per-file cache of verified blocks, with the fetches in flight (read-ahead).

Blocks are immutable (invariant 2), so a block id always names the same bytes: the cache never needs
invalidating, only bounding. It lets a FUSE mount's 128 KiB reads of a 4 MiB block cost one fetch,
and lets read-ahead fetch the next blocks while the caller consumes the current one.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Union

Block = Union[bytes, bytearray]


class BlockCache:
    """LRU of block id → bytes, bounded in bytes, plus the futures of fetches under way."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._blocks: OrderedDict[str, Block] = OrderedDict()
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
            old = self._blocks.pop(block_id, None)
            if old is not None:
                self._bytes -= len(old)
            self._blocks[block_id] = data
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
