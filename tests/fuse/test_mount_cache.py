"""The mount's caches: verified blocks shared by all its files, attributes and listings; what they
save (no data-node fetch, no name-node request) and what they must never do (serve bytes or
attributes another mount changed, once that mount closed and we opened; grow past their size).

Reads here use ``O_DIRECT`` where the point is the mount's own block cache, so the kernel's page
cache (whose coherence ``test_posix_conformance`` pins) cannot answer for it.
"""
from __future__ import annotations

import mmap
import os
import random
import time
import uuid
from pathlib import Path

MiB = 1024 * 1024


def read_direct(path: Path, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` straight from the mount (both multiples of 4 KiB)."""
    buffer = mmap.mmap(-1, size)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        count = os.preadv(fd, [buffer], offset)
    finally:
        os.close(fd)
    return bytes(buffer[:count])


def mount_rss(mnt: Path) -> int:
    """Resident bytes of the ``dfs.py`` process serving ``mnt``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.endswith(b"dfs.py") for arg in argv) and os.fsencode(mnt) in argv:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    raise LookupError(f"no dfs.py process serves {mnt}")


def test_random_reads_of_files_this_mount_wrote_or_read_need_no_data_node(make_cluster, mount_of) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(datanodes=1, env={"DFS_BLOCK_SIZE": str(MiB)})
    writer = mount_of(cluster, "writer")
    reader = mount_of(cluster, "reader")
    data = os.urandom(6 * MiB)
    (writer / "f").write_bytes(data)
    assert read_direct(reader / "f", 0, len(data)) == data  # the reader's cache now holds every block
    cluster.datanodes[0].kill()  # from now on every block GET fails
    picks = random.Random(7)
    for mnt in (writer, reader):
        for _ in range(50):  # each read a fresh open: the name node is asked, the bytes are cached
            offset = picks.randrange(len(data) // 4096) * 4096
            assert read_direct(mnt / "f", offset, 4096) == data[offset:offset + 4096]


def test_an_overwrite_by_another_mount_is_never_served_from_the_cache(mount: Path, second_mount: Path) -> None:
    name = "overwrite-" + uuid.uuid4().hex[:8]
    data = bytearray(os.urandom(9 * MiB))
    (mount / name).write_bytes(data)
    picks = random.Random(11)
    for trial in range(8):
        assert read_direct(second_mount / name, 0, len(data)) == data, f"trial {trial}"
        if trial % 2:  # the whole file again, same length: only the block ids tell it changed
            data = bytearray(os.urandom(len(data)))
            (mount / name).write_bytes(data)
        else:  # 4 KiB in the middle of a block, in place
            offset = picks.randrange(len(data) // 4096) * 4096
            patch = os.urandom(4096)
            with open(mount / name, "r+b") as f:
                f.seek(offset)
                f.write(patch)
            data[offset:offset + 4096] = patch
            assert read_direct(second_mount / name, offset, 4096) == patch, f"trial {trial}"
    assert read_direct(second_mount / name, 0, len(data)) == data


def test_the_block_cache_keeps_the_mount_within_its_configured_size(make_cluster, mount_of) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(env={"DFS_BLOCK_SIZE": str(MiB)})
    mnt = mount_of(cluster, "bounded", ["-o", "cache_size=64M"])
    chunk = os.urandom(4 * MiB)
    (mnt / "warm").write_bytes(chunk)
    assert (mnt / "warm").read_bytes() == chunk
    before = mount_rss(mnt)
    for index in range(48):  # 192 MiB written and read back: three times the cache
        (mnt / f"f{index}").write_bytes(chunk)
        assert read_direct(mnt / f"f{index}", 0, len(chunk)) == chunk
    grown = mount_rss(mnt) - before
    assert grown < 64 * MiB + 32 * MiB, f"the mount grew by {grown / MiB:.0f} MiB with a 64 MiB cache"


def test_another_mounts_change_is_seen_once_the_attribute_timeout_passed(mount: Path, second_mount: Path) -> None:
    name = "attrs-" + uuid.uuid4().hex[:8]
    (mount / name).write_bytes(b"x" * 100)
    assert (second_mount / name).stat().st_size == 100  # cached by the second mount and its kernel
    (mount / name).write_bytes(b"y" * 200)
    os.chmod(mount / name, 0o600)
    (mount / (name + "-new")).write_bytes(b"z")
    time.sleep(1.2)  # the default attribute and entry timeouts: 1 s
    status = (second_mount / name).stat()
    assert (status.st_size, status.st_mode & 0o777) == (200, 0o600)
    assert (second_mount / (name + "-new")).read_bytes() == b"z"
    os.unlink(mount / name)
    time.sleep(1.2)
    assert not (second_mount / name).exists()
