"""Client-side encryption through ``HttpNameNode(url, key=…)``: plaintext for the key holder,
ciphertext for everyone else and on the data nodes' disks; any changed, moved or cut byte is an
error, never wrong plaintext; a random read decrypts only the chunks it covers."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from dfs_client import HttpNameNode
from dfs_client.encryption import (CHUNK, HEADER_SIZE, SEALED_CHUNK, ContentKey, new_key_file,
                                   plain_length, sealed_length)
from dfs_client.sealed import EncryptedFile
from dfs_common.errors import DecryptionFailed, WrongKey
from tests.cluster import Cluster
from tests.ecosystem.conftest import client_options

MARKER = b"TOP-SECRET-STRAIN-DATA"


def secret(size: int, seed: int = 1) -> bytes:
    """Random bytes with a recognisable marker every 4 KiB (to look for on the disks)."""
    data = bytearray(random.Random(seed).randbytes(size))
    for at in range(0, max(size - len(MARKER), 0), 4096):
        data[at:at + len(MARKER)] = MARKER
    return bytes(data)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "dfs.key"
    new_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    return path


@pytest.fixture
def sealed(cluster: Cluster, key_file: Path) -> Any:
    client = HttpNameNode(cluster.namenode_url, key=ContentKey.from_file(key_file), **client_options(cluster))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def plain(cluster: Cluster) -> Any:
    client = HttpNameNode(cluster.namenode_url, **client_options(cluster))
    try:
        yield client
    finally:
        client.close()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5, 5 * 1024 * 1024 + 17])
def test_round_trip_with_the_key_ciphertext_without(sealed: Any, plain: Any, unique_path: str, size: int) -> None:
    data = secret(size, seed=size)
    path = unique_path + "/f.bin"
    sealed.mkdirs(unique_path)
    sealed.tee(path, data)
    assert sealed.cat(path) == data
    assert sealed.stat(path)["length"] == size
    assert [s["length"] for s in sealed.list_status(unique_path)] == [size]
    stored = plain.cat(path)
    assert plain.stat(path)["length"] == len(stored) == (sealed_length(size) if size else 0)
    assert MARKER not in stored
    if size:
        assert stored.startswith(b"DFSCRYPT") and plain_length(len(stored)) == size
        with sealed.open(path, "rb") as handle:  # random reads agree with the plaintext
            rng = random.Random(size)
            for _ in range(20):
                offset = rng.randrange(size)
                handle.seek(offset)
                length = rng.randrange(1, 200_000)
                assert handle.read(length) == data[offset:offset + length]
                assert handle.pread(1000, offset) == data[offset:offset + 1000]


def test_the_data_nodes_hold_only_ciphertext(cluster: Cluster, sealed: Any, plain: Any, unique_path: str) -> None:
    data = secret(2 * 1024 * 1024)
    sealed.mkdirs(unique_path)
    sealed.tee(unique_path + "/disk.bin", data)
    blocks = plain.block_locations(unique_path + "/disk.bin")["BlockLocation"]
    assert blocks
    for block in blocks:
        for node in block["dataNodes"]:
            on_disk = cluster.datanode_by_id(node["id"]).block_path(block["blockId"]).read_bytes()
            assert len(on_disk) >= block["length"] and MARKER not in on_disk


def test_writes_in_place_appends_truncates_match_a_model(sealed: Any, unique_path: str) -> None:
    path = unique_path + "/edit.bin"
    sealed.mkdirs(unique_path)
    model = bytearray(secret(300_000, seed=3))
    sealed.tee(path, bytes(model))
    rng = random.Random(5)
    with sealed.open(path, "r+b") as handle:
        for step in range(200):
            action = rng.random()
            if action < 0.6:
                offset, piece = rng.randrange(len(model) + 70_000), rng.randbytes(rng.randrange(1, 90_000))
                handle.pwrite(piece, offset)
                if offset > len(model):
                    model.extend(bytes(offset - len(model)))
                model[offset:offset + len(piece)] = piece
            elif action < 0.75:
                size = rng.randrange(len(model) + 100_000)
                handle.truncate(size)
                del model[size:]
                model.extend(bytes(size - len(model)))
            elif action < 0.9:
                offset = rng.randrange(len(model) + 1)
                assert handle.pread(50_000, offset) == bytes(model[offset:offset + 50_000]), step
            else:
                handle.flush()
                assert sealed.cat(path) == bytes(model), step
    assert sealed.cat(path) == bytes(model)
    with sealed.open(path, "ab") as handle:
        handle.write(b"tail")
    assert sealed.cat(path) == bytes(model) + b"tail"
    sealed.truncate(path, 1000)
    assert sealed.cat(path) == bytes(model[:1000])
    sealed.truncate(path, 0)
    assert sealed.cat(path) == b""


def test_a_long_sequential_write_seals_early_and_reads_back(sealed: Any, unique_path: str) -> None:
    sealed.mkdirs(unique_path)
    data = secret(9 * 1024 * 1024 + 3, seed=9)  # over MAX_DIRTY chunks: sealed while writing
    with sealed.open(unique_path + "/long.bin", "wb") as handle:
        for at in range(0, len(data), 128 * 1024):
            handle.write(data[at:at + 128 * 1024])
    assert sealed.cat(unique_path + "/long.bin") == data


def rewrite_stored(plain: Any, path: str, change: Any) -> None:
    """Change the stored (encrypted) bytes through the ordinary write path, so that the data
    nodes' checksums are right and only the encryption can notice."""
    stored = bytearray(plain.cat(path))
    plain.tee(path, bytes(change(stored)))


