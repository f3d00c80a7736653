#!/usr/bin/env python3
"""Core DFS benchmark: metadata operations, streaming throughput beside the local disk, and the name
node's memory for a large namespace. Not a test: it prints a Markdown table and writes JSON.

It starts its own cluster (tests/cluster.py: one name node and three data nodes as ``server.py``
processes on loopback, their directories under ``--dir``), so the numbers include HTTP, JSON, LMDB
and three-way replication with fsync, all on one machine: every replica shares the same disk and
cores, which is the worst case for the data path and says nothing about network bandwidth.

    python bench/core_bench.py --dir /var/tmp/dfs-bench            # full run (1 GiB, 1,000,000 entries)
    python bench/core_bench.py --dir /var/tmp/dfs-bench --quick    # a few minutes, smaller sizes

See bench/README.md for what each figure means and how the page cache is handled.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.cluster import Cluster  # noqa: E402

MiB = 1024 * 1024
CHUNK = 8 * MiB


# -- measuring ----------------------------------------------------------------------------------

def run_parallel(threads: int, items: Sequence[Any], work: Callable[[Any, Any], Any],
                 make_state: Callable[[], Any]) -> float:
    """Run ``work(state, item)`` over ``items`` split across ``threads`` threads (each with its
    own ``make_state()``, e.g. a client); answers the wall-clock seconds."""
    shards = [items[i::threads] for i in range(threads)]
    states = [make_state() for _ in range(threads)]
    errors: list[BaseException] = []

    def shard_run(index: int) -> None:
        try:
            for item in shards[index]:
                work(states[index], item)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    started = time.perf_counter()
    workers = [threading.Thread(target=shard_run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def pattern_chunks(total: int, seed: int = 7) -> Iterator[memoryview]:
    """Deterministic pseudo-random bytes: rotations of one 64 MiB buffer, CHUNK at a time."""
    pool = min(64 * MiB, total)
    base = random.Random(seed).randbytes(pool)
    double = memoryview(base + base)
    done = index = 0
    while done < total:
        size = min(CHUNK, total - done, pool)
        start = (index * 1_000_003) % pool
        yield double[start:start + size]
        done += size
        index += 1


def evict(paths: Sequence[Path]) -> str:
    """Make the next read come from the disk: drop the whole page cache if we may, and in any case
    ask the kernel to drop each file's pages (posix_fadvise DONTNEED on fsync'ed files does that
    without privileges). Answers how, with the bytes still resident afterwards if ``fincore`` says."""
    os.sync()
    how = []
    try:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3\n")
        how.append("drop_caches")
    except OSError:
        pass
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    how.append("fadvise DONTNEED")
    resident = resident_bytes(paths)
    if resident is not None:
        how.append(f"{resident / MiB:.1f} MiB still cached")
    return ", ".join(how)


def resident_bytes(paths: Sequence[Path]) -> int | None:
    """Bytes of ``paths`` in the page cache (util-linux ``fincore``), None if it cannot tell."""
    if not shutil.which("fincore") or not paths:
        return None
    total = 0
    for start in range(0, len(paths), 500):
        done = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES",
                               *map(str, paths[start:start + 500])], capture_output=True, text=True)
        if done.returncode != 0:
            return None
        total += sum(int(line) for line in done.stdout.split() if line.strip().isdigit())
    return total


def block_files(cluster: Cluster) -> list[Path]:
    return [path for node in cluster.datanodes for path in node.block_files().values()]


def rss_of(pid: int) -> dict[str, int]:
    """VmRSS and its parts, in KiB, from /proc/<pid>/status."""
    wanted = ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM")
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in wanted:
                found[key] = int(value.split()[0])
    return found


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(p) for p in file.read().split()]
    except OSError:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as file:
                        if int(file.read().rsplit(")", 1)[1].split()[1]) == pid:
                            found.append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        return found


def namenode_memory(cluster: Cluster) -> dict[str, Any]:
    """RSS of the name node's gunicorn worker (where the namespace lives) and of its master."""
    master = cluster.namenode.pid
    assert master is not None
    workers = children_of(master)
    answer: dict[str, Any] = {"master": rss_of(master)}
    if workers:
        answer["worker"] = rss_of(workers[0])
    answer["total_kib"] = sum(part.get("VmRSS", 0) for part in answer.values() if isinstance(part, dict))
    return answer


