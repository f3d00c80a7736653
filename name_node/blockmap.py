"""The block map: which blocks exist, who owns them, which data nodes confirmed holding them.

A block is born pending (ADDBLOCK), becomes confirmed when a data node reports it
(``block_received``), and becomes part of a file only through COMMIT. A block no file refers to is
dropped in the same transaction that stopped referring to it: its record goes, and each replica
goes to the deletion queue that heartbeat answers deliver.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dfs_common import crc
from dfs_common.blocks import format_block_id, parse_block_id, parse_checksum
from dfs_common.errors import IllegalArgument, TooLarge

from . import groups
from .store import BlockRecord, Txn, node_key, node_prefix, pack_u64, split_node_key, unpack_u64

PENDING_LIFETIME_NS = 3600 * 10**9  # an ADDBLOCK'd block never committed for an hour is garbage


def allocate(txn: Txn, now_ns: int, scramble: Callable[[int], int] | None = None) -> int:
    """A fresh, never reused block number, recorded as pending. ``scramble`` (a keyed
    permutation: distinct counts stay distinct) makes it unguessable; 0 is the hole of a sparse
    file, and a number taken by a block numbered before the secret was set is skipped too."""
    number = 0
    while number == 0 or txn.block(number) is not None:
        count = txn.bump("next_block")
        number = scramble(count) if scramble is not None else count
    txn.put_block(number, BlockRecord(pending_since=now_ns))
    txn.put("pending", pack_u64(now_ns) + pack_u64(number))
    return number


def renew(txn: Txn, numbers: Iterable[int], now_ns: int) -> int:
    """Restart the lifetime of pending blocks a live writer still holds (its shipped blocks wait
    for a COMMIT that may come hours later); committed or unknown ones are left alone."""
    renewed = 0
    numbers = list(numbers)
    if groups.any_groups(txn):  # a group's fragments live as long as the group
        numbers += [f for n in list(numbers) if (found := groups.group(txn, n)) for f in found[1]]
    for number in numbers:
        record = txn.block(number)
        if record is None or record.owner:
            continue
        txn.delete("pending", pack_u64(record.pending_since) + pack_u64(number))
        record.pending_since = now_ns
        txn.put("pending", pack_u64(now_ns) + pack_u64(number))
        txn.put_block(number, record)
        renewed += 1
    return renewed


def abandon(txn: Txn, numbers: Iterable[int]) -> int:
    """Drop pending blocks their writer will never commit (a failed or superseded write), so
    their space comes back now rather than when they expire; committed ones are left alone."""
    return drop_blocks(txn, [n for n in numbers if (record := txn.block(n)) is not None and not record.owner])


def drop_blocks(txn: Txn, numbers: Iterable[int]) -> int:
    """Forget blocks no file refers to any more and queue their replicas for deletion; a block
    a snapshot holds stays, owner and replicas unchanged (``snapshots.delete`` collects it)."""
    dropped = 0
    queue = list(numbers)
    coded = groups.any_groups(txn)
    held = txn.entries("held") > 0
    while queue:
        number = queue.pop()
        if not number:
            continue
        if held and txn.get("held", pack_u64(number)) is not None:
            continue  # a snapshot still holds it: collected when the last such snapshot goes
        record = txn.block(number)
        if record is None:
            continue
        if coded:
            queue.extend(groups.forget(txn, number))  # a group goes with its fragments
        for node in record.replicas:
            key = node_key(node, number)
            txn.delete("replicas", key)
            txn.put("deletions", key)
        if not record.owner:
            txn.delete("pending", pack_u64(record.pending_since) + pack_u64(number))
        txn.delete_block(number)
        dropped += 1
    return dropped


def parse_extents(entries: Any, max_block_size: int,
                  max_file_size: int) -> list[tuple[str | None, int, str | None]]:
    """Validate COMMIT's ``blocks`` list: [(block id or None, length, checksum or None)]; the
    lengths, holes included, add up to at most ``max_file_size`` (``DFS_MAX_FILE_SIZE``)."""
    if not isinstance(entries, list):
        raise IllegalArgument('COMMIT body needs "blocks": a list')
    parsed: list[tuple[str | None, int, str | None]] = []
    total = 0
    for entry in entries:
        if not isinstance(entry, dict):
            raise IllegalArgument("Each COMMIT block must be an object")
        length = entry.get("length")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise IllegalArgument(f"Invalid block length: {str(length)[:40]!r}")
        total += length
        if total > max_file_size:
            raise IllegalArgument(f"COMMIT: the file would be longer than the maximum file size "
                                  f"({max_file_size} bytes, DFS_MAX_FILE_SIZE)")
        block_id = entry.get("blockId")
        checksum = entry.get("checksum")
        if block_id is None:
            parsed.append((None, length, None))
            continue
        if length > max_block_size:
            raise TooLarge(f"Block {str(block_id)[:20]} longer than the maximum block size")
        parsed.append((parse_block_id(block_id), length,
                       None if checksum is None else parse_checksum(checksum)))
    return parsed


def parse_crcs(entries: Any) -> dict[str, int]:
    """The ``crc32c`` (``dfs_common.crc.to_hex``) COMMIT entries carry, by block id: a writer's
    CRC32C of an erasure-coded group's logical bytes, which no data node sees whole. Garbled
    ones are left out (the group's WebHDFS COMPOSITE-CRC is then computed from its bytes)."""
    found: dict[str, int] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("blockId"), str):
            value = crc.parse_hex(entry.get("crc32c"))
            if value is not None:
                found[entry["blockId"]] = value
    return found


