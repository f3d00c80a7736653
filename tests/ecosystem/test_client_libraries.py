"""The WebHDFS client libraries people already use, unchanged, against a real secured cluster:
HdfsCLI (``hdfs``), ``pyhdfs``, ``pywebhdfs``, and pandas through fsspec's ``webhdfs://``.

Each library gets the user's token the way it documents for a secured HDFS (HdfsCLI's
``TokenClient``, a ``requests`` session for pyhdfs, ``request_extra_opts`` for pywebhdfs, the
``token`` of fsspec's WebHDFS): none of them is patched or wrapped.
"""
from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import hdfs
import pandas as pd
import pyhdfs
import pytest
import requests
from pywebhdfs.webhdfs import PyWebHdfsClient
from pywebhdfs import errors as pywebhdfs_errors

from tests.cluster import Cluster

USER = "libuser"


@pytest.fixture
def home(cluster: Cluster, unique_path: str) -> str:
    """A directory of ``USER``'s own, made by the administrator as on a real cluster."""
    admin = cluster.client("root")
    admin.mkdirs(unique_path)
    admin.set_owner(unique_path, USER)
    return unique_path


@pytest.fixture
def token(cluster: Cluster) -> str:
    value = cluster.token_for(USER)
    assert value, "the shared cluster is secured"
    return value


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# -- HdfsCLI -------------------------------------------------------------------------------------
@pytest.fixture
def hdfscli(cluster: Cluster, token: str) -> hdfs.Client:
    return hdfs.TokenClient(cluster.namenode_url, token)


def test_hdfscli_files_directories_and_attributes(hdfscli: hdfs.Client, cluster: Cluster, home: str,
                                                  tmp_path: Path) -> None:
    client = hdfscli
    data = payload(3 * 1024 * 1024 + 17, 1)
    client.write(f"{home}/a.bin", data=data, replication=2, permission="640")
    with client.read(f"{home}/a.bin") as reader:
        assert reader.read() == data
    with client.read(f"{home}/a.bin", offset=1000, length=5000) as reader:
        assert reader.read() == data[1000:6000]
    status = client.status(f"{home}/a.bin")
    assert (status["type"], status["length"], status["replication"], status["permission"], status["owner"]) \
        == ("FILE", len(data), 2, "640", USER)
    assert client.status(f"{home}/missing", strict=False) is None
    with pytest.raises(hdfs.HdfsError, match="does not exist|not found|No such"):
        client.status(f"{home}/missing")

    client.write(f"{home}/a.bin", data=b"appended", append=True)
    with client.read(f"{home}/a.bin", offset=len(data)) as reader:
        assert reader.read() == b"appended"
    with pytest.raises(hdfs.HdfsError):
        client.write(f"{home}/a.bin", data=b"x")  # exists, overwrite=False
    client.write(f"{home}/a.bin", data=b"new", overwrite=True)
    with client.read(f"{home}/a.bin", encoding="ascii") as reader:
        assert reader.read() == "new"

    client.makedirs(f"{home}/d/e", permission="750")
    assert client.status(f"{home}/d/e")["permission"] == "750"
    client.write(f"{home}/d/e/f.txt", data="text", encoding="utf-8")
    assert client.list(home) == ["a.bin", "d"]
    assert [name for name, _ in client.list(f"{home}/d/e", status=True)] == ["f.txt"]
    walked = {(path, tuple(dirs), tuple(files)) for path, dirs, files in client.walk(f"{home}/d")}
    assert walked == {(f"{home}/d", ("e",), ()), (f"{home}/d/e", (), ("f.txt",))}
    summary = client.content(home)
    assert (summary["fileCount"], summary["directoryCount"], summary["length"]) == (2, 3, 3 + 4)

    checksum = client.checksum(f"{home}/d/e/f.txt")
    assert checksum["algorithm"] and checksum["bytes"] and checksum["length"] > 0
    assert client.checksum(f"{home}/d/e/f.txt") == checksum

    client.set_permission(f"{home}/a.bin", "600")
    client.set_times(f"{home}/a.bin", access_time=1_000_000, modification_time=2_000_000)
    client.set_replication(f"{home}/a.bin", 3)
    status = client.status(f"{home}/a.bin")
    assert (status["permission"], status["accessTime"], status["modificationTime"], status["replication"]) \
        == ("600", 1_000_000, 2_000_000, 3)
    with pytest.raises(hdfs.HdfsError):
        client.set_owner(f"{home}/a.bin", owner="someone-else")  # only the superuser changes owners

    client.rename(f"{home}/a.bin", f"{home}/d/b.bin")
    assert client.status(f"{home}/a.bin", strict=False) is None
    assert client.delete(f"{home}/missing") is False  # HDFS: deleting nothing is false, not an error
    assert client.delete(f"{home}/d/b.bin") is True
    with pytest.raises(hdfs.HdfsError):
        client.delete(f"{home}/d")  # not empty, not recursive
    assert client.delete(f"{home}/d", recursive=True) is True
    assert client.list(home) == []

    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "x.bin").write_bytes(payload(300_000, 2))
    (local / "y.txt").write_bytes(b"y")
    client.upload(f"{home}/up", str(local), n_threads=2)
    back = tmp_path / "back"
    client.download(f"{home}/up", str(back), n_threads=2)
    assert (back / "sub" / "x.bin").read_bytes() == payload(300_000, 2)
    assert (back / "y.txt").read_bytes() == b"y"
    # what the cluster itself holds, through the project's own client
    assert cluster.client("root").cat(f"{home}/up/y.txt") == b"y"


