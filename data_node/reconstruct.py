"""The name node's ``reconstruct`` command: rebuild one lost fragment of an erasure-coded group.

A fragment has a single copy, so when its node dies or the copy rots there is nothing to
replicate from; instead the node chosen to hold it again fetches k other fragments of the group
from their holders (each checked against its checksum), recomputes the lost one, checks it
against the checksum its writer gave, and PUTs it to itself: the ordinary block PUT, which
verifies, stores and confirms it to the name node like any received block.

Command: ``{"op": "reconstruct", "blockId", "index", "length", "checksum", "policy", "groupLength",
"sources": [{"blockId", "index", "length", "checksum", "url"}]}``.
"""
from __future__ import annotations

import logging
from typing import Any

from dfs_common.blocks import CHECKSUM_HEADER, PIPELINE_HEADER, checksum, parse_block_id
from dfs_common.erasure import parse_policy
from dfs_common.errors import ChecksumMismatch, DFSError, IllegalArgument, Unavailable

from .pipeline import Forwarder

log = logging.getLogger("dfs.data_node.reconstruct")


def reconstruct(command: dict[str, Any], forwarder: Forwarder, own_url: str) -> None:
    """Carry out one ``reconstruct`` command (raises on failure: the name node asks again)."""
    block_id = parse_block_id(str(command.get("blockId")))
    policy = parse_policy(str(command.get("policy")))
    index, length = int(command["index"]), int(command["length"])
    group_length = int(command["groupLength"])
    expected = str(command.get("checksum") or "")
    if not 0 <= index < policy.width:
        raise IllegalArgument(f"Fragment index {index} outside {policy.name}")
    got: dict[int, bytes] = {}
    reasons = []
    for source in command.get("sources") or []:
        if len(got) >= policy.k:
            break
        try:
            got[int(source["index"])] = _fetch(forwarder, source)
        except (DFSError, KeyError, ValueError) as error:
            reasons.append(f"fragment {source.get('index')}: {error}")
    if len(got) < policy.k:
        raise Unavailable(f"Only {len(got)} of {policy.k} fragments readable to rebuild {block_id}: "
                          + "; ".join(reasons))
    data = policy.rebuild(got, index, group_length)
    if len(data) != length or (expected and checksum(data) != expected):
        raise ChecksumMismatch(f"Rebuilt fragment {block_id} does not match its recorded length and checksum")
    headers = {CHECKSUM_HEADER: checksum(data), PIPELINE_HEADER: "", "Content-Type": "application/octet-stream"}
    forwarder.put(own_url, block_id, data, headers, len(data))
    log.info("rebuilt fragment %s (%d of %s) from fragments %s", block_id, index, policy.name, sorted(got))


def _fetch(forwarder: Forwarder, source: dict[str, Any]) -> bytes:
    block_id = parse_block_id(str(source["blockId"]))
    response = forwarder.transport.request("GET", f"{str(source['url']).rstrip('/')}/blocks/{block_id}")
    data = response.content
    if len(data) != int(source["length"]) or checksum(data) != source.get("checksum"):
        raise ChecksumMismatch(f"Fragment {block_id} from {source['url']} failed its checksum")
    return data
