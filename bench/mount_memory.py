#!/usr/bin/env python3
"""The resident memory of the mount and of the nodes while many small files are written through it:
flat once their caches are full, whatever the number of files.

    python bench/mount_memory.py MOUNT_DIR [--files 100000] [--size 65536] [--threads 8]
                                 [--nodes DATA_DIR] [--json OUT]

Writes ``--files`` files of ``--size`` bytes into a fresh directory of MOUNT_DIR (``--threads``
writers, 1,000 files per subdirectory), reads every tenth back, and samples the ``VmRSS`` of the
``dfs.py`` process serving the mount ten times along the way, and with ``--nodes`` (the data folder
of ``scripts/up.sh``, whose ``*.pid`` files name each node's gunicorn master) that of every node
(master and worker together). Prints a Markdown table; the files are removed afterwards unless
``--keep``. Not a test: it reports.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path


def mount_pid(mount_dir: Path) -> int:
    """The ``dfs.py`` process whose command line names the mount point holding ``mount_dir``."""
    point = Path(mount_dir).resolve()
    while not os.path.ismount(point) and point != point.parent:
        point = point.parent
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"dfs.py") for arg in argv) and any(
                os.path.abspath(arg) == os.fsencode(point) for arg in argv if arg):
            return int(pid)
    raise SystemExit(f"no dfs.py process serves {point}")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def node_pids(data_dir: Path) -> dict[str, list[int]]:
    """Each node's processes by name (``name``, ``data1``...): the master in its pid file, its children."""
    nodes = {}
    for pid_file in sorted(data_dir.glob("*.pid")):
        master = int(pid_file.read_text().split()[0])
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            continue  # not running
        nodes[pid_file.stem] = [master, *map(int, children)]
    return nodes


def sample(files: int, seconds: float, mount: int, nodes: dict[str, list[int]]) -> dict[str, float]:
    point = {"files": files, "seconds": seconds, "rss_mib": rss(mount) / 2**20}
    for name, pids in nodes.items():
        point[f"{name}_rss_mib"] = sum(rss(pid) for pid in pids) / 2**20
    return point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mount_dir", type=Path)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--nodes", type=Path, help="the cluster's data folder (scripts/up.sh DFS_DATA): "
                        "also sample each node's memory")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    pid = mount_pid(args.mount_dir)
    nodes = node_pids(args.nodes) if args.nodes else {}
    work = args.mount_dir / f"mount-memory-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    work.mkdir()
    data = os.urandom(args.size)
    samples = [sample(0, 0.0, pid, nodes)]
    step = max(args.files // 10, 1)
    done = 0
    lock = threading.Lock()
    errors: list[BaseException] = []
    started = time.perf_counter()

    def writer(first: int) -> None:
        nonlocal done
        try:
            for index in range(first, args.files, args.threads):
                path = work / f"d{index // 1000:04d}" / f"f{index:06d}"
                if index % 1000 < args.threads:
                    path.parent.mkdir(exist_ok=True)
                while not path.parent.is_dir():
                    time.sleep(0.01)
                path.write_bytes(data)
                if index % 10 == 0 and path.read_bytes() != data:
                    raise OSError(f"{path}: read back differs")
                with lock:
                    done += 1
                    if done % step == 0:
                        samples.append(sample(done, time.perf_counter() - started, pid, nodes))
                        print(f"  {done:,} files: mount RSS {samples[-1]['rss_mib']:.0f} MiB", flush=True)
        except BaseException as error:  # reported below; the other writers go on
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(first,)) for first in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{done:,} files of {args.size:,} bytes in {elapsed:.0f} s ({done / elapsed:.0f} files/s), "
          f"{args.threads} writers; mount pid {pid}")
    print("| files written | seconds | mount RSS, MiB |" + "".join(f" {name} RSS, MiB |" for name in nodes))
    print("|---|---|---|" + "---|" * len(nodes))
    for point in samples:
        print(f"| {point['files']:,} | {point['seconds']:.0f} | {point['rss_mib']:.0f} |"
              + "".join(f" {point[f'{name}_rss_mib']:.0f} |" for name in nodes))
    if args.json:
        args.json.write_text(json.dumps({"files": done, "size": args.size, "threads": args.threads,
                                         "seconds": elapsed, "samples": samples}, indent=2) + "\n")
    for error in errors[:3]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
