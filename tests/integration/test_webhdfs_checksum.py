"""GETFILECHECKSUM on a real cluster, both forms: Hadoop's default MD5MD5CRC (unchanged) and, with
``checksum.combine.mode=COMPOSITE_CRC``, HDFS's COMPOSITE-CRC32C, which must equal the CRC32C of
the file's bytes (what an HDFS cluster answers for the same bytes whatever its block size) and
is composed from the CRC32Cs the data nodes took at write time, without reading a block."""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any

import crc32c
import pytest

from tests.cluster import Cluster, flip_byte, web
from tests.integration.test_webhdfs_two_step import create_two_step, mkdirs, open_bytes, url

MiB = 1024 * 1024
BLOCK = MiB
COMPOSITE = {"checksum.combine.mode": "COMPOSITE_CRC"}


def file_checksum(cluster: Cluster, path: str, **params: str) -> dict[str, Any]:
    response = web.get(url(cluster, path), params={"op": "GETFILECHECKSUM", "user.name": "root", **params},
                       timeout=60)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.history and response.history[0].status_code == 307  # through a data node
    return dict(response.json()["FileChecksum"])


def composite_of(data: bytes) -> dict[str, Any]:
    return {"algorithm": "COMPOSITE-CRC32C", "bytes": crc32c.crc32c(data).to_bytes(4, "big").hex(), "length": 4}


