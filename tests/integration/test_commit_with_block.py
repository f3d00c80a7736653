"""A file closed with one block is committed by the pipeline's confirmation (``X-DFS-Commit``):
the writer's COMMIT rides on the block's PUT. What a separate COMMIT would refuse is refused the
same way, nothing is committed without the block's own grant, and the block was confirmed first."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from dfs_common.blocks import CHECKSUM_HEADER, COMMIT_HEADER, PIPELINE_HEADER, checksum, encode_commit
from dfs_common.errors import Conflict
from tests.cluster import Cluster


def put_with_commit(nn: Any, path: str, data: bytes, commit: dict[str, Any]) -> dict[str, Any]:
    """ADDBLOCK, then the block's PUT to its head with ``commit`` as the header: the raw answer."""
    block = nn.add_block(path, length=len(data))
    pipeline = block["pipeline"]
    headers = {CHECKSUM_HEADER: checksum(data), PIPELINE_HEADER: ",".join(n["url"] for n in pipeline[1:]),
               COMMIT_HEADER: encode_commit({key: (block.get("commitGrant") if value == "<grant>" else value)
                                             for key, value in commit.items()})}
    url = f"{pipeline[0]['url']}/blocks/{block['blockId']}?{block['access']}"
    return dict(nn.transport.put_block(url, data, headers), blockId=block["blockId"])


def test_the_pipeline_commits_the_file_its_block_is_the_whole_of(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdir(unique_path)
    path = f"{unique_path}/one"
    nn.touch(path)
    file_id = nn.get_status(path)["fileId"]
    answer = put_with_commit(nn, path, b"hello" * 1000, {"path": path, "grant": "<grant>",
                                                         "body": {"fileId": file_id, "overwrite": True}})
    assert answer["commit"]["FileStatus"]["length"] == 5000 and "commitError" not in answer
    assert nn.cat(path) == b"hello" * 1000
    located = nn.block_locations(path)["BlockLocation"]
    assert [b["blockId"] for b in located] == [answer["blockId"]] and len(located[0]["dataNodes"]) == 3


def test_a_commit_without_the_blocks_own_grant_commits_nothing(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdir(unique_path)
    path = f"{unique_path}/target"
    nn.touch(path)
    other = nn.add_block(path, length=1)  # a grant, but for another block
    for grant in (None, "dfsg.bm9ib2R5.-.9999999999.forged", other["commitGrant"]):
        answer = put_with_commit(nn, path, b"x" * 100, {"path": path, "grant": grant, "body": {"overwrite": True}})
        error = answer["commitError"]["RemoteException"]
        assert error["exception"] in ("SecurityException", "AuthenticationException"), error
        assert "commit" not in answer
    assert nn.get_status(path)["length"] == 0  # nothing committed
    # a grant is no bearer token: as one, it is refused
    grant = nn.add_block(path, length=1)["commitGrant"]
    from dfs_client import HttpNameNode
    with pytest.raises(PermissionError):
        HttpNameNode(cluster.namenode_url, token=grant).get_status("/")


def test_what_a_commit_would_refuse_is_raised_at_close(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdir(unique_path)
    path = f"{unique_path}/gone"
    nn.touch(path)
    handle = nn.open(path, "r+b", status=nn.get_status(path))
    handle.write(b"never committed")
    nn.rm(path)
    nn.touch(path)  # another file under the name now: the writer's fileId no longer matches
    with pytest.raises(Conflict):
        handle.close()
    assert nn.get_status(path)["length"] == 0
    assert nn.cat(path) == b""


def test_the_header_is_checked(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdir(unique_path)
    block = nn.add_block(f"{unique_path}/x", length=3)
    url = f"{block['pipeline'][0]['url']}/blocks/{block['blockId']}?{block['access']}"
    from dfs_common.errors import IllegalArgument
    for bad in ("%%%", base64.urlsafe_b64encode(json.dumps([1]).encode()).decode()):
        with pytest.raises(IllegalArgument):
            nn.transport.put_block(url, b"abc", {CHECKSUM_HEADER: checksum(b"abc"), PIPELINE_HEADER: ",".join(
                n["url"] for n in block["pipeline"][1:]), COMMIT_HEADER: bad})
