"""What client-side encryption costs: MiB/s of ``HttpNameNode`` writes and reads of one file, plain
beside encrypted (a key file), and the time of a small random read of each.

    python bench/encryption_bench.py --dir /var/tmp/dfs-crypt [--size-mib 256]

It starts its own cluster (tests/cluster.py: a name node and three data nodes on loopback,
replication 3, 4 MiB blocks), prints a Markdown table and removes the cluster's files. Not a test.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dfs_client import HttpNameNode  # noqa: E402
from dfs_client.encryption import ContentKey  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

MiB = 1024 * 1024
PIECE = 8 * MiB


def measure(client: HttpNameNode, path: str, data: bytes) -> dict[str, float]:
    started = time.perf_counter()
    with client.open(path, "wb") as handle:
        for at in range(0, len(data), PIECE):
            handle.write(data[at:at + PIECE])
    written = time.perf_counter() - started
    started = time.perf_counter()
    with client.open(path, "rb") as handle:
        while handle.read(PIECE):
            pass
    read = time.perf_counter() - started
    rng = random.Random(1)
    offsets = [rng.randrange(len(data) - 4096) for _ in range(200)]
    with client.open(path, "rb") as handle:
        started = time.perf_counter()
        for offset in offsets:
            handle.pread(4096, offset)
        random_read = (time.perf_counter() - started) / len(offsets)
    size = len(data) / MiB
    return {"write": size / written, "read": size / read, "random_ms": random_read * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="where the cluster's files go (removed afterwards)")
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    base = Path(args.dir)
    data = random.Random(7).randbytes(args.size_mib * MiB)
    key_path = base / "bench.key"
    try:
        with Cluster(base / "cluster", datanodes=3, env={"DFS_LOG_LEVEL": "warning"}) as cluster:
            token = getattr(cluster, "token", None)
            options = {"token": token} if token else {}
            from dfs_client.encryption import new_key_file
            new_key_file(key_path)
            plain = HttpNameNode(cluster.namenode_url, **options)
            sealed = HttpNameNode(cluster.namenode_url, key=ContentKey.from_file(key_path), **options)
            results = {"plain": measure(plain, "/plain.bin", data), "encrypted": measure(sealed, "/sealed.bin", data)}
            plain.close()
            sealed.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"| {args.size_mib} MiB file | plain | encrypted (AES-256-GCM) |")
    print("|---|---|---|")
    print(f"| write MiB/s | {results['plain']['write']:,.0f} | {results['encrypted']['write']:,.0f} |")
    print(f"| read MiB/s | {results['plain']['read']:,.0f} | {results['encrypted']['read']:,.0f} |")
    print(f"| random 4 KiB pread, ms | {results['plain']['random_ms']:.2f} | {results['encrypted']['random_ms']:.2f} |")
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    raise SystemExit(main())
