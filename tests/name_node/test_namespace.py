"""Namespace operations through the WebHDFS face: shapes, errors, rename semantics, paging."""
from __future__ import annotations

import json

from nn_helpers import NN, make_settings
from name_node import NameNode


def test_mkdirs_is_mkdir_p_and_idempotent(nn: NN) -> None:
    assert nn.ok("PUT", "/a/b/c", "MKDIRS") == {"boolean": True}
    assert nn.ok("PUT", "/a/b/c", "MKDIRS") == {"boolean": True}
    status = nn.ok("GET", "/a/b", "GETFILESTATUS")["FileStatus"]
    assert status["type"] == "DIRECTORY" and status["childrenNum"] == 1 and status["pathSuffix"] == ""


def test_mkdir_without_parents_is_posix(nn: NN) -> None:
    assert nn.call("PUT", "/x/y", "MKDIRS", parents=False)[0] == 404
    nn.ok("PUT", "/x", "MKDIRS", parents=False)
    status, body, _ = nn.call("PUT", "/x", "MKDIRS", parents=False)
    assert status == 403 and body["RemoteException"]["errno"] == "EEXIST"


def test_missing_path_is_file_not_found(nn: NN) -> None:
    status, body, _ = nn.call("GET", "/nope", "GETFILESTATUS")
    assert status == 404
    assert body["RemoteException"]["exception"] == "FileNotFoundException"
    assert "does not exist" in body["RemoteException"]["message"]


def test_delete_missing_is_false_and_nonempty_needs_recursive(nn: NN) -> None:
    assert nn.ok("DELETE", "/nope", "DELETE") == {"boolean": False}
    nn.ok("PUT", "/d/e", "MKDIRS")
    status, body, _ = nn.call("DELETE", "/d", "DELETE")
    assert status == 403 and body["RemoteException"]["exception"] == "PathIsNotEmptyDirectoryException"
    assert nn.ok("DELETE", "/d", "DELETE", recursive=True) == {"boolean": True}
    assert nn.call("GET", "/d", "GETFILESTATUS")[0] == 404


def test_delete_kind_decides_file_or_directory_in_the_same_transaction(nn: NN) -> None:
    nn.ok("PUT", "/dir", "MKDIRS")
    nn.commit("/file", [], create=True)
    status, body, _ = nn.call("DELETE", "/dir", "DELETE", kind="file")
    assert status == 403 and body["RemoteException"]["errno"] == "EISDIR"
    status, body, _ = nn.call("DELETE", "/file", "DELETE", kind="directory")
    assert 400 <= status < 500 and body["RemoteException"]["errno"] == "ENOTDIR"
    assert nn.call("DELETE", "/file", "DELETE", kind="both")[0] == 400
    assert nn.call("GET", "/dir", "GETFILESTATUS")[0] == 200 and nn.call("GET", "/file", "GETFILESTATUS")[0] == 200
    assert nn.ok("DELETE", "/dir", "DELETE", kind="directory") == {"boolean": True}
    assert nn.ok("DELETE", "/file", "DELETE", kind="file") == {"boolean": True}
    assert nn.ok("DELETE", "/file", "DELETE", kind="file") == {"boolean": False}


def test_liststatus_of_file_is_one_entry(nn: NN) -> None:
    nn.heartbeat("dn1")
    nn.commit("/f", [], create=True)
    entries = nn.ok("GET", "/f", "LISTSTATUS")["FileStatuses"]["FileStatus"]
    assert len(entries) == 1 and entries[0]["pathSuffix"] == "" and entries[0]["type"] == "FILE"


def test_liststatus_batch_pages_of_1000(nn: NN) -> None:
    with nn.node.store.write() as txn:
        from name_node import namespace
        caller = nn.node.groups.caller("root")
        for i in range(2500):
            namespace.mkdirs(txn, f"/big/d{i:05d}", caller, 0o755, 1)
    names: list[str] = []
    start = ""
    pages = 0
    while True:
        body = nn.ok("GET", "/big", "LISTSTATUS_BATCH", startAfter=start)["DirectoryListing"]
        page = body["partialListing"]["FileStatuses"]["FileStatus"]
        pages += 1
        names += [e["pathSuffix"] for e in page]
        if body["remainingEntries"] == 0:
            break
        start = page[-1]["pathSuffix"]
    assert pages == 3 and names == [f"d{i:05d}" for i in range(2500)]
    full = nn.ok("GET", "/big", "LISTSTATUS")["FileStatuses"]["FileStatus"]
    assert [e["pathSuffix"] for e in full] == names


