"""An ingest buffer through a real mount: files copied in are counted, a frozen buffer is
read-only (EROFS for every change), and a release shows up as the archive plus an empty buffer."""
from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

import pytest


def test_a_frozen_buffer_is_read_only_through_the_mount(cluster, mount: Path) -> None:  # type: ignore[no-untyped-def]
    nn = cluster.client("root")
    name = f"buf-{uuid.uuid4().hex[:8]}"
    nn.create_buffer("/" + name, max_bytes=10)
    buffer = mount / name
    (buffer / "a.json").write_bytes(b'{"a": 1}')
    (buffer / "b.json").write_bytes(b'{"b": 22}')
    posted = nn.post_record("/" + name, b"posted")["name"]
    status = nn.buffer_status("/" + name)
    assert (status["n_itm"], status["buff_size"]) == (3, 8 + 9 + 6)
    assert sorted(os.listdir(buffer)) == sorted(["a.json", "b.json", posted])

    nn.freeze_buffer("/" + name)
    changes = [
        lambda: (buffer / "c.json").write_bytes(b"{}"),
        lambda: open(buffer / "a.json", "wb").close(),
        lambda: os.truncate(buffer / "a.json", 0),
        lambda: os.unlink(buffer / "b.json"),
        lambda: os.rename(buffer / "a.json", buffer / "z.json"),
        lambda: os.mkdir(buffer / "sub"),
        lambda: os.symlink("/x", buffer / "link"),
    ]
    for change in changes:
        with pytest.raises(OSError) as refused:
            change()
        assert refused.value.errno == errno.EROFS, refused.value
    with pytest.raises(OSError) as late:
        with open(buffer / posted, "r+b") as handle:  # refused at the latest when it commits
            handle.write(b"X")
    assert late.value.errno == errno.EROFS
    assert (buffer / "a.json").read_bytes() == b'{"a": 1}'  # reading is fine
    assert nn.buffer_status("/" + name)["n_itm"] == 3

    archive = nn.release_buffer("/" + name)["archive"]
    # another client's change: the mount shows it once its attribute timeout (1 s) has passed
    cluster.wait_for(lambda: sorted(os.listdir(mount / archive.lstrip("/"))) == sorted(["a.json", "b.json", posted]),
                     timeout=10, message="the archive in the mount")
    cluster.wait_for(lambda: os.listdir(buffer) == [], timeout=10, message="the empty buffer in the mount")
    (buffer / "c.json").write_bytes(b"{}")
    assert nn.buffer_status("/" + name)["n_itm"] == 1
