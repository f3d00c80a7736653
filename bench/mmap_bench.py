#!/usr/bin/env python3
"""mmap through the mount beside a local disk: the same random operations on a shared writable map
of an 8 MiB file (map reads and writes up to 1 MiB, ``pread``/``pwrite`` beside it, an ``msync``
every ~13 operations), timed on a local folder and on a DFS mount of a cluster of its own.

    python bench/mmap_bench.py --dir /var/tmp/dfs-mmap [--ops 300] [--sync-every 13]

Not a test: it prints a Markdown table. Where the time goes on DFS is the ``msync``: each one commits
the rewritten blocks, which are new blocks (blocks are never changed in place) shipped through their
replica pipelines; the map reads and writes themselves stay in the kernel's page cache.
"""
from __future__ import annotations

import argparse
import mmap
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster import Cluster  # noqa: E402

SIZE = 8 << 20
MAX_OP = 1 << 20


def exercise(path: Path, ops: int, sync_every: int, seed: int) -> tuple[float, int]:
    """Seconds for ``ops`` random operations on a shared map of ``path`` (made first), and the msyncs."""
    rng = random.Random(seed)
    path.write_bytes(rng.randbytes(SIZE))
    syncs = 0
    started = time.perf_counter()
    with open(path, "r+b") as file, mmap.mmap(file.fileno(), SIZE) as mapped:
        for step in range(1, ops + 1):
            offset = rng.randrange(SIZE)
            length = rng.randrange(1, min(MAX_OP, SIZE - offset) + 1)
            op = rng.choice(("mapread", "mapwrite", "pread", "pwrite"))
            if op == "mapread":
                mapped[offset:offset + length]
            elif op == "mapwrite":
                mapped[offset:offset + length] = rng.randbytes(length)
            elif op == "pread":
                os.pread(file.fileno(), length, offset)
            else:
                os.pwrite(file.fileno(), rng.randbytes(length), offset)
            if step % sync_every == 0:
                mapped.flush()
                syncs += 1
        mapped.flush()
    return time.perf_counter() - started, syncs + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path, help="where the cluster and the local file go")
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--sync-every", type=int, default=13)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    local = args.dir / "local"
    local.mkdir(exist_ok=True)
    local_s, syncs = exercise(local / "map.bin", args.ops, args.sync_every, args.seed)

    point = args.dir / "mnt"
    point.mkdir(exist_ok=True)
    with Cluster(args.dir / "cluster", datanodes=3, env={"DFS_LOG_LEVEL": "warning"}) as cluster:
        mount = subprocess.Popen([sys.executable, str(REPO / "dfs.py"), str(point), "127.0.0.1",
                                  str(cluster.namenode_port), "--foreground"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cluster.mount_env())
        try:
            cluster.wait_for(lambda: os.path.ismount(point), timeout=60, message="the mount")
            dfs_s, _ = exercise(point / "map.bin", args.ops, args.sync_every, args.seed)
        finally:
            subprocess.run(["fusermount3", "-u", "-z", str(point)], capture_output=True)
            mount.wait(timeout=30)
    shutil.rmtree(args.dir / "cluster", ignore_errors=True)
    print(f"| {args.ops} random ops on an 8 MiB shared map, {syncs} msyncs | seconds | per msync |")
    print("|---|---|---|")
    print(f"| local disk | {local_s:.2f} | {local_s / syncs * 1000:.1f} ms |")
    print(f"| DFS mount | {dfs_s:.2f} | {dfs_s / syncs * 1000:.1f} ms |")
    print(f"\nDFS / local: {dfs_s / local_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