def test_hdfs_rename_moves_into_existing_directory(nn: NN) -> None:
    nn.ok("PUT", "/src/inner", "MKDIRS")
    nn.ok("PUT", "/dst", "MKDIRS")
    assert nn.ok("PUT", "/src", "RENAME", destination="/dst") == {"boolean": True}
    assert nn.ok("GET", "/dst/src/inner", "GETFILESTATUS")
    assert nn.ok("PUT", "/missing", "RENAME", destination="/x") == {"boolean": False}


def test_hdfs_rename_onto_file_is_false(nn: NN) -> None:
    nn.commit("/a", [], create=True)
    nn.commit("/b", [], create=True)
    assert nn.ok("PUT", "/a", "RENAME", destination="/b") == {"boolean": False}


def test_posix_rename_overwrites_file_atomically(nn: NN) -> None:
    nn.commit("/a", [], create=True)
    nn.commit("/b", [], create=True)
    a_id = nn.ok("GET", "/a", "GETFILESTATUS")["FileStatus"]["fileId"]
    status, body, _ = nn.call("PUT", "/a", "RENAME", destination="/b", renameoptions="NONE")
    assert status == 403 and body["RemoteException"]["errno"] == "EEXIST"
    assert nn.ok("PUT", "/a", "RENAME", destination="/b", renameoptions="OVERWRITE") == {"boolean": True}
    assert nn.ok("GET", "/b", "GETFILESTATUS")["FileStatus"]["fileId"] == a_id
    assert nn.call("GET", "/a", "GETFILESTATUS")[0] == 404
    assert nn.ok("GET", "/", "GETCONTENTSUMMARY")["ContentSummary"]["fileCount"] == 1


def test_posix_rename_errors(nn: NN) -> None:
    nn.ok("PUT", "/d1/sub", "MKDIRS")
    nn.ok("PUT", "/d2", "MKDIRS")
    nn.commit("/f", [], create=True)
    def errno(src: str, dst: str) -> str:
        status, body, _ = nn.call("PUT", src, "RENAME", destination=dst, renameoptions="OVERWRITE")
        assert status >= 400, body
        return body["RemoteException"]["errno"]
    assert errno("/f", "/d2") == "EISDIR"
    assert errno("/d2", "/f") == "ENOTDIR"
    assert errno("/d2", "/d1") == "ENOTEMPTY"
    assert errno("/nope", "/x") == "ENOENT"
    assert errno("/d1", "/d1/sub/deeper") == "EINVAL"
    assert nn.ok("PUT", "/d2", "RENAME", destination="/d1/sub", renameoptions="OVERWRITE") == {"boolean": True}


def test_rename_directory_into_itself_is_400_in_hdfs_mode(nn: NN) -> None:
    nn.ok("PUT", "/d/e", "MKDIRS")
    status, body, _ = nn.call("PUT", "/d", "RENAME", destination="/d/e")
    assert status == 400 and body["RemoteException"]["errno"] == "EINVAL"


def test_hard_links_share_an_inode(nn: NN) -> None:
    nn.heartbeat("dn1")
    block = nn.write_block("/f", nodes=("dn1",))
    nn.commit("/f", [block], create=True)
    nn.ok("PUT", "/f", "LINK", destination="/g")
    f, g = (nn.ok("GET", p, "GETFILESTATUS")["FileStatus"] for p in ("/f", "/g"))
    assert f["fileId"] == g["fileId"] and g["nlink"] == 2
    nn.ok("DELETE", "/f", "DELETE")
    assert nn.ok("GET", "/g", "GETFILESTATUS")["FileStatus"]["length"] == 100
    assert nn.heartbeat("dn1")["commands"] == []


