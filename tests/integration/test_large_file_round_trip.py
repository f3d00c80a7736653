"""A 1 GiB file through ``HttpNameNode``: byte-identical on read, three confirmed replicas per block on
three distinct data nodes, and those replicas really on the data nodes' disks with the right bytes."""
from __future__ import annotations

import pytest

from dfs_common.blocks import hasher as block_hasher
from tests.cluster import Cluster, web
from tests.integration.payload import MiB, Pattern, stream_digest

GiB = 1024 * MiB


def file_digest(path: str) -> tuple[str, int]:
    hasher = block_hasher()
    size = 0
    with open(path, "rb") as file:
        while piece := file.read(8 * MiB):
            hasher.update(piece)
            size += len(piece)
    return hasher.hexdigest(), size


@pytest.mark.timeout(600)
def test_1gib_file_reads_back_byte_identical_with_three_replicas_on_disk(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client()
    path = unique_path + "/big.bin"
    nn.mkdirs(unique_path)
    pattern = Pattern(GiB, chunk=8 * MiB, seed=11)
    try:
        with nn.open(path, "wb") as file:
            assert pattern.write_to(file) == GiB

        assert nn.get_status(path)["length"] == GiB
        with nn.open(path, "rb") as file:
            digest, length = stream_digest(file)
        assert length == GiB
        assert digest == pattern.digest()

        locations = nn.block_locations(path)
        blocks = locations["BlockLocation"]
        assert sum(block["length"] for block in blocks) == GiB
        # PROTOCOL.md puts fileLength on the BlockLocations object; accept it beside it too
        raw = web.get(f"{cluster.namenode_url}/webhdfs/v1{path}",
                           params={"op": "GETFILEBLOCKLOCATIONS", "user.name": "root"}, timeout=30).json()
        assert raw["BlockLocations"].get("fileLength", raw.get("fileLength")) == GiB
        known = {node.node_id for node in cluster.datanodes}
        for block in blocks:
            holders = [node["id"] for node in block["dataNodes"]]
            assert len(holders) == 3 and len(set(holders)) == 3, block
            assert set(holders) <= known, (holders, known)
            for holder in holders:
                stored = cluster.datanode_by_id(holder).block_path(block["blockId"])
                assert stored.is_file(), f"replica {block['blockId']} missing on {holder}: {stored}"
                assert file_digest(str(stored)) == (block["checksum"], block["length"]), stored
    finally:
        nn.delete(unique_path, recursive=True)
