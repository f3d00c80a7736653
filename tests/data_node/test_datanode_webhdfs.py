"""WebHDFS step 2 on the data node, against a stand-in for ``dfs_client.HttpNameNode``."""
from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import crc32c
import pytest
from werkzeug.test import Client

from dfs_common.blocks import checksum
from dfs_common.errors import NotFound

LOCAL = "00000000000000f1"
REMOTE = "00000000000000f2"
ONE = bytes(range(256)) * 20          # 5120 bytes, held by the node under test
TWO = b"remote block bytes " * 100     # 1900 bytes, only on a "peer"
HOLE = 700


class Writer:
    def __init__(self, store: dict[str, bytes], path: str) -> None:
        self.store, self.path, self.buffer, self.closed, self.aborted = store, path, io.BytesIO(), False, False

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)

    def close(self) -> None:
        self.closed = True
        self.store[self.path] = self.store.get(self.path, b"") + self.buffer.getvalue()

    def abort(self) -> None:
        self.aborted = True


class FakeClient:
    """What the data node uses of HttpNameNode: mkdirs, open, block_locations, read_block."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.opened: list[tuple[str, str, dict[str, Any]]] = []
        self.remote_reads: list[str] = []
        self.writers: list[Writer] = []
        self.made_dirs: list[str] = []
        self.crcs: dict[str, str] = {}  # block id -> the CRC32C the name node kept (none: an older block)

    def mkdirs(self, path: str) -> bool:
        self.made_dirs.append(path)
        return True

    def open(self, path: str, mode: str = "rb", **options: Any) -> Writer:
        self.opened.append((path, mode, options))
        if mode == "wb":
            self.files.pop(path, None)
        self.writers.append(Writer(self.files, path))
        return self.writers[-1]

    def block_locations(self, path: str) -> dict[str, Any]:
        if path == "/data/empty":
            return {"BlockLocation": [], "fileLength": 0}
        if path != "/data/f":
            raise NotFound(f"File does not exist: {path}")
        blocks, offset = [], 0
        for block_id, data in ((LOCAL, ONE), (None, bytes(HOLE)), (REMOTE, TWO)):
            blocks.append({"blockId": block_id, "offset": offset, "length": len(data),
                           "checksum": checksum(data) if block_id else None, "dataNodes": []})
            if block_id in self.crcs:
                blocks[-1]["crc32c"] = self.crcs[block_id]
            offset += len(data)
        return {"BlockLocation": blocks, "fileLength": offset}

    def read_block(self, location: dict[str, Any]) -> bytes:
        self.remote_reads.append(location["blockId"])
        return {LOCAL: ONE, REMOTE: TWO}[location["blockId"]]

    def read_range(self, location: dict[str, Any], offset: int, length: int) -> bytes:
        self.remote_reads.append(f"{location['blockId']}@{offset}+{length}")
        return {LOCAL: ONE, REMOTE: TWO}[location["blockId"]][offset:offset + length]


WHOLE = ONE + bytes(HOLE) + TWO


@pytest.fixture
def served(make_node: Any) -> tuple[Any, FakeClient, list[str]]:
    node = make_node()
    node.root.store(LOCAL, io.BytesIO(ONE), 1 << 20, checksum(ONE))
    fake, users = FakeClient(), []

    def client(user: str, token: str | None = None) -> FakeClient:
        users.append(user)
        return fake

    node.webhdfs.client = client
    return node, fake, users


def test_create_streams_the_body_and_answers_201_with_a_webhdfs_location(served: Any) -> None:
    node, fake, users = served
    response = Client(node).put(
        "/webhdfs/v1/data/new%20file?op=CREATE&user.name=carla&user.name=mallory&overwrite=True"
        "&permission=600&replication=2&blocksize=8192&namenoderpcaddress=nn.example:8180&bogus=1",
        data=b"hello world")
    assert response.status_code == 201, response.get_data()
    assert response.headers["Location"] == "webhdfs://nn.example:8180/data/new%20file"
    assert fake.files["/data/new file"] == b"hello world"
    assert fake.opened[-1] == ("/data/new file", "wb", {"permission": 0o600, "replication": 2,
                                                         "block_size": 8192, "overwrite": True})
    assert users == ["carla"]


def test_create_accepts_empty_and_chunked_bodies(served: Any) -> None:
    node, fake, _ = served
    assert Client(node).put("/webhdfs/v1/empty?op=CREATE").status_code == 201
    assert fake.files["/empty"] == b""
    chunked = Client(node).put("/webhdfs/v1/chunked?op=create", input_stream=io.BytesIO(b"abc" * 1000),
                               headers={"Transfer-Encoding": "chunked"},
                               environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 201 and fake.files["/chunked"] == b"abc" * 1000


def test_append_answers_200_empty(served: Any) -> None:
    node, fake, users = served
    fake.files["/log"] = b"one,"
    response = Client(node).post("/webhdfs/v1/log?op=APPEND", data=b"two")
    assert response.status_code == 200 and response.get_data() == b""
    assert fake.files["/log"] == b"one,two" and fake.opened[-1][1] == "ab"
    assert users == ["dr.who"]


def test_a_body_that_breaks_off_is_never_committed(served: Any) -> None:
    node, fake, _ = served

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise ConnectionResetError("client went away")

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

    response = Client(node).put("/webhdfs/v1/cut?op=CREATE", input_stream=Broken(),
                                headers={"Transfer-Encoding": "chunked"},
                                environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code >= 400
    assert "/cut" not in fake.files and fake.writers[-1].aborted and not fake.writers[-1].closed


@pytest.mark.parametrize(("query", "start", "stop"), [
    ("", 0, len(WHOLE)), ("&offset=100", 100, len(WHOLE)), ("&offset=5000&length=1000", 5000, 6000),
    ("&offset=5200&length=300", 5200, 5500), ("&offset=5900&length=99999", 5900, len(WHOLE)),
    (f"&offset={len(WHOLE)}", len(WHOLE), len(WHOLE)), ("&length=0", 0, 0),
])
def test_open_streams_the_range_across_blocks_and_holes(served: Any, query: str, start: int, stop: int) -> None:
    node, _, _ = served
    response = Client(node).get(f"/webhdfs/v1/data/f?op=OPEN{query}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(stop - start)
    assert response.get_data() == WHOLE[start:stop]


def test_open_past_the_end_is_hdfs_cannot_seek_after_eof(served: Any) -> None:
    node, _, _ = served
    response = Client(node).get("/webhdfs/v1/data/f?op=OPEN&offset=99999")
    assert response.status_code == 403
    assert response.get_json()["RemoteException"]["exception"] == "EOFException"


def test_open_reads_local_replicas_locally_and_others_from_peers(served: Any) -> None:
    node, fake, _ = served
    assert Client(node).get("/webhdfs/v1/data/f?op=OPEN").get_data() == WHOLE
    assert fake.remote_reads == [REMOTE]


def test_open_skips_a_corrupt_local_replica_and_quarantines_it(served: Any, namenode: Any) -> None:
    node, fake, _ = served
    path = node.root._path(LOCAL)
    with open(path, "r+b") as file:
        file.write(b"\xff")
    assert Client(node).get("/webhdfs/v1/data/f?op=OPEN").get_data() == WHOLE
    assert fake.remote_reads == [LOCAL, REMOTE]
    assert not node.root.exists(LOCAL) and namenode.bad_blocks[0]["blockId"] == LOCAL


def test_open_of_part_of_a_block_reads_only_that_part(served: Any) -> None:
    node, fake, _ = served
    assert Client(node).get("/webhdfs/v1/data/f?op=OPEN&offset=10&length=20").get_data() == WHOLE[10:30]
    assert Client(node).get(f"/webhdfs/v1/data/f?op=OPEN&offset={len(ONE) + HOLE + 5}&length=7").get_data() \
        == TWO[5:12]
    assert fake.remote_reads == [f"{REMOTE}@5+7"]  # the local part read locally, the peer's ranged


def test_open_of_part_of_a_corrupt_local_replica_reads_a_peer_and_quarantines_it(served: Any,
                                                                                  namenode: Any) -> None:
    node, fake, _ = served
    with open(node.root._path(LOCAL), "r+b") as file:
        file.seek(15)
        file.write(b"\xff")
    assert Client(node).get("/webhdfs/v1/data/f?op=OPEN&offset=10&length=20").get_data() == WHOLE[10:30]
    assert fake.remote_reads == [f"{LOCAL}@10+20"]
    assert not node.root.exists(LOCAL) and namenode.bad_blocks[0]["blockId"] == LOCAL


def test_getfilechecksum_is_hadoops_md5_of_md5_of_crc32(served: Any) -> None:
    node, _, _ = served
    response = Client(node).get("/webhdfs/v1/data/f?op=GETFILECHECKSUM")
    assert response.status_code == 200
    answer = response.json["FileChecksum"]

    def block_md5(data: bytes) -> bytes:
        crcs = b"".join(struct.pack(">I", zlib.crc32(data[i:i + 512])) for i in range(0, len(data), 512))
        return hashlib.md5(crcs).digest()

    file_md5 = hashlib.md5(b"".join(block_md5(d) for d in (ONE, bytes(HOLE), TWO))).digest()
    assert answer == {"algorithm": "MD5-of-10MD5-of-512CRC32", "length": 28,
                      "bytes": (struct.pack(">iq", 512, 10) + file_md5).hex()}


def test_composite_crc_of_older_blocks_is_computed_from_their_bytes(served: Any) -> None:
    node, fake, _ = served  # no CRC32C kept for either block: both read (the local one locally)
    response = Client(node).get("/webhdfs/v1/data/f?op=GETFILECHECKSUM&checksum.combine.mode=COMPOSITE_CRC")
    assert response.status_code == 200, response.get_data()
    assert response.json == {"FileChecksum": {"algorithm": "COMPOSITE-CRC32C", "length": 4,
                                              "bytes": crc32c.crc32c(WHOLE).to_bytes(4, "big").hex()}}
    assert fake.remote_reads == [REMOTE]


def test_composite_crc_from_the_kept_crcs_reads_no_block(served: Any) -> None:
    node, fake, _ = served
    fake.crcs = {LOCAL: f"{crc32c.crc32c(ONE):08x}", REMOTE: f"{crc32c.crc32c(TWO):08x}"}
    node.root.delete(LOCAL)  # neither block can be read now: the kept CRCs are all there is
    response = Client(node).get("/webhdfs/v1/data/f?op=GETFILECHECKSUM&CHECKSUM.COMBINE.MODE=composite_crc")
    assert response.status_code == 200, response.get_data()
    assert response.json["FileChecksum"]["bytes"] == f"{crc32c.crc32c(WHOLE):08x}"
    assert fake.remote_reads == []


def test_an_empty_file_answers_hdfs_fixed_checksum_in_both_modes(served: Any) -> None:
    node, _, _ = served
    wanted = {"algorithm": "MD5-of-0MD5-of-0CRC32", "length": 28,
              "bytes": (struct.pack(">iq", 0, 0) + hashlib.md5(bytes(32)).digest()).hex()}
    for query in ("", "&checksum.combine.mode=COMPOSITE_CRC", "&checksum.combine.mode=MD5MD5CRC"):
        response = Client(node).get(f"/webhdfs/v1/data/empty?op=GETFILECHECKSUM{query}")
        assert response.status_code == 200 and response.json == {"FileChecksum": wanted}, query


def test_an_unknown_combine_mode_is_400(served: Any) -> None:
    node, fake, _ = served
    response = Client(node).get("/webhdfs/v1/data/f?op=GETFILECHECKSUM&checksum.combine.mode=CRC32")
    assert response.status_code == 400
    assert "checksum.combine.mode" in response.json["RemoteException"]["message"]


@pytest.mark.parametrize(("method", "url", "status"), [
    ("GET", "/webhdfs/v1/data/f?op=NOPE", 400),
    ("GET", "/webhdfs/v1/data/f", 400),
    ("GET", "/webhdfs/v1/data/f?op=CREATE", 400),
    ("PUT", "/webhdfs/v1/data/../etc?op=CREATE", 400),
    ("GET", "/webhdfs/v1/missing?op=OPEN", 404),
    ("GET", "/webhdfs/v1/data/f?op=OPEN&offset=-1", 400),
    ("DELETE", "/webhdfs/v1/data/f?op=DELETE", 405),
])
def test_bad_webhdfs_requests_are_clear_errors(served: Any, method: str, url: str, status: int) -> None:
    node, _, _ = served
    response = Client(node).open(url, method=method)
    assert response.status_code == status
    assert "RemoteException" in response.json
