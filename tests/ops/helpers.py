"""Shared by the operations tests: cluster shapes, test files, and a reader that never stops."""
from __future__ import annotations

import random
import threading
import time
from typing import Any

from tests.cluster import Cluster

MiB = 1024 * 1024
# The shape: 4+ data nodes, heartbeats every second, small blocks so a few MiB make many.
HEARTBEAT = 1.0
SMALL_BLOCKS = {"DFS_BLOCK_SIZE": str(256 * 1024)}


def payload(index: int, size: int) -> bytes:
    return random.Random(index).randbytes(size)


def write_files(nn: Any, directory: str, count: int, size: int) -> dict[str, bytes]:
    nn.mkdirs(directory)
    files = {}
    for index in range(count):
        path = f"{directory}/f{index:03d}"
        data = payload(index, size + index * 1000)
        nn.tee(path, data)
        files[path] = data
    return files


def state_of(cluster: Cluster, node_id: str) -> str:
    return {d["id"]: d["state"] for d in cluster.status()["datanodes"]}[node_id]


def replica_nodes(nn: Any, path: str) -> list[list[str]]:
    """The data node ids of each block of a file, as GETFILEBLOCKLOCATIONS names them."""
    return [[d["id"] for d in block["dataNodes"]] for block in nn.block_locations(path)["BlockLocation"]]


class Reader(threading.Thread):
    """Reads every file again and again, checking its bytes, until stopped; counts every failure."""

    def __init__(self, nn: Any, files: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.nn, self.files = nn, files
        self.stopping = threading.Event()
        self.reads = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            for path, data in self.files.items():
                try:
                    if self.nn.cat(path) != data:
                        self.failures.append(f"{path}: wrong bytes")
                except Exception as error:  # noqa: BLE001 - every failure is the finding
                    self.failures.append(f"{path}: {type(error).__name__}: {error}")
                self.reads += 1
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)
