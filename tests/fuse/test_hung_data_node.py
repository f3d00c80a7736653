"""A hung data node (SIGSTOP: it keeps its port and connections but answers nothing) must not
stall a mount's reads: the reader gives up on a silent replica after a few seconds, reads another,
and tries the hung node last from then on."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024


@pytest.mark.timeout(300)
def test_reads_go_around_a_hung_data_node(make_cluster: Any, mount_of: Callable[..., Path]) -> None:
    cluster = make_cluster(datanodes=3, env={"DFS_BLOCK_SIZE": str(MiB)})
    writer, reader = mount_of(cluster, "writer"), mount_of(cluster, "reader")
    data = os.urandom(24 * MiB)
    (writer / "f.bin").write_bytes(data)
    victim = cluster.datanodes[0]  # with replication 3 on 3 nodes it holds every block
    digest = hashlib.sha256()
    done = threading.Event()

    def read_all(file: Any) -> None:
        while chunk := file.read(MiB):
            digest.update(chunk)
        done.set()

    with open(reader / "f.bin", "rb", buffering=0) as file:
        digest.update(file.read(4096))  # located while the victim is still listed as a replica
        victim.pause()
        try:
            thread = threading.Thread(target=read_all, args=(file,), daemon=True)
            thread.start()
            # 60 s per block on the hung node before; now at most a few 10 s give-ups in all
            assert done.wait(60), "the read stalled on the hung data node"
        finally:
            victim.resume()
    assert digest.digest() == hashlib.sha256(data).digest()


@pytest.mark.timeout(300)
def test_a_copy_into_the_mount_goes_around_a_hung_pipeline_member(make_cluster: Any,
                                                                  mount_of: Callable[..., Path]) -> None:
    """A SIGSTOPped node in every pipeline (3 nodes, replication 3) held ``cp`` a minute: the name
    node calls it dead after 3 heartbeats (0.5 s here), and the mount then cuts the pipeline and
    writes the block without it. The bound is about the fault path, not speed."""
    cluster = make_cluster(datanodes=3, env={"DFS_BLOCK_SIZE": str(MiB)})
    mount = mount_of(cluster, "writer")
    (mount / "warm-up").write_bytes(b"warm")
    data = os.urandom(6 * MiB)
    victim = cluster.datanodes[2]
    victim.pause()
    try:
        started = time.monotonic()
        (mount / "copied.bin").write_bytes(data)
        took = time.monotonic() - started
    finally:
        victim.resume()
    assert took < 5 * 0.5 + 12.0, f"the copy took {took:.1f} s with a hung pipeline member"
    assert hashlib.sha256((mount / "copied.bin").read_bytes()).digest() == hashlib.sha256(data).digest()
