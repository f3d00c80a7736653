"""The client keeps its open files' uncommitted blocks alive (units with a stand-in name node,
then DFSFile on the fake cluster)."""
from __future__ import annotations

import time
from typing import Any

import pytest

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


def test_blocks_never_to_be_committed_are_abandoned_at_close(nn: HttpNameNode, cluster: Any) -> None:
    block = cluster.namenode.block_size
    with nn.open("/superseded", "wb") as file:
        file.write(b"a" * block)     # a full block ships...
        file.flush()                 # ...and is committed
        file.seek(0)
        file.write(b"b" * block)     # its replacement ships
        deadline = time.monotonic() + 10
        while not nn.renewer.held and time.monotonic() < deadline:
            time.sleep(0.01)
        file.seek(0)
        file.write(b"c" * block)     # and is itself superseded before any commit
    assert nn.cat("/superseded") == b"c" * block
    assert len(cluster.namenode.abandoned) >= 1 and nn.renewer.held == set()
    kept = {location["blockId"] for location in nn.block_locations("/superseded")["BlockLocation"]}
    assert not kept & set(cluster.namenode.abandoned)

    aborted = nn.open("/aborted", "wb")
    aborted.write(b"d" * (2 * block))
    aborted.abort()
    assert nn.renewer.held == set()
    with pytest.raises(FileNotFoundError):
        nn.stat("/aborted")  # never committed, so never created
