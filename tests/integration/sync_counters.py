"""The durability counters of /status, read by the durability tests (data nodes: blocks fsynced;
name node: commits, how many are on disk, and ``env.sync`` calls)."""
from __future__ import annotations

import random
from typing import Any

from tests.cluster import Cluster, web

KiB = 1024
BLOCK = 256 * KiB
# An hour: the background syncer never runs during a test, so every sync the counters show was asked.
QUIET = {"DFS_SYNC": "batch", "DFS_SYNC_INTERVAL": "3600", "DFS_BLOCK_SIZE": str(BLOCK)}


def durability(url: str) -> dict[str, Any]:
    body = web.get(url + "/status", timeout=10).json()
    return dict(body["namenode"]["durability"] if "namenode" in body else body["durability"])


def synced_blocks(cluster: Cluster) -> dict[str, int]:
    return {node.name: int(durability(node.url)["synced_blocks"]) for node in cluster.running_datanodes()}


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)
