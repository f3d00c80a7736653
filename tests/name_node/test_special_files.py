"""Special files (FIFOs, sockets, device nodes) in the namespace: MKNOD, their FileStatus, and the
clear refusal of every operation that would need bytes."""
from __future__ import annotations

import marshal

import pytest

from name_node.store import Inode
from nn_helpers import NN


@pytest.mark.parametrize("kind,rdev", [("FIFO", 0), ("CHAR", (1 << 8) | 3), ("BLOCK", (7 << 8) | 1), ("SOCKET", 0)])
def test_mknod_makes_an_inode_with_a_type_and_rdev(nn: NN, kind: str, rdev: int) -> None:
    status = nn.ok("PUT", "/n", "MKNOD", type=kind.lower(), rdev=rdev, permission="640")["FileStatus"]
    assert status["type"] == "FILE" and status["kind"] == kind and status["rdev"] == rdev
    assert status["length"] == 0 and status["permission"] == "640" and status["nlink"] == 1
    again = nn.ok("GET", "/n", "GETFILESTATUS")["FileStatus"]
    assert {k: again[k] for k in ("type", "kind", "rdev", "fileId")} == \
        {k: status[k] for k in ("type", "kind", "rdev", "fileId")}
    listed = nn.ok("GET", "/", "LISTSTATUS")["FileStatuses"]["FileStatus"]
    assert [(s["pathSuffix"], s["kind"], s["rdev"]) for s in listed] == [("n", kind, rdev)]


def test_mknod_refuses_bad_input_and_existing_names(nn: NN) -> None:
    assert nn.call("PUT", "/x", "MKNOD", type="PIPE")[0] == 400
    assert nn.call("PUT", "/x", "MKNOD")[0] == 400
    assert nn.call("PUT", "/x", "MKNOD", type="FIFO", rdev=-1)[0] == 400
    assert nn.call("PUT", "/x", "MKNOD", type="FIFO", rdev=1 << 64)[0] == 400
    nn.ok("PUT", "/x", "MKNOD", type="FIFO")
    status, body, _ = nn.call("PUT", "/x", "MKNOD", type="SOCKET")
    assert status == 403 and body["RemoteException"]["exception"] == "FileAlreadyExistsException"
    status, body, _ = nn.call("PUT", "/nope/x", "MKNOD", type="FIFO")
    assert status == 404
    nn.ok("PUT", "/d", "MKDIRS", permission="755")
    status, _, _ = nn.call("PUT", "/d/x", "MKNOD", user="alice", type="FIFO")
    assert status == 403  # no write permission on /d


def test_reads_and_writes_of_a_special_file_get_a_clear_error(nn: NN) -> None:
    nn.ok("PUT", "/p", "MKNOD", type="FIFO")
    for method, op, params in [("GET", "OPEN", {}), ("POST", "APPEND", {}), ("POST", "TRUNCATE", {"newlength": 0}),
                               ("GET", "GETFILEBLOCKLOCATIONS", {}), ("PUT", "CREATE", {"overwrite": True}),
                               ("POST", "ADDBLOCK", {})]:
        status, body, _ = nn.call(method, "/p", op, **params)
        assert status == 400, (op, status, body)
        assert body["RemoteException"]["exception"] == "UnsupportedOperationException", op
        assert "FIFO special file" in body["RemoteException"]["message"], op
    status, body = nn.commit("/p", [], overwrite=True)
    assert status == 400 and "FIFO special file" in body["RemoteException"]["message"]


def test_special_files_rename_link_chmod_chown_and_delete(nn: NN) -> None:
    nn.ok("PUT", "/s", "MKNOD", type="SOCKET", permission="4755")
    nn.ok("PUT", "/s", "LINK", destination="/t")
    assert nn.ok("GET", "/t", "GETFILESTATUS")["FileStatus"]["nlink"] == 2
    renamed = nn.ok("PUT", "/t", "RENAME", destination="/u", renameoptions="NONE", timens=True)
    assert renamed["boolean"] is True and renamed["timeNs"] == nn.ok("GET", "/u", "GETFILESTATUS")["FileStatus"]["changeTimeNs"]
    nn.ok("PUT", "/u", "SETPERMISSION", permission="4700")
    nn.ok("PUT", "/u", "SETOWNER", owner="alice")
    status = nn.ok("GET", "/s", "GETFILESTATUS")["FileStatus"]
    assert status["owner"] == "alice" and status["permission"] == "700"  # chown drops setuid, as Linux
    assert status["kind"] == "SOCKET"
    assert nn.ok("DELETE", "/s", "DELETE", kind="file") == {"boolean": True}
    assert nn.ok("DELETE", "/u", "DELETE", kind="file") == {"boolean": True}
    assert nn.ok("GET", "/", "LISTSTATUS")["FileStatuses"]["FileStatus"] == []


def test_inode_records_written_before_rdev_existed_still_decode() -> None:
    old = marshal.dumps(("f", 0o644, "root", "root", 5, 1, 2, 3, 1, 3, 4096, "", 0, 1))
    inode = Inode.decode(old)
    assert inode.rdev == 0 and inode.size == 5 and inode.parent == 1