def expect_error(sealed: Any, path: str, *ranges: tuple[int, int]) -> None:
    with pytest.raises((DecryptionFailed, WrongKey)):
        sealed.cat(path)
    for offset, length in ranges:
        with pytest.raises((DecryptionFailed, WrongKey)):
            with sealed.open(path, "rb") as handle:
                handle.pread(length, offset)


def test_every_flipped_byte_is_an_error(sealed: Any, plain: Any, unique_path: str) -> None:
    sealed.mkdirs(unique_path)
    data = secret(2 * CHUNK + 777, seed=11)
    path = unique_path + "/flip.bin"
    sealed.tee(path, data)
    original = plain.cat(path)
    last = HEADER_SIZE + 2 * SEALED_CHUNK
    positions = list(range(HEADER_SIZE))  # every header byte
    for start in (HEADER_SIZE, HEADER_SIZE + SEALED_CHUNK, last):  # nonce, body, tag of each chunk
        end = start + SEALED_CHUNK if start != last else len(original)
        positions += [p for p in (start, start + 11, start + 12, start + 500, end - 17, end - 1) if p < end]
    for position in positions:
        plain.tee(path, original[:position] + bytes([original[position] ^ 0x20]) + original[position + 1:])
        chunk = max(0, (position - HEADER_SIZE) // SEALED_CHUNK)
        try:
            expect_error(sealed, path, (chunk * CHUNK, 10))
        except BaseException as failure:
            raise AssertionError(f"byte {position} of {len(original)} flipped unnoticed") from failure
    plain.tee(path, original)
    assert sealed.cat(path) == data


def test_chunks_cannot_be_reordered_swapped_cut_or_grown(sealed: Any, plain: Any, unique_path: str,
                                                         cluster: Cluster) -> None:
    sealed.mkdirs(unique_path)
    a, b = unique_path + "/a.bin", unique_path + "/b.bin"
    sealed.tee(a, secret(3 * CHUNK, seed=21))
    sealed.tee(b, secret(3 * CHUNK, seed=22))
    stored_a, stored_b = plain.cat(a), plain.cat(b)

    def chunk(stored: bytes, index: int) -> bytes:
        start = HEADER_SIZE + index * SEALED_CHUNK
        return stored[start:start + SEALED_CHUNK]

    header = stored_a[:HEADER_SIZE]
    reordered = header + chunk(stored_a, 1) + chunk(stored_a, 0) + chunk(stored_a, 2)
    from_b = header + chunk(stored_a, 0) + chunk(stored_b, 1) + chunk(stored_a, 2)
    cut = stored_a[:HEADER_SIZE + 2 * SEALED_CHUNK]  # at a chunk boundary
    grown = stored_a + chunk(stored_a, 1)
    b_with_a_header = header + stored_b[HEADER_SIZE:]
    for _name, forged in [("reordered", reordered), ("from_b", from_b), ("cut", cut), ("grown", grown),
                         ("b_with_a_header", b_with_a_header)]:
        plain.tee(a, forged)
        with pytest.raises(DecryptionFailed):
            sealed.cat(a)
    # a file of another key: told apart from damage
    other = HttpNameNode(cluster.namenode_url, key=ContentKey(key=os.urandom(32)), **client_options(cluster))
    try:
        with pytest.raises(WrongKey):
            other.cat(b)
    finally:
        other.close()
    plain.tee(a, b"plain text, never encrypted")
    with pytest.raises(DecryptionFailed, match="not encrypted"):
        sealed.cat(a)


def test_random_reads_decrypt_only_the_chunks_they_cover(sealed: Any, unique_path: str) -> None:
    sealed.mkdirs(unique_path)
    data = secret(8 * 1024 * 1024, seed=31)  # 128 chunks, over two 4 MiB blocks
    sealed.tee(unique_path + "/big.bin", data)
    with sealed.open(unique_path + "/big.bin", "rb") as handle:
        assert isinstance(handle, EncryptedFile)
        assert handle.pread(100, 77 * CHUNK + 10) == data[77 * CHUNK + 10:77 * CHUNK + 110]
        assert handle.chunks_decrypted == 1
        assert handle.pread(200, 90 * CHUNK - 100) == data[90 * CHUNK - 100:90 * CHUNK + 100]
        assert handle.chunks_decrypted == 3  # the two chunks on either side of the boundary
        assert handle.pread(50, 77 * CHUNK + 500) == data[77 * CHUNK + 500:77 * CHUNK + 550]
        assert handle.chunks_decrypted == 3  # already decrypted: kept
        handle.seek(0)
        assert handle.read() == data
        assert handle.chunks_decrypted == 3 + 128 - 3  # each chunk once, however it is read


def test_a_passphrase_derives_the_same_key_in_another_client(cluster: Cluster, unique_path: str) -> None:
    writer = HttpNameNode(cluster.namenode_url, key=ContentKey.from_passphrase("correct horse battery"),
                          **client_options(cluster))
    reader = HttpNameNode(cluster.namenode_url, key=ContentKey.from_passphrase("correct horse battery"),
                          **client_options(cluster))
    wrong = HttpNameNode(cluster.namenode_url, key=ContentKey.from_passphrase("correct horse battery!"),
                         **client_options(cluster))
    try:
        writer.mkdirs(unique_path)
        writer.tee(unique_path + "/p.bin", MARKER * 1000)
        assert reader.cat(unique_path + "/p.bin") == MARKER * 1000
        with pytest.raises(WrongKey):
            wrong.cat(unique_path + "/p.bin")
    finally:
        for client in (writer, reader, wrong):
            client.close()


def test_only_the_tree_under_encrypt_under_is_encrypted(cluster: Cluster, key_file: Path, plain: Any,
                                                        unique_path: str) -> None:
    client = HttpNameNode(cluster.namenode_url, key=ContentKey.from_file(key_file),
                          encrypt_under=unique_path + "/secret", **client_options(cluster))
    try:
        client.mkdirs(unique_path + "/secret/deep")
        client.tee(unique_path + "/secret/deep/s.bin", MARKER)
        client.tee(unique_path + "/open.bin", MARKER)
        assert plain.cat(unique_path + "/open.bin") == MARKER
        assert MARKER not in plain.cat(unique_path + "/secret/deep/s.bin")
        assert client.cat(unique_path + "/secret/deep/s.bin") == MARKER
        client.cp(unique_path + "/secret/deep/s.bin", unique_path + "/secret/copy.bin")
        assert client.cat(unique_path + "/secret/copy.bin") == MARKER
    finally:
        client.close()


def test_abort_keeps_the_old_file_and_truncate_to_zero_needs_no_old_bytes(sealed: Any, plain: Any,
                                                                          unique_path: str) -> None:
    sealed.mkdirs(unique_path)
    path = unique_path + "/kept.bin"
    sealed.tee(path, b"old content")
    handle = sealed.open(path, "wb")
    handle.write(b"never committed" * 10_000)
    handle.abort()
    assert sealed.cat(path) == b"old content"
    stored = bytearray(plain.cat(path))
    stored[HEADER_SIZE + 3] ^= 1  # a damaged chunk: unreadable, yet the file can be emptied and reused
    plain.tee(path, bytes(stored))
    with sealed.open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(b"fresh")
    assert sealed.cat(path) == b"fresh"
