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
def small_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("full")
    roots: list[Path] = []
    try:
        for index in range(3):
            root = base / f"data{index}"
            root.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={ROOT_SIZE}", "tmpfs", str(root)], check=True)
            roots.append(root)
        cluster = Cluster(base, datanodes=3, env={"DFS_BLOCK_SIZE": str(MiB)}, heartbeat=0.5).start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        for root in roots:
            subprocess.run(["umount", "-l", str(root)], check=False)


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
