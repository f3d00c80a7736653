"""The mount with a key (``dfs.py --key-file``/``--passphrase-file``): plaintext through it, the
same files ciphertext through a mount without the key and on the cluster, a damaged chunk EIO."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dfs_client import HttpNameNode
from dfs_client.encryption import CHUNK, HEADER_SIZE, SEALED_CHUNK, ContentKey, sealed_length
from tests.cluster import REPO, Cluster
from tests.ecosystem.conftest import client_options

MARKER = b"TOP-SECRET-STRAIN-DATA"


def unmount(path: Path) -> None:
    for tool in ("fusermount3", "fusermount"):
        if shutil.which(tool) and subprocess.run([tool, "-u", "-z", str(path)], capture_output=True).returncode == 0:
            break
    deadline = time.monotonic() + 10
    while os.path.ismount(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def mount_env(cluster: Cluster) -> dict[str, str] | None:
    """The environment a mount of ``cluster`` needs (its token, when the cluster is secured)."""
    made = getattr(cluster, "mount_env", None)
    return made() if made is not None else None


@contextmanager
def mounted(cluster: Cluster, base: Path, name: str, *extra: str) -> Iterator[Path]:
    point = base / name
    point.mkdir()
    log = base / f"{name}.log"
    command = [sys.executable, str(REPO / "dfs.py"), str(point), "127.0.0.1", str(cluster.namenode_port),
               "--log", str(log), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env=mount_env(cluster))
    assert done.returncode == 0, f"{command}: {done.stderr}"
    try:
        yield point
    finally:
        unmount(point)
        if log.exists() and log.stat().st_size:
            print(f"---- {name} log ----\n" + log.read_text()[-5000:])


@pytest.fixture
def base() -> Iterator[Path]:
    made = Path(tempfile.mkdtemp(prefix="dfs-crypt-mounts-", dir="/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_mount_with_key_reads_and_writes_plaintext_the_cluster_sees_ciphertext(
        cluster: Cluster, base: Path, unique_path: str) -> None:
    key_file = base / "k"
    subprocess.run([sys.executable, "-m", "dfs_client.encryption", "new-key", str(key_file)], cwd=REPO, check=True)
    data = (MARKER + os.urandom(4000)) * 100  # 400 KiB, seven chunks
    with mounted(cluster, base, "keyed", "--key-file", str(key_file)) as keyed, \
            mounted(cluster, base, "bare") as bare:
        directory = keyed / unique_path.lstrip("/")
        directory.mkdir()
        (directory / "a.bin").write_bytes(data)
        with open(directory / "a.bin", "ab") as handle:  # an append re-seals the last chunk
            handle.write(b"appended")
        with open(directory / "a.bin", "r+b") as handle:  # a write in place, mid-chunk
            handle.seek(3 * CHUNK + 5)
            handle.write(b"X" * 10)
        expected = bytearray(data + b"appended")
        expected[3 * CHUNK + 5:3 * CHUNK + 15] = b"X" * 10
        assert (directory / "a.bin").stat().st_size == len(expected)
        assert (directory / "a.bin").read_bytes() == bytes(expected)
        shutil.copy(directory / "a.bin", directory / "copy.bin")
        assert (directory / "copy.bin").read_bytes() == bytes(expected)
        os.truncate(directory / "copy.bin", 1000)
        assert (directory / "copy.bin").read_bytes() == bytes(expected[:1000])
        with open(directory / "moving.bin", "wb") as handle:  # renamed while open: sealed at the new name
            handle.write(data[:100_000])
            handle.flush()
            os.rename(directory / "moving.bin", directory / "moved.bin")
            handle.write(data[100_000:])
        assert (directory / "moved.bin").read_bytes() == data
        (directory / "empty").touch()
        assert (directory / "empty").read_bytes() == b""

        stored = (bare / unique_path.lstrip("/") / "a.bin").read_bytes()  # the mount without the key
        assert len(stored) == sealed_length(len(expected)) and stored.startswith(b"DFSCRYPT")
        assert MARKER not in stored and b"appended" not in stored
        keyed_client = HttpNameNode(cluster.namenode_url, key=ContentKey.from_file(key_file),
                                    **client_options(cluster))
        try:
            assert keyed_client.cat(unique_path + "/a.bin") == bytes(expected)  # HttpNameNode agrees
        finally:
            keyed_client.close()

        # a damaged chunk (rewritten with good block checksums): EIO for a read of it, never bytes
        plain = cluster.client()
        damaged = bytearray(stored)
        damaged[HEADER_SIZE + 2 * SEALED_CHUNK + 100] ^= 1
        plain.tee(unique_path + "/a.bin", bytes(damaged))
        with open(directory / "a.bin", "rb") as handle:
            assert handle.read(1000) == bytes(expected[:1000])  # chunk 0 is intact
            handle.seek(2 * CHUNK + 50)
            with pytest.raises(OSError) as caught:
                handle.read(100)
            assert caught.value.errno == errno.EIO


def test_mount_with_a_passphrase_file_and_a_bad_key_file(cluster: Cluster, base: Path, unique_path: str) -> None:
    phrase = base / "phrase.txt"
    phrase.write_text("detector buffers are not secret enough\n")
    with mounted(cluster, base, "phrase", "--passphrase-file", str(phrase)) as point:
        directory = point / unique_path.lstrip("/")
        directory.mkdir()
        (directory / "p.txt").write_bytes(MARKER)
        assert (directory / "p.txt").read_bytes() == MARKER
    reader = HttpNameNode(cluster.namenode_url, key=ContentKey.from_passphrase(phrase.read_text().rstrip("\n")),
                          **client_options(cluster))
    try:
        assert reader.cat(unique_path + "/p.txt") == MARKER
    finally:
        reader.close()
    assert MARKER not in cluster.client().cat(unique_path + "/p.txt")
    bad = base / "bad.key"
    bad.write_text("not a key\n")
    point = base / "never"
    point.mkdir()
    done = subprocess.run([sys.executable, str(REPO / "dfs.py"), str(point), "127.0.0.1", str(cluster.namenode_port),
                           "--key-file", str(bad)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=mount_env(cluster))
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("dfs: ") and "key file" in lines[0]
    assert not os.path.ismount(point)
