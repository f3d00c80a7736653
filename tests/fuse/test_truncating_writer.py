"""``open(O_TRUNC)`` through the mount: POSIX for the caller's own handle (it reads 0 bytes at once),
while every other mount and client keeps the old file until the truncating writer commits; a writer
whose bytes cannot be stored never replaces it, not even by a later close (issue 8, item 2)."""
from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def one_node(make_cluster: Any) -> Any:
    """One data node, replication 1, 1 MiB blocks: killing the node makes every block write fail."""
    return make_cluster(datanodes=1, env={"DFS_BLOCK_SIZE": str(MiB), "DFS_REPLICATION": "1"})


@pytest.mark.timeout(300)
def test_o_trunc_shows_the_old_file_to_other_mounts_until_the_close(one_node: Any,
                                                                     mount_of: Callable[..., Path]) -> None:
    writer_mount, reader_mount = mount_of(one_node, "writer"), mount_of(one_node, "reader")
    old, new = os.urandom(3 * MiB + 17), os.urandom(2 * MiB + 5)
    (writer_mount / "f.bin").write_bytes(old)
    fd = os.open(writer_mount / "f.bin", os.O_RDWR | os.O_TRUNC)
    try:
        assert os.fstat(fd).st_size == 0 and os.pread(fd, 100, 0) == b""
        os.write(fd, new)
        assert os.pread(fd, len(new) + 10, 0) == new
        assert sha((reader_mount / "f.bin").read_bytes()) == sha(old)
        assert sha(one_node.client("root").cat("/f.bin")) == sha(old)
    finally:
        os.close(fd)
    assert sha((reader_mount / "f.bin").read_bytes()) == sha(new)


@pytest.mark.timeout(300)
def test_o_trunc_writer_whose_bytes_cannot_be_stored_leaves_the_old_file(
        one_node: Any, mount_of: Callable[..., Path]) -> None:
    writer_mount = mount_of(one_node, "writer")
    old = os.urandom(3 * MiB + 17)
    (writer_mount / "f.bin").write_bytes(old)
    fd = os.open(writer_mount / "f.bin", os.O_WRONLY | os.O_TRUNC)
    second = os.dup(fd)  # a second close of the same open file, after the cluster is back
    try:
        os.write(fd, os.urandom(MiB // 2))
        one_node.datanodes[0].kill()
        one_node.wait_for(lambda: not one_node.alive_ids(), timeout=60, message="the data node to be dead")
        failed: OSError | None = None
        try:
            for _ in range(4):
                os.write(fd, os.urandom(MiB))
        except OSError as error:
            failed = error
        with pytest.raises(OSError) as closing:
            os.close(fd)
        assert (failed or closing.value).errno in (errno.ENOSPC, errno.EIO)
        one_node.datanodes[0].restart()
        one_node.wait_ready()
        # an open now gets the committed file, not the failed writer's (still open) view of it
        assert sha((writer_mount / "f.bin").read_bytes()) == sha(old)
        with pytest.raises(OSError):
            os.close(second)  # the failure stays: this close must not commit what was left
        second = -1
    finally:
        if second >= 0:
            os.close(second)
    reader_mount = mount_of(one_node, "reader")
    assert sha((reader_mount / "f.bin").read_bytes()) == sha(old)
    assert sha(one_node.client("root").cat("/f.bin")) == sha(old)
