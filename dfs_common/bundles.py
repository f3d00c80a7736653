"""A bundle: several small blocks in one pipeline PUT (``PUT /bundle`` on a data node).

A small file's cost is its requests, not its bytes: one PUT per block, one confirmation per block
at the name node. A bundle carries up to ``MAX_BLOCKS`` whole blocks bound for the same pipeline in
one body, every node stores each as its own block (verified against its own checksum), and the
head confirms all of them, with the COMMIT each may carry, in one name-node call.

The body is a JSON manifest, a newline, then the blocks' bytes back to back in manifest order::

    {"blocks": [{"blockId": "…", "length": 65536, "checksum": "…", "access": "dfs.exp=…",
                 "commit": {"path": …, "body": …, "grant": …}}, …]}\\n<bytes of block 1><bytes of block 2>…

``access`` is the block's signed write query (for the pipeline the request's ``X-DFS-Pipeline``
names), ``commit`` what ``X-DFS-Commit`` would carry for a PUT of that block alone.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .blocks import checksum, parse_block_id, parse_checksum
from .errors import IllegalArgument

MAX_BLOCKS = 256
MAX_BYTES = 16 << 20  # of block bytes in one bundle: it is held in memory on every node
MAX_MANIFEST = 2 << 20


def encode(items: Sequence[tuple[dict[str, Any], bytes | bytearray | memoryview]]) -> bytes:
    """The body for ``items``: (manifest entry, the block's bytes). An entry's checksum is the
    block's, computed here when it has none: a node passing a bundle on keeps the writer's, so
    bytes damaged on the way fail at every node instead of being stored as if intact."""
    entries = [{**entry, "length": len(data), "checksum": entry.get("checksum") or checksum(data)}
               for entry, data in items]
    manifest = json.dumps({"blocks": entries}, separators=(",", ":")).encode()
    return b"".join([manifest, b"\n", *(bytes(data) for _, data in items)])


def decode(body: bytes) -> list[tuple[dict[str, Any], memoryview]]:
    """The (entry, bytes) of each block of a bundle body; IllegalArgument for anything malformed
    (the checksums are checked by whoever stores the bytes)."""
    end = body.find(b"\n", 0, MAX_MANIFEST)
    if end < 0:
        raise IllegalArgument("A bundle starts with its JSON manifest and a newline")
    try:
        manifest = json.loads(body[:end])
    except ValueError:
        raise IllegalArgument("A bundle's manifest is not JSON") from None
    entries = manifest.get("blocks") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not entries or len(entries) > MAX_BLOCKS \
            or not all(isinstance(entry, dict) for entry in entries):
        raise IllegalArgument(f'A bundle\'s manifest needs "blocks": 1 to {MAX_BLOCKS} objects')
    view = memoryview(body)[end + 1:]
    items, offset, seen = [], 0, set()
    for entry in entries:
        length = entry.get("length")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise IllegalArgument("Every block of a bundle needs a non-negative integer length")
        entry["blockId"] = parse_block_id(str(entry.get("blockId", "")))
        entry["checksum"] = parse_checksum(str(entry.get("checksum", "")).strip().lower())
        if entry["blockId"] in seen:
            raise IllegalArgument(f"Block {entry['blockId']} is twice in one bundle")
        seen.add(entry["blockId"])
        items.append((entry, view[offset:offset + length]))
        offset += length
    if offset != len(view) or offset > MAX_BYTES:
        raise IllegalArgument(f"A bundle's bytes ({len(view)}) must be the sum of its blocks' lengths "
                              f"({offset}), at most {MAX_BYTES}")
    return items
