"""Test data that is cheap to make, reproducible, and checkable without keeping it in memory.

``Pattern`` yields a stream of pseudo-random chunks (one random buffer, each chunk starting at a
different rotation of it: 1 GiB costs one 64 MiB ``randbytes`` and memory copies). ``Pattern.digest``
gives the xxh3-128 of the whole stream so a read-back is compared by hash, chunk by chunk.

``describe``/``check_described`` make *self-describing* contents: a header naming the file's
identity, length and checksum, so a file found after a crash can be judged whole or torn on its own.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any, BinaryIO

import xxhash

MiB = 1024 * 1024


class Pattern:
    """``total`` bytes in chunks of ``chunk``: rotations of one ``pool``-byte random buffer."""

    def __init__(self, total: int, chunk: int = 8 * MiB, seed: int = 1, pool: int = 64 * MiB) -> None:
        self.total, self.chunk = total, chunk
        pool = min(pool, max(total, 1))
        base = random.Random(seed).randbytes(pool)
        self._double = memoryview(base + base)
        self._pool = pool
        self._seed = seed

    def chunks(self) -> Iterator[memoryview]:
        done, index = 0, 0
        while done < self.total:
            size = min(self.chunk, self.total - done)
            start = (index * 1_000_003 + self._seed * 7919) % self._pool
            piece = self._double[start:start + size]
            if len(piece) < size:  # chunk larger than the pool: repeat the pool
                piece = memoryview((bytes(piece) * (size // max(len(piece), 1) + 1))[:size])
            yield piece
            done += size
            index += 1

    def digest(self) -> str:
        hasher = xxhash.xxh3_128()
        for piece in self.chunks():
            hasher.update(piece)
        return hasher.hexdigest()

    def bytes(self) -> bytes:
        return b"".join(bytes(piece) for piece in self.chunks())

    def write_to(self, file: BinaryIO) -> int:
        written = 0
        for piece in self.chunks():
            written += file.write(piece) or 0
        return written


def stream_digest(file: BinaryIO, chunk: int = 8 * MiB) -> tuple[str, int]:
    """xxh3-128 and length of everything ``file`` reads from its position to EOF."""
    hasher = xxhash.xxh3_128()
    total = 0
    while True:
        piece = file.read(chunk)
        if not piece:
            return hasher.hexdigest(), total
        hasher.update(piece)
        total += len(piece)


def describe(identity: str, length: int, seed: int) -> bytes:
    """Contents that say who they are: ``{"id","len","xxh"}\\n`` then ``length`` body bytes."""
    body = random.Random(seed).randbytes(length)
    header = json.dumps({"id": identity, "len": length, "xxh": xxhash.xxh3_64_hexdigest(body)})
    return header.encode() + b"\n" + body


def check_described(data: bytes) -> dict[str, Any]:
    """The header of self-describing contents; AssertionError if they are torn or altered."""
    head, sep, body = data.partition(b"\n")
    assert sep, f"no header line in {len(data)} bytes: {data[:80]!r}"
    header = json.loads(head)
    assert len(body) == header["len"], f"{header['id']}: body {len(body)} bytes, header says {header['len']}"
    assert xxhash.xxh3_64_hexdigest(body) == header["xxh"], f"{header['id']}: body checksum differs"
    return dict(header)
