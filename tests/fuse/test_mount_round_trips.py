"""Requests a small file costs through a real mount without directory leases (``-o leases=0``; with
them: test_blind_creates.py), counted by the name node's own /metrics: the create's COMMIT hands
out the first block, so a file of one block needs no ADDBLOCK."""
from __future__ import annotations

import os

from tests.ops.test_fsck_and_metrics import metrics, value

FILES = 10


def name_node_requests(cluster) -> dict[str, float]:  # type: ignore[no-untyped-def]
    samples = metrics(cluster.namenode_url)
    return {op: value(samples, "dfs_requests_total", op=op)
            for op in ("COMMIT", "ADDBLOCK", "/internal/block_received")}


def test_a_small_file_written_through_the_mount_needs_no_addblock(mount_of, cluster) -> None:  # type: ignore[no-untyped-def]
    mount = mount_of(cluster, extra=["-o", "leases=0"])
    (mount / "small").mkdir()
    data = {i: os.urandom(65536 + i) for i in range(FILES)}
    before = name_node_requests(cluster)
    for i, payload in data.items():
        with open(mount / "small" / f"f{i}", "wb") as handle:  # create, write, close
            handle.write(payload)
    after = name_node_requests(cluster)
    spent = {op: after[op] - before[op] for op in after}
    assert spent == {"COMMIT": FILES, "ADDBLOCK": 0, "/internal/block_received": FILES}, spent
    for i, payload in data.items():
        assert (mount / "small" / f"f{i}").read_bytes() == payload
    (mount / "small" / "touched").touch()  # a create never written: its block is simply not used
    assert (mount / "small" / "touched").stat().st_size == 0