def test_hdfscli_acl_status_and_acl_changes_are_refused_clearly(hdfscli: hdfs.Client, home: str) -> None:
    hdfscli.write(f"{home}/acl", data=b"x", permission="644")
    acl = hdfscli.acl_status(f"{home}/acl")
    assert (acl["owner"], acl["permission"], acl["entries"]) == (USER, "644", [])
    with pytest.raises(hdfs.HdfsError, match="acls.enabled"):
        hdfscli.set_acl(f"{home}/acl", "user:someone:rw-")


def test_hdfscli_and_pyhdfs_snapshots(cluster: Cluster, hdfscli: hdfs.Client,
                                      pyhdfs_client: pyhdfs.HdfsClient, home: str) -> None:
    hdfscli.write(f"{home}/f", data=b"old")
    with pytest.raises(hdfs.HdfsError, match="Superuser"):
        hdfscli.allow_snapshot(home)
    hdfs.TokenClient(cluster.namenode_url, cluster.token).allow_snapshot(home)  # the administrator
    hdfscli.create_snapshot(home, "s1")  # the owner takes them
    hdfscli.write(f"{home}/f", data=b"new", overwrite=True)
    with hdfscli.read(f"{home}/.snapshot/s1/f") as reader:
        assert reader.read() == b"old"
    assert hdfscli.list(f"{home}/.snapshot") == ["s1"]
    with pytest.raises(hdfs.HdfsError, match="read-only snapshot"):
        hdfscli.write(f"{home}/.snapshot/s1/g", data=b"x")
    hdfscli.rename_snapshot(home, "s1", "s2")
    assert pyhdfs_client.create_snapshot(home, snapshotname="p1") == f"{home}/.snapshot/p1"
    with pyhdfs_client.open(f"{home}/.snapshot/p1/f") as reader:
        assert reader.read() == b"new"
    pyhdfs_client.rename_snapshot(home, "p1", "p2")
    pyhdfs_client.delete_snapshot(home, "p2")
    hdfscli.delete_snapshot(home, "s2")
    assert hdfscli.list(f"{home}/.snapshot") == []


