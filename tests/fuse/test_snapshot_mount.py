"""A snapshot on a real cluster: the old bytes stay readable at ``<dir>/.snapshot/<name>`` over
HTTP and through the mount (read-only there: EROFS) while the live tree changes, and deleting the
snapshot removes the block files only it kept from the data nodes."""
from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster import web


def test_snapshot_keeps_old_bytes_over_http_and_the_mount_then_its_blocks_are_collected(
        cluster, mount: Path, unique_path: str) -> None:  # type: ignore[no-untyped-def]
    nn = cluster.client()
    d = unique_path
    nn.mkdirs(d + "/sub")
    old_a, b, c, new_a = os.urandom(300_000), os.urandom(1000), b"c" * 5000, os.urandom(2000)
    for name, data in (("a", old_a), ("b", b), ("sub/c", c)):
        with nn.open(f"{d}/{name}", "wb") as handle:
            handle.write(data)

    def block_ids(path: str) -> set[str]:
        return {loc["blockId"] for loc in nn.block_locations(path)["BlockLocation"]}

    def on_data_nodes(ids: set[str]) -> set[str]:
        return {i for node in cluster.running_datanodes() for i in node.block_files() if i in ids}

    replaced = block_ids(d + "/a") | block_ids(d + "/b")
    assert len(replaced) == 2 and on_data_nodes(replaced) == replaced
    nn.allow_snapshot(d)
    assert nn.create_snapshot(d, "s1") == d + "/.snapshot/s1"

    # the live tree changes through the mount: overwrite, delete, rename
    live = mount / d.lstrip("/")
    (live / "a").write_bytes(new_a)
    os.unlink(live / "b")
    os.rename(live / "sub" / "c", live / "c2")
    assert sorted(os.listdir(live)) == ["a", "c2", "sub"]  # no .snapshot in listings

    # old bytes over HTTP (OPEN follows the 307 to a data node), listings and statuses
    base = f"{cluster.namenode_url}/webhdfs/v1{d}/.snapshot/s1"
    for name, data in (("a", old_a), ("b", b), ("sub/c", c)):
        answer = web.get(f"{base}/{name}?op=OPEN", timeout=30)
        assert answer.status_code == 200 and answer.content == data, name
    assert web.get(f"{base}/a?op=OPEN&offset=299990", timeout=30).content == old_a[299990:]
    listing = web.get(f"{base}?op=LISTSTATUS", timeout=30).json()["FileStatuses"]["FileStatus"]
    assert [(s["pathSuffix"], s["length"]) for s in listing] == [("a", 300_000), ("b", 1000), ("sub", 0)]
    assert web.get(f"{base}/b?op=GETFILESTATUS", timeout=30).json()["FileStatus"]["length"] == 1000
    assert nn.cat(d + "/.snapshot/s1/a") == old_a  # HttpNameNode reads blocks itself

    # and through the mount
    snap = live / ".snapshot" / "s1"
    assert os.listdir(live / ".snapshot") == ["s1"]
    assert sorted(os.listdir(snap)) == ["a", "b", "sub"]
    assert (snap / "a").read_bytes() == old_a and (snap / "b").read_bytes() == b
    assert (snap / "sub" / "c").read_bytes() == c
    assert (live / "a").read_bytes() == new_a
    refused: list[Callable[[], object]] = [
        lambda: (snap / "a").write_bytes(b"x"), lambda: (snap / "new").write_bytes(b""),
        lambda: os.mkdir(snap / "dir"), lambda: os.unlink(snap / "b"),
        lambda: os.rename(live / "c2", snap / "c2"), lambda: os.chmod(snap / "a", 0o600)]
    for attempt in refused:
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.EROFS
    assert (snap / "a").read_bytes() == old_a

    # the snapshot alone keeps the replaced blocks: a control file's blocks are collected meanwhile
    nn.tee(d + "-control", b"control")
    control = block_ids(d + "-control")
    cluster.wait_for(lambda: on_data_nodes(control) == control, timeout=30)
    nn.delete(d + "-control")
    cluster.wait_for(lambda: not on_data_nodes(control), timeout=30)
    assert on_data_nodes(replaced) == replaced

    kept = block_ids(d + "/a") | block_ids(d + "/c2")
    nn.delete_snapshot(d, "s1")
    cluster.wait_for(lambda: not on_data_nodes(replaced), timeout=30)
    assert on_data_nodes(kept) == kept
    assert (live / "a").read_bytes() == new_a and (live / "c2").read_bytes() == c
    assert web.get(f"{base}/a?op=GETFILESTATUS", timeout=30).status_code == 404
