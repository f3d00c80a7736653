"""Erasure coding policies: per directory (HDFS's SETERASURECODINGPOLICY), fixed per file at its
creation, and the block groups written under them.

A directory's policy (``ecpolicy`` table, inode → name such as ``RS-3-2``) applies to every file
created below it afterwards; a file keeps the policy it was created with (its own row), as in
HDFS, so existing files are never re-coded behind their readers' backs. Writers learn the policy
from the COMMIT check at open (or the block locations of an existing file), then ask ADDBLOCK for
a whole group: k + m fresh fragment blocks placed on k + m distinct data nodes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dfs_common.blocks import format_block_id
from dfs_common.erasure import Policy, parse_policy
from dfs_common.errors import DFSError, IllegalArgument, NoSpace

from . import blockmap, groups, namespace
from .permissions import WRITE, Caller, check
from .store import ROOT_INO, Txn, pack_u64

XATTR_NAME = "system.erasurecoding.policy"  # how GETXATTRS would name it, were it shown


def policy_of(txn: Txn, ino: int) -> str | None:
    data = txn.txn.get(pack_u64(ino), db=txn.db["ecpolicy"])
    return None if data is None else data.decode()


def effective(txn: Txn, dir_ino: int) -> str | None:
    """The policy a file created in directory ``dir_ino`` gets: the nearest one set on it or an
    ancestor. One table stat when no directory has a policy."""
    if not txn.entries("ecpolicy"):
        return None
    ino = dir_ino
    for _ in range(4096):
        found = policy_of(txn, ino)
        if found is not None:
            return None if found == "REPLICATION" else found
        if ino == ROOT_INO:
            return None
        node = txn.inode(ino)
        if node is None:
            return None
        ino = node.parent
    return None


def set_policy(txn: Txn, path: str, caller: Caller, name: str) -> str:
    """Set a directory's policy (``REPLICATION`` stops an inherited one below it)."""
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    if not inode.is_dir:
        raise IllegalArgument(f"{path} is not a directory: erasure coding policies are set on directories")
    check(caller, inode, WRITE, path)
    canonical = "REPLICATION" if name.strip().upper() == "REPLICATION" else parse_policy(name).name
    txn.put("ecpolicy", pack_u64(ino), canonical.encode())
    return canonical


def unset_policy(txn: Txn, path: str, caller: Caller) -> None:
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    if not inode.is_dir:
        raise IllegalArgument(f"{path} is not a directory")
    check(caller, inode, WRITE, path)
    txn.delete("ecpolicy", pack_u64(ino))


def get_policy(txn: Txn, path: str, caller: Caller) -> str | None:
    """A file's own policy, or the one a directory gives new files (inherited included)."""
    ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
    if inode.is_dir:
        return effective(txn, ino)
    return policy_of(txn, ino)


def record_for_file(txn: Txn, ino: int, dir_ino: int) -> str | None:
    """At a file's creation: it keeps its directory's effective policy for life."""
    name = effective(txn, dir_ino)
    if name is not None:
        txn.put("ecpolicy", pack_u64(ino), name.encode())
    return name


def describe(name: str | None) -> dict[str, Any] | None:
    """HDFS's ErasureCodingPolicy JSON shape (the fields its clients read)."""
    if name is None:
        return None
    policy = parse_policy(name)
    return {"name": policy.name, "schema": {"codecName": "rs", "numDataUnits": policy.k,
                                            "numParityUnits": policy.m},
            "numDataUnits": policy.k, "numParityUnits": policy.m, "codecName": "rs", "state": "ENABLED"}


def allocate_group(txn: Txn, policy: Policy, now_ns: int,
                   scramble: Callable[[int], int] | None = None) -> tuple[int, list[int]]:
    """A pending group and its k + m pending fragments, all fresh numbers (``blockmap.allocate``)."""
    number = blockmap.allocate(txn, now_ns, scramble)
    fragments = [blockmap.allocate(txn, now_ns, scramble) for _ in range(policy.width)]
    groups.put_group(txn, number, policy.name, fragments)
    return number, fragments


def annotate(txn: Txn, number: int, location: dict[str, Any], live: dict[str, Any],
             order: Callable[[list[Any]], list[Any]]) -> None:
    """Add ``ecPolicy`` and ``fragments`` (each with its live holders) to a group's BlockLocation."""
    found = groups.group(txn, number) if number and groups.any_groups(txn) else None
    if found is None:
        return
    name, fragments = found
    listed: list[dict[str, Any]] = []
    for index, fragment_number in enumerate(fragments):
        record = txn.block(fragment_number)
        nodes = order([live[n] for n in (record.replicas if record else []) if n in live])
        listed.append({"index": index, "blockId": format_block_id(fragment_number),
                       "length": record.length if record else -1,
                       "checksum": record.checksum if record else None,
                       "dataNodes": [m.replica() for m in nodes]})
    hosts = {d["url"] for f in listed for d in f["dataNodes"]}
    location["ecPolicy"] = name
    location["fragments"] = listed
    location["names"] = sorted(h.split("//", 1)[-1] for h in hosts)
    location["hosts"] = sorted(h.split("//", 1)[-1].rsplit(":", 1)[0] for h in hosts)


def add_group(store: Any, placement: Any, policy: Policy, exclude: list[str], reserve: int,
              scramble: Callable[[int], int] | None = None) -> dict[str, Any]:
    """ADDBLOCK for a coded file: a pending group whose k + m fragments go to k + m distinct live
    nodes, most free space first (the same placement as replicas; NoSpace with fewer nodes)."""
    with store.write() as txn:
        number, fragments = allocate_group(txn, policy, time.time_ns(), scramble)
    try:
        nodes = placement.choose(policy.width, reserve, exclude)
        if len(nodes) < policy.width:
            raise NoSpace(f"{policy.name} needs {policy.width} distinct live data nodes with room, "
                          f"{len(nodes)} can take a fragment")
    except DFSError:
        with store.write() as txn:
            blockmap.abandon(txn, [number])
        raise
    return {"blockId": format_block_id(number), "ecPolicy": policy.name,
            "fragments": [{"index": i, "blockId": format_block_id(f), "pipeline": [{"id": m.id, "url": m.client_url}]}
                          for i, (f, m) in enumerate(zip(fragments, nodes))]}
