#!/usr/bin/env python3
"""How long the cluster takes to heal, per GiB of lost replicas.

Starts its own cluster (``tests/cluster.py``: a name node and ``--datanodes`` data nodes on this
machine), writes ``--size-mib`` of files at replication 3, then kills (``kill -9``) the data node
holding the most bytes and times, from the kill, (1) until the name node declares it dead and (2)
until fsck reports no under-replicated block. The figure is seconds of healing per GiB of the
replicas that died with the node (the bytes of the block files on its disk). Prints a Markdown
table and writes the same as JSON. Not a test: nothing fails, it reports.

    python bench/heal_bench.py --dir /var/tmp/dfs-heal                 # 1 GiB written, 4 data nodes
    python bench/heal_bench.py --dir /var/tmp/dfs-heal --size-mib 256  # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster import Cluster  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="where the cluster's LMDB and block roots go")
    parser.add_argument("--size-mib", type=int, default=1024, help="MiB of files written (default 1024)")
    parser.add_argument("--file-mib", type=int, default=64, help="MiB per file (default 64)")
    parser.add_argument("--datanodes", type=int, default=4)
    parser.add_argument("--heartbeat", type=float, default=1.0, help="DFS_HEARTBEAT (default 1 s)")
    parser.add_argument("--block-mib", type=int, default=4, help="DFS_BLOCK_SIZE in MiB (default 4)")
    parser.add_argument("--json", help="where to write the figures (default DIR/heal_bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's files")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    base = Path(args.dir) / "cluster"
    shutil.rmtree(base, ignore_errors=True)
    env = {"DFS_BLOCK_SIZE": str(args.block_mib * MiB), "DFS_LOG_LEVEL": "warning", "DFS_SCRUB_INTERVAL": "0"}
    with Cluster(base, datanodes=args.datanodes, env=env, heartbeat=args.heartbeat) as cluster:
        nn = cluster.client(user="root")
        nn.mkdirs("/heal")
        chunk = os.urandom(8 * MiB)
        written = 0
        started = time.monotonic()
        while written < args.size_mib * MiB:
            size = min(args.file_mib * MiB, args.size_mib * MiB - written)
            with nn.open(f"/heal/f{written // MiB:06d}", "wb") as handle:
                left = size
                while left:
                    piece = chunk[:min(left, len(chunk))]
                    handle.write(piece)
                    left -= len(piece)
            written += size
        write_seconds = time.monotonic() - started
        time.sleep(2 * args.heartbeat)

        victim = max(cluster.datanodes, key=lambda n: sum(p.stat().st_size for p in n.block_files().values()))
        lost = sum(p.stat().st_size for p in victim.block_files().values())
        blocks = len(victim.block_files())
        victim_id = victim.node_id
        killed = time.monotonic()
        victim.kill()
        cluster.wait_for(lambda: victim_id not in cluster.alive_ids(), 120, 0.05, "the node declared dead")
        dead = time.monotonic() - killed
        cluster.wait_for(lambda: nn.fsck("/heal")["under_replicated"] == 0, 3600, 0.2, "healed")
        healed = time.monotonic() - killed
        report = nn.fsck("/heal")
        status = cluster.status()

    figures = {
        "datanodes": args.datanodes, "heartbeat_s": args.heartbeat, "block_mib": args.block_mib,
        "written_mib": written / MiB, "write_mib_s": round(written / MiB / write_seconds, 1),
        "lost_replicas": blocks, "lost_mib": round(lost / MiB, 1),
        "detect_s": round(dead, 2), "heal_s": round(healed, 2), "copy_s": round(healed - dead, 2),
        "heal_s_per_gib": round(healed / (lost / GiB), 2) if lost else None,
        "copy_s_per_gib": round((healed - dead) / (lost / GiB), 2) if lost else None,
        "copy_mib_s": round(lost / MiB / (healed - dead), 1) if healed > dead else None,
        "fsck_status": report["status"], "replications": status["namenode"]["replications"],
    }
    print("| figure | value |\n|---|---|")
    for key, value in figures.items():
        print(f"| {key} | {value} |")
    target = Path(args.json) if args.json else Path(args.dir) / "heal_bench.json"
    target.write_text(json.dumps(figures, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
