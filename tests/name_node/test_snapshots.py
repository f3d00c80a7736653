"""Snapshots on an in-process name node: the WebHDFS answers, the rules, the diff report, and
which blocks a snapshot keeps and gives back (the data-node side is tests/integration/)."""
from __future__ import annotations

from typing import Any

from nn_helpers import NN


def deletions(nn: NN, node: str = "dn1") -> list[str]:
    return [b for c in nn.heartbeat(node)["commands"] if c["op"] == "delete" for b in c["blocks"]]


def snapshot_tree(nn: NN) -> dict[str, Any]:
    """/d with a (one block), b (one block) and sub/c, snapshotted as s1."""
    nn.heartbeat("dn1")
    nn.ok("PUT", "/d/sub", "MKDIRS")
    blocks = {}
    for name in ("a", "b", "sub/c"):
        blocks[name] = nn.write_block(f"/d/{name}", data_len=10 + len(name))
        assert nn.commit(f"/d/{name}", [blocks[name]], create=True)[0] == 200
    nn.ok("PUT", "/d", "ALLOWSNAPSHOT")
    assert nn.ok("PUT", "/d", "CREATESNAPSHOT", snapshotname="s1") == {"Path": "/d/.snapshot/s1"}
    return blocks


def test_snapshot_reads_the_frozen_tree_after_overwrite_delete_and_rename(nn: NN) -> None:
    blocks = snapshot_tree(nn)
    fresh = nn.write_block("/d/a", data_len=99)
    assert nn.commit("/d/a", [fresh], overwrite=True)[0] == 200
    nn.ok("DELETE", "/d/b", "DELETE")
    nn.ok("PUT", "/d/sub/c", "RENAME", destination="/d/c2")
    nn.ok("PUT", "/d/made/deep", "MKDIRS")
    assert deletions(nn) == []  # the snapshot holds every replaced or deleted block

    listing = nn.ok("GET", "/d/.snapshot/s1", "LISTSTATUS")["FileStatuses"]["FileStatus"]
    assert [s["pathSuffix"] for s in listing] == ["a", "b", "sub"]  # not "made", not "c2"
    assert nn.ok("GET", "/d/.snapshot/s1/a", "GETFILESTATUS")["FileStatus"]["length"] == 11
    assert nn.ok("GET", "/d/.snapshot/s1/sub/c", "GETFILESTATUS")["FileStatus"]["length"] == 15
    located = nn.ok("GET", "/d/.snapshot/s1/b", "GETFILEBLOCKLOCATIONS")["BlockLocations"]["BlockLocation"]
    assert [loc["blockId"] for loc in located] == [blocks["b"]["blockId"]]
    batch = nn.ok("GET", "/d/.snapshot", "LISTSTATUS_BATCH")["DirectoryListing"]["partialListing"]
    assert [s["pathSuffix"] for s in batch["FileStatuses"]["FileStatus"]] == ["s1"]
    dot = nn.ok("GET", "/d/.snapshot", "GETFILESTATUS")["FileStatus"]
    assert dot["type"] == "DIRECTORY" and dot["childrenNum"] == 1
    # the live tree moved on
    assert nn.ok("GET", "/d/a", "GETFILESTATUS")["FileStatus"]["length"] == 99
    assert nn.call("GET", "/d/b", "GETFILESTATUS")[0] == 404
    # the mount sees distinct inode numbers for a snapshot's copy of a file
    live_id = nn.ok("GET", "/d/a", "GETFILESTATUS")["FileStatus"]["fileId"]
    assert nn.ok("GET", "/d/.snapshot/s1/a", "GETFILESTATUS")["FileStatus"]["fileId"] != live_id

    diff = nn.ok("GET", "/d", "GETSNAPSHOTDIFF", oldsnapshotname="s1", snapshotname="")["SnapshotDiffReport"]
    assert diff["fromSnapshot"] == "s1" and diff["toSnapshot"] == "" and diff["snapshotRoot"] == "/d"
    assert diff["diffList"] == [        {"type": "MODIFY", "sourcePath": ""}, {"type": "MODIFY", "sourcePath": "a"},
        {"type": "MODIFY", "sourcePath": "sub"}, {"type": "CREATE", "sourcePath": "made"},
        {"type": "DELETE", "sourcePath": "b"},
        {"type": "RENAME", "sourcePath": "sub/c", "targetPath": "c2"}]

    listed = nn.ok("GET", "/d", "GETSNAPSHOTLIST")["SnapshotList"]
    assert [(s["fullPath"], s["exclusiveBytes"]) for s in listed] == [("/d/.snapshot/s1", 11 + 11)]

    nn.ok("DELETE", "/d", "DELETESNAPSHOT", snapshotname="s1")
    # old a and b go; sub/c lives on as /d/c2
    assert sorted(deletions(nn)) == sorted([blocks["a"]["blockId"], blocks["b"]["blockId"]])
    assert nn.call("GET", "/d/.snapshot/s1", "GETFILESTATUS")[0] == 404
    assert nn.ok("GET", "/d/c2", "GETFILESTATUS")["FileStatus"]["length"] == 15


def test_a_block_two_snapshots_hold_goes_with_the_last(nn: NN) -> None:
    blocks = snapshot_tree(nn)
    nn.ok("PUT", "/d", "CREATESNAPSHOT", snapshotname="s2")
    nn.ok("DELETE", "/d/a", "DELETE")
    nn.ok("DELETE", "/d", "DELETESNAPSHOT", snapshotname="s1")
    assert deletions(nn) == []
    assert nn.ok("GET", "/d/.snapshot/s2/a", "GETFILESTATUS")["FileStatus"]["length"] == 11
    nn.ok("DELETE", "/d", "DELETESNAPSHOT", snapshotname="s2")
    assert deletions(nn) == [blocks["a"]["blockId"]]  # b and sub/c are still live


