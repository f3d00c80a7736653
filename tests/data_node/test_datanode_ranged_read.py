"""Ranged block reads: the chunk digests recorded at store time, served with every ranged GET and
on ``/blocks/<id>/digests``, kept in the sidecar across restarts, recomputed when missing."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from werkzeug.test import Client

from data_node.roots.local import LocalRoot
from dfs_common.blocks import DIGEST_CHUNK, checksum, chunk_digests, digests_checksum, verify_span

BLOCK = "00000000000000b7"
DATA = os.urandom(3 * DIGEST_CHUNK + 1234)


def put(node: Any, block_id: str = BLOCK, data: bytes = DATA) -> None:
    response = Client(node).put(f"/blocks/{block_id}", data=data, headers={"X-DFS-Checksum": checksum(data)})
    assert response.status_code == 201, response.get_data()


def sidecar(root: Path, block_id: str = BLOCK) -> Path:
    return root / "blocks" / block_id[-2:] / (block_id + ".meta")


def test_ranged_get_carries_the_digests_that_verify_it(make_node: Any) -> None:
    node = make_node(max_block_size=1 << 20)
    put(node)
    start, stop = DIGEST_CHUNK, 3 * DIGEST_CHUNK
    got = Client(node).get(f"/blocks/{BLOCK}", headers={"Range": f"bytes={start}-{stop - 1}"})
    assert got.status_code == 206 and got.get_data() == DATA[start:stop]
    digests = bytes.fromhex(got.headers["X-DFS-Digests"])
    assert digests == chunk_digests(DATA)
    assert digests_checksum(digests) == got.headers["X-DFS-Checksum"] == checksum(DATA)
    assert verify_span(got.get_data(), start, digests)
    body = got.get_data()
    assert not verify_span(bytes([body[0] ^ 0xFF]) + body[1:], start, digests)  # (a flip, never a no-op)


def test_whole_get_has_no_digest_header(make_node: Any) -> None:
    node = make_node(max_block_size=1 << 20)
    put(node)
    got = Client(node).get(f"/blocks/{BLOCK}")
    assert got.status_code == 200 and "X-DFS-Digests" not in got.headers


def test_digests_endpoint_answers_the_raw_list(make_node: Any) -> None:
    node = make_node(max_block_size=1 << 20)
    put(node)
    got = Client(node).get(f"/blocks/{BLOCK}/digests")
    assert got.status_code == 200 and got.get_data() == chunk_digests(DATA)
    assert Client(node).get("/blocks/00000000000000b8/digests").status_code == 404
    assert Client(node).get("/blocks/..%2f..%2fetc/digests").status_code in (400, 404)


def test_digests_survive_a_restart_in_the_sidecar(tmp_path: Path) -> None:
    root = LocalRoot(str(tmp_path))
    root.store(BLOCK, io.BytesIO(DATA), 1 << 20, checksum(DATA))
    digest, length, listed = sidecar(tmp_path).read_text().split()
    assert (digest, int(length), bytes.fromhex(listed)) == (checksum(DATA), len(DATA), chunk_digests(DATA))
    again = LocalRoot(str(tmp_path))
    assert again.digests(BLOCK) == chunk_digests(DATA)
    assert again.info(BLOCK).checksum == checksum(DATA)


def test_sidecar_without_digests_gets_them_recomputed_on_start(tmp_path: Path) -> None:
    LocalRoot(str(tmp_path)).store(BLOCK, io.BytesIO(DATA), 1 << 20, checksum(DATA))
    sidecar(tmp_path).write_text(f"{checksum(DATA)} {len(DATA)}\n")
    root = LocalRoot(str(tmp_path))
    assert root.digests(BLOCK) == chunk_digests(DATA)
    assert len(sidecar(tmp_path).read_text().split()) == 3


def test_sidecar_whose_checksum_is_not_the_chunk_tree_is_quarantined(tmp_path: Path) -> None:
    LocalRoot(str(tmp_path)).store(BLOCK, io.BytesIO(DATA), 1 << 20, checksum(DATA))
    sidecar(tmp_path).write_text(f"0123456789abcdef {len(DATA)}\n")  # e.g. a whole-block hash
    root = LocalRoot(str(tmp_path))
    assert root.info(BLOCK) is None and root.usage().used == 0
    assert list((tmp_path / "quarantine").glob(f"{BLOCK}.*.reason"))


def test_garbled_digest_list_is_recomputed_from_the_bytes(tmp_path: Path) -> None:
    LocalRoot(str(tmp_path)).store(BLOCK, io.BytesIO(DATA), 1 << 20, checksum(DATA))
    digest, length, listed = sidecar(tmp_path).read_text().split()
    sidecar(tmp_path).write_text(f"{digest} {length} {'0' * len(listed)}\n")
    root = LocalRoot(str(tmp_path))
    assert root.info(BLOCK).checksum == checksum(DATA)
    assert root.digests(BLOCK) == chunk_digests(DATA)


def test_scrubber_finds_a_flipped_byte_in_one_chunk(make_node: Any, namenode: Any) -> None:
    node = make_node(max_block_size=1 << 20)
    put(node)
    path = Path(node.settings.fs_root) / "blocks" / BLOCK[-2:] / BLOCK
    raw = bytearray(path.read_bytes())
    raw[2 * DIGEST_CHUNK + 7] ^= 0x01
    path.write_bytes(bytes(raw))
    assert node.scrubber.scrub_once(throttle=False) == [BLOCK]
    assert node.root.info(BLOCK) is None
    assert namenode.bad_blocks[-1]["blockId"] == BLOCK