def swap_extents(txn: Txn, ino: int, entries: list[tuple[str | None, int, str | None]],
                 crcs: dict[str, int] | None = None) -> tuple[list[tuple[int, int]], int, list[int]]:
    """Replace a file's block list, the heart of COMMIT. Answers (extents, size, adopted blocks).

    Each id must already belong to this file (a prefix of it may be kept, as truncate does) or be
    a pending block a data node confirmed with the same length and checksum; anything else is 400.
    ``crcs`` (``parse_crcs``) is used only for erasure-coded groups joining the file: a replicated
    block's CRC32C is the one its data node confirmed.
    """
    old = txn.extents(ino)
    old_numbers = {number for number, _ in old if number}
    extents: list[tuple[int, int]] = []
    adopted: list[int] = []
    seen: set[int] = set()
    size = 0
    for block_id, length, checksum in entries:
        size += length
        if block_id is None:
            if length:
                if extents and extents[-1][0] == 0:
                    extents[-1] = (0, extents[-1][1] + length)
                else:
                    extents.append((0, length))
            continue
        number = int(block_id, 16)
        if number in seen:
            raise IllegalArgument(f"Block {block_id} listed twice")
        seen.add(number)
        record = txn.block(number)
        if record is None:
            raise IllegalArgument(f"Unknown block {block_id}")
        if record.owner == ino:
            if length > record.length or (checksum is not None and checksum != record.checksum):
                raise IllegalArgument(f"Block {block_id} does not match its recorded length and checksum")
        elif record.owner:
            raise IllegalArgument(f"Block {block_id} belongs to another file")
        elif (group := groups.group(txn, number) if groups.any_groups(txn) else None) is not None:
            _adopt_group(txn, ino, number, record, group[1], length, checksum, (crcs or {}).get(block_id))
        else:
            if not record.replicas:
                raise IllegalArgument(f"Block {block_id} has not been confirmed by any data node")
            if length != record.length or checksum != record.checksum:
                raise IllegalArgument(f"Block {block_id} does not match the length and checksum "
                                      f"its data nodes confirmed")
            txn.delete("pending", pack_u64(record.pending_since) + pack_u64(number))
            record.owner, record.pending_since = ino, 0
            txn.put_block(number, record)
            adopted.append(number)
        extents.append((number, length))
    drop_blocks(txn, old_numbers - seen)
    txn.put_extents(ino, extents)
    return extents, size, adopted


def _adopt_group(txn: Txn, ino: int, number: int, record: BlockRecord, fragments: list[int],
                 length: int, checksum: str | None, crc32c: int | None = None) -> None:
    """A pending erasure-coded group joins a file: every fragment must have been confirmed by its
    data node (invariant 4); the group's length and checksum are those of its logical bytes, as
    its writer encoded them (readers check them after decoding)."""
    if checksum is None:
        raise IllegalArgument(f"Group {format_block_id(number)} needs the checksum of its bytes")
    for fragment_number in fragments:
        fragment = txn.block(fragment_number)
        if fragment is None or not fragment.replicas:
            raise IllegalArgument(f"Fragment {format_block_id(fragment_number)} of group "
                                  f"{format_block_id(number)} has not been confirmed by its data node")
        txn.delete("pending", pack_u64(fragment.pending_since) + pack_u64(fragment_number))
        fragment.owner, fragment.pending_since = ino, 0
        txn.put_block(fragment_number, fragment)
    txn.delete("pending", pack_u64(record.pending_since) + pack_u64(number))
    record.owner, record.pending_since, record.length, record.checksum = ino, 0, length, checksum
    record.crc32c = -1 if crc32c is None else crc32c
    txn.put_block(number, record)