def du(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


# -- the benchmark ------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace, cluster: Cluster, workdir: Path) -> None:
        self.args, self.cluster, self.workdir = args, cluster, workdir
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.client = cluster.client("root")

    def new_client(self) -> Any:
        return self.cluster.client("root")

    def record(self, group: str, name: str, threads: int | None, count: float, seconds: float, unit: str,
               **extra: Any) -> None:
        rate = count / seconds if seconds > 0 else float("inf")
        row = {"group": group, "name": name, "threads": threads, "count": count, "seconds": round(seconds, 3),
               "rate": round(rate, 1), "unit": unit, **extra}
        self.rows.append(row)
        shown = f"{threads} thr" if threads else "-"
        print(f"  {group:9} {name:34} {shown:7} {count:>10,.0f} in {seconds:8.2f} s = {rate:12,.1f} {unit}",
              flush=True)

    # metadata ---------------------------------------------------------------------------------

    def metadata(self, threads: int) -> None:
        count = self.args.ops
        base = f"/meta-{threads}"
        self.client.mkdirs(base)
        names = [f"{base}/f{i:07d}" for i in range(count)]
        seconds = run_parallel(threads, names, lambda nn, p: nn.touch(p), self.new_client)
        self.record("metadata", "create (touch: empty file)", threads, count, seconds, "ops/s")
        seconds = run_parallel(threads, names, lambda nn, p: nn.get_status(p), self.new_client)
        self.record("metadata", "getfilestatus", threads, count, seconds, "ops/s")
        seconds = run_parallel(threads, names, lambda nn, p: nn.rename(p, p + ".r"), self.new_client)
        self.record("metadata", "rename", threads, count, seconds, "ops/s")
        seconds = run_parallel(threads, names, lambda nn, p: nn.delete(p + ".r"), self.new_client)
        self.record("metadata", "delete", threads, count, seconds, "ops/s")
        self.client.delete(base, recursive=True)

    def fill(self, directory: str, count: int, threads: int, start: int = 0) -> float:
        """``count`` empty files in ``directory``, one COMMIT each (the cheapest create there is)."""
        self.client.mkdirs(directory)
        names = [f"{directory}/e{i:07d}" for i in range(start, start + count)]

        def create(nn: Any, path: str) -> None:
            nn.commit(path, [], create=True, overwrite=False)
        return run_parallel(threads, names, create, self.new_client)

    def listing(self) -> None:
        entries = self.args.list_entries
        seconds = self.fill("/big-dir", entries, self.args.fill_threads)
        self.record("namespace", f"fill: create {entries:,} files in one dir", self.args.fill_threads, entries,
                    seconds, "creates/s")
        for threads in self.args.threads:
            def list_all(nn: Any, _: int) -> None:
                seen = sum(1 for _ in nn.list_status("/big-dir"))
                assert seen == entries, (seen, entries)
            seconds = run_parallel(threads, list(range(threads)), list_all, self.new_client)
            self.record("metadata", f"list {entries:,}-entry dir (paged)", threads, entries * threads, seconds,
                        "entries/s", listing_seconds=round(seconds, 3))

    # data --------------------------------------------------------------------------------------

    def throughput(self) -> None:
        size = self.args.size_mib * MiB
        local = self.workdir / "local-baseline.bin"
        started = time.perf_counter()
        with open(local, "wb") as file:
            for piece in pattern_chunks(size):
                file.write(piece)
            file.flush()
            os.fsync(file.fileno())
        self.record("data", "local disk write (+fsync)", 1, size / MiB, time.perf_counter() - started, "MiB/s")

        started = time.perf_counter()
        with self.client.open("/throughput.bin", "wb") as file:
            for piece in pattern_chunks(size):
                file.write(piece)
        self.record("data", f"DFS write, 3 replicas (DFS_SYNC={self.args.sync})", 1, size / MiB, time.perf_counter() - started,
                    "MiB/s")

        for label, reader in (("local disk read", lambda: open(local, "rb")),
                              ("DFS read", lambda: self.client.open("/throughput.bin", "rb"))):
            how = evict([local, *block_files(self.cluster)])
            started = time.perf_counter()
            total = 0
            with reader() as file:
                while piece := file.read(CHUNK):
                    total += len(piece)
            assert total == size, (label, total, size)
            self.record("data", f"{label} (cold cache)", 1, size / MiB, time.perf_counter() - started, "MiB/s",
                        eviction=how)
            self.notes.append(f"cold {label}: page cache evicted by {how}")
        for label, reader in (("local disk read", lambda: open(local, "rb")),
                              ("DFS read", lambda: self.client.open("/throughput.bin", "rb"))):
            started = time.perf_counter()
            with reader() as file:
                while file.read(CHUNK):
                    pass
            self.record("data", f"{label} (warm page cache)", 1, size / MiB, time.perf_counter() - started, "MiB/s")
        local.unlink()
        self.client.delete("/throughput.bin")

    # memory ------------------------------------------------------------------------------------

    def memory(self) -> None:
        before = namenode_memory(self.cluster)
        have = self.cluster.status()["namenode"]
        existing = int(have.get("files", 0)) + int(have.get("directories", 0))
        target = self.args.entries
        remaining = max(0, target - existing)
        per_dir = 10_000
        started = time.perf_counter()
        made = 0
        index = 0
        while made < remaining:
            count = min(per_dir, remaining - made)
            self.fill(f"/fill/d{index:04d}", count, self.args.fill_threads)
            made += count + 1  # the directory is an entry too (one more in /fill at the first)
            index += 1
            if index % 10 == 0:
                elapsed = time.perf_counter() - started
                print(f"    … {existing + made:,} entries, {elapsed:.0f} s", flush=True)
        seconds = time.perf_counter() - started
        if remaining:
            self.record("namespace", f"fill to {target:,} entries", self.args.fill_threads, made, seconds, "creates/s")
        after = namenode_memory(self.cluster)
        status = self.cluster.status()["namenode"]
        total = int(status.get("files", 0)) + int(status.get("directories", 0))
        db_bytes = du(self.cluster.namenode.root)
        worker = after.get("worker", after["master"])
        self.rows.append({"group": "memory", "name": "name node RSS", "entries": total,
                          "before": before, "after": after, "lmdb_bytes_on_disk": db_bytes})
        print(f"  memory    name node worker VmRSS {worker.get('VmRSS', 0) / 1024:,.1f} MiB "
              f"(anon {worker.get('RssAnon', 0) / 1024:,.1f} MiB, file/mmap {worker.get('RssFile', 0) / 1024:,.1f} MiB)"
              f" with {total:,} entries; master {after['master'].get('VmRSS', 0) / 1024:,.1f} MiB; "
              f"LMDB on disk {db_bytes / MiB:,.1f} MiB", flush=True)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| group | measurement | threads | count | seconds | rate |", "|---|---|---|---|---|---|"]
    for row in rows:
        if row["group"] == "memory":
            worker = row["after"].get("worker", row["after"]["master"])
            lines.append(f"| memory | name node VmRSS with {row['entries']:,} entries (worker; anon + file) | - | - | - | "
                         f"{worker.get('VmRSS', 0) / 1024:,.1f} MiB ({worker.get('RssAnon', 0) / 1024:,.1f} + "
                         f"{worker.get('RssFile', 0) / 1024:,.1f}); LMDB {row['lmdb_bytes_on_disk'] / MiB:,.1f} MiB "
                         "on disk |")
            continue
        lines.append(f"| {row['group']} | {row['name']} | {row['threads'] or '-'} | {row['count']:,.0f} | "
                     f"{row['seconds']:,.2f} | {row['rate']:,.1f} {row['unit']} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=None,
                        help="work directory on the local disk to measure (default: a new one under /var/tmp)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    parser.add_argument("--ops", type=int, default=None, help="files per metadata measurement (default 5000, quick 500)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8], help="client thread counts (default 1 8)")
    parser.add_argument("--list-entries", type=int, default=None,
                        help="entries of the listed directory (default 100000, quick 10000)")
    parser.add_argument("--size-mib", type=int, default=None, help="size of the streamed file (default 1024, quick 128)")
    parser.add_argument("--entries", type=int, default=None,
                        help="namespace entries before measuring the name node's memory (default 1000000, quick 50000)")
    parser.add_argument("--fill-threads", type=int, default=16, help="client threads that fill the namespace")
    parser.add_argument("--skip", nargs="*", default=[], choices=["metadata", "listing", "data", "memory"],
                        help="parts to leave out")
    parser.add_argument("--sync", default="batch", choices=["batch", "always"],
                        help="DFS_SYNC of every node (the durability contract, README): run both to compare")
    parser.add_argument("--json", default=None, help="where to write the JSON results (default DIR/core_bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's files after the run")
    args = parser.parse_args(argv)
    defaults = {"ops": (5000, 500), "list_entries": (100_000, 10_000), "size_mib": (1024, 128),
                "entries": (1_000_000, 50_000)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="dfs-bench-", dir="/var/tmp")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cluster_dir = workdir / "cluster"
    if cluster_dir.exists():
        shutil.rmtree(cluster_dir)
    print(f"# DFS core benchmark ({'quick' if args.quick else 'full'}, DFS_SYNC={args.sync}), work dir {workdir}",
          flush=True)
    env = {"DFS_LOG_LEVEL": "warning", "DFS_SYNC": args.sync}
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    with Cluster(cluster_dir, datanodes=3, env=env, heartbeat=1.0) as cluster:
        bench = Bench(args, cluster, workdir)
        try:
            if "metadata" not in args.skip:
                for threads in args.threads:
                    bench.metadata(threads)
            if "listing" not in args.skip:
                bench.listing()
            if "data" not in args.skip:
                bench.throughput()
            if "memory" not in args.skip:
                bench.memory()
        finally:
            results["rows"] = bench.rows
            results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            results["notes"] = bench.notes
            table = markdown(bench.rows) + "".join(f"\n\n- {note}" for note in bench.notes)
            print("\n" + table)
            out = Path(args.json) if args.json else workdir / "core_bench.json"
            out.write_text(json.dumps(results, indent=2))
            print(f"\nJSON: {out}")
    if not args.keep:
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
