#!/usr/bin/env python3
"""The name node's LMDB write path alone, no HTTP: group commit (``Store.write()``) beside one
transaction and one commit per change, with concurrent writer threads, in a DFS_SYNC mode.

    python bench/store_bench.py --dir /var/tmp/dfs-store --threads 8 --writes 500 --sync batch

Every seventh change raises inside its scope (undone alone); the rows left are checked.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from name_node.store import Store, Txn  # noqa: E402


def run(threads: int, writes: int, scope: Callable[[], object]) -> float:
    def writer(index: int) -> None:
        for number in range(writes):
            try:
                with scope() as txn:  # type: ignore[attr-defined]
                    txn.put("meta", b"k%d-%d" % (index, number), b"v")
                    if number % 7 == 0:
                        raise KeyError("a change that fails")
            except KeyError:
                pass
    started = time.perf_counter()
    workers = [threading.Thread(target=writer, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


class _OnePerChange:
    """The write path before group commit: a transaction, a commit and (always) a sync per change."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Txn:
        self.raw = self.store.env.begin(write=True)
        return Txn(self.raw, self.store.dbs)

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.store._commit(self.raw)
        else:
            self.raw.abort()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=None, help="where the LMDB files go (the disk to measure)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--writes", type=int, default=500, help="changes per thread")
    parser.add_argument("--sync", default="batch", choices=["batch", "always"])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dfs-store-", dir=args.dir))
    try:
        for label, make in (("one transaction per change", _OnePerChange), ("group commit", None)):
            store = Store(str(base / label.replace(" ", "-")), 1 << 30, sync=args.sync)
            scope = (lambda: make(store)) if make is not None else store.write
            seconds = run(args.threads, args.writes, scope)
            with store.read() as txn:
                rows = sum(1 for _ in txn.scan("meta", b"k"))
            expected = args.threads * sum(1 for n in range(args.writes) if n % 7)
            assert rows == expected, (rows, expected)
            state = store.durability()
            total = args.threads * args.writes
            print(f"DFS_SYNC={args.sync} {label:28} {total / seconds:10,.0f} changes/s, "
                  f"{state['commits']:,} commits, {state['syncs']:,} meta syncs")
            store.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