def receive(txn: Txn, node: str, block_id: Any, length: Any, checksum: Any, crc32c: Any = None) -> int | None:
    """Record that ``node`` holds a block; None when the block is unknown or does not match.
    ``crc32c`` (``dfs_common.crc.to_hex``), the CRC32C the data node took of the bytes it
    received, is kept with the block if it has none yet (a garbled one is ignored)."""
    return _receive(txn, node, block_id, length, checksum, crc32c)[0]


def _receive(txn: Txn, node: str, block_id: Any, length: Any, checksum: Any,
             crc32c: Any = None) -> tuple[int | None, bool]:
    """``receive``, also saying whether the replica is new to the block map."""
    try:
        number = int(parse_block_id(block_id), 16)
        checksum = parse_checksum(checksum)
    except IllegalArgument:
        return None, False
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        return None, False
    record = txn.block(number)
    if record is None:
        return None, False
    if record.length < 0:
        record.length, record.checksum = length, checksum
    elif (record.length, record.checksum) != (length, checksum):
        return None, False
    value = crc.parse_hex(crc32c)
    if value is not None and record.crc32c < 0:
        record.crc32c = value
    added = node not in record.replicas
    if added:
        record.replicas.append(node)
        txn.put("replicas", node_key(node, number))
    # a deletion still queued from an earlier, bad or trimmed copy must not remove this good one
    txn.delete("deletions", node_key(node, number))
    txn.put_block(number, record)
    return number, added


def remove_replica(txn: Txn, node: str, number: int, *, delete_on_node: bool) -> BlockRecord | None:
    """Forget one replica. ``delete_on_node`` queues its deletion there: for trimmed copies, not
    for ones the node already lost, quarantined or dropped (a queued deletion would outlive them
    and remove a good copy re-replicated to the same node)."""
    record = txn.block(number)
    txn.delete("replicas", node_key(node, number))
    if delete_on_node:
        txn.put("deletions", node_key(node, number))
    if record is None or node not in record.replicas:
        return record
    record.replicas.remove(node)
    txn.put_block(number, record)
    return record


def reconcile(txn: Txn, node: str, reported: list[Any]) -> tuple[list[str], list[int], list[int]]:
    """A full block report: answers (ids the node should delete, blocks whose replica was lost,
    blocks that gained this replica); both of the latter changed their replica count."""
    held: dict[int, tuple[int, str]] = {}
    delete: list[str] = []
    gained: list[int] = []
    for item in reported:
        if not isinstance(item, list) or len(item) != 3:
            raise IllegalArgument("Each reported block must be [blockId, length, checksum]")
        block_id, length, checksum = item
        number, added = _receive(txn, node, block_id, length, checksum)
        if added:
            gained.append(number)  # type: ignore[arg-type]
        if number is None:
            if isinstance(block_id, str):
                try:
                    delete.append(parse_block_id(block_id))
                except IllegalArgument:
                    pass
            continue
        held[number] = (length, checksum)
    lost: list[int] = []
    prefix = node_prefix(node)
    stale = [key for key, _ in txn.scan("replicas", prefix) if split_node_key(key)[1] not in held]
    for key in stale:
        number = split_node_key(key)[1]
        record = txn.block(number)
        txn.delete("replicas", key)
        if record is not None and node in record.replicas:
            record.replicas.remove(node)
            txn.put_block(number, record)
            lost.append(number)
    return delete, lost, gained


def take_deletions(txn: Txn, node: str, limit: int = 1000) -> list[str]:
    """Pop up to ``limit`` queued deletions for a node (a lost answer is caught by block reports)."""
    keys = []
    for key, _ in txn.scan("deletions", node_prefix(node)):
        keys.append(key)
        if len(keys) >= limit:
            break
    for key in keys:
        txn.delete("deletions", key)
    return [format_block_id(split_node_key(key)[1]) for key in keys]


def expire_pending(txn: Txn, now_ns: int, limit: int = 10000) -> int:
    """Drop pending blocks older than an hour (writers that died before COMMIT)."""
    cutoff = now_ns - PENDING_LIFETIME_NS
    numbers: list[int] = []
    for key, _ in txn.scan("pending"):
        if unpack_u64(key[:8]) > cutoff or len(numbers) >= limit:
            break
        numbers.append(unpack_u64(key[8:]))
    return drop_blocks(txn, numbers)
