"""The whole FUSE path (kernel → libfuse 3 → adapter → FileSystem) over the in-memory name node."""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posix_model import OPS, assert_behaves_like


def renameat2(src: Path, dst: Path, flags: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.renameat2(-100, bytes(src), -100, bytes(dst), flags)
    return 0 if result == 0 else ctypes.get_errno()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(OPS, min_size=1, max_size=25))
def test_random_operations_match_a_local_directory(memory_mount: Path, tmp_path_factory: pytest.TempPathFactory,
                                                   ops: list) -> None:  # type: ignore[type-arg]
    local = tmp_path_factory.mktemp("local")
    assert_behaves_like(memory_mount / local.name, local, ops)


def test_unlinked_file_stays_readable_through_its_handle(memory_mount: Path) -> None:
    path = memory_mount / "gone"
    path.write_bytes(b"still here")
    with open(path, "rb") as f:
        os.unlink(path)
        assert not path.exists()
        assert f.read() == b"still here"
    # libfuse removes its hidden name at RELEASE, which the kernel sends after close(2) returns
    deadline = time.monotonic() + 10
    while os.listdir(memory_mount) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.listdir(memory_mount) == []


def test_shared_writable_mmap(memory_mount: Path) -> None:
    path = memory_mount / "mapped"
    path.write_bytes(bytes(8192))
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 8192) as m:
        m[100:105] = b"hello"
        m.flush()
    assert path.read_bytes()[100:105] == b"hello"


def test_single_timestamp_changes_and_noreplace(memory_mount: Path) -> None:
    path = memory_mount / "t"
    path.write_bytes(b"")
    subprocess.run(["touch", "-m", "-d", "2001-01-01 00:00:00Z", str(path)], check=True)
    subprocess.run(["touch", "-a", "-d", "2002-01-01 00:00:00Z", str(path)], check=True)
    st_ = os.stat(path)
    assert st_.st_mtime == 978307200 and st_.st_atime == 1009843200
    (memory_mount / "u").write_bytes(b"u")
    assert renameat2(path, memory_mount / "u", 1) == errno.EEXIST  # RENAME_NOREPLACE
    assert renameat2(path, memory_mount / "u", 2) in (errno.EINVAL, errno.EOPNOTSUPP)  # RENAME_EXCHANGE
    assert (memory_mount / "u").read_bytes() == b"u"


def test_long_names_and_non_empty_rmdir(memory_mount: Path) -> None:
    with pytest.raises(OSError) as error:
        (memory_mount / ("x" * 256)).write_bytes(b"")
    assert error.value.errno == errno.ENAMETOOLONG
    (memory_mount / "d").mkdir()
    (memory_mount / "d" / "f").write_bytes(b"")
    with pytest.raises(OSError) as error:
        os.rmdir(memory_mount / "d")
    assert error.value.errno == errno.ENOTEMPTY


def test_large_sequential_io_uses_big_requests(memory_mount: Path) -> None:
    data = os.urandom(8 << 20)
    (memory_mount / "big").write_bytes(data)
    assert (memory_mount / "big").read_bytes() == data
    assert os.stat(memory_mount / "big").st_blksize == 1 << 20
