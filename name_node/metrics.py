"""What the name node reports at ``GET /metrics`` beside the request metrics (read at scrape time)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import NameNode

Row = tuple[str, str, str, Any, tuple[str, ...]]


def namenode_metrics(node: "NameNode") -> Iterator[Row]:
    with node.store.read() as txn:
        files, dirs, blocks = txn.counter("files"), txn.counter("dirs"), txn.entries("blocks")
    yield "dfs_namenode_files", "Files in the namespace", "gauge", files, ()
    yield "dfs_namenode_directories", "Directories in the namespace", "gauge", dirs, ()
    yield "dfs_namenode_blocks", "Blocks in the block map (pending ones included)", "gauge", blocks, ()
    healer = node.healer
    yield ("dfs_namenode_blocks_under_replicated", "Blocks the healer is bringing back to their replication",
           "gauge", healer.under_replicated, ())
    yield "dfs_namenode_blocks_missing", "Blocks with no live replica", "gauge", healer.missing, ()
    yield ("dfs_namenode_blocks_corrupt", "Blocks with a replica found bad, not yet replaced", "gauge",
           len(healer.corrupt_blocks()), ())
    yield ("dfs_namenode_heal_replications", "Copy commands the healer sent", "counter",
           healer.replications, ())
    yield ("dfs_namenode_heal_replicated_bytes", "Bytes of the blocks the healer asked to copy", "counter",
           healer.replicated_bytes, ())
    states: dict[tuple[str, ...], int] = {}
    for entry in node.members.status():
        states[(entry["state"],)] = states.get((entry["state"],), 0) + 1
    yield "dfs_namenode_datanodes", "Data nodes by state", "gauge", states, ("state",)
    totals = node.members.totals()
    for name in ("capacity", "used", "remaining"):
        yield f"dfs_namenode_{name}_bytes", f"Sum of the live data nodes' {name}", "gauge", totals[name], ()
    drains = {(m.id,): m.drain.get("pending", 0) for m in node.members.all() if m.drain}
    yield ("dfs_namenode_decommission_pending_blocks", "Blocks of a draining node not yet fully "
           "replicated elsewhere", "gauge", drains, ("datanode",))
    yield "dfs_namenode_safemode", "1 while the name node is in safe mode", "gauge", int(node.safemode.on), ()
    balancer = node.balancer
    yield "dfs_namenode_balancer_running", "1 while the balancer runs", "gauge", int(balancer.running), ()
    yield ("dfs_namenode_balancer_moved_bytes", "Bytes the balancer moved (copied, confirmed, deleted)",
           "counter", balancer.moved_bytes, ())
    yield ("dfs_namenode_balancer_moved_blocks", "Replicas the balancer moved", "counter",
           balancer.moved_blocks, ())
