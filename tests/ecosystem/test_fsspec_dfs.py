"""``dfs://`` through fsspec as users meet it: the registry and URLs, pandas and pyarrow, and the
bytes read straight from the data nodes (several blocks at once, checksums verified), never
through WebHDFS's OPEN redirect."""
from __future__ import annotations

import os
import random
from typing import Any

import fsspec
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dfs_client.fsspec import DFSFileSystem
from tests.cluster import Cluster
from tests.ecosystem.conftest import client_options

MiB = 1024 * 1024


def url(cluster: Cluster, path: str) -> str:
    return f"dfs://127.0.0.1:{cluster.namenode_port}{path}"


def test_protocol_dfs_is_registered_and_urls_name_the_cluster(cluster: Cluster, unique_path: str) -> None:
    assert fsspec.get_filesystem_class("dfs") is DFSFileSystem
    options = client_options(cluster)
    with fsspec.open(url(cluster, unique_path + "/a/hello.txt"), "wt", **options) as handle:
        handle.write("hello, dfs\n")  # missing parents are made, as object stores do
    fs, path = fsspec.core.url_to_fs(url(cluster, unique_path + "/a/hello.txt"), **options)
    assert isinstance(fs, DFSFileSystem) and fs.port == cluster.namenode_port
    assert path == unique_path + "/a/hello.txt"
    assert fs.cat(path) == b"hello, dfs\n"
    assert fs.info(path)["size"] == 11 and fs.info(path)["type"] == "file"
    assert fs.ls(unique_path + "/a", detail=False) == [path]
    # what the cluster itself holds, asked through the ordinary client
    assert cluster.client().cat(path) == b"hello, dfs\n"
    with pytest.raises(FileNotFoundError):
        fs.cat(unique_path + "/missing")
    with pytest.raises(FileNotFoundError):
        fs.open(unique_path + "/missing", "rb")


def test_pandas_writes_and_reads_parquet_through_dfs_urls(cluster: Cluster, unique_path: str) -> None:
    rows = 50_000
    rng = random.Random(7)
    frame = pd.DataFrame({"event": range(rows), "energy": [rng.random() for _ in range(rows)],
                          "detector": [f"H{index % 3}" for index in range(rows)]})
    target = url(cluster, unique_path + "/runs/run1.parquet")
    options = client_options(cluster)
    frame.to_parquet(target, engine="pyarrow", storage_options=options or None, row_group_size=10_000)
    back = pd.read_parquet(target, engine="pyarrow", storage_options=options or None)
    pd.testing.assert_frame_equal(back, frame)
    # one column of one row group: pyarrow seeks to the footer and reads only what it needs
    some = pd.read_parquet(target, columns=["energy"], storage_options=options or None,
                           filters=[("event", ">=", 40_000)])
    assert some["energy"].tolist() == frame["energy"].tolist()[40_000:]
    fs = fsspec.filesystem("dfs", host="127.0.0.1", port=cluster.namenode_port, **options)
    assert pq.ParquetFile(fs.open(unique_path + "/runs/run1.parquet")).metadata.num_rows == rows


def test_reads_fetch_blocks_from_data_nodes_in_parallel_not_through_open(
        cluster: Cluster, unique_path: str, recording_client: Any) -> None:
    data = os.urandom(8 * MiB + 12345)
    writer = DFSFileSystem(client=cluster.client(), block_size=MiB, skip_instance_cache=True)
    writer.pipe_file(unique_path + "/big.bin", data)
    fs = DFSFileSystem(client=recording_client, skip_instance_cache=True)
    transport = recording_client.transport
    with fs.open(unique_path + "/big.bin", "rb") as handle:
        assert handle.read() == data
    name_node = [query for _, where, query in transport.sent if where.startswith(cluster.namenode_url)]
    assert name_node and all("op=OPEN" not in query for query in name_node), name_node
    assert sum("op=GETFILEBLOCKLOCATIONS" in query for query in name_node) == 1
    data_nodes = {node.url for node in cluster.datanodes}
    block_gets = [where for method, where, _ in transport.sent
                  if method == "GET" and any(where.startswith(node) for node in data_nodes)]
    assert len(block_gets) == 9 and all("/blocks/" in where for where in block_gets)
    assert transport.most_in_flight > 1  # blocks fetched at once, not one after another
    # a random read in the middle: only the 64 KiB chunks covering it, not its 1 MiB block
    before = len(transport.sent)
    assert fs.cat_file(unique_path + "/big.bin", start=3 * MiB + 100, end=3 * MiB + 200) == \
        data[3 * MiB + 100:3 * MiB + 200]
    assert len(transport.sent) - before == 2  # the block list, one ranged GET


