"""Block ids and checksums, shared by the name node, the data nodes and the clients.

A block id is a 64-bit counter the name node never reuses, spelt as 16 lower-case hex digits.
A checksum is xxh3-64 of the block's bytes, also 16 hex digits.
"""
from __future__ import annotations

import re

import xxhash

from .errors import IllegalArgument

_HEX16 = re.compile(r"[0-9a-f]{16}")

CHECKSUM_HEADER = "X-DFS-Checksum"
PIPELINE_HEADER = "X-DFS-Pipeline"


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


def hasher() -> "xxhash.xxh3_64":
    return xxhash.xxh3_64()


def checksum(data: bytes | memoryview) -> str:
    return xxhash.xxh3_64_hexdigest(data)
