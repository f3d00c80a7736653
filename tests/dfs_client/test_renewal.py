"""The client keeps its open files' uncommitted blocks alive (units with a stand-in name node,
then DFSFile on the fake cluster)."""
from __future__ import annotations

import time
from typing import Any

from dfs_client import HttpNameNode
from dfs_client.renewal import BlockRenewer


def test_held_blocks_are_renewed_once_due_and_released_ones_never() -> None:
    sent: list[list[str]] = []
    renewer = BlockRenewer(sent.append, every=100.0)
    start = time.monotonic()
    renewer.hold("00000000000000a1")
    renewer.hold("00000000000000a2")
    assert renewer.renew_due(now=start + 50) == 0 and sent == []
    renewer.release(["00000000000000a2"])
    assert renewer.renew_due(now=start + 150) == 1 and sent == [["00000000000000a1"]]
    assert renewer.renew_due(now=start + 200) == 0  # renewed at +150: next due at +250
    assert renewer.renew_due(now=start + 260) == 1
    renewer.stop()


def test_an_open_file_holds_its_shipped_blocks_until_commit_and_a_close_lets_go(nn: HttpNameNode,
                                                                              cluster: Any) -> None:
    block = cluster.namenode.block_size
    with nn.open("/renewed", "wb") as file:
        file.write(b"x" * (2 * block + 10))  # two full blocks ship before any commit
        deadline = time.monotonic() + 10
        while len(nn.renewer.held) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(nn.renewer.held) == 2
        assert nn.renewer.renew_due(now=time.monotonic() + nn.renewer.every) == 2
        assert sorted(cluster.namenode.renewed) == sorted(nn.renewer.held)  # through RENEWBLOCKS
        file.flush()
        assert nn.renewer.held == set()
    assert nn.cat("/renewed") == b"x" * (2 * block + 10)
