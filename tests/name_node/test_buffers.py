"""Ingest buffers on an in-process name node: counters follow every kind of change, a frozen
buffer refuses every change (403, EROFS), release archives atomically, the log keeps the story."""
from __future__ import annotations

from typing import Any

import pytest

from nn_helpers import NN


@pytest.fixture
def dn(nn: NN) -> NN:
    nn.heartbeat("dn1")
    return nn


def status_of(nn: NN, path: str) -> dict[str, Any]:
    return nn.ok("GET", path, "GETBUFFERSTATUS")["BufferStatus"]


def post(nn: NN, path: str, length: int, suffix: str = "") -> tuple[int, Any]:
    blocks = [nn.write_block(path + "/.record", length)] if length else []
    status, body, _ = nn.call("POST", path, "COMMITRECORD", body={"blocks": blocks, "suffix": suffix})
    return status, body


def errno_of(body: Any) -> str:
    return body["RemoteException"]["errno"]


def test_records_are_named_by_arrival_and_counted(dn: NN) -> None:
    created = dn.ok("PUT", "/in/buf", "CREATEBUFFER", maxbytes=1000)["BufferStatus"]
    assert (created["n_itm"], created["buff_size"], created["dstatus"]) == (0, 0, "OPERATIONAL")
    names = []
    for length in (10, 20, 0, 30):
        status, body = post(dn, "/in/buf", length, ".json")
        assert status == 200, body
        names.append(body["Record"]["name"])
        assert body["Record"]["length"] == length
    assert names == sorted(names) and len(set(names)) == 4 and all(n.endswith("Z.json") for n in names)
    listed = dn.ok("GET", "/in/buf", "LISTSTATUS")["FileStatuses"]["FileStatus"]
    assert [s["pathSuffix"] for s in listed] == names
    assert [s["length"] for s in listed] == [10, 20, 0, 30]
    assert (status_of(dn, "/in/buf")["n_itm"], status_of(dn, "/in/buf")["buff_size"]) == (4, 60)


def test_counters_follow_files_changed_by_any_operation(dn: NN) -> None:
    dn.ok("PUT", "/c", "CREATEBUFFER", maxbytes=10**6)
    assert dn.commit("/c/a", [dn.write_block("/c/a", 100)], create=True)[0] == 200  # a mount's cp
    assert status_of(dn, "/c")["buff_size"] == 100
    assert dn.commit("/c/a", [dn.write_block("/c/a", 40)], create=True, overwrite=True)[0] == 200
    assert status_of(dn, "/c")["buff_size"] == 40
    dn.ok("POST", "/c/a", "TRUNCATE", newlength=15)
    assert status_of(dn, "/c")["buff_size"] == 15
    assert dn.commit("/outside", [dn.write_block("/outside", 7)], create=True)[0] == 200
    dn.ok("PUT", "/outside", "RENAME", destination="/c/b")  # moved in
    assert (status_of(dn, "/c")["n_itm"], status_of(dn, "/c")["buff_size"]) == (2, 22)
    dn.ok("PUT", "/c/a", "RENAME", destination="/a")  # moved out
    assert (status_of(dn, "/c")["n_itm"], status_of(dn, "/c")["buff_size"]) == (1, 7)
    dn.ok("DELETE", "/c/b", "DELETE")
    assert (status_of(dn, "/c")["n_itm"], status_of(dn, "/c")["buff_size"]) == (0, 0)


def test_freeze_is_refused_below_the_threshold_unless_forced(dn: NN) -> None:
    dn.ok("PUT", "/f", "CREATEBUFFER", maxbytes=50)
    post(dn, "/f", 49)
    status, body, _ = dn.call("PUT", "/f", "FREEZEBUFFER")
    assert status == 409 and errno_of(body) == "EAGAIN", body
    assert "below the threshold" in body["RemoteException"]["message"]
    assert status_of(dn, "/f")["dstatus"] == "OPERATIONAL"
    post(dn, "/f", 1)
    frozen = dn.ok("PUT", "/f", "FREEZEBUFFER")["BufferStatus"]
    assert (frozen["dstatus"], frozen["frozen_by"], frozen["buff_size"]) == ("FROZEN", "root", 50)
    status, body, _ = dn.call("PUT", "/f", "FREEZEBUFFER")
    assert status == 409 and "already frozen by root" in body["RemoteException"]["message"]
    dn.ok("PUT", "/g", "CREATEBUFFER", maxbytes=50)
    assert dn.ok("PUT", "/g", "FREEZEBUFFER", force=True)["BufferStatus"]["dstatus"] == "FROZEN"


