"""HttpNameNode's seed commands and metadata calls against the fake name node, and the error
translation of the transport (RemoteException → the matching built-in OSError subclass)."""
from __future__ import annotations

import errno

import pytest

from dfs_client import HttpNameNode, NodeUnreachable, default_user
from dfs_client.namenode import decode_xattr_value
from dfs_common.errors import NotEmpty
from fake_cluster import FakeCluster


def test_user_defaults_to_the_login_name(cluster: FakeCluster) -> None:
    client = HttpNameNode(cluster.url)
    assert client.user == default_user() != ""
    assert HttpNameNode(cluster.url, user="alice").user == "alice"


def test_seed_commands_round_trip(nn: HttpNameNode) -> None:
    assert nn.ping_alive()
    nn.mkdir("/a/b")
    nn.tee("/a/b/f", b"hello")
    nn.touch("/a/empty")
    assert nn.cat("/a/b/f") == b"hello"
    assert nn.cat("/a/empty") == b""
    assert nn.ls("/a") == ["b", "empty"]
    assert nn.stat("/a/b/f")["length"] == 5
    before = nn.stat("/a/b/f")["modificationTimeNs"]
    nn.touch("/a/b/f")
    assert nn.stat("/a/b/f")["modificationTimeNs"] >= before
    assert nn.cat("/a/b/f") == b"hello"
    nn.set_times("/a/b", mtime_ns=10**9, atime_ns=10**9)
    nn.touch("/a/b")  # a directory: its times, as touch(1) does
    assert nn.stat("/a/b")["type"] == "DIRECTORY" and nn.stat("/a/b")["modificationTimeNs"] > 10**9
    nn.mv("/a/b/f", "/a/g")
    assert nn.ls("/a") == ["b", "empty", "g"]
    nn.rm("/a/g")
    with pytest.raises(FileNotFoundError):
        nn.cat("/a/g")
    with pytest.raises(IsADirectoryError):
        nn.rm("/a/b")
    nn.rmdir("/a/b")
    with pytest.raises(NotADirectoryError):
        nn.rmdir("/a/empty")


def test_ls_pages_through_big_directories(nn: HttpNameNode) -> None:
    names = [f"f{i:03d}" for i in range(9)]  # the fake answers pages of two entries
    nn.mkdir("/many")
    for name in names:
        nn.touch("/many/" + name)
    assert nn.ls("/many") == names
    assert [s["pathSuffix"] for s in nn.list_status("/many")] == names


def test_cp_copies_files_and_trees(nn: HttpNameNode) -> None:
    nn.mkdir("/src/sub")
    nn.tee("/src/x", b"x" * 3_000_000)
    nn.tee("/src/sub/y", b"y")
    nn.cp("/src", "/dst")
    assert nn.cat("/dst/x") == b"x" * 3_000_000 and nn.cat("/dst/sub/y") == b"y"
    nn.cp("/src/sub/y", "/dst")  # into an existing directory, as cp(1)
    assert nn.cat("/dst/y") == b"y"


def test_remote_errors_become_builtin_oserrors(nn: HttpNameNode) -> None:
    nn.mkdir("/full/child")
    with pytest.raises(OSError) as raised:
        nn.delete("/full")
    assert isinstance(raised.value, NotEmpty) and raised.value.errno == errno.ENOTEMPTY
    with pytest.raises(FileNotFoundError) as missing:
        nn.get_status("/nope")
    assert missing.value.errno == errno.ENOENT and "does not exist" in str(missing.value)
    assert nn.delete("/nope") is False
    assert nn.rmdir("/full", force=True) is None
    with pytest.raises(OSError):
        nn.set_replication("/", 2)  # the fake has no SETREPLICATION: 400 IllegalArgument


def test_unreachable_name_node() -> None:
    client = HttpNameNode("http://127.0.0.1:1", user="x")
    assert client.ping_alive() is False
    with pytest.raises(NodeUnreachable) as raised:
        client.get_status("/")
    assert isinstance(raised.value, OSError) and raised.value.errno == errno.EIO


def test_xattr_values_decode_from_every_webhdfs_encoding() -> None:
    assert decode_xattr_value("0x00ff41") == b"\x00\xffA"
    assert decode_xattr_value("0sAP9B") == b"\x00\xffA"
    assert decode_xattr_value('"text"') == b"text"
    assert decode_xattr_value(None) == b""


def test_write_block_and_commit_by_hand(nn: HttpNameNode, cluster: FakeCluster) -> None:
    block = nn.write_block("/", b"abc" * 1000, replication=3)
    assert len(block["dataNodes"]) == 3 and block["length"] == 3000
    status = nn.commit("/manual", [block, {"blockId": None, "length": 10}], create=True, permission=0o600)
    assert status["length"] == 3010
    location = nn.block_locations("/manual")["BlockLocation"][0]
    assert nn.read_block(location) == b"abc" * 1000
