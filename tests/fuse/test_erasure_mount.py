"""Erasure coding through a real mount: a file copied into an RS directory is stored as coded
groups and reads back whole, also after a rewrite in its middle (a read-modify-write of a group)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def test_files_written_through_the_mount_are_coded(make_cluster: Any, mount_of: Any) -> None:
    cluster = make_cluster(datanodes=3, env={"DFS_BLOCK_SIZE": str(1 << 20)})
    nn = cluster.client("root")
    nn.mkdirs("/coded")
    nn.set_ec_policy("/coded", "RS-2-1")
    mount: Path = mount_of(cluster)
    data = bytearray(os.urandom(2 * (1 << 20) + 777))
    (mount / "coded" / "f.bin").write_bytes(data)
    located = nn.block_locations("/coded/f.bin")
    assert located["ecPolicy"] == "RS-2-1"
    assert [len(loc["fragments"]) for loc in located["BlockLocation"]] == [3, 3, 3]
    with open(mount / "coded" / "f.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"middle")
    data[1000:1006] = b"middle"
    assert nn.cat("/coded/f.bin") == bytes(data)
    assert (mount / "coded" / "f.bin").read_bytes() == bytes(data)
    assert all(loc.get("fragments") for loc in nn.block_locations("/coded/f.bin")["BlockLocation"])