def test_hdfscli_without_a_token_is_refused(cluster: Cluster, home: str) -> None:
    anonymous = hdfs.InsecureClient(cluster.namenode_url, user=USER)  # user.name alone
    with pytest.raises(hdfs.HdfsError, match="Authentication"):  # HdfsCLI words every 401 itself
        anonymous.list(home)


# -- pyhdfs --------------------------------------------------------------------------------------
@pytest.fixture
def pyhdfs_client(cluster: Cluster, token: str) -> Iterator[pyhdfs.HdfsClient]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    client = pyhdfs.HdfsClient(hosts=f"127.0.0.1:{cluster.namenode_port}", user_name=USER,
                               requests_session=session)
    yield client
    session.close()


def test_pyhdfs_operations(pyhdfs_client: pyhdfs.HdfsClient, home: str) -> None:
    client = pyhdfs_client
    data = payload(600_000, 3)
    client.create(f"{home}/p.bin", data, replication=1)
    client.append(f"{home}/p.bin", b"tail")
    with client.open(f"{home}/p.bin") as reader:
        assert reader.read() == data + b"tail"
    with client.open(f"{home}/p.bin", offset=10, length=20) as reader:
        assert reader.read() == (data + b"tail")[10:30]
    assert client.get_file_status(f"{home}/p.bin").length == len(data) + 4
    assert client.mkdirs(f"{home}/q/r") is True
    client.create(f"{home}/q/one", b"1")
    client.create(f"{home}/q/two", b"22")
    client.concat(f"{home}/q/one", [f"{home}/q/two"])
    with client.open(f"{home}/q/one") as reader:
        assert reader.read() == b"122"
    assert not client.exists(f"{home}/q/two")
    assert sorted(client.listdir(f"{home}/q")) == ["one", "r"]
    assert client.get_content_summary(home).length == len(data) + 4 + 3
    assert client.get_file_checksum(f"{home}/q/one").algorithm
    client.set_xattr(f"{home}/q/one", "user.run", b"o3", "CREATE")
    assert client.get_xattrs(f"{home}/q/one", "user.run") == {"user.run": "o3"}  # pyhdfs decodes text
    assert client.list_xattrs(f"{home}/q/one") == ["user.run"]
    client.remove_xattr(f"{home}/q/one", "user.run")
    assert client.get_xattrs(f"{home}/q/one") == {}
    client.create_symlink(f"{home}/link", f"{home}/q/one")
    assert client.get_file_status(f"{home}/link").type == "SYMLINK"
    assert client.set_replication(f"{home}/q/one", replication=2) is True
    client.set_times(f"{home}/q/one", modificationtime=5_000, accesstime=6_000)
    assert client.get_file_status(f"{home}/q/one").modificationTime == 5_000
    assert client.rename(f"{home}/q/one", f"{home}/q/uno") is True
    assert client.rename(f"{home}/nope", f"{home}/q/x") is False  # HDFS: a missing source is false
    assert client.delete(f"{home}/nothing-here") is False
    assert client.delete(f"{home}/q", recursive=True) is True
    assert client.get_home_directory() == f"/user/{USER}"
    with pytest.raises(pyhdfs.HdfsFileNotFoundException):
        client.get_file_status(f"{home}/q")
    with pytest.raises(pyhdfs.HdfsFileAlreadyExistsException):
        client.create(f"{home}/p.bin", b"again")
    with pytest.raises(pyhdfs.HdfsIOException):  # a directory not empty, not recursive
        client.mkdirs(f"{home}/full/x")
        client.delete(f"{home}/full")