def test_a_corrupt_replica_is_never_served(cluster: Cluster, unique_path: str) -> None:
    fs = DFSFileSystem(client=cluster.client(), block_size=MiB, skip_instance_cache=True)
    data = os.urandom(2 * MiB)
    path = unique_path + "/checked.bin"
    fs.pipe_file(path, data)
    block = cluster.client().block_locations(path)["BlockLocation"][1]
    holders = [cluster.datanode_by_id(node["id"]) for node in block["dataNodes"]]
    assert len(holders) == 3
    for node in holders[:2]:  # two of the three copies rot on disk
        target = node.block_path(block["blockId"])
        rotten = bytearray(target.read_bytes())
        rotten[1000] ^= 0xFF
        target.write_bytes(bytes(rotten))
    for _ in range(3):  # whichever replica each read tries first
        with fs.open(path, "rb") as handle:
            assert handle.read() == data


def test_transaction_commits_at_its_end_and_discard_keeps_the_old_file(cluster: Cluster, unique_path: str) -> None:
    fs = DFSFileSystem(client=cluster.client(), skip_instance_cache=True)
    path = unique_path + "/tx.bin"
    fs.pipe_file(path, b"old")
    with fs.transaction:
        with fs.open(path, "wb") as handle:
            handle.write(b"new")
        assert fs.cat(path) == b"old"  # not before the transaction ends
    assert fs.cat(path) == b"new"
    fs.start_transaction()
    with fs.open(path, "wb") as handle:
        handle.write(b"discarded")
    fs.transaction.complete(commit=False)
    assert fs.cat(path) == b"new"


def test_mv_is_one_rename_and_rm_removes_trees(cluster: Cluster, unique_path: str) -> None:
    fs = DFSFileSystem(client=cluster.client(), skip_instance_cache=True)
    fs.pipe({unique_path + "/d/x": b"x", unique_path + "/d/e/y": b"y", unique_path + "/z": b"old z"})
    file_id = fs.info(unique_path + "/d/x")["fileId"]
    fs.mv(unique_path + "/d/x", unique_path + "/z")  # replaces z, same inode as x had
    assert fs.info(unique_path + "/z")["fileId"] == file_id and fs.cat(unique_path + "/z") == b"x"
    fs.mv(unique_path + "/d", unique_path + "/moved", recursive=True)
    assert fs.find(unique_path + "/moved") == [unique_path + "/moved/e/y"]
    fs.rm(unique_path + "/moved", recursive=True)
    assert not fs.exists(unique_path + "/moved")
    with pytest.raises(FileNotFoundError):
        fs.rm(unique_path + "/moved")


def test_pandas_through_an_encrypting_filesystem(cluster: Cluster, unique_path: str) -> None:
    from dfs_client.encryption import ContentKey

    key = ContentKey(key=os.urandom(32))
    options = {"key": key, **client_options(cluster)}
    frame = pd.DataFrame({"secret": [f"TOP-SECRET-{index}" for index in range(5000)]})
    target = url(cluster, unique_path + "/sealed.parquet")
    frame.to_parquet(target, storage_options=options, compression=None)
    pd.testing.assert_frame_equal(pd.read_parquet(target, storage_options=options), frame)
    stored = cluster.client().cat(unique_path + "/sealed.parquet")
    assert stored.startswith(b"DFSCRYPT") and b"TOP-SECRET" not in stored
    other = fsspec.filesystem("dfs", host="127.0.0.1", port=cluster.namenode_port,
                              key=ContentKey(key=os.urandom(32)), **client_options(cluster))
    assert other is not fsspec.filesystem("dfs", host="127.0.0.1", port=cluster.namenode_port, **options)
    with pytest.raises(PermissionError):  # another key: WrongKey, never the other key's "plaintext"
        other.cat(unique_path + "/sealed.parquet")