def test_writes_below_dot_snapshot_are_refused(nn: NN) -> None:
    snapshot_tree(nn)
    for method, path, op, params in [
            ("PUT", "/d/.snapshot/s1/new", "MKDIRS", {}),
            ("DELETE", "/d/.snapshot/s1/a", "DELETE", {}),
            ("PUT", "/d/.snapshot/s1/a", "SETPERMISSION", {"permission": "600"}),
            ("PUT", "/d/.snapshot/s1/a", "CREATE", {}),
            ("POST", "/d/.snapshot/s1/a", "COMMIT", {}),
            ("PUT", "/d/a", "RENAME", {"destination": "/d/.snapshot/s1/z"}),
            ("PUT", "/d/.snapshot/s1", "CREATESNAPSHOT", {"snapshotname": "x"})]:
        status, body, _ = nn.call(method, path, op, **params)
        assert status == 403, (op, body)
        assert body["RemoteException"]["exception"] == "SnapshotAccessControlException", (op, body)
        assert body["RemoteException"]["errno"] == "EROFS"
    assert nn.call("GET", "/d/.snapshot/s1", "GETSNAPSHOTDIFF")[0] == 400


def test_snapshot_rules(nn: NN) -> None:
    nn.ok("PUT", "/d/inner", "MKDIRS")
    nn.ok("PUT", "/other", "MKDIRS")
    nn.ok("PUT", "/d", "SETOWNER", owner="carla")
    status, body, _ = nn.call("PUT", "/d", "CREATESNAPSHOT", snapshotname="s1")
    assert status == 403 and body["RemoteException"]["exception"] == "SnapshotException"
    assert "not a snapshottable directory" in body["RemoteException"]["message"]
    assert nn.call("PUT", "/d", "ALLOWSNAPSHOT", user="carla")[0] == 403  # the superuser only
    nn.ok("PUT", "/d", "ALLOWSNAPSHOT")
    nn.ok("PUT", "/d", "ALLOWSNAPSHOT")  # again: nothing changes
    status, body, _ = nn.call("PUT", "/d/inner", "ALLOWSNAPSHOT")
    assert status == 403 and "Nested" in body["RemoteException"]["message"]
    # the owner may take, rename and drop snapshots; others may not
    assert nn.call("PUT", "/d", "CREATESNAPSHOT", user="bob", snapshotname="x")[0] == 403
    assert nn.ok("PUT", "/d", "CREATESNAPSHOT", user="carla", snapshotname="s1")["Path"] == "/d/.snapshot/s1"
    assert nn.call("PUT", "/d", "CREATESNAPSHOT", user="carla", snapshotname="s1")[0] == 403  # taken
    assert nn.call("PUT", "/d", "CREATESNAPSHOT", snapshotname="a/b")[0] == 403
    default = nn.ok("PUT", "/d", "CREATESNAPSHOT")["Path"]
    assert default.startswith("/d/.snapshot/s20")  # HDFS's sYYYYMMdd-HHmmss.SSS
    nn.ok("PUT", "/d", "RENAMESNAPSHOT", user="carla", oldsnapshotname="s1", snapshotname="first")
    assert nn.call("GET", "/d/.snapshot/first", "GETFILESTATUS")[0] == 200
    assert nn.call("GET", "/d/.snapshot/s1", "GETFILESTATUS")[0] == 404
    assert nn.call("PUT", "/d", "RENAMESNAPSHOT", oldsnapshotname="nope", snapshotname="x")[0] == 403
    # a directory holding snapshots is neither removed nor made unsnapshottable
    status, body, _ = nn.call("DELETE", "/d", "DELETE", recursive=True)
    assert status == 403 and body["RemoteException"]["exception"] == "SnapshotException"
    assert nn.call("PUT", "/d", "DISALLOWSNAPSHOT")[0] == 403
    table = nn.ok("GET", "/", "GETSNAPSHOTTABLEDIRECTORYLIST")["SnapshottableDirectoryList"]
    assert [(t["parentFullPath"], t["dirStatus"]["pathSuffix"], t["snapshotNumber"]) for t in table] == [("/", "d", 2)]
    assert nn.ok("GET", "/", "GETSNAPSHOTTABLEDIRECTORYLIST", user="bob")["SnapshottableDirectoryList"] == []
    for name in ("first", default.rsplit("/", 1)[1]):
        nn.ok("DELETE", "/d", "DELETESNAPSHOT", snapshotname=name)
    assert nn.call("DELETE", "/d", "DELETESNAPSHOT", snapshotname="first")[0] == 403
    nn.ok("PUT", "/d", "DISALLOWSNAPSHOT")
    assert nn.call("GET", "/d/.snapshot", "LISTSTATUS")[0] == 404
    assert nn.ok("DELETE", "/d", "DELETE", recursive=True) == {"boolean": True}


def test_snapshots_survive_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from name_node import NameNode
    from nn_helpers import make_settings

    node = NameNode(make_settings(tmp_path))
    nn = NN(node)
    snapshot_tree(nn)
    nn.ok("DELETE", "/d/a", "DELETE")
    node.stop()
    node = NameNode(make_settings(tmp_path))
    try:
        again = NN(node)
        assert again.ok("GET", "/d/.snapshot/s1/a", "GETFILESTATUS")["FileStatus"]["length"] == 11
    finally:
        node.stop()
