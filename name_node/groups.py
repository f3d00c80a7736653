"""Erasure-coded block groups in the block map: a group is one extent of a file whose bytes are
k + m fragment blocks, each an ordinary block with one replica on its own data node.

``groups``: group number → (policy name, fragment numbers in index order); ``fragments``: fragment
number → (group number, index). The group has a ``BlockRecord`` of its own (owner, pending time,
the length and xxhash of the group's logical bytes, no replicas); its fragments carry the replicas.
Every function runs inside the caller's transaction; ``blockmap`` calls them so that allocating,
renewing, adopting and dropping a group always covers its fragments.
"""
from __future__ import annotations

import marshal

from .store import Txn, pack_u64


def put_group(txn: Txn, group: int, policy: str, fragments: list[int]) -> None:
    txn.put("groups", pack_u64(group), marshal.dumps((policy, fragments)))
    for index, number in enumerate(fragments):
        txn.put("fragments", pack_u64(number), marshal.dumps((group, index)))


def group(txn: Txn, number: int) -> tuple[str, list[int]] | None:
    """(policy name, fragment numbers) if ``number`` is a group."""
    data = txn.txn.get(pack_u64(number), db=txn.db["groups"])
    if data is None:
        return None
    policy, fragments = marshal.loads(data)
    return policy, list(fragments)


def fragment(txn: Txn, number: int) -> tuple[int, int] | None:
    """(group number, index) if ``number`` is a fragment."""
    data = txn.txn.get(pack_u64(number), db=txn.db["fragments"])
    return None if data is None else tuple(marshal.loads(data))


def forget(txn: Txn, number: int) -> list[int]:
    """Drop the group rows of ``number``; answers its fragments if it was a group."""
    found = group(txn, number)
    txn.delete("groups", pack_u64(number))
    txn.delete("fragments", pack_u64(number))
    if found is None:
        return []
    for fragment_number in found[1]:
        txn.delete("fragments", pack_u64(fragment_number))
    return found[1]


def any_groups(txn: Txn) -> bool:
    return bool(txn.entries("groups"))