def test_a_frozen_buffer_refuses_every_change(dn: NN) -> None:
    dn.ok("PUT", "/z", "CREATEBUFFER", maxbytes=1)
    name = post(dn, "/z", 5)[1]["Record"]["name"]
    dn.ok("PUT", "/z/sub", "MKDIRS")
    dn.ok("PUT", "/z", "FREEZEBUFFER")
    block = dn.write_block("/elsewhere", 3)
    refused = [
        dn.call("POST", "/z", "COMMITRECORD", body={"blocks": []}),
        dn.call("POST", "/z/new", "COMMIT", body={"blocks": [block], "create": True}),
        dn.call("POST", "/z/new", "COMMIT", body={"blocks": [], "create": True, "check": True}),
        dn.call("POST", f"/z/{name}", "COMMIT", body={"blocks": [], "overwrite": True}),
        dn.call("POST", f"/z/{name}", "TRUNCATE", newlength=0),
        dn.call("POST", "/z/x", "ADDBLOCK"),
        dn.call("POST", "/z", "POSTRECORD"),
        dn.call("PUT", "/z/new", "CREATE"),
        dn.call("PUT", "/z/d", "MKDIRS"),
        dn.call("PUT", "/z/sub/deeper", "MKDIRS"),
        dn.call("PUT", "/z/l", "CREATESYMLINK", destination="/x"),
        dn.call("DELETE", f"/z/{name}", "DELETE"),
        dn.call("DELETE", "/z", "DELETE", recursive=True),
        dn.call("PUT", f"/z/{name}", "RENAME", destination="/out"),
        dn.call("PUT", f"/z/{name}", "LINK", destination="/z/hard"),
    ]
    for status, body, _ in refused:
        assert status == 403 and errno_of(body) == "EROFS", body
        assert body["RemoteException"]["exception"] == "ReadOnlyFileSystemException"
    assert dn.ok("GET", f"/z/{name}", "GETFILESTATUS")["FileStatus"]["length"] == 5
    assert (status_of(dn, "/z")["n_itm"], status_of(dn, "/z")["buff_size"]) == (2, 5)


def test_release_archives_the_batch_and_starts_an_empty_buffer(dn: NN) -> None:
    dn.ok("PUT", "/r/buf", "CREATEBUFFER", maxbytes=10)
    names = {post(dn, "/r/buf", 5)[1]["Record"]["name"] for _ in range(3)}
    status, body, _ = dn.call("PUT", "/r/buf", "RELEASEBUFFER")
    assert status == 409 and "freeze it before releasing" in body["RemoteException"]["message"]
    dn.ok("PUT", "/r/buf", "FREEZEBUFFER")
    released = dn.ok("PUT", "/r/buf", "RELEASEBUFFER")["BufferStatus"]
    archive = released["archive"]
    assert archive.startswith("/r/buf.") and archive.endswith("Z")
    assert (released["archived_n_itm"], released["archived_buff_size"]) == (3, 15)
    assert (released["n_itm"], released["buff_size"], released["dstatus"], released["batch"]) == (0, 0, "OPERATIONAL", 1)
    listed = dn.ok("GET", archive, "LISTSTATUS")["FileStatuses"]["FileStatus"]
    assert {s["pathSuffix"] for s in listed} == names
    assert dn.call("GET", archive, "GETBUFFERSTATUS")[0] == 404  # the archive is a plain directory
    dn.ok("PUT", archive + "/more", "MKDIRS")
    later = post(dn, "/r/buf", 2)[1]["Record"]["name"]
    assert later > max(names)
    events = dn.ok("GET", "/r/buf", "GETBUFFERLOG")["BufferLog"]
    assert [e["event"] for e in events] == ["created", "frozen", "released"]
    assert events[1]["user"] == "root" and events[1]["buff_size"] == 15 and events[2]["archive"] == archive
    dn.ok("PUT", "/r/other", "MKDIRS")
    dn.ok("PUT", "/r/buf", "FREEZEBUFFER", force=True)
    elsewhere = dn.ok("PUT", "/r/buf", "RELEASEBUFFER", archivedir="/r/other")["BufferStatus"]["archive"]
    assert elsewhere.startswith("/r/other/buf.")


def test_buffer_errors(dn: NN) -> None:
    assert dn.call("GET", "/nothing", "GETBUFFERSTATUS")[0] == 404
    dn.ok("PUT", "/plain", "MKDIRS")
    assert dn.call("GET", "/plain", "GETBUFFERSTATUS")[0] == 404
    assert dn.call("PUT", "/b", "CREATEBUFFER")[0] == 400
    assert dn.call("PUT", "/b", "CREATEBUFFER", maxbytes=0)[0] == 400
    dn.ok("PUT", "/b", "CREATEBUFFER", maxbytes=5)
    assert dn.call("PUT", "/b", "CREATEBUFFER", maxbytes=5)[0] == 403
    assert dn.call("POST", "/b", "COMMITRECORD", body={"blocks": [], "suffix": "/../x"})[0] == 400
    assert dn.commit("/file", [], create=True)[0] == 200
    assert dn.call("PUT", "/file", "CREATEBUFFER", maxbytes=5)[0] == 403
    dn.ok("PUT", "/b", "FREEZEBUFFER", force=True)
    dn.ok("DELETE", "/b", "DELETE")  # an empty frozen buffer may go; its row goes with it
    assert dn.call("GET", "/b", "GETBUFFERSTATUS")[0] == 404
    dn.ok("PUT", "/b", "MKDIRS")
    assert dn.call("PUT", "/b/x", "MKDIRS")[0] == 200


def test_an_existing_directory_becomes_a_buffer_with_its_files_counted(dn: NN) -> None:
    dn.ok("PUT", "/e", "MKDIRS")
    assert dn.commit("/e/one", [dn.write_block("/e/one", 11)], create=True)[0] == 200
    status = dn.ok("PUT", "/e", "CREATEBUFFER", maxbytes=5)["BufferStatus"]
    assert (status["n_itm"], status["buff_size"], status["full"]) == (1, 11, True)