def test_symlinks(nn: NN) -> None:
    nn.ok("PUT", "/real/dir", "MKDIRS")
    nn.ok("PUT", "/ln", "CREATESYMLINK", destination="/real")
    status = nn.ok("GET", "/ln", "GETFILESTATUS")["FileStatus"]
    assert status["type"] == "SYMLINK" and status["symlink"] == "/real"
    assert nn.ok("GET", "/ln/dir", "GETFILESTATUS")["FileStatus"]["type"] == "DIRECTORY"
    nn.ok("PUT", "/rel", "CREATESYMLINK", destination="real/dir")
    assert nn.ok("GET", "/rel/", "LISTSTATUS")["FileStatuses"]["FileStatus"] == []


def test_xattrs_roundtrip_with_encodings(nn: NN) -> None:
    nn.ok("PUT", "/x", "MKDIRS")
    nn.ok("PUT", "/x", "SETXATTR", **{"xattr.name": "user.a", "xattr.value": "0x0102", "flag": "CREATE"})
    nn.ok("PUT", "/x", "SETXATTR", **{"xattr.name": "user.b", "xattr.value": '"hi"'})
    names = nn.ok("GET", "/x", "LISTXATTRS")["XAttrNames"]
    assert json.loads(names) == ["user.a", "user.b"]
    values = nn.ok("GET", "/x", "GETXATTRS", encoding="hex")["XAttrs"]
    assert values == [{"name": "user.a", "value": "0x0102"}, {"name": "user.b", "value": "0x6869"}]
    status, body, _ = nn.call("PUT", "/x", "SETXATTR", **{"xattr.name": "user.a", "xattr.value": "1", "flag": "CREATE"})
    assert status == 403
    nn.ok("PUT", "/x", "REMOVEXATTR", **{"xattr.name": "user.a"})
    status, body, _ = nn.call("GET", "/x", "GETXATTRS", **{"xattr.name": "user.a"})
    assert status == 403 and body["RemoteException"]["errno"] == "ENODATA"


def test_settimes_setowner_setpermission(nn: NN) -> None:
    nn.ok("PUT", "/t", "MKDIRS")
    nn.ok("PUT", "/t", "SETTIMES", modificationtime=1000, accesstime=-1)
    nn.ok("PUT", "/t", "SETPERMISSION", permission="1777")
    nn.ok("PUT", "/t", "SETOWNER", owner="alice", group="staff")
    status = nn.ok("GET", "/t", "GETFILESTATUS")["FileStatus"]
    assert (status["modificationTime"], status["permission"], status["owner"], status["group"]) == \
        (1000, "1777", "alice", "staff")


def test_misc_read_ops(nn: NN) -> None:
    assert nn.ok("GET", "/", "GETHOMEDIRECTORY", user="bob") == {"Path": "/user/bob"}
    assert nn.ok("GET", "/", "GETSERVERDEFAULTS")["FsServerDefaults"]["replication"] == 3
    assert set(nn.ok("GET", "/", "GETSTATUS")["FsStatus"]) == {"used", "remaining", "capacity"}
    assert nn.call("GET", "/", "CHECKACCESS", user="bob", fsaction="r-x")[0] == 200
    assert nn.call("GET", "/", "CHECKACCESS", user="bob", fsaction="rwx")[0] == 403


def test_changes_survive_reopen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = NameNode(make_settings(tmp_path))
    client = NN(node)
    client.ok("PUT", "/keep/me", "MKDIRS")
    client.ok("PUT", "/keep/me", "RENAME", destination="/keep/moved")
    node.stop()
    again = NN(NameNode(make_settings(tmp_path)))
    try:
        assert again.ok("GET", "/keep/moved", "GETFILESTATUS")["FileStatus"]["type"] == "DIRECTORY"
        assert again.call("GET", "/keep/me", "GETFILESTATUS")[0] == 404
        again.ok("PUT", "/new", "MKDIRS")
        ids = {e["fileId"] for e in again.ok("GET", "/", "LISTSTATUS")["FileStatuses"]["FileStatus"]}
        assert len(ids) == 2
    finally:
        again.node.stop()
