"""Erasure-coded block groups on the client: one group is encoded here into k + m fragments, each
PUT to its own data node; a read fetches any k fragments and decodes them.

A group's BlockLocation has ``ecPolicy`` and ``fragments`` ([{index, blockId, length, checksum,
dataNodes}]); its ``checksum`` is the xxhash of the group's logical bytes, checked after decoding.
Each fragment is an ordinary block (checksummed, verified by its node on receipt and by the reader),
so a corrupt or missing fragment is just one of the m a group can lose.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dfs_common import crc
from dfs_common.blocks import CHECKSUM_HEADER, PIPELINE_HEADER, SYNC_HEADER, checksum
from dfs_common.erasure import parse_policy
from dfs_common.errors import ChecksumMismatch, DFSError, IllegalArgument, NoSpace, NotFound, Unavailable

from . import blockio

if TYPE_CHECKING:
    from .namenode import HttpNameNode

log = logging.getLogger("dfs.client.striping")

# Fragment transfers at once in this process (each group's k + m go in parallel): a separate pool
# from the client's block pool, whose tasks (a file's block writes) wait on these.
FRAGMENT_THREADS = 32
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(FRAGMENT_THREADS, thread_name_prefix="dfs-fragments")
        return _pool


def write_group(nn: HttpNameNode, path: str, data: bytes | bytearray | memoryview, policy_name: str,
                exclude: set[str] | frozenset[str] = frozenset(), sync: bool = False) -> dict[str, Any]:
    """Store ``data`` as one new group of ``path``'s pending write; answers its location (ready
    for COMMIT). A failed fragment fails the attempt: the group is given up (its fragments deleted)
    and written again under fresh ids without the node that failed."""
    policy = parse_policy(policy_name)
    pieces = policy.encode(data)
    digests = [checksum(piece) for piece in pieces]
    failed: set[str] = set(exclude)
    last_error: DFSError | None = None
    for attempt in range(blockio.WRITE_ATTEMPTS):
        excluded = failed | nn.suspects.current()
        try:
            group = nn.add_block_group(path, policy.name, exclude=excluded, length=len(pieces[0]))
        except NoSpace:
            if excluded == failed:
                raise
            group = nn.add_block_group(path, policy.name, exclude=failed, length=len(pieces[0]))
        fragments = group["fragments"]
        futures = [_executor().submit(_put_fragment, nn, fragment, pieces[fragment["index"]],
                                      digests[fragment["index"]], sync) for fragment in fragments]
        errors: list[tuple[dict[str, Any], DFSError]] = []
        for fragment, future in zip(fragments, futures):
            try:
                future.result()
            except (IllegalArgument, NotFound):
                nn.abandon_blocks([group["blockId"]])
                raise
            except DFSError as error:
                errors.append((fragment, error))
        if not errors:
            # its CRC32C too: the name node keeps it for WebHDFS's COMPOSITE-CRC checksum, which
            # no data node can take (each sees a fragment)
            return {"blockId": group["blockId"], "length": len(data), "checksum": checksum(data),
                    "crc32c": crc.to_hex(crc.crc32c(data)), "ecPolicy": policy.name,
                    "fragments": [{"index": f["index"], "blockId": f["blockId"], "length": len(pieces[f["index"]]),
                                   "checksum": digests[f["index"]], "dataNodes": f["pipeline"][:1],
                                   **({"access": f["readAccess"]} if f.get("readAccess") else {})}
                                  for f in fragments]}
        nn.abandon_blocks([group["blockId"]])
        for fragment, failure in errors:
            node_id = str(fragment["pipeline"][0]["id"])
            failed.add(node_id)
            nn.suspects.add(node_id)
            last_error = failure
        log.warning("group write for %s failed (attempt %d/%d): %s; excluding %s", path, attempt + 1,
                    blockio.WRITE_ATTEMPTS, last_error, sorted(failed))
    assert last_error is not None
    raise last_error


def _put_fragment(nn: HttpNameNode, fragment: dict[str, Any], piece: bytes, digest: str, sync: bool) -> None:
    node = fragment["pipeline"][0]
    headers = {CHECKSUM_HEADER: digest, PIPELINE_HEADER: "", "Content-Type": "application/octet-stream"}
    if sync:
        headers[SYNC_HEADER] = "1"
    with nn.liveness.watch([str(node["id"])]) as cut:
        nn.transport.put_block(blockio.block_url(node, fragment["blockId"], fragment.get("access")), piece,
                               headers, cut=cut)


def is_group(location: dict[str, Any]) -> bool:
    return bool(location.get("fragments"))


def read_group(nn: HttpNameNode, location: dict[str, Any], path: str = "/") -> bytes:
    """The group's bytes the file uses (``length``), from the first k fragments that read intact:
    the data fragments first (no decoding needed), parity ones for those that fail."""
    policy = parse_policy(location["ecPolicy"])
    total = int(location.get("blockLength", location["length"]))
    fragments = sorted((f for f in location["fragments"] if f.get("dataNodes")), key=lambda f: f["index"])
    got: dict[int, bytes] = {}
    position = 0
    reasons: list[str] = []
    while len(got) < policy.k:
        batch = fragments[position:position + policy.k - len(got)]
        position += len(batch)
        if not batch:
            raise Unavailable(f"Only {len(got)} of the {policy.k} fragments of group {location['blockId']} "
                              f"of {path} could be read ({'; '.join(reasons) or 'no live holders'})")
        futures: list[tuple[dict[str, Any], Future[bytes]]] = [
            (f, _executor().submit(blockio.read_block, nn, {"blockId": f["blockId"], "length": f["length"],
                                                           "checksum": f["checksum"], "dataNodes": f["dataNodes"],
                                                           "access": f.get("access")},
                                   path)) for f in batch]
        for fragment, future in futures:
            try:
                got[fragment["index"]] = future.result()
            except DFSError as error:
                reasons.append(f"fragment {fragment['index']}: {error}")
    data = policy.decode(got, total)
    expected = location.get("checksum")
    if expected and checksum(data) != expected:
        raise ChecksumMismatch(f"Group {location['blockId']} of {path} decoded to bytes that do not "
                               "match its checksum")
    return data[:int(location["length"])]
