#!/usr/bin/env python3
"""What a snapshot costs the name node: CREATESNAPSHOT and DELETESNAPSHOT of a directory of
``--files`` one-block files (100 a subdirectory), timed on the LMDB store itself, in process (no
HTTP, no data nodes). Both run in one write transaction, so the figure is also how long they hold
the namespace's write lock. Not a test: nothing fails, it reports.

    python bench/snapshot_bench.py                 # 20 000 files
    python bench/snapshot_bench.py --files 100000
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from name_node import namespace, snapshots  # noqa: E402
from name_node.permissions import GroupMapping  # noqa: E402
from name_node.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder, 1 << 34, sync="batch")
        caller = GroupMapping("root", "supergroup").caller("root")
        now = time.time_ns()
        with store.write() as txn:
            namespace.mkdirs(txn, "/d", caller, 0o755, now)
            for number in range(args.files):
                directory = f"/d/{number // 100}"
                if number % 100 == 0:
                    namespace.mkdirs(txn, directory, caller, 0o755, now)
                where = namespace.resolve(txn, f"{directory}/{number % 100}", caller)
                ino, _ = namespace.create_file(txn, where, caller, 0o644, 3, 1 << 27, now)
                txn.put_extents(ino, [(10**9 + number, 10)])
            snapshots.allow(txn, "/d", caller)
        entries = args.files + args.files // 100 + 1
        start = time.perf_counter()
        with store.write() as txn:
            snapshots.create(txn, "/d", "s1", caller, now)
        created = time.perf_counter() - start
        start = time.perf_counter()
        with store.write() as txn:
            snapshots.delete(txn, "/d", "s1", caller)
        deleted = time.perf_counter() - start
        store.close()
    print(f"| entries | CREATESNAPSHOT | per entry | DELETESNAPSHOT |\n|---|---|---|---|\n"
          f"| {entries} | {created:.2f} s | {created / entries * 1e6:.0f} µs | {deleted:.2f} s |")


if __name__ == "__main__":
    main()
