"""Reed-Solomon erasure coding of one block group (``zfec``): k data fragments plus m parity.

A block group is one logical block of a file (at most the block size). It is cut into k equal
fragments (the last one zero-padded) and m parity fragments are computed; any k of the k+m
rebuild the group. Each fragment is then stored as an ordinary immutable, checksummed block on its
own data node, so pipelines, checksums, the scrubber and block reports treat fragments like any
block. The code is systematic: fragments 0..k-1 are the group's bytes themselves, so a read with
every data fragment at hand needs no decoding.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import zfec

from .errors import IllegalArgument

MAX_FRAGMENTS = 32  # k + m: placement never gives more distinct nodes than 32
_NAME = re.compile(r"RS-(\d{1,2})-(\d{1,2})(?:-(\d+)k)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Policy:
    """RS(k, m): ``k`` data fragments, ``m`` parity fragments; survives the loss of any m."""

    k: int
    m: int

    @property
    def name(self) -> str:
        return f"RS-{self.k}-{self.m}"

    @property
    def width(self) -> int:
        return self.k + self.m

    def fragment_length(self, length: int) -> int:
        """Bytes of each fragment of a group of ``length`` bytes."""
        return max(1, -(-length // self.k))

    def encode(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The k + m fragments of one group (fragments 0..k-1 hold ``data``, zero-padded)."""
        size = self.fragment_length(len(data))
        raw = bytes(data).ljust(size * self.k, b"\0")
        pieces = [raw[i * size:(i + 1) * size] for i in range(self.k)]
        if not self.m:
            return pieces
        return pieces + list(_encoder(self.k, self.width).encode(pieces, list(range(self.k, self.width))))

    def decode(self, fragments: dict[int, bytes], length: int) -> bytes:
        """The group's ``length`` bytes from any k fragments (index → bytes)."""
        if len(fragments) < self.k:
            raise IllegalArgument(f"{self.name} needs {self.k} fragments, not {len(fragments)}")
        if all(i in fragments for i in range(self.k)):
            return b"".join(fragments[i] for i in range(self.k))[:length]
        indexes = sorted(fragments)[:self.k]
        data = _decoder(self.k, self.width).decode([fragments[i] for i in indexes], indexes)
        return b"".join(data)[:length]

    def rebuild(self, fragments: dict[int, bytes], index: int, length: int) -> bytes:
        """Fragment ``index`` of a group of ``length`` bytes, recomputed from any k others."""
        return self.encode(self.decode(fragments, length))[index]


def parse_policy(name: str) -> Policy:
    """``RS-3-2`` or HDFS's ``RS-3-2-1024k`` (the cell size is accepted and ignored: a fragment
    is a contiguous k-th of the group, not cells striped round-robin)."""
    match = _NAME.fullmatch(name.strip()) if isinstance(name, str) else None
    if match is None:
        raise IllegalArgument(f"Unknown erasure coding policy {str(name)[:40]!r} (RS-K-M, e.g. RS-3-2, RS-6-3)")
    k, m = int(match.group(1)), int(match.group(2))
    if k < 1 or m < 0 or k + m > MAX_FRAGMENTS or k + m < 2:
        raise IllegalArgument(f"Erasure coding policy {name!r}: need 1 <= k, 0 <= m, 2 <= k + m <= {MAX_FRAGMENTS}")
    return Policy(k, m)


@lru_cache(maxsize=64)
def _encoder(k: int, n: int) -> zfec.Encoder:
    return zfec.Encoder(k, n)


@lru_cache(maxsize=64)
def _decoder(k: int, n: int) -> zfec.Decoder:
    return zfec.Decoder(k, n)