def md5md5crc_of(data: bytes, block: int) -> dict[str, Any]:
    """Hadoop's MD5-of-<n>MD5-of-512CRC32, computed here from the bytes, for ``block``-byte blocks."""
    md5s = b""
    for start in range(0, len(data), block):
        piece = data[start:start + block]
        md5s += hashlib.md5(b"".join(struct.pack(">I", zlib.crc32(piece[at:at + 512]))
                                     for at in range(0, len(piece), 512))).digest()
    per_block = -(-min(block, len(data)) // 512) if len(data) > block else 0
    raw = struct.pack(">iq", 512, per_block) + hashlib.md5(md5s).digest()
    return {"algorithm": f"MD5-of-{per_block}MD5-of-512CRC32", "bytes": raw.hex(), "length": 28}


def locations(cluster: Cluster, path: str) -> list[dict[str, Any]]:
    response = web.get(url(cluster, path), params={"op": "GETFILEBLOCKLOCATIONS", "user.name": "root"}, timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json()["BlockLocations"]["BlockLocation"])


@pytest.mark.timeout(300)
def test_composite_crc_of_a_multi_block_file_is_the_crc32c_of_its_bytes(cluster: Cluster, unique_path: str) -> None:
    mkdirs(cluster, unique_path)
    path = unique_path + "/multi.bin"
    data = os.urandom(3 * BLOCK + 54321)
    create_two_step(cluster, path, data, blocksize=str(BLOCK))
    blocks = locations(cluster, path)
    assert len(blocks) == 4
    for block in blocks:  # kept at write time, per block: what the composition is made of
        start = block["offset"]
        assert block["crc32c"] == f"{crc32c.crc32c(data[start:start + block['length']]):08x}", block
    assert file_checksum(cluster, path, **COMPOSITE) == composite_of(data)
    # the default is still Hadoop's MD5MD5CRC, as HDFS's WebHDFS answers
    assert file_checksum(cluster, path) == md5md5crc_of(data, BLOCK)
    assert file_checksum(cluster, path, **{"checksum.combine.mode": "MD5MD5CRC"}) == md5md5crc_of(data, BLOCK)
    # HDFS's form does not depend on the block size: the same bytes in 4 MiB blocks, or one block
    other = unique_path + "/one-block.bin"
    create_two_step(cluster, other, data, blocksize=str(4 * BLOCK))
    assert file_checksum(cluster, other, **COMPOSITE) == composite_of(data)
    assert file_checksum(cluster, other) != file_checksum(cluster, path)


@pytest.mark.timeout(300)
def test_composite_crc_after_append_and_truncate(cluster: Cluster, unique_path: str) -> None:
    mkdirs(cluster, unique_path)
    path = unique_path + "/grown.bin"
    data = os.urandom(BLOCK + 1000)
    create_two_step(cluster, path, data, blocksize=str(BLOCK))
    for extra in (os.urandom(BLOCK // 2 + 7), b"tail"):  # append rewrites or adds to the last block
        step1 = web.post(url(cluster, path), params={"op": "APPEND", "user.name": "root"},
                         allow_redirects=False, timeout=30)
        assert step1.status_code == 307, step1.text
        assert web.post(step1.headers["Location"], data=extra, timeout=120).status_code == 200
        data += extra
        assert file_checksum(cluster, path, **COMPOSITE) == composite_of(data)
        assert file_checksum(cluster, path) == md5md5crc_of(data, BLOCK)
    # TRUNCATE keeps a prefix of a block: its kept CRC32C is not that prefix's, so it is computed
    cut = BLOCK + 333
    response = web.post(url(cluster, path), params={"op": "TRUNCATE", "newlength": str(cut), "user.name": "root"},
                        timeout=60)
    assert response.status_code == 200, response.text
    assert file_checksum(cluster, path, **COMPOSITE) == composite_of(data[:cut])
    assert file_checksum(cluster, path) == md5md5crc_of(data[:cut], BLOCK)
    assert open_bytes(cluster, path) == data[:cut]  # OPEN through the data node reads the same prefix


@pytest.mark.timeout(120)
def test_empty_file_and_bad_mode(cluster: Cluster, unique_path: str) -> None:
    mkdirs(cluster, unique_path)
    path = unique_path + "/empty"
    create_two_step(cluster, path, b"")
    empty = {"algorithm": "MD5-of-0MD5-of-0CRC32", "length": 28,
             "bytes": (struct.pack(">iq", 0, 0) + hashlib.md5(bytes(32)).digest()).hex()}
    assert file_checksum(cluster, path) == empty  # HDFS's fixed answer for an empty file,
    assert file_checksum(cluster, path, **COMPOSITE) == empty  # in either mode
    response = web.get(url(cluster, path), params={"op": "GETFILECHECKSUM", "user.name": "root",
                                                   "checksum.combine.mode": "CRC32"}, allow_redirects=False, timeout=30)
    assert response.status_code == 400, response.text  # refused by the name node, before any redirect
    assert response.json()["RemoteException"]["exception"] == "IllegalArgumentException"


@pytest.mark.timeout(300)
def test_composite_crc_reads_no_block(make_cluster: Callable[..., Cluster]) -> None:
    """Every replica of every block damaged on disk: the MD5MD5CRC form, which reads the bytes,
    cannot be computed any more; the COMPOSITE-CRC one still answers the CRC32C of what was
    written, so it came from the kept per-block values and no block was read."""
    cluster = make_cluster(datanodes=2)
    mkdirs(cluster, "/c")
    data = os.urandom(2 * BLOCK + 4321)
    create_two_step(cluster, "/c/f", data, blocksize=str(BLOCK))
    ids = {block["blockId"] for block in locations(cluster, "/c/f")}
    damaged = 0
    for node in cluster.datanodes:
        for block_id, path in node.block_files().items():
            if block_id in ids:
                flip_byte(path, 100)
                damaged += 1
    assert damaged == 2 * len(ids)  # replication 2 on two nodes: every copy
    assert file_checksum(cluster, "/c/f", **COMPOSITE) == composite_of(data)
    response = web.get(url(cluster, "/c/f"), params={"op": "GETFILECHECKSUM", "user.name": "root"}, timeout=60)
    assert response.status_code >= 400, response.text  # reading found every copy bad


@pytest.mark.timeout(300)
def test_composite_crc_of_an_erasure_coded_file(make_cluster: Callable[..., Cluster]) -> None:
    """A group's CRC32C is of its logical bytes, which no data node receives whole: its writer
    sends it with the COMMIT (like the group's checksum), for WebHDFS and dfs_client writers alike."""
    cluster = make_cluster(datanodes=5, env={"DFS_BLOCK_SIZE": str(BLOCK)})
    nn = cluster.client("root")
    nn.mkdirs("/ec")
    nn.set_ec_policy("/ec", "RS-3-2")
    data = os.urandom(3 * BLOCK + 12345)
    with nn.open("/ec/client.bin", "wb") as f:
        f.write(data)
    create_two_step(cluster, "/ec/webhdfs.bin", data)
    for path in ("/ec/client.bin", "/ec/webhdfs.bin"):
        groups = locations(cluster, path)
        assert len(groups) > 1 and all(g.get("fragments") for g in groups)
        for group in groups:
            start = group["offset"]
            assert group["crc32c"] == f"{crc32c.crc32c(data[start:start + group['length']]):08x}", group
        assert file_checksum(cluster, path, **COMPOSITE) == composite_of(data)
