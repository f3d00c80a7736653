"""The streaming file against the fake cluster: round trips, random writes, holes, truncation,
appends, failover, pipeline retries and concurrent positional I/O on one handle."""
from __future__ import annotations

import os
import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfs_client import HttpNameNode
from dfs_common.errors import ChecksumMismatch, Conflict, IllegalArgument
from fake_cluster import FakeCluster

MiB = 1024 * 1024


def blocks_of(cluster: FakeCluster, path: str) -> list[dict]:
    return cluster.namenode.entries[path]["blocks"]


def test_sequential_round_trip_50_mib(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(50 * MiB + 12345)
    with nn.open("/big", "wb") as f:
        for start in range(0, len(data), 128 * 1024):
            f.write(data[start:start + 128 * 1024])
    blocks = blocks_of(cluster, "/big")
    assert [b["length"] for b in blocks] == [MiB] * 50 + [12345]
    with nn.open("/big", "rb") as f:
        chunks = []
        while chunk := f.read(300 * 1024):
            chunks.append(chunk)
    assert b"".join(chunks) == data
    assert nn.cat("/big") == data


def test_one_huge_write_is_cut_into_blocks(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(7 * MiB + 1)
    nn.tee("/one", data)
    assert [b["length"] for b in blocks_of(cluster, "/one")] == [MiB] * 7 + [1]
    buffer = bytearray(len(data) + 10)
    with nn.open("/one") as f:
        assert f.readinto(buffer) == len(data)
    assert buffer[:len(data)] == data


def test_pwrite_in_the_middle_rewrites_only_touched_blocks(nn: HttpNameNode, cluster: FakeCluster) -> None:
    model = bytearray(os.urandom(5 * MiB + 500))
    nn.tee("/mid", bytes(model))
    before = [b["blockId"] for b in blocks_of(cluster, "/mid")]
    patch = os.urandom(100)
    with nn.open("/mid", "r+b") as f:
        assert f.pwrite(patch, 2 * MiB - 50) == 100
        assert f.pread(200, 2 * MiB - 100) == bytes(model[2 * MiB - 100:2 * MiB - 50]) + patch + \
            bytes(model[2 * MiB + 50:2 * MiB + 100])
    model[2 * MiB - 50:2 * MiB + 50] = patch
    after = [b["blockId"] for b in blocks_of(cluster, "/mid")]
    assert [b["length"] for b in blocks_of(cluster, "/mid")] == [MiB] * 5 + [500]
    assert after[0] == before[0] and after[3:] == before[3:]
    assert after[1] != before[1] and after[2] != before[2]
    assert nn.cat("/mid") == model


def test_sparse_write_far_beyond_eof_reads_zeros(nn: HttpNameNode, cluster: FakeCluster) -> None:
    with nn.open("/sparse", "wb") as f:
        f.write(b"head")
        f.pwrite(b"tail", 100 * MiB)
    blocks = blocks_of(cluster, "/sparse")
    assert len(blocks) <= 4 and sum(b["length"] for b in blocks) == 100 * MiB + 4
    assert any(b["blockId"] is None and b["length"] > MiB for b in blocks)  # holes coalesced
    with nn.open("/sparse") as f:
        assert f.pread(8, 0) == b"head" + bytes(4)
        assert f.pread(MiB, 50 * MiB) == bytes(MiB)
        assert f.pread(100, 100 * MiB - 4) == bytes(4) + b"tail"
    assert nn.stat("/sparse")["length"] == 100 * MiB + 4


def test_truncate_shrinks_and_grows(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(3 * MiB + 10)
    nn.tee("/t", data)
    with nn.open("/t", "r+b") as f:
        assert f.truncate(MiB + 7) == MiB + 7
        assert f.size == MiB + 7
    assert [b["length"] for b in blocks_of(cluster, "/t")] == [MiB, 7]
    assert nn.cat("/t") == data[:MiB + 7]
    with nn.open("/t", "r+b") as f:
        f.truncate(4 * MiB)
    assert blocks_of(cluster, "/t")[-1]["blockId"] is None
    assert nn.cat("/t") == data[:MiB + 7] + bytes(3 * MiB - 7)
    with nn.open("/t", "r+b") as f:
        f.truncate(0)
    assert nn.cat("/t") == b"" and blocks_of(cluster, "/t") == []


def test_small_appends_merge_into_one_block(nn: HttpNameNode, cluster: FakeCluster) -> None:
    nn.tee("/log", b"a" * 100)
    for i in range(5):
        with nn.open("/log", "ab") as f:
            f.write(bytes([66 + i]) * 100)
    assert [b["length"] for b in blocks_of(cluster, "/log")] == [600]
    assert nn.cat("/log") == b"a" * 100 + b"".join(bytes([66 + i]) * 100 for i in range(5))


def test_append_mode_creates_and_fills_last_block_first(nn: HttpNameNode, cluster: FakeCluster) -> None:
    with nn.open("/new-log", "ab") as f:
        f.write(os.urandom(MiB - 10))
    with nn.open("/new-log", "ab") as f:
        f.write(b"x" * 30)
    assert [b["length"] for b in blocks_of(cluster, "/new-log")] == [MiB, 20]


def test_irregular_blocks_read_and_write(nn: HttpNameNode, cluster: FakeCluster) -> None:
    parts = [os.urandom(n) for n in (300, MiB + 5, 17)]  # as CONCAT leaves a file
    ids = []
    for part in parts:
        ids.append(nn.write_block("/", part))
    status = nn.commit("/irregular", ids, create=True, overwrite=False)
    assert status["length"] == sum(map(len, parts))
    model = bytearray(b"".join(parts))
    assert nn.cat("/irregular") == model
    with nn.open("/irregular", "r+b") as f:
        f.pwrite(b"Z" * 400, 200)
        f.seek(0, os.SEEK_END)
        f.write(b"Q" * (2 * MiB))
    model[200:600] = b"Z" * 400
    model += b"Q" * (2 * MiB)
    assert nn.cat("/irregular") == model
    lengths = [b["length"] for b in blocks_of(cluster, "/irregular")]
    assert lengths[:2] == [300, MiB + 5] and max(lengths[2:]) <= MiB


def test_read_fails_over_from_a_corrupt_replica_and_reports_it(nn: HttpNameNode, cluster: FakeCluster) -> None:
    data = os.urandom(3 * MiB)
    nn.tee("/c", data)
    first = cluster.namenode.blocks[blocks_of(cluster, "/c")[0]["blockId"]]["nodes"][0]
    cluster.nodes[first].corrupt = True
    for _ in range(60):  # replicas are tried in a shuffled order: until the corrupt one was met
        assert nn.cat("/c") == data
        if cluster.namenode.bad_reports:
            break
    assert cluster.namenode.bad_reports and all(node == first for _, node in cluster.namenode.bad_reports)


def test_read_of_a_block_corrupt_everywhere_fails(nn: HttpNameNode, cluster: FakeCluster) -> None:
    nn.tee("/bad", b"x" * 1000)
    for node in cluster.nodes.values():
        node.corrupt = True
    with pytest.raises(ChecksumMismatch), nn.open("/bad") as f:
        f.read()


def test_read_refreshes_locations_when_replicas_moved(nn: HttpNameNode, cluster: FakeCluster) -> None:
    nn.tee("/moved", b"m" * 5000)
    block_id = blocks_of(cluster, "/moved")[0]["blockId"]
    with nn.open("/moved") as f:
        record = cluster.namenode.blocks[block_id]
        for node in record["nodes"]:
            del cluster.nodes[node].blocks[block_id]
        spare = next(n for n in cluster.nodes if n not in record["nodes"])
        cluster.nodes[spare].blocks[block_id] = b"m" * 5000
        record["nodes"] = [spare]
        assert f.read() == b"m" * 5000


@pytest.mark.parametrize("dead", ["dn0", "dn1"], ids=["first-of-pipeline", "downstream"])
def test_write_survives_a_dead_pipeline_node(nn: HttpNameNode, cluster: FakeCluster, dead: str) -> None:
    cluster.nodes[dead].stop()
    data = os.urandom(3 * MiB + 3)
    nn.tee("/survivor", data)
    for block in blocks_of(cluster, "/survivor"):
        assert dead not in cluster.namenode.blocks[block["blockId"]]["nodes"]
        assert len(cluster.namenode.blocks[block["blockId"]]["nodes"]) == 2
    assert nn.cat("/survivor") == data


def test_write_excludes_a_node_that_refuses_writes(nn: HttpNameNode, cluster: FakeCluster) -> None:
    cluster.nodes["dn0"].refuse_writes = True
    nn.tee("/refused", b"r" * 10)
    block = blocks_of(cluster, "/refused")[0]
    assert "dn0" not in cluster.namenode.blocks[block["blockId"]]["nodes"]


def test_concurrent_pwrite_and_pread_on_one_handle(nn: HttpNameNode, cluster: FakeCluster) -> None:
    size = 6 * MiB
    base = os.urandom(size)
    nn.tee("/shared", base)
    region = size // 8
    patches = {i: os.urandom(region) for i in range(8)}
    errors: list[BaseException] = []
    with nn.open("/shared", "r+b") as f:
        def worker(i: int) -> None:
            try:
                rng = random.Random(i)
                start = i * region
                for chunk in range(0, region, 128 * 1024):
                    piece = patches[i][chunk:chunk + 128 * 1024]
                    f.pwrite(piece, start + chunk)
                    assert f.pread(len(piece), start + chunk) == piece
                    other = rng.randrange(size - 4096)
                    assert len(f.pread(4096, other)) == 4096
            except BaseException as error:  # reported by the main thread
                errors.append(error)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert nn.cat("/shared") == b"".join(patches[i] for i in range(8))


def test_commit_detects_a_replaced_file(nn: HttpNameNode) -> None:
    nn.tee("/replaced", b"old")
    with pytest.raises(Conflict):
        with nn.open("/replaced", "r+b") as f:
            nn.rm("/replaced")
            nn.tee("/replaced", b"new")
            f.write(b"mine")
    assert nn.cat("/replaced") == b"new"


def test_open_modes_and_their_errors(nn: HttpNameNode) -> None:
    with pytest.raises(FileNotFoundError):
        nn.open("/missing")
    nn.tee("/exists", b"1")
    with pytest.raises(FileExistsError):
        nn.open("/exists", "xb")
    with pytest.raises(FileExistsError):
        nn.open("/exists", "wb", overwrite=False)
    with nn.open("/exists", "wb") as f:
        assert f.writable() and not f.readable()
        assert nn.cat("/exists") == b"1"  # replaced at the commit, not at open
    assert nn.cat("/exists") == b""
    with nn.open("/fresh", "xb") as f:
        with pytest.raises(FileNotFoundError):
            nn.stat("/fresh")  # created by the first commit, not at open
        f.write(b"abc")
    with nn.open("/fresh", "r+b") as f:
        assert f.read(1) == b"a"
        f.write(b"X")
        f.seek(0)
        assert f.read() == b"aXc"
    with pytest.raises(IllegalArgument):
        nn.open("/fresh", "rt")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.tuples(st.just("pwrite"), st.integers(0, 700), st.binary(min_size=1, max_size=300)),
    st.tuples(st.just("write"), st.just(0), st.binary(min_size=1, max_size=200)),
    st.tuples(st.just("truncate"), st.integers(0, 800), st.just(b"")),
    st.tuples(st.just("flush"), st.just(0), st.just(b"")),
    st.tuples(st.just("reopen"), st.just(0), st.just(b"")),
), max_size=20))
def test_file_matches_a_bytearray_model(nn: HttpNameNode, ops: list) -> None:
    model = bytearray()
    f = nn.open("/model", "w+b", block_size=64)
    try:
        for kind, offset, data in ops:
            if kind == "pwrite":
                f.pwrite(data, offset)
                model = model + bytes(max(0, offset - len(model)))
                model[offset:offset + len(data)] = data
            elif kind == "write":
                f.seek(0, os.SEEK_END)
                f.write(data)
                model += data
            elif kind == "truncate":
                f.truncate(offset)
                model = model[:offset] + bytes(max(0, offset - len(model)))
            elif kind == "flush":
                f.flush()
            else:
                f.close()
                f = nn.open("/model", "r+b")
            assert f.size == len(model)
            assert f.pread(len(model) + 10, 0) == model
    finally:
        f.close()
    assert nn.cat("/model") == model


def test_abort_drops_unflushed_writes(nn: HttpNameNode, cluster: FakeCluster) -> None:
    nn.tee("/keep", b"committed")
    f = nn.open("/keep", "ab")
    f.write(os.urandom(3 * MiB))  # some of it already shipped in the background
    commits = cluster.namenode.commits
    f.abort()
    assert f.closed and cluster.namenode.commits == commits
    assert nn.cat("/keep") == b"committed"
