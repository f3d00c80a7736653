"""A full disk, for real: three data nodes whose roots are small tmpfs mounts. Writing more than
fits fails with ENOSPC through the mount (and NoSpace through HttpNameNode), nothing half-written
shows as complete, what was there stays whole, and freeing space makes writes work again."""
from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dfs_common.errors import NoSpace
from tests.cluster import Cluster

MiB = 1024 * 1024
ROOT_SIZE = 24 * MiB


@pytest.fixture
def tmpfs_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Cluster]]:
    """``tmpfs_cluster([size or None, …], env=…, heartbeat=…)``: one data node per entry, its root a
    tmpfs of that many bytes (None: an ordinary directory)."""
    made: list[Cluster] = []
    roots: list[Path] = []

    def make(sizes: list[int | None], env: dict[str, str] | None = None, heartbeat: float = 0.5) -> Cluster:
        base = tmp_path_factory.mktemp("full")
        for index, size in enumerate(sizes):
            root = base / f"data{index}"
            root.mkdir()
            if size is not None:
                subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)], check=True)
                roots.append(root)
        cluster = Cluster(base, datanodes=len(sizes), env={"DFS_BLOCK_SIZE": str(MiB), **(env or {})},
                          heartbeat=heartbeat)
        made.append(cluster)
        return cluster.start()

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()
        for root in roots:
            subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
def small_cluster(tmpfs_cluster: Callable[..., Cluster]) -> Cluster:
    return tmpfs_cluster([ROOT_SIZE] * 3)


def write_until_error(path: Path, total: int) -> OSError | None:
    chunk = os.urandom(MiB)
    try:
        with open(path, "wb") as file:
            for _ in range(total // MiB):
                file.write(chunk)
    except OSError as error:
        return error
    return None


@pytest.mark.timeout(300)
def test_a_full_cluster_is_enospc_and_loses_nothing(small_cluster: Cluster,
                                                     mount_of: Callable[..., Path]) -> None:
    small_mount = mount_of(small_cluster)
    keep = os.urandom(4 * MiB)
    (small_mount / "keep.bin").write_bytes(keep)

    error = write_until_error(small_mount / "big.bin", 2 * ROOT_SIZE)
    assert error is not None and error.errno == errno.ENOSPC, error
    assert (small_mount / "big.bin").stat().st_size == 0  # never committed: nothing half-written shows
    assert (small_mount / "keep.bin").read_bytes() == keep
    with pytest.raises(NoSpace):
        small_cluster.client("root").tee("/more.bin", os.urandom(2 * ROOT_SIZE))
    assert small_cluster.client("root").cat("/keep.bin") == keep

    # The failed writes left nothing behind (their blocks were abandoned), so with nothing deleted
    # there is room again once the data nodes have dropped them and reported their space.
    again = os.urandom(8 * MiB)

    def written(name: str) -> bool:
        return (small_mount / name).write_bytes(again) == len(again)  # OSError: not yet

    small_cluster.wait_for(lambda: written("again.bin"), timeout=60, interval=1.0,
                           message="a write to fit in the space the failed writes took")
    assert (small_mount / "again.bin").read_bytes() == again and (small_mount / "keep.bin").read_bytes() == keep
    os.unlink(small_mount / "big.bin")
    os.unlink(small_mount / "keep.bin")
    small_cluster.wait_for(lambda: written("more.bin"), timeout=60, interval=1.0,
                           message="a write to fit in the space deleting freed")


@pytest.mark.timeout(300)
def test_a_node_takes_about_its_free_space_between_heartbeats(tmpfs_cluster: Callable[..., Cluster]) -> None:
    """Placement reserved a whole block size per block until the next heartbeat, whatever the
    block's real length: a node with 24 MiB free was full after six small files. A confirmed block
    now counts its real length, so between two heartbeats (30 s here) the node takes what fits."""
    cluster = tmpfs_cluster([ROOT_SIZE], env={"DFS_BLOCK_SIZE": str(4 * MiB), "DFS_REPLICATION": "1"},
                            heartbeat=30.0)
    nn = cluster.client("root")
    free = cluster.status()["datanodes"][0]["remaining"]
    small = os.urandom(256 * 1024)
    for index in range(24):  # 6 MiB in all, 96 MiB of whole-block reservations
        nn.tee(f"/small-{index}", small)
    accepted = 24 * len(small)
    piece = os.urandom(MiB)
    with pytest.raises(NoSpace):
        for index in range(2 * ROOT_SIZE // MiB):
            nn.tee(f"/piece-{index}", piece)
            accepted += len(piece)
    assert accepted >= free - 3 * MiB, (accepted, free)
    assert nn.cat("/small-23") == small


@pytest.mark.timeout(300)
def test_blocks_a_full_node_could_not_take_end_fully_replicated_elsewhere(
        tmpfs_cluster: Callable[..., Cluster]) -> None:
    """One of four nodes fills up in the middle of a write: the writer succeeds and every block
    ends with three verified copies on the nodes that have room."""
    cluster = tmpfs_cluster([None, None, None, 6 * MiB])
    nn = cluster.client("root")
    data = os.urandom(24 * MiB)
    nn.tee("/spread.bin", data)
    assert nn.cat("/spread.bin") == data
    by_id = {node.node_id: node for node in cluster.datanodes}

    def fully_replicated() -> bool:
        for block in nn.block_locations("/spread.bin")["BlockLocation"]:
            holders = {node["id"] for node in block["dataNodes"]}
            if len(holders) != 3 or not all(block["blockId"] in by_id[h].block_files() for h in holders):
                return False
        return True

    cluster.wait_for(fully_replicated, timeout=60, interval=0.5, message="every block at 3 real copies")


@pytest.mark.timeout(300)
def test_blocks_written_short_around_a_full_node_heal_once_a_node_with_room_joins(
        tmpfs_cluster: Callable[..., Cluster]) -> None:
    cluster = tmpfs_cluster([None, None, 6 * MiB])
    nn = cluster.client("root")
    data = os.urandom(24 * MiB)
    nn.tee("/short.bin", data)
    assert nn.cat("/short.bin") == data
    cluster.add_datanode()
    by_id = {node.node_id: node for node in cluster.datanodes}

    def fully_replicated() -> bool:
        for block in nn.block_locations("/short.bin")["BlockLocation"]:
            holders = {node["id"] for node in block["dataNodes"]}
            if len(holders) != 3 or not all(block["blockId"] in by_id[h].block_files() for h in holders):
                return False
        return True

    cluster.wait_for(fully_replicated, timeout=60, interval=0.5, message="every block at 3 real copies")
