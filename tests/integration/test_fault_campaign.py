"""The fault campaign: random faults during concurrent writes and reads, and nothing acknowledged lost.

Each round runs writers and readers through all three faces (``HttpNameNode``, WebHDFS's two-step
CREATE/OPEN, the FUSE mount) while one or two faults strike at random: ``kill -9`` of a data node,
of the name node or of the mount, a SIGSTOPped data node, a flipped byte or a deleted block file on
a data node's disk, a data node's disk filled to the last byte. When the round ends every node is
back, and the round asserts:

- every acknowledged file (a ``close`` that returned, a 201) reads back whole (sha256);
- a write that failed left the old content or none (or, through the mount, the empty file that
  ``creat(2)`` had made), never a short or empty file in its place;
- within a bound, every block of every file is back at its replication, and the replicas the name
  node lists are exactly copies that verify on disk (no phantom, no rotten copy counted).

It prints runs, events, bytes lost (0) and the time each round took to heal. The seed and the number
of rounds come from ``DFS_CAMPAIGN_SEED`` / ``DFS_CAMPAIGN_ROUNDS`` to run it longer by hand.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from dfs_common.blocks import checksum
from tests.cluster import REPO, Cluster, Node, fill_disk, flip_byte
from tests.cluster import tmpfs_cluster as tmpfs_cluster_of

KiB, MiB = 1024, 1024 * 1024
BLOCK_SIZE = 128 * KiB  # small blocks: most files span several, so faults hit the middle of files
REPLICATION = 3
ROOT_SIZE = 160 * MiB  # each data node's tmpfs: room for a round's files, small enough to fill fast
ROUNDS = int(os.environ.get("DFS_CAMPAIGN_ROUNDS", "6"))
SEED = int(os.environ.get("DFS_CAMPAIGN_SEED", str(random.SystemRandom().randrange(1 << 32))))
ROUND_SECONDS = 7.0
HEAL_BOUND = 90.0  # seconds for every block to be back at its replication, verified on disk
SIZES = (0, 1, 4 * KiB, 100 * KiB, BLOCK_SIZE, 300 * KiB, 700 * KiB)
ABSENT = "absent"
EMPTY = hashlib.sha256(b"").hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- what was written, and what each path may hold now -------------------------------------------

@dataclass
class Ledger:
    """Thread-safe record of every write: acknowledged ones must read back exactly; failed ones may
    hold any of the contents they could legitimately have (old, new or none, never a fragment)."""

    acked: dict[str, str] = field(default_factory=dict)  # path -> sha256 of its content
    sizes: dict[str, int] = field(default_factory=dict)
    maybe: dict[str, set[str]] = field(default_factory=dict)  # path -> acceptable shas (or ABSENT)
    stable: list[str] = field(default_factory=list)  # acked, never written again: readers' pool
    writes: int = 0
    failed_writes: int = 0
    reads: int = 0
    failed_reads: dict[str, int] = field(default_factory=dict)  # face -> reads that raised
    read_errors: dict[str, str] = field(default_factory=dict)  # face -> the last such error
    wrong_reads: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, path: str, data: bytes, stable: bool) -> None:
        with self.lock:
            self.writes += 1
            self.acked[path], self.sizes[path] = sha(data), len(data)
            self.maybe.pop(path, None)
            if stable:
                self.stable.append(path)

    def fail(self, path: str, data: bytes, allowed: set[str]) -> None:
        """A write that raised: the path may hold what it held before, or the whole new content."""
        with self.lock:
            self.writes += 1
            self.failed_writes += 1
            before = self.maybe.get(path) or {self.acked.get(path, ABSENT)}
            self.maybe[path] = before | allowed | {sha(data)}
            self.acked.pop(path, None)
            self.sizes.pop(path, None)

    def pick_stable(self, rng: random.Random) -> str | None:
        with self.lock:
            return rng.choice(self.stable) if self.stable else None

    def read(self, path: str, face: str, data: bytes | str | None) -> None:
        """``data``: the bytes read whole, why the read failed (a fault may fail it, never falsify
        it), or None: the file was not there."""
        with self.lock:
            self.reads += 1
            if isinstance(data, str):
                self.failed_reads[face] = self.failed_reads.get(face, 0) + 1
                self.read_errors[face] = data
            elif data is None:
                self.wrong_reads.append(f"{path} through {face}: missing")
            elif sha(data) != self.acked.get(path):
                self.wrong_reads.append(f"{path} through {face}: {len(data)} bytes, expected {self.sizes.get(path)}")

    def forget(self, paths: list[str]) -> None:
        with self.lock:
            for path in paths:
                self.acked.pop(path, None)
                self.sizes.pop(path, None)
                self.maybe.pop(path, None)
            gone = set(paths)
            self.stable = [p for p in self.stable if p not in gone]


# -- the mount, as a process we can kill ---------------------------------------------------------

class Mount:
    """``dfs.py --foreground`` in a process of ours, so a fault can ``kill -9`` it and remount."""

    def __init__(self, cluster: Cluster, point: Path, log: Path) -> None:
        self.cluster, self.point, self.log = cluster, point, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.point.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "dfs.py"), str(self.point), "127.0.0.1",
                 str(self.cluster.namenode_port), "--foreground", "-o", "allow_other",
                 "--wait", "60"],  # a fault may have the name node down while the mount restarts
                stdout=log, stderr=log, start_new_session=True, env=self.cluster.mount_env())
        self.cluster.wait_for(lambda: os.path.ismount(self.point), timeout=60, message="the mount")

    def kill(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None
        self._unmount()

    def stop(self) -> None:
        self._unmount()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def _unmount(self) -> None:
        subprocess.run(["fusermount3", "-u", "-z", str(self.point)], capture_output=True)
        deadline = time.monotonic() + 10
        while os.path.ismount(self.point) and time.monotonic() < deadline:
            time.sleep(0.05)


# -- faults ----------------------------------------------------------------------------------------

class Faults:
    """The events a round may strike with; each returns a function that undoes it."""

    def __init__(self, cluster: Cluster, mount: Mount, rng: random.Random) -> None:
        self.cluster, self.mount, self.rng = cluster, mount, rng

    def strike(self, name: str) -> Callable[[], None]:
        return getattr(self, name)()

    def _datanode(self) -> Node:
        return self.rng.choice(self.cluster.datanodes)

    def kill_datanode(self) -> Callable[[], None]:
        node = self._datanode()
        node.kill()
        return node.restart

    def stop_datanode(self) -> Callable[[], None]:
        node = self._datanode()
        node.pause()
        return node.resume

    def kill_namenode(self) -> Callable[[], None]:
        self.cluster.namenode.kill()
        return self.cluster.namenode.restart

    def kill_mount(self) -> Callable[[], None]:
        self.mount.kill()
        return self.mount.start

    def _block_file(self) -> Path | None:
        files = [path for node in self.cluster.datanodes for path in node.block_files().values()]
        return self.rng.choice(files) if files else None

    def flip_byte(self) -> Callable[[], None]:
        path = self._block_file()
        if path is not None:
            try:
                size = path.stat().st_size
                if size:
                    flip_byte(path, self.rng.randrange(size))
            except FileNotFoundError:
                pass  # deleted meanwhile: nothing struck
        return lambda: None

    def delete_block(self) -> Callable[[], None]:
        path = self._block_file()
        if path is not None:
            path.unlink(missing_ok=True)
        return lambda: None

    def fill_disk(self) -> Callable[[], None]:
        ballast = self._datanode().root / "ballast"
        fill_disk(ballast)
        return lambda: ballast.unlink(missing_ok=True)


EVENTS = ("kill_datanode", "stop_datanode", "kill_namenode", "kill_mount", "flip_byte", "delete_block",
          "fill_disk")


# -- the workload ------------------------------------------------------------------------------------

class Workload:
    """Writers and readers through the three faces until ``stop`` is set."""

    def __init__(self, cluster: Cluster, nn: Any, mount: Mount, ledger: Ledger, round_no: int) -> None:
        self.cluster, self.nn, self.mount, self.ledger, self.round = cluster, nn, mount, ledger, round_no
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.http = requests.Session()
        self.http.headers.update(cluster.auth)

    def run(self) -> list[threading.Thread]:
        jobs = [self.api_writer, self.webhdfs_writer, self.mount_writer, self.overwriter,
                self.reader, self.reader]
        threads = [threading.Thread(target=self._guard, args=(job, index), daemon=True)
                   for index, job in enumerate(jobs)]
        for thread in threads:
            thread.start()
        return threads

    def _guard(self, job: Callable[[random.Random, int], None], index: int) -> None:
        rng = random.Random(SEED * 1000 + self.round * 10 + index)
        try:
            job(rng, index)
        except BaseException as error:  # noqa: BLE001 - a bug in the workload itself fails the test
            self.errors.append(error)

    def _data(self, rng: random.Random) -> bytes:
        return rng.randbytes(rng.choice(SIZES))

    def _paths(self, face: str, index: int) -> Iterator[str]:
        count = 0
        while not self.stop.is_set():
            count += 1
            yield f"/campaign/{face}/r{self.round}-w{index}-{count}"

    def api_writer(self, rng: random.Random, index: int) -> None:
        for path in self._paths("api", index):
            data = self._data(rng)
            try:
                with self.nn.open(path, "wb") as file:
                    file.write(data)
            except OSError:
                self.ledger.fail(path, data, set())
                time.sleep(0.2)
            else:
                self.ledger.ack(path, data, stable=True)

    def webhdfs_writer(self, rng: random.Random, index: int) -> None:
        for path in self._paths("webhdfs", index):
            data = self._data(rng)
            try:
                first = self.http.put(f"{self.cluster.namenode_url}/webhdfs/v1{path}",
                                      params={"op": "CREATE", "user.name": "root", "overwrite": "true"},
                                      allow_redirects=False, timeout=60)
                if first.status_code != 307:
                    raise OSError(f"CREATE answered {first.status_code}")
                second = self.http.put(first.headers["Location"], data=data, timeout=60)
                if second.status_code != 201:
                    raise OSError(f"CREATE's second step answered {second.status_code}")
            except (OSError, requests.RequestException):
                self.ledger.fail(path, data, set())
                time.sleep(0.2)
            else:
                self.ledger.ack(path, data, stable=True)

    def mount_writer(self, rng: random.Random, index: int) -> None:
        for path in self._paths("mount", index):
            data = self._data(rng)
            try:
                with open(str(self.mount.point) + path, "wb") as file:
                    file.write(data)
            except OSError:
                self.ledger.fail(path, data, {EMPTY})  # creat(2) may have made the empty file
                time.sleep(0.2)
            else:
                self.ledger.ack(path, data, stable=True)

    def overwriter(self, rng: random.Random, index: int) -> None:
        """Rewrites files of its own: a failed overwrite must leave the old content whole."""
        paths = [f"/campaign/overwrite/r{self.round}-{n}" for n in range(4)]
        while not self.stop.is_set():
            path, data = rng.choice(paths), self._data(rng)
            try:
                if rng.random() < 0.5:
                    with self.nn.open(path, "wb") as file:
                        file.write(data)
                else:
                    with open(str(self.mount.point) + path, "wb") as file:
                        file.write(data)
            except OSError:
                self.ledger.fail(path, data, {EMPTY} if path not in self.ledger.acked else set())
                time.sleep(0.2)
            else:
                self.ledger.ack(path, data, stable=False)

    def reader(self, rng: random.Random, index: int) -> None:
        while not self.stop.is_set():
            path = self.ledger.pick_stable(rng)
            if path is None:
                time.sleep(0.1)
                continue
            face = rng.choice(("api", "webhdfs", "mount"))
            self.ledger.read(path, face, self._read(path, face))

    def _read_mounted(self, path: str) -> bytes | None:
        """A file closed elsewhere may be unknown to the mount for its entry timeout (1 s), never
        longer: None (a wrong answer, not a failed read) if it is still missing after that."""
        for attempt in range(2):
            try:
                with open(str(self.mount.point) + path, "rb") as file:
                    return file.read()
            except FileNotFoundError:
                if not os.path.ismount(self.mount.point):
                    raise  # the mount was killed: a failed read
                if attempt:
                    return None
                time.sleep(1.5)
        raise AssertionError("unreachable")

    def _read(self, path: str, face: str) -> bytes | str | None:
        try:
            if face == "api":
                return self.nn.cat(path)
            if face == "mount":
                return self._read_mounted(path)
            answer = self.http.get(f"{self.cluster.namenode_url}/webhdfs/v1{path}",
                                   params={"op": "OPEN", "user.name": "root"}, timeout=30)
            return answer.content if answer.status_code == 200 else f"HTTP {answer.status_code}"
        except (OSError, requests.RequestException) as error:
            return f"{type(error).__name__}: {error}"[:200]


# -- the checks after a round ------------------------------------------------------------------------

def replica_problems(cluster: Cluster, nn: Any, paths: list[str]) -> list[str]:
    """Blocks not at their replication, or whose listed replicas do not all verify on disk."""
    by_id = {node.node_id: node for node in cluster.datanodes}
    problems: list[str] = []
    for path in paths:
        try:
            located = nn.block_locations(path)
        except FileNotFoundError:
            continue
        for block in located.get("BlockLocation") or []:
            holders = [replica["id"] for replica in block.get("dataNodes", [])]
            if len(set(holders)) != REPLICATION:
                problems.append(f"{path} block {block['blockId']}: {len(set(holders))} replicas listed")
            for holder in holders:
                node = by_id.get(holder)
                disk = node.block_path(block["blockId"]) if node is not None else None
                try:
                    data = disk.read_bytes() if disk is not None else None
                except FileNotFoundError:
                    data = None
                if data is None or len(data) != block["length"] or checksum(data) != block["checksum"]:
                    problems.append(f"{path} block {block['blockId']}: listed on {holder}, "
                                    f"{'missing' if data is None else 'corrupt'} on its disk")
    return problems


def content_problems(nn: Any, ledger: Ledger) -> tuple[list[str], int]:
    """Acknowledged files that do not read back whole, failed writes that left a fragment, and the
    bytes lost (the sizes of acknowledged files that no longer read back)."""
    problems, lost = [], 0
    for path, digest in list(ledger.acked.items()):
        try:
            data = nn.cat(path)
        except OSError as error:
            data, detail = None, f"unreadable: {error}"
        else:
            detail = f"{len(data)} bytes, expected {ledger.sizes[path]}"
        if data is None or sha(data) != digest:
            problems.append(f"acknowledged {path}: {detail}")
            lost += ledger.sizes[path]
    for path, allowed in list(ledger.maybe.items()):
        try:
            found = sha(nn.cat(path))
        except FileNotFoundError:
            found = ABSENT
        if found not in allowed:
            problems.append(f"failed write of {path} left content that was never written whole")
    return problems, lost


def unknown_files(nn: Any, ledger: Ledger) -> list[str]:
    """Files listed under /campaign that no writer made (a fragment under another name)."""
    known = set(ledger.acked) | set(ledger.maybe)
    found: list[str] = []
    for face in nn.list_status("/campaign"):
        directory = f"/campaign/{face['pathSuffix']}"
        found += [f"{directory}/{entry['pathSuffix']}" for entry in nn.list_status(directory)
                  if f"{directory}/{entry['pathSuffix']}" not in known]
    return found


# -- the test ----------------------------------------------------------------------------------------

@pytest.fixture
def tmpfs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """4 data nodes on tmpfs roots of their own, so a disk can really be filled."""
    env = {"DFS_BLOCK_SIZE": str(BLOCK_SIZE), "DFS_REPLICATION": str(REPLICATION),
           "DFS_SCRUB_INTERVAL": "5", "DFS_BLOCK_REPORT_INTERVAL": "5"}
    with tmpfs_cluster_of(tmp_path_factory.mktemp("campaign"), ROOT_SIZE, env) as cluster:
        yield cluster


@pytest.mark.timeout(1200)
def test_random_faults_lose_no_acknowledged_byte(tmpfs_cluster: Cluster, tmp_path: Path) -> None:
    cluster, rng = tmpfs_cluster, random.Random(SEED)
    print(f"fault campaign: seed {SEED}, {ROUNDS} rounds (DFS_CAMPAIGN_SEED / DFS_CAMPAIGN_ROUNDS)")
    point = Path("/tmp") / f"dfs-campaign-{os.getpid()}"
    mount = Mount(cluster, point, tmp_path / "mount.log")
    nn = cluster.client("root")
    for face in ("api", "webhdfs", "mount", "overwrite"):
        nn.mkdirs(f"/campaign/{face}")
    mount.start()
    ledger, report, failures = Ledger(), [], []
    try:
        for round_no in range(ROUNDS):
            events = rng.sample(EVENTS, rng.choice((1, 2)))
            workload = Workload(cluster, nn, mount, ledger, round_no)
            threads = workload.run()
            time.sleep(ROUND_SECONDS / 3)
            undo = [Faults(cluster, mount, rng).strike(event) for event in events]
            time.sleep(ROUND_SECONDS / 3)
            for step in reversed(undo):
                step()
            time.sleep(ROUND_SECONDS / 3)
            workload.stop.set()
            for thread in threads:
                thread.join(timeout=180)
                assert not thread.is_alive(), f"a {thread.name} worker hung after {events}"
            assert not workload.errors, workload.errors
            if not os.path.ismount(point):
                mount.start()
            cluster.wait_ready()

            started = time.monotonic()
            paths = list(ledger.acked) + list(ledger.maybe)
            try:
                cluster.wait_for(lambda: not replica_problems(cluster, nn, paths), timeout=HEAL_BOUND,
                                 interval=1.0, message="every block healed")
            except TimeoutError:
                pass
            problems = replica_problems(cluster, nn, paths)
            healed = time.monotonic() - started
            lost_problems, lost = content_problems(nn, ledger)
            problems += lost_problems + [f"unknown file {p}" for p in unknown_files(nn, ledger)]
            problems += [f"a reader got wrong bytes: {w}" for w in ledger.wrong_reads]
            report.append({"round": round_no, "events": events, "heal_s": round(healed, 1), "bytes_lost": lost,
                           "problems": len(problems)})
            print(json.dumps(report[-1]))
            if problems:
                failures.append(f"round {round_no} {events}: " + "; ".join(problems[:12]))
            # Keep a few files for later rounds; delete the rest (exercises deletion while healing).
            doomed = [p for p in paths if rng.random() < 0.8 and "/overwrite/" not in p]
            for path in doomed:
                nn.delete(path)
            ledger.forget(doomed)
    finally:
        mount.stop()
        shutil.rmtree(point, ignore_errors=True)
    totals = {"seed": SEED, "rounds": ROUNDS, "events": sum(len(r["events"]) for r in report),
              "writes": ledger.writes, "failed_writes": ledger.failed_writes, "reads": ledger.reads,
              "failed_reads": ledger.failed_reads,
              "last_read_errors": ledger.read_errors, "bytes_lost": sum(r["bytes_lost"] for r in report),
              "max_heal_s": max((r["heal_s"] for r in report), default=0)}
    print("fault campaign totals: " + json.dumps(totals))
    assert ledger.writes > ROUNDS * 10, totals  # the workload really ran
    assert not failures, "\n".join(failures)
    assert totals["bytes_lost"] == 0
