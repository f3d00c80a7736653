"""Small files in bundles (``PUT /bundle``): many whole blocks bound for one pipeline in one
request, each stored and verified as its own block on every node of the pipeline and committed,
with its COMMIT, by the head's one confirmation. What is wrong with a bundle refuses it whole, and
keeps nothing; a bundle whose pipeline loses a node leaves its files to be written one by one."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from dfs_client.blockio import SmallFile, _commit_for
from dfs_common import bundles
from dfs_common.blocks import PIPELINE_HEADER
from tests.cluster import Cluster, wait_for


def small_files(nn: Any, directory: str, count: int, size: int = 3000) -> list[SmallFile]:
    """``count`` new empty files, each with a block handed out for its first bytes."""
    nn.mkdir(directory)
    files = []
    for index in range(count):
        path = f"{directory}/f{index}"
        nn.touch(path)
        data = (f"{index:05d}".encode() * size)[:size]
        files.append(SmallFile(path, data, {"create": False, "overwrite": True, "fileId": nn.get_status(path)["fileId"]},
                               nn.add_block(path, length=size)))
    return files


def same_pipeline(files: list[SmallFile]) -> list[SmallFile]:
    """The largest group of ``files`` whose blocks were placed on the same pipeline."""
    groups: dict[tuple[str, ...], list[SmallFile]] = {}
    for file in files:
        assert file.block is not None
        groups.setdefault(tuple(node["id"] for node in file.block["pipeline"]), []).append(file)
    return max(groups.values(), key=len)


def raw_bundle(nn: Any, files: list[SmallFile], *, tamper: Any = None) -> requests.Response:
    """``PUT /bundle`` of ``files`` (sharing one pipeline) to its head, as the client sends it."""
    items = []
    for file in files:
        assert file.block is not None
        items.append(({"blockId": file.block["blockId"], "access": file.block.get("access", ""),
                       "commit": _commit_for(nn, file.path, file.options, file.block)}, file.data))
    body = bundles.encode(items)
    if tamper is not None:
        body = tamper(body)
    pipeline = files[0].block["pipeline"]  # type: ignore[index]
    return requests.put(f"{pipeline[0]['url']}/bundle", data=body, timeout=30,
                        headers={PIPELINE_HEADER: ",".join(node["url"] for node in pipeline[1:])})


def block_files(cluster: Cluster, block_id: str) -> list[str]:
    return [str(node.node_id) for node in cluster.datanodes if block_id in node.block_files()]


def test_one_bundle_stores_every_block_on_every_replica_and_commits_every_file(cluster: Cluster,
                                                                            unique_path: str) -> None:
    nn = cluster.client("root")
    group = same_pipeline(small_files(nn, unique_path, 24))
    assert len(group) >= 2, "24 blocks over three nodes share a pipeline somewhere"
    response = raw_bundle(nn, group)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert len(answer["stored"]) == 3
    for file, block in zip(group, answer["blocks"]):
        assert block["blockId"] == file.block["blockId"]  # type: ignore[index]
        assert block["commit"]["FileStatus"]["length"] == len(file.data), block
        assert nn.cat(file.path) == file.data
        located = nn.block_locations(file.path)["BlockLocation"]
        assert [b["blockId"] for b in located] == [block["blockId"]]
        assert len(located[0]["dataNodes"]) == 3
        assert len(block_files(cluster, block["blockId"])) == 3


def test_write_bundle_writes_and_commits_files_of_any_pipeline(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    files = small_files(nn, unique_path, 40)
    files[0].data = b"shorter than its block was asked for"
    results = nn.write_bundle(files)
    for file, result in zip(files, results):
        assert isinstance(result, dict) and result["length"] == len(file.data), result
        assert nn.cat(file.path) == file.data


def test_a_file_without_a_block_is_written_alone(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    nn.mkdir(unique_path)
    nn.touch(f"{unique_path}/lone")
    [result] = nn.write_bundle([SmallFile(f"{unique_path}/lone", b"on its own", {"overwrite": True})])
    assert isinstance(result, dict) and result["length"] == 10
    assert nn.cat(f"{unique_path}/lone") == b"on its own"


def test_a_refused_commit_is_that_files_answer_alone(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    files = same_pipeline(small_files(nn, unique_path, 24))[:2]
    nn.rm(files[0].path)
    nn.touch(files[0].path)  # another inode under the name: its fileId no longer matches
    results = nn.write_bundle(files)
    assert isinstance(results[0], OSError) and "Conflict" in type(results[0]).__name__, results[0]
    assert nn.get_status(files[0].path)["length"] == 0
    assert isinstance(results[1], dict) and nn.cat(files[1].path) == files[1].data


@pytest.mark.parametrize("tamper, status", [
    (lambda body: body.replace(b'"blocks"', b'"blocks_"', 1), 400),  # no block list
    (lambda body: b"not json\n" + body, 400),
    (lambda body: body[:-1], 400),  # bytes short of the lengths
    (lambda body: body + b"x", 400),  # bytes beyond them
    (lambda body: body.replace(b"dfs.sig=", b"dfs.sig=00", 1), 403),  # a forged signature
])
def test_a_bad_bundle_is_refused_whole_and_keeps_nothing(cluster: Cluster, unique_path: str, tamper: Any,
                                                         status: int) -> None:
    nn = cluster.client("root")
    group = same_pipeline(small_files(nn, unique_path, 24))[:3]
    response = raw_bundle(nn, group, tamper=tamper)
    assert response.status_code == status, response.text
    assert "RemoteException" in response.json()
    for file in group:
        assert nn.get_status(file.path)["length"] == 0
        assert block_files(cluster, file.block["blockId"]) == []  # type: ignore[index]


def test_a_block_that_does_not_match_its_checksum_fails_the_bundle_on_every_node(cluster: Cluster,
                                                                                unique_path: str) -> None:
    nn = cluster.client("root")
    group = same_pipeline(small_files(nn, unique_path, 24))[:3]

    def flip_last_byte(body: bytes) -> bytes:
        return body[:-1] + bytes([body[-1] ^ 1])

    response = raw_bundle(nn, group, tamper=flip_last_byte)
    assert response.status_code >= 400, response.text
    assert "RemoteException" in response.json()
    for file in group:
        assert nn.get_status(file.path)["length"] == 0
        assert block_files(cluster, file.block["blockId"]) == []  # type: ignore[index]


def test_a_bundle_that_loops_back_or_names_a_block_twice_is_refused(cluster: Cluster, unique_path: str) -> None:
    nn = cluster.client("root")
    [file] = small_files(nn, unique_path, 1)
    assert file.block is not None
    entry = {"blockId": file.block["blockId"], "access": file.block["access"]}
    body = bundles.encode([(entry, file.data), (entry, file.data)])
    head = file.block["pipeline"][0]["url"]
    response = requests.put(f"{head}/bundle", data=body, timeout=30,
                            headers={PIPELINE_HEADER: ",".join(n["url"] for n in file.block["pipeline"][1:])})
    assert response.status_code in (400, 403), response.text
    assert json.loads(response.text)["RemoteException"]
    assert nn.get_status(file.path)["length"] == 0


def test_a_bundle_whose_pipeline_lost_a_node_is_written_file_by_file(make_cluster: Any, tmp_path: Any) -> None:
    cluster = make_cluster(datanodes=4)
    nn = cluster.client("root")
    files = small_files(nn, "/lost", 16)
    victim = cluster.datanodes[0]
    victim_id = victim.node_id
    victim.kill()  # kill -9: its pipelines fail at the connection
    results = nn.write_bundle(files)
    for file, result in zip(files, results):
        assert isinstance(result, dict) and result["length"] == len(file.data), result
        assert nn.cat(file.path) == file.data
        for location in nn.block_locations(file.path)["BlockLocation"]:
            assert victim_id not in [node["id"] for node in location["dataNodes"]]
    assert any(victim_id in [n["id"] for n in file.block["pipeline"]] for file in files)  # type: ignore[index]
    wait_for(lambda: all(len(loc["dataNodes"]) == 3 for file in files
                         for loc in nn.block_locations(file.path)["BlockLocation"]), timeout=60)
