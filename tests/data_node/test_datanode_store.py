"""The block store through HTTP and on disk: verify, reject, limits, ids, ranges, restarts."""
from __future__ import annotations

import errno
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import crc32c
import pytest
from werkzeug.test import Client

from data_node import DataNode
from data_node.roots import open_root
from data_node.roots.local import LocalRoot
from dfs_common.blocks import checksum
from dfs_common.errors import NoSpace, TooLarge

BLOCK = "00000000000000a1"
DATA = bytes(range(256)) * 40  # 10240 bytes


def put(client: Client, block_id: str, data: bytes, digest: str | None = None, **headers: str) -> Any:
    headers = {"X-DFS-Checksum": digest or checksum(data), **headers}
    return client.put(f"/blocks/{block_id}", data=data, headers=headers)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_then_get_returns_the_bytes_and_checksum(make_node: Any, namenode: Any) -> None:
    node = make_node()
    response = put(Client(node), BLOCK, DATA)
    assert response.status_code == 201
    assert response.json == {"blockId": BLOCK, "length": len(DATA), "checksum": checksum(DATA),
                             "stored": [node.node_id]}
    assert namenode.holders(BLOCK) == [node.node_id]
    # the CRC32C taken on the way in rides with the confirmation (the COMPOSITE-CRC checksum's)
    assert namenode.received[-1]["blocks"][0]["crc32c"] == f"{crc32c.crc32c(DATA):08x}"
    got = Client(node).get(f"/blocks/{BLOCK}")
    assert got.status_code == 200 and got.get_data() == DATA
    assert got.headers["X-DFS-Checksum"] == checksum(DATA)
    assert got.headers["Content-Length"] == str(len(DATA))
    blocks_dir = Path(node.settings.fs_root) / "blocks" / BLOCK[-2:]
    assert (blocks_dir / BLOCK).read_bytes() == DATA


def test_bad_checksum_is_rejected_and_nothing_is_kept(make_node: Any, namenode: Any) -> None:
    node = make_node()
    response = put(Client(node), BLOCK, DATA, digest=checksum(DATA + b"x"))
    assert response.status_code == 400
    assert response.json["RemoteException"]["exception"] == "ChecksumException"
    assert files_under(Path(node.settings.fs_root) / "blocks") == []
    assert Client(node).get(f"/blocks/{BLOCK}").status_code == 404
    assert namenode.received == []


@pytest.mark.parametrize("headers", [{}, {"X-DFS-Checksum": "nothex!"}, {"X-DFS-Checksum": "ab"}])
def test_missing_or_malformed_checksum_header_is_400(make_node: Any, headers: dict[str, str]) -> None:
    response = Client(make_node()).put(f"/blocks/{BLOCK}", data=DATA, headers=headers)
    assert response.status_code == 400


def test_oversized_body_is_413_and_nothing_is_kept(make_node: Any) -> None:
    node = make_node()
    big = b"x" * (node.settings.max_block_size + 1)
    response = put(Client(node), BLOCK, big)
    assert response.status_code == 413
    assert files_under(Path(node.settings.fs_root) / "blocks") == []


def test_oversized_stream_without_length_is_refused_while_streaming(tmp_path: Path) -> None:
    root = LocalRoot(str(tmp_path))
    with pytest.raises(TooLarge):
        root.store(BLOCK, io.BytesIO(b"y" * 5000), 4096, None)
    assert files_under(tmp_path / "blocks") == [] and not root.exists(BLOCK)


