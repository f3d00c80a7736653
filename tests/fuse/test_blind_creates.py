"""Files created blind through a real mount, in directories it made and holds the lease of
(``dfs_fuse/leases.py``): what they cost, that every other client sees them at once, and what
survives a kill -9 of the name node, of the mount, and an unmount."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import wait_for
from tests.integration.sync_counters import QUIET, durability, synced_blocks
from tests.ops.test_fsck_and_metrics import metrics, value

FILES = 200
OPS = ("COMMIT", "BATCH", "ADDBLOCK", "GETFILESTATUS", "LISTSTATUS", "LISTSTATUS_BATCH", "/internal/block_received")


def requests_by_op(cluster: Any) -> dict[str, float]:
    samples = metrics(cluster.namenode_url)
    return {op: value(samples, "dfs_requests_total", op=op) for op in OPS}


def spent_on(cluster: Any, work: Callable[[], None]) -> dict[str, float]:
    before = requests_by_op(cluster)
    work()
    after = requests_by_op(cluster)
    return {op: after[op] - before[op] for op in OPS}


def create_empty(directory: Path, count: int) -> None:
    for i in range(count):
        os.close(os.open(directory / f"e{i:04d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))


def test_empty_files_cost_a_share_of_a_batch_each(mount: Path, cluster: Any) -> None:
    directory = mount / "blind-empty"
    directory.mkdir()
    spent = spent_on(cluster, lambda: create_empty(directory, FILES))
    assert spent["COMMIT"] == 0 and spent["GETFILESTATUS"] == 0, spent  # lookups answered by the lease
    assert 1 <= spent["BATCH"] <= FILES / 2, spent
    with pytest.raises(FileExistsError):  # O_EXCL decided by the mount: it knows every name here
        os.open(directory / "e0007", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    nn = cluster.client()  # another client: recalls the lease, so the batch is in first
    names = sorted(s["pathSuffix"] for s in nn.list_status("/blind-empty"))
    assert names == [f"e{i:04d}" for i in range(FILES)]
    ids = {os.stat(directory / name).st_ino for name in names}
    assert ids == {s["fileId"] for s in nn.list_status("/blind-empty")}  # the numbers the mount showed


def test_small_files_closed_behind_cost_a_share_of_a_bundle_each(mount: Path, cluster: Any) -> None:
    directory = mount / "blind-small"
    directory.mkdir()
    data = {i: os.urandom(65536 + i) for i in range(FILES // 4)}

    def write_then_read_elsewhere() -> None:
        for i, payload in data.items():
            (directory / f"f{i}").write_bytes(payload)  # each close(2) returns at once
        nn = cluster.client()  # another client: its first look recalls the lease, after the files are in
        for i, payload in data.items():
            assert nn.cat(f"/blind-small/f{i}") == payload
    spent = spent_on(cluster, write_then_read_elsewhere)
    # the first blocks come with the blind creates' batch, on one pipeline per batch; one bundle
    # each, whose confirmation commits its files (ADDBLOCK: a file whose create left before it was
    # written, sent alone)
    assert spent["COMMIT"] == 0 and spent["ADDBLOCK"] <= 5, spent
    assert 1 <= spent["/internal/block_received"] <= 10 and spent["BATCH"] <= 12, spent
    for i, payload in data.items():
        assert (directory / f"f{i}").read_bytes() == payload
        assert (directory / f"f{i}").stat().st_size == len(payload)


def test_another_mount_sees_files_created_blind_at_once(mount: Path, second_mount: Path) -> None:
    (mount / "shared").mkdir()
    for i in range(50):
        (mount / "shared" / f"n{i}").write_bytes(b"x" * i)
    (mount / "shared" / "empty").touch()
    # close-to-open on the other mount: its first look recalls the lease
    assert sorted(os.listdir(second_mount / "shared")) == sorted([f"n{i}" for i in range(50)] + ["empty"])
    assert (second_mount / "shared" / "n42").read_bytes() == b"x" * 42
    with pytest.raises(FileExistsError):
        os.open(second_mount / "shared" / "empty", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    # after the recall the first mount works the ordinary way, and both see each other's files
    (second_mount / "shared" / "from-second").write_bytes(b"2")
    (mount / "shared" / "after-recall").write_bytes(b"1")
    assert (mount / "shared" / "from-second").read_bytes() == b"2"
    # (a name made since the other mount listed the directory shows within the attribute timeout)
    wait_for(lambda: (second_mount / "shared" / "after-recall").exists(), timeout=5)
    assert (second_mount / "shared" / "after-recall").read_bytes() == b"1"


def test_creates_acknowledged_before_a_name_node_kill_9_are_not_lost(
        make_cluster: Callable[..., Any], mount_of: Callable[..., Path]) -> None:
    cluster = make_cluster()
    mnt = mount_of(cluster)
    (mnt / "d").mkdir()
    create_empty(mnt / "d", 50)
    cluster.namenode.kill()
    cluster.namenode.restart()
    names = sorted(s["pathSuffix"] for s in cluster.client().list_status("/d"))
    assert names == [f"e{i:04d}" for i in range(50)]


def test_fsync_puts_a_blind_create_on_the_name_node_before_returning(
        make_cluster: Callable[..., Any], mount_of: Callable[..., Path], tmp_path: Path) -> None:
    cluster = make_cluster(env=QUIET)  # no background LMDB sync: only an fsync counts one
    mnt = mount_of(cluster)
    (mnt / "d").mkdir()
    fd = os.open(mnt / "d" / "synced", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.fsync(fd)
    os.close(fd)
    os.close(os.open(mnt / "d" / "dir-synced", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    directory = os.open(mnt / "d", os.O_RDONLY | os.O_DIRECTORY)
    syncs = durability(cluster.namenode)["syncs"]
    os.fsync(directory)  # fsync of the directory: its blind creates are on the name node's disk
    assert durability(cluster.namenode)["syncs"] >= syncs + 1  # LMDB synced before fsync returned
    os.close(directory)
    mount_pid = _mount_pid(mnt)
    os.kill(mount_pid, signal.SIGKILL)  # the mount dies: what fsync returned for must be on the name node
    wait_for(lambda: not _alive(mount_pid), timeout=10)
    subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    status = cluster.client().get_status("/d/synced")
    assert status["type"] == "FILE" and status["permission"] == "600"
    assert cluster.client().get_status("/d/dir-synced")["type"] == "FILE"


def test_unmount_sends_every_file_created_blind(make_cluster: Callable[..., Any], mount_of: Callable[..., Path]) -> None:
    cluster = make_cluster()
    mnt = mount_of(cluster, name="first")
    (mnt / "d").mkdir()
    create_empty(mnt / "d", FILES)
    subprocess.run(["fusermount3", "-u", str(mnt)], check=True, capture_output=True)
    nn = cluster.client()
    wait_for(lambda: len(list(nn.list_status("/d"))) == FILES, timeout=30)


def test_without_leases_every_create_is_a_commit(cluster: Any, mount_of: Callable[..., Path]) -> None:
    mnt = mount_of(cluster, name="noleases", extra=["-o", "leases=0"])
    (mnt / "plain").mkdir()
    spent = spent_on(cluster, lambda: create_empty(mnt / "plain", 20))
    assert spent["COMMIT"] == 20 and spent["BATCH"] == 0, spent


def test_a_name_removed_and_made_again_under_the_lease(mount: Path) -> None:
    directory = mount / "churn"
    directory.mkdir()
    for _ in range(3):
        (directory / "f").write_bytes(b"one")
        os.unlink(directory / "f")
        with pytest.raises(FileNotFoundError):
            os.stat(directory / "f")
    os.mkdir(directory / "sub")
    (directory / "sub" / "g").write_bytes(b"two")
    os.rename(directory / "sub", directory / "moved")
    assert (directory / "moved" / "g").read_bytes() == b"two"
    with pytest.raises(OSError) as caught:
        os.rmdir(directory)
    assert caught.value.errno == errno.ENOTEMPTY
    assert sorted(os.listdir(directory)) == ["moved"]


def _mount_pid(mnt: Path) -> int:
    found = subprocess.run(["pgrep", "-f", f"dfs.py {mnt} "], capture_output=True, text=True).stdout.split()
    assert found, f"no mount process for {mnt}"
    return int(found[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_unlinks_in_a_leased_directory_are_blind_too(mount: Path, cluster: Any) -> None:
    directory = mount / "blind-unlink"
    directory.mkdir()
    create_empty(directory, FILES)
    (directory / "kept").write_bytes(b"k")

    def remove() -> None:
        for i in range(FILES):
            os.unlink(directory / f"e{i:04d}")
    before = metrics(cluster.namenode_url)
    spent = spent_on(cluster, remove)
    deletes = value(metrics(cluster.namenode_url), "dfs_requests_total", op="DELETE") - \
        value(before, "dfs_requests_total", op="DELETE")
    assert deletes == 0 and spent["GETFILESTATUS"] == 0 and 1 <= spent["BATCH"] <= FILES / 2, spent
    assert os.listdir(directory) == ["kept"]
    assert [s["pathSuffix"] for s in cluster.client().list_status("/blind-unlink")] == ["kept"]


def write_files(directory: Path, count: int, size: int = 20_000) -> dict[str, bytes]:
    if not directory.exists():
        directory.mkdir()
    written = {f"s{i:03d}": os.urandom(size + i) for i in range(count)}
    for name, payload in written.items():
        (directory / name).write_bytes(payload)
    return written


def test_files_closed_behind_survive_a_name_node_kill_9(make_cluster: Callable[..., Any],
                                                        mount_of: Callable[..., Path]) -> None:
    cluster = make_cluster()
    mnt = mount_of(cluster)
    (mnt / "d").mkdir()
    cluster.namenode.pause()  # closes return while their files wait in the queue
    written = write_files(mnt / "d", 40)
    cluster.namenode.resume()
    cluster.namenode.kill()
    cluster.namenode.restart()
    nn = cluster.client()
    for name, payload in written.items():  # the mount sent them again once the name node was back
        assert nn.cat(f"/d/{name}") == payload
    assert {name: (mnt / "d" / name).read_bytes() for name in written} == written


def test_files_closed_behind_survive_a_data_node_kill_9(make_cluster: Callable[..., Any],
                                                        mount_of: Callable[..., Path]) -> None:
    cluster = make_cluster(datanodes=4)
    mnt = mount_of(cluster)
    (mnt / "warm").mkdir()
    cluster.datanodes[1].kill()  # the name node still places blocks on it for a few heartbeats
    written = write_files(mnt / "d", 40)
    nn = cluster.client()
    for name, payload in written.items():
        assert nn.cat(f"/d/{name}") == payload
        for location in nn.block_locations(f"/d/{name}")["BlockLocation"]:
            assert cluster.datanodes[1].node_id not in [node["id"] for node in location["dataNodes"]]


def test_fsync_after_close_behind_puts_the_file_on_every_disk(make_cluster: Callable[..., Any],
                                                              mount_of: Callable[..., Path]) -> None:
    cluster = make_cluster(env=QUIET)
    mnt = mount_of(cluster)
    written = write_files(mnt / "d", 5)
    fd = os.open(mnt / "d" / "s002", os.O_RDONLY)
    syncs, blocks = durability(cluster.namenode)["syncs"], synced_blocks(cluster)
    os.fsync(fd)  # the file was closed behind: fsync of a later handle waits for it, then syncs it
    os.close(fd)
    assert durability(cluster.namenode)["syncs"] >= syncs + 1
    after = synced_blocks(cluster)
    assert all(after[name] == blocks[name] + 1 for name in blocks), (blocks, after)  # (replication 3)
    mount_pid = _mount_pid(mnt)
    os.kill(mount_pid, signal.SIGKILL)
    wait_for(lambda: not _alive(mount_pid), timeout=10)
    subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
    assert cluster.client().cat("/d/s002") == written["s002"]


def test_a_file_closed_behind_then_changed_removed_or_renamed(mount: Path, cluster: Any) -> None:
    directory = mount / "behind-churn"
    written = write_files(directory, 6)
    with open(directory / "s000", "r+b") as handle:  # reopened at once: the close behind goes first
        assert handle.read() == written["s000"]
        handle.seek(0)
        handle.write(b"CHANGED")
    os.unlink(directory / "s001")
    os.rename(directory / "s002", directory / "renamed")
    with open(directory / "s003", "ab") as handle:
        handle.write(b"+tail")
    os.link(directory / "s004", directory / "linked")
    (directory / "linked").write_bytes(b"through the second name")
    nn = cluster.client()
    assert nn.cat("/behind-churn/s000") == b"CHANGED" + written["s000"][7:]
    with pytest.raises(FileNotFoundError):
        nn.get_status("/behind-churn/s001")
    assert nn.cat("/behind-churn/renamed") == written["s002"]
    assert nn.cat("/behind-churn/s003") == written["s003"] + b"+tail"
    assert nn.cat("/behind-churn/s004") == b"through the second name"
    assert nn.cat("/behind-churn/s005") == written["s005"]
    assert sorted(os.listdir(directory)) == ["linked", "renamed", "s000", "s003", "s004", "s005"]


def test_without_close_behind_every_close_waits_for_its_file(cluster: Any, mount_of: Callable[..., Path]) -> None:
    mnt = mount_of(cluster, name="nobehind", extra=["-o", "closebehind=0"])
    spent = spent_on(cluster, lambda: write_files(mnt / "plain-behind", 10))
    assert spent["/internal/block_received"] == 10, spent  # one pipeline per file, as it closed
