#!/usr/bin/env python3
"""Erasure coding beside replication: write and read MiB/s and the bytes stored per byte of file.

It starts its own cluster (tests/cluster.py: a name node and ``--datanodes`` data nodes as
``server.py`` processes on loopback), then for each layout (replication 3, and each RS policy the
cluster has enough nodes for) writes ``--size-mib`` through ``HttpNameNode.open("wb")`` in 8 MiB
writes, reads it back cold (every block file's pages dropped with ``posix_fadvise``, which needs
no privilege and leaves other processes' cache alone) and warm, and for RS also "degraded": read
with the holders of ``m`` data fragments of every group left out, so every group is decoded.

    python bench/ec_bench.py --dir /var/tmp/dfs-ec                 # 256 MiB, 9 data nodes
    python bench/ec_bench.py --dir /var/tmp/dfs-ec --size-mib 64 --datanodes 6

See bench/README.md for the figures measured on the development machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dfs_common.erasure import parse_policy  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

MiB = 1024 * 1024
CHUNK = 8 * MiB


def block_ids(located: dict[str, Any]) -> set[str]:
    ids = set()
    for location in located["BlockLocation"]:
        if location.get("fragments"):
            ids.update(f["blockId"] for f in location["fragments"])
        elif location.get("blockId"):
            ids.add(location["blockId"])
    return ids


def block_files(cluster: Cluster, ids: set[str]) -> list[Path]:
    return [path for node in cluster.datanodes for block_id, path in node.block_files().items() if block_id in ids]


def evict(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def degraded(located: dict[str, Any], m: int) -> list[dict[str, Any]]:
    """Locations with the holders of the first ``m`` data fragments of each group left out."""
    result = []
    for location in located["BlockLocation"]:
        fragments = [{**f, "dataNodes": [] if f["index"] < m else f["dataNodes"]} for f in location["fragments"]]
        result.append({**location, "fragments": fragments})
    return result


def measure(cluster: Cluster, layout: str, size: int, data: bytes) -> dict[str, Any]:
    nn = cluster.client("root")
    directory = f"/bench-{layout.lower()}"
    nn.mkdirs(directory)
    if layout != "REPLICATION":
        nn.set_ec_policy(directory, layout)
    path = f"{directory}/file.bin"
    started = time.perf_counter()
    with nn.open(path, "wb") as f:
        for offset in range(0, size, CHUNK):
            f.write(data[offset:offset + CHUNK])
    write = size / MiB / (time.perf_counter() - started)
    located = nn.block_locations(path)
    ids = block_ids(located)
    files = block_files(cluster, ids)
    stored = sum(p.stat().st_size for p in files)
    evict(files)
    started = time.perf_counter()
    with nn.open(path, "rb") as f:
        while f.read(CHUNK):
            pass
    cold = size / MiB / (time.perf_counter() - started)
    started = time.perf_counter()
    with nn.open(path, "rb") as f:
        while f.read(CHUNK):
            pass
    warm = size / MiB / (time.perf_counter() - started)
    row = {"layout": "replication 3" if layout == "REPLICATION" else layout, "write_mib_s": write,
           "read_cold_mib_s": cold, "read_warm_mib_s": warm, "stored_per_byte": stored / size}
    if layout != "REPLICATION":
        policy = parse_policy(layout)
        evict(files)
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            pieces = list(pool.map(nn.read_block, degraded(located, policy.m)))
        row["read_degraded_mib_s"] = size / MiB / (time.perf_counter() - started)
        assert b"".join(pieces) == data, "degraded read differs"
    nn.delete(directory, recursive=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="where the cluster's directories go (emptied first)")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--datanodes", type=int, default=9)
    parser.add_argument("--policies", default="RS-3-2,RS-6-3")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    base = Path(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    size = args.size_mib * MiB
    data = os.urandom(size)
    layouts = ["REPLICATION"] + [p for p in args.policies.split(",")
                                 if p and parse_policy(p).width <= args.datanodes]
    rows = []
    with Cluster(base, datanodes=args.datanodes, env={"DFS_LOG_LEVEL": "warning"}) as cluster:
        for layout in layouts:
            rows.append(measure(cluster, layout, size, data))
    print(f"{args.size_mib} MiB file, {args.datanodes} data nodes on one machine\n")
    print("| layout | write MiB/s | read cold MiB/s | read warm MiB/s | read degraded MiB/s | bytes stored per byte |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        degraded_figure = f"{row['read_degraded_mib_s']:.0f}" if "read_degraded_mib_s" in row else "-"
        print(f"| {row['layout']} | {row['write_mib_s']:.0f} | {row['read_cold_mib_s']:.0f} | "
              f"{row['read_warm_mib_s']:.0f} | {degraded_figure} | {row['stored_per_byte']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