@pytest.mark.parametrize("sync", ["always", "batch"])
def test_a_full_disk_is_507_and_nothing_is_kept(make_node: Any, monkeypatch: Any, sync: str) -> None:
    node = make_node(sync=sync)

    def full(*args: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    # always: the fsync finds the disk full; batch (no fsync): the write does
    monkeypatch.setattr("data_node.roots.local.os.fsync" if sync == "always" else "data_node.roots.local._copy_verified",
                        full)
    response = put(Client(node), BLOCK, DATA)
    assert response.status_code == 507
    assert response.json["RemoteException"]["errno"] == "ENOSPC"
    assert files_under(Path(node.settings.fs_root) / "blocks") == []
    with pytest.raises(NoSpace):
        node.root.store(BLOCK, io.BytesIO(DATA), 1 << 20, None)


@pytest.mark.parametrize("bad", ["../x", "%2e%2e", "..", "%2e%2e%2fnode-id", "00a1", "00000000000000A1",
                                 "0000000000000000", "00000000000000a1/../../node-id",
                                 "00000000000000a1.meta", "000000000000000g", "00000000000000a1%00"])
def test_bad_block_ids_are_400_and_touch_nothing(make_node: Any, bad: str) -> None:
    node = make_node()
    before = files_under(Path(node.settings.fs_root))
    assert put(Client(node), bad, DATA).status_code == 400
    assert Client(node).get(f"/blocks/{bad}").status_code == 400
    assert files_under(Path(node.settings.fs_root)) == before


def test_wrong_methods_and_unknown_paths_are_4xx(make_node: Any) -> None:
    client = Client(make_node())
    assert client.delete(f"/blocks/{BLOCK}").status_code == 405
    assert client.post("/ping_alive").status_code == 405
    assert client.get("/nothing/here").status_code == 404
    assert client.get("/nothing/here").json["RemoteException"]["exception"] == "FileNotFoundException"


def test_garbage_pipeline_header_is_400_and_nothing_is_kept(make_node: Any) -> None:
    node = make_node()
    response = put(Client(node), BLOCK, DATA, **{"X-DFS-Pipeline": "file:///etc/passwd"})
    assert response.status_code == 400
    assert not node.root.exists(BLOCK)


@pytest.mark.parametrize(("spec", "start", "stop"), [
    ("bytes=0-0", 0, 1), ("bytes=100-199", 100, 200), ("bytes=-10", len(DATA) - 10, len(DATA)),
    ("bytes=10000-", 10000, len(DATA)), ("bytes=10000-999999", 10000, len(DATA)),
])
def test_range_reads_answer_206_with_exactly_the_range(make_node: Any, spec: str, start: int, stop: int) -> None:
    node = make_node()
    put(Client(node), BLOCK, DATA)
    response = Client(node).get(f"/blocks/{BLOCK}", headers={"Range": spec})
    assert response.status_code == 206
    assert response.get_data() == DATA[start:stop]
    assert response.headers["Content-Length"] == str(stop - start)
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"


def test_unsatisfiable_range_is_416_and_multi_range_gets_the_whole_block(make_node: Any) -> None:
    node = make_node()
    put(Client(node), BLOCK, DATA)
    response = Client(node).get(f"/blocks/{BLOCK}", headers={"Range": f"bytes={len(DATA)}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"
    whole = Client(node).get(f"/blocks/{BLOCK}", headers={"Range": "bytes=0-1,5-6"})
    assert whole.status_code == 200 and whole.get_data() == DATA


def test_head_gives_length_and_checksum_without_body(make_node: Any) -> None:
    node = make_node()
    put(Client(node), BLOCK, DATA)
    response = Client(node).head(f"/blocks/{BLOCK}")
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["X-DFS-Checksum"] == checksum(DATA)


def test_restart_keeps_blocks_and_node_id(make_node: Any) -> None:
    first = make_node("same")
    put(Client(first), BLOCK, DATA)
    put(Client(first), "00000000000000b2", b"second")
    first.stop()
    again = make_node("same")
    assert again.node_id == first.node_id
    assert Client(again).get(f"/blocks/{BLOCK}").get_data() == DATA
    assert sorted(info.block_id for info in again.root.list()) == [BLOCK, "00000000000000b2"]
    assert again.root.usage().used == len(DATA) + len(b"second")
    assert Client(again).get("/status").json["blocks"] == 2


def test_restart_sweeps_interrupted_writes_and_recovers_a_lost_sidecar(tmp_path: Path) -> None:
    root = LocalRoot(str(tmp_path))
    root.store(BLOCK, io.BytesIO(DATA), 1 << 20, checksum(DATA))
    bucket = tmp_path / "blocks" / BLOCK[-2:]
    (bucket / f".tmp-{BLOCK}-abc").write_bytes(b"half a block")
    (bucket / "00000000000000c1.meta").write_text("0123456789abcdef 3\n")  # data never arrived
    (bucket / f"{BLOCK}.meta").unlink()  # crash between the two renames
    (tmp_path / "blocks" / "a1" / "README").write_text("not ours, left alone")
    again = LocalRoot(str(tmp_path))
    assert again.info(BLOCK) is not None and again.info(BLOCK).checksum == checksum(DATA)
    assert sorted(p.name for p in bucket.iterdir()) == ["00000000000000a1", "00000000000000a1.meta", "README"]


def test_a_block_whose_size_disagrees_with_its_record_is_quarantined_on_start(tmp_path: Path) -> None:
    LocalRoot(str(tmp_path)).store(BLOCK, io.BytesIO(DATA), 1 << 20, None)
    with open(tmp_path / "blocks" / BLOCK[-2:] / BLOCK, "ab") as file:
        file.write(b"junk")
    again = LocalRoot(str(tmp_path))
    assert not again.exists(BLOCK)
    assert any(name.startswith(BLOCK) for name in os.listdir(tmp_path / "quarantine"))


def test_registry_accepts_plain_paths_and_file_urls_and_refuses_unknown_schemes(tmp_path: Path) -> None:
    assert isinstance(open_root(str(tmp_path / "a")), LocalRoot)
    assert open_root(f"file://{tmp_path}/b").path == f"{tmp_path}/b"
    with pytest.raises(OSError):
        open_root("gopher://nowhere/x")


def test_a_rejected_block_is_deleted(make_node: Any, namenode: Any) -> None:
    node = make_node()
    namenode.reject.add(BLOCK)
    response = put(Client(node), BLOCK, DATA)
    assert response.status_code == 400
    assert not node.root.exists(BLOCK)


def test_status_and_ping(make_node: Any) -> None:
    node = make_node()
    put(Client(node), BLOCK, DATA)
    status = Client(node).get("/status").json
    assert status["id"] == node.node_id and status["blocks"] == 1 and status["used"] == len(DATA)
    assert status["capacity"] >= status["remaining"] > 0
    assert Client(node).get("/ping_alive").json == {"alive": True}


def test_node_is_a_wsgi_app_built_from_settings(make_node: Any) -> None:
    assert isinstance(make_node(), DataNode)


def test_quarantine_works_on_a_full_disk(tmp_path: Path) -> None:
    """Moving a corrupt replica aside is a rename: a full disk must not stop it (the reason note
    is best effort), or the scrubber never reports the bad copy."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        root = LocalRoot(str(disk))
        root.store(BLOCK, io.BytesIO(DATA), 1 << 20, None)
        with pytest.raises(OSError), open(disk / "ballast", "wb") as ballast:
            while True:
                ballast.write(bytes(1 << 16))
        assert root.quarantine(BLOCK, "checksum mismatch")
        assert not root.exists(BLOCK)
        assert any(name.startswith(BLOCK) for name in os.listdir(disk / "quarantine"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
