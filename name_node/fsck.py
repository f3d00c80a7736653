"""``fsck``: which files under a path have missing, under-replicated, mis-placed or corrupt blocks.

One read transaction walks the subtree (a stack, never recursion) and compares each block's
replicas with what its file asks for, as the healer would: a copy counts when it is on a live
in-service node or on a node in maintenance; a draining node's copy does not. Mis-placed: every
counted copy is in one site while the cluster has more than one (sites as ``placement`` knows
them). Corrupt: a copy was reported bad and has not been replaced yet.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dfs_common.blocks import format_block_id

from . import namespace
from .permissions import Caller
from .store import DIR, FILE, Txn

if TYPE_CHECKING:
    from .app import NameNode

MAX_PROBLEMS = 1000  # problems listed in one answer; the counts cover the whole subtree
HEALTHY, CORRUPT = "HEALTHY", "CORRUPT"


def site_of(member: Any) -> str:
    """A member's site (``roots`` placement) or "" when sites are not configured."""
    return str(getattr(member, "site", "") or "")


def check(node: "NameNode", txn: Txn, path: str, caller: Caller) -> dict[str, Any]:
    """The fsck report of ``path`` and everything below it."""
    root_ino, root = namespace.resolve_existing(txn, path, caller, follow=True)
    serving, resting = node.members.counted_ids()
    live = node.members.live_ids()
    sites = {site_of(m) for m in node.members.writable()} - {""}
    corrupt = node.healer.corrupt_blocks()
    totals = {"files": 0, "directories": 0, "blocks": 0, "bytes": 0, "missing": 0,
              "under_replicated": 0, "over_replicated": 0, "mis_placed": 0, "corrupt": 0}
    problems: list[dict[str, Any]] = []
    stack: list[tuple[int, Any, str]] = [(root_ino, root, path.rstrip("/") or "/")]
    while stack:
        ino, inode, where = stack.pop()
        if inode.kind == DIR:
            totals["directories"] += 1
            for name, child in txn.children(ino):
                child_inode = txn.inode(child)
                if child_inode is not None:
                    stack.append((child, child_inode, where.rstrip("/") + "/" + name))
            continue
        if inode.kind != FILE:
            continue
        totals["files"] += 1
        totals["bytes"] += inode.size
        want = inode.replication  # what the file asks for, even when too few nodes can hold it
        for index, (number, _) in enumerate(txn.extents(ino)):
            if not number:
                continue  # a hole
            totals["blocks"] += 1
            record = txn.block(number)
            replicas = record.replicas if record is not None else []
            holders = [n for n in replicas if n in serving]
            counted = len(holders) + (sum(n in resting for n in replicas) if holders else 0)
            issues = []
            if not any(n in live for n in replicas):
                issues.append("missing")
            elif counted < want:
                issues.append("under_replicated")
            elif counted > want:
                issues.append("over_replicated")
            if number in corrupt:
                issues.append("corrupt")
            if len(sites) > 1 and want > 1 and len(holders) > 1 and \
                    len({site_of(node.members.get(n)) for n in holders}) < 2:
                issues.append("mis_placed")
            for issue in issues:
                totals[issue] += 1
            if issues and len(problems) < MAX_PROBLEMS:
                problems.append({"path": where, "block": index, "blockId": format_block_id(number),
                                 "issues": issues, "replicas": counted, "replication": inode.replication,
                                 "nodes": list(replicas)})
    status = CORRUPT if totals["missing"] or totals["corrupt"] else HEALTHY
    return {"path": path, "status": status, **totals, "problems": problems,
            "truncated": len(problems) >= MAX_PROBLEMS}