# -- pywebhdfs -----------------------------------------------------------------------------------
class Bearer(requests.auth.AuthBase):
    """requests' own hook for a credential (pywebhdfs passes ``request_extra_opts`` through)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@pytest.fixture
def pywebhdfs_client(cluster: Cluster, token: str) -> PyWebHdfsClient:
    return PyWebHdfsClient(host="127.0.0.1", port=str(cluster.namenode_port), user_name=USER, timeout=60,
                           request_extra_opts={"auth": Bearer(token)})


def test_pywebhdfs_operations(pywebhdfs_client: PyWebHdfsClient, home: str) -> None:
    client = pywebhdfs_client
    relative = home.lstrip("/")  # pywebhdfs takes paths without the leading slash
    data = payload(200_000, 4)
    assert client.create_file(f"{relative}/w.bin", data) is True
    assert client.append_file(f"{relative}/w.bin", b"++") is True
    assert client.read_file(f"{relative}/w.bin") == data + b"++"
    assert client.read_file(f"{relative}/w.bin", offset=5, length=10) == (data + b"++")[5:15]
    assert client.make_dir(f"{relative}/dir") is True
    status = client.get_file_dir_status(f"{relative}/w.bin")["FileStatus"]
    assert (status["type"], status["length"]) == ("FILE", len(data) + 2)
    names = [s["pathSuffix"] for s in client.list_dir(relative)["FileStatuses"]["FileStatus"]]
    assert names == ["dir", "w.bin"]
    assert client.get_content_summary(relative)["ContentSummary"]["length"] == len(data) + 2
    assert client.get_file_checksum(f"{relative}/w.bin")["FileChecksum"]["algorithm"]
    assert client.exists_file_dir(f"{relative}/w.bin") is True
    assert client.exists_file_dir(f"{relative}/gone") is False
    assert client.set_xattr(f"{relative}/w.bin", "user.k", "v") is True
    assert client.get_xattr(f"{relative}/w.bin", "user.k")["XAttrs"][0]["value"] == '"v"'
    assert client.list_xattrs(f"{relative}/w.bin")["XAttrNames"] == '["user.k"]'
    assert client.delete_xattr(f"{relative}/w.bin", "user.k") is True
    assert client.rename_file_dir(f"{relative}/w.bin", f"{home}/dir/w.bin") == {"boolean": True}
    with pytest.raises(pywebhdfs_errors.FileNotFound):
        client.read_file(f"{relative}/w.bin")
    assert client.delete_file_dir(f"{relative}/dir", recursive=True) is True
    assert client.exists_file_dir(f"{relative}/dir") is False
    assert client.delete_file_dir(f"{relative}/dir") is True  # 200 {"boolean": false}: pywebhdfs says True


# -- pandas through fsspec's webhdfs:// ---------------------------------------------------------
def test_pandas_csv_and_parquet_through_webhdfs_urls(cluster: Cluster, token: str, home: str) -> None:
    options: dict[str, Any] = {"host": "127.0.0.1", "port": cluster.namenode_port, "token": token}
    rng = random.Random(5)
    frame = pd.DataFrame({"gps": range(20_000), "strain": [rng.gauss(0, 1) for _ in range(20_000)],
                          "ifo": [("H1", "L1", "V1")[i % 3] for i in range(20_000)]})
    csv_url = f"webhdfs://{home}/frame.csv"
    frame.to_csv(csv_url, index=False, storage_options=options)
    pd.testing.assert_frame_equal(pd.read_csv(csv_url, storage_options=options), frame)
    parquet_url = f"webhdfs://{home}/frame.parquet"
    frame.to_parquet(parquet_url, storage_options=options, row_group_size=5_000)
    pd.testing.assert_frame_equal(pd.read_parquet(parquet_url, storage_options=options), frame)
    part = pd.read_parquet(parquet_url, columns=["strain"], filters=[("gps", ">=", 15_000)],
                           storage_options=options)
    assert part["strain"].tolist() == frame["strain"].tolist()[15_000:]
    fs = fsspec.filesystem("webhdfs", **options)
    assert sorted(fs.ls(home, detail=False)) == [f"{home}/frame.csv", f"{home}/frame.parquet"]
    assert fs.info(f"{home}/frame.csv")["size"] == len(frame.to_csv(index=False).encode())
    assert io.BytesIO(cluster.client("root").cat(f"{home}/frame.csv")).read().startswith(b"gps,strain,ifo\n")
