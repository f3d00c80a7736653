"""WebHDFS as plain HTTP clients use it: the two-step CREATE/APPEND through a 307 (and the
``noredirect=true`` JSON variant), OPEN whole and by offset/length through the redirect, and curl."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.cluster import Cluster, web
from tests.integration.payload import MiB, Pattern

BLOCK = 4 * MiB


def url(cluster: Cluster, path: str) -> str:
    return f"{cluster.namenode_url}/webhdfs/v1{path}"


def curl_auth(cluster: Cluster) -> list[str]:
    return [arg for name, value in cluster.auth.items() for arg in ("-H", f"{name}: {value}")]


def create_two_step(cluster: Cluster, path: str, data: bytes, **params: str) -> requests.Response:
    """Step 1 without following the redirect, step 2 PUT of the bytes to its Location."""
    query = {"op": "CREATE", "user.name": "root", "overwrite": "true", **params}
    first = web.put(url(cluster, path), params=query, allow_redirects=False, timeout=30)
    assert first.status_code == 307, (first.status_code, first.text)
    location = first.headers["Location"]
    assert location.startswith("http://127.0.0.1:") and "/webhdfs/v1" in location, location
    assert location.split("/webhdfs/v1")[0] in {node.url for node in cluster.datanodes}, location
    assert not first.content
    second = web.put(location, data=data, timeout=120)
    assert second.status_code == 201, (second.status_code, second.text)
    assert second.headers["Location"].startswith("webhdfs://"), second.headers
    return second


def mkdirs(cluster: Cluster, path: str) -> None:
    response = web.put(url(cluster, path), params={"op": "MKDIRS", "user.name": "root"}, timeout=30)
    assert response.status_code == 200 and response.json() == {"boolean": True}, response.text


def open_bytes(cluster: Cluster, path: str, **params: str) -> bytes:
    response = web.get(url(cluster, path), params={"op": "OPEN", "user.name": "root", **params}, timeout=120)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.history and response.history[0].status_code == 307
    assert int(response.headers["Content-Length"]) == len(response.content)
    return response.content


def status_of(cluster: Cluster, path: str) -> dict:  # type: ignore[type-arg]
    response = web.get(url(cluster, path), params={"op": "GETFILESTATUS", "user.name": "root"}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json()["FileStatus"])


@pytest.mark.timeout(300)
def test_20mib_file_created_in_two_steps_with_4mib_blocks_reads_whole_and_by_range(cluster: Cluster,
                                                                                   unique_path: str) -> None:
    mkdirs(cluster, unique_path)
    data = Pattern(20 * MiB, chunk=MiB, seed=3).bytes()
    path = unique_path + "/twenty.bin"
    create_two_step(cluster, path, data, blocksize=str(BLOCK))

    status = status_of(cluster, path)
    assert status["length"] == len(data) and status["type"] == "FILE"
    assert status["blockSize"] == BLOCK
    locations = web.get(url(cluster, path), params={"op": "GETFILEBLOCKLOCATIONS", "user.name": "root"},
                             timeout=30).json()["BlockLocations"]["BlockLocation"]
    assert len(locations) >= 5
    assert all(block["length"] <= BLOCK for block in locations)

    assert open_bytes(cluster, path) == data
    for offset, length in ((0, 1), (BLOCK - 10, 20), (3 * BLOCK + 7, 2 * BLOCK), (len(data) - 5, 100),
                           (123_457, 5 * MiB)):
        assert open_bytes(cluster, path, offset=str(offset), length=str(length)) == data[offset:offset + length]
    assert open_bytes(cluster, path, offset=str(19 * MiB)) == data[19 * MiB:]


@pytest.mark.timeout(300)
def test_append_in_two_steps_extends_the_file(cluster: Cluster, unique_path: str) -> None:
    path = unique_path + "/log.txt"
    mkdirs(cluster, unique_path)
    first = Pattern(5 * MiB + 3, chunk=MiB, seed=4).bytes()
    create_two_step(cluster, path, first, blocksize=str(BLOCK))
    extra = Pattern(3 * MiB + 11, chunk=MiB, seed=5).bytes()
    step1 = web.post(url(cluster, path), params={"op": "APPEND", "user.name": "root"},
                          allow_redirects=False, timeout=30)
    assert step1.status_code == 307, step1.text
    step2 = web.post(step1.headers["Location"], data=extra, timeout=120)
    assert step2.status_code == 200, step2.text
    # the same Location is reusable for a further APPEND (WEBHDFS.md: clients rely on that)
    step3 = web.post(step1.headers["Location"], data=b"tail", timeout=60)
    assert step3.status_code == 200, step3.text
    assert status_of(cluster, path)["length"] == len(first) + len(extra) + 4
    assert open_bytes(cluster, path) == first + extra + b"tail"


@pytest.mark.timeout(300)
def test_noredirect_answers_the_location_as_json(cluster: Cluster, unique_path: str) -> None:
    path = unique_path + "/noredirect.bin"
    mkdirs(cluster, unique_path)
    data = Pattern(6 * MiB, chunk=MiB, seed=6).bytes()
    create = web.put(url(cluster, path), params={"op": "CREATE", "user.name": "root", "noredirect": "true",
                                                      "blocksize": str(BLOCK)}, timeout=30)
    assert create.status_code == 200 and create.headers["Content-Type"].startswith("application/json")
    assert web.put(create.json()["Location"], data=data, timeout=120).status_code == 201

    opened = web.get(url(cluster, path), params={"op": "OPEN", "user.name": "root", "noredirect": "true",
                                                      "offset": "100", "length": "1000"}, timeout=30)
    assert opened.status_code == 200 and not opened.history, opened.text
    ranged = web.get(opened.json()["Location"], timeout=60)
    assert ranged.status_code == 200 and ranged.content == data[100:1100]

    append = web.post(url(cluster, path), params={"op": "APPEND", "user.name": "root", "noredirect": "True"},
                           timeout=30)
    assert append.status_code == 200, append.text
    assert web.post(append.json()["Location"], data=b"+more", timeout=60).status_code == 200
    assert open_bytes(cluster, path) == data + b"+more"


@pytest.mark.timeout(300)
def test_create_with_chunked_and_empty_bodies(cluster: Cluster, unique_path: str) -> None:
    path = unique_path + "/chunked.bin"
    mkdirs(cluster, unique_path)
    data = Pattern(9 * MiB, chunk=MiB, seed=8).bytes()
    first = web.put(url(cluster, path), params={"op": "CREATE", "user.name": "root", "blocksize": str(BLOCK)},
                         allow_redirects=False, timeout=30)
    chunks = (data[i:i + 300_000] for i in range(0, len(data), 300_000))
    assert web.put(first.headers["Location"], data=chunks, timeout=120).status_code == 201
    assert open_bytes(cluster, path) == data

    empty = unique_path + "/empty"
    create_two_step(cluster, empty, b"")
    assert status_of(cluster, empty)["length"] == 0
    assert web.get(url(cluster, empty), params={"op": "OPEN", "user.name": "root"}, timeout=30).content == b""


@pytest.mark.timeout(300)
def test_create_without_overwrite_on_an_existing_file_is_refused_at_step_one(cluster: Cluster,
                                                                             unique_path: str) -> None:
    path = unique_path + "/once"
    mkdirs(cluster, unique_path)
    create_two_step(cluster, path, b"first")
    again = web.put(url(cluster, path), params={"op": "CREATE", "user.name": "root", "overwrite": "false"},
                         allow_redirects=False, timeout=30)
    assert again.status_code == 403, again.text
    assert again.json()["RemoteException"]["exception"] == "FileAlreadyExistsException"
    assert open_bytes(cluster, path) == b"first"


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_follows_the_redirects_both_ways(cluster: Cluster, unique_path: str, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    data = Pattern(20 * MiB, chunk=MiB, seed=9).bytes()
    source.write_bytes(data)
    path = unique_path + "/curl.bin"
    mkdirs(cluster, unique_path)
    put = subprocess.run(["curl", *curl_auth(cluster), "-sS", "-f", "-L", "-T", str(source),
                          url(cluster, path) + f"?op=CREATE&user.name=root&blocksize={BLOCK}"],
                         capture_output=True, timeout=120)
    assert put.returncode == 0, put.stderr.decode()
    assert status_of(cluster, path)["length"] == len(data)

    target = tmp_path / "back.bin"
    get = subprocess.run(["curl", *curl_auth(cluster), "-sS", "-f", "-L", "-o", str(target),
                          url(cluster, path) + "?op=OPEN&user.name=root"],
                         capture_output=True, timeout=120)
    assert get.returncode == 0, get.stderr.decode()
    assert target.read_bytes() == data

    ranged = subprocess.run(["curl", *curl_auth(cluster), "-sS", "-f", "-L",
                             url(cluster, path) + f"?op=OPEN&user.name=root&offset={BLOCK - 3}&length=10"],
                            capture_output=True, timeout=60)
    assert ranged.returncode == 0 and ranged.stdout == data[BLOCK - 3:BLOCK + 7]


@pytest.mark.timeout(120)
def test_create_makes_missing_parent_directories(cluster: Cluster, unique_path: str) -> None:
    """Hadoop's CREATE has ``createparent`` (default true): ``hdfs dfs -put`` into a new tree works."""
    path = unique_path + "/new/deeper/file.txt"
    create_two_step(cluster, path, b"hello")
    assert status_of(cluster, unique_path + "/new/deeper")["type"] == "DIRECTORY"
    assert open_bytes(cluster, path) == b"hello"
