"""The mount is as POSIX-correct as tmpfs: a state machine compares every step with a real tmpfs,
run as root and as a second uid through ``-o allow_other,default_permissions``; plain tests pin
special files, long paths, link attributes, ``chown(-1, -1)`` and close-to-open."""
from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from posix_reference import OTHER_UID, SPECIAL, apply, snapshot, tmpfs

NAMES = ["a", "b", "c", "d", "d/x", "d/y"]
MODES = st.sampled_from([0o644, 0o600, 0o755, 0o777, 0o000, 0o4755, 0o2755, 0o1777, 0o6711])
UIDS = st.sampled_from([0, OTHER_UID])
NAME = st.sampled_from(NAMES)
IDS = st.sampled_from([-1, 0, OTHER_UID])
TIMES = st.sampled_from([None, (1_000_000_000, 2_000_000_123), (5_000_000_000, 5_000_000_000)])


@pytest.fixture
def tmpfs_root() -> Path:  # type: ignore[misc]
    with tmpfs() as root:
        yield root


def fresh_pair(mount: Path, reference: Path) -> tuple[Path, Path]:
    """A new world-writable directory in the mount and in the reference tmpfs."""
    name = "posix-" + uuid.uuid4().hex[:10]
    pair = (mount / name, reference / name)
    for path in pair:
        path.mkdir()
        path.chmod(0o777)
    return pair


def _has_setid(path: Path) -> bool:
    try:
        return bool(os.lstat(path).st_mode & (stat.S_ISUID | stat.S_ISGID))
    except OSError:
        return False


def _without_ctime(entry: tuple[object, object]) -> tuple[object, object]:
    """A truncate by a non-root caller makes the kernel clear setuid/setgid; through FUSE's high-level
    API that arrives as a chmod(2), which changes ctime, where tmpfs clears the bits silently."""
    fact, changed = entry
    return fact, changed if changed is None else tuple(label for label in changed if label != "c")


def machine_for(mount: Path, reference: Path) -> type[RuleBasedStateMachine]:
    class PosixMachine(RuleBasedStateMachine):
        """Each step runs on both trees; its result and then every name's lstat must agree."""

        def __init__(self) -> None:
            super().__init__()
            self.dfs, self.ref = fresh_pair(mount, reference)
            self.times: dict[Path, dict[str, object]] = {self.dfs: {}, self.ref: {}}
            self.steps: list[tuple[object, ...]] = []
            self._compare()

        def step(self, *op: object) -> None:
            self.steps.append(op)
            killpriv = op[0] == "truncate" and op[1] != 0 and _has_setid(self.ref / str(op[2]))
            got, want = apply(self.dfs, op), apply(self.ref, op)
            assert got == want, (op, "mount", got, "tmpfs", want, self.steps)
            self._compare(ignore_ctime=killpriv)

        def _compare(self, ignore_ctime: bool = False) -> None:
            got, self.times[self.dfs] = snapshot(self.dfs, NAMES, self.times[self.dfs])
            want, self.times[self.ref] = snapshot(self.ref, NAMES, self.times[self.ref])
            for name in NAMES:
                if ignore_ctime:
                    got[name], want[name] = _without_ctime(got[name]), _without_ctime(want[name])
                assert got[name] == want[name], (name, "mount", got[name], "tmpfs", want[name], self.steps)

        @rule(name=NAME, mode=MODES, uid=UIDS)
        def create(self, name: str, mode: int, uid: int) -> None:
            self.step("create", uid, name, mode)

        @rule(name=NAME, kind=st.sampled_from(sorted(SPECIAL)), mode=MODES, uid=UIDS)
        def mknod(self, name: str, kind: str, mode: int, uid: int) -> None:
            self.step("mknod", uid, name, kind, mode)

        @rule(name=NAME, mode=MODES, uid=UIDS)
        def mkfifo(self, name: str, mode: int, uid: int) -> None:
            self.step("mkfifo", uid, name, mode)

        @rule(name=NAME, mode=MODES, uid=UIDS)
        def mkdir(self, name: str, mode: int, uid: int) -> None:
            self.step("mkdir", uid, name, mode)

        @rule(src=NAME, dst=NAME, uid=UIDS)
        def link(self, src: str, dst: str, uid: int) -> None:
            self.step("link", uid, src, dst)

        @rule(content=st.sampled_from(["a", "d", "../a", "nowhere"]), dst=NAME, uid=UIDS)
        def symlink(self, content: str, dst: str, uid: int) -> None:
            self.step("symlink", uid, content, dst)

        @rule(src=NAME, dst=NAME, uid=UIDS)
        def rename(self, src: str, dst: str, uid: int) -> None:
            self.step("rename", uid, src, dst)

        @rule(name=NAME, uid=UIDS)
        def unlink(self, name: str, uid: int) -> None:
            self.step("unlink", uid, name)

        @rule(name=NAME, uid=UIDS)
        def rmdir(self, name: str, uid: int) -> None:
            self.step("rmdir", uid, name)

        @rule(name=NAME, mode=MODES, uid=UIDS)
        def chmod(self, name: str, mode: int, uid: int) -> None:
            self.step("chmod", uid, name, mode)

        @rule(name=NAME, owner=IDS, group=IDS, follow=st.booleans(), uid=UIDS)
        def chown(self, name: str, owner: int, group: int, follow: bool, uid: int) -> None:
            self.step("chown", uid, name, owner, group, follow)

        @rule(name=NAME, length=st.sampled_from([0, 7, 5000]), uid=UIDS)
        def truncate(self, name: str, length: int, uid: int) -> None:
            self.step("truncate", uid, name, length)

        @rule(name=NAME, times=TIMES, follow=st.booleans(), uid=UIDS)
        def utime(self, name: str, times: tuple[int, int] | None, follow: bool, uid: int) -> None:
            self.step("utime", uid, name, times, follow)

        def teardown(self) -> None:
            for root in (self.dfs, self.ref):
                subprocess.run(["chmod", "-R", "u+rwx", str(root)], capture_output=True)
                shutil.rmtree(root)

    return PosixMachine


def test_namespace_operations_match_tmpfs_step_by_step(mount: Path, tmpfs_root: Path) -> None:
    run_state_machine_as_test(
        machine_for(mount, tmpfs_root),
        settings=settings(max_examples=60, stateful_step_count=30, deadline=None,
                          suppress_health_check=list(HealthCheck)))


# -- special files -----------------------------------------------------------------------------------

def test_special_files_are_made_shown_and_managed_through_the_mount(mount: Path, tmpfs_root: Path) -> None:
    here, _ = fresh_pair(mount, tmpfs_root)
    os.mkfifo(here / "fifo", 0o640)
    os.mknod(here / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(here / "loop", 0o660 | stat.S_IFBLK, os.makedev(7, 12))
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(here / "sock"))
    kinds = {name: stat.S_IFMT(os.lstat(here / name).st_mode) for name in ("fifo", "null", "loop", "sock")}
    assert kinds == {"fifo": stat.S_IFIFO, "null": stat.S_IFCHR, "loop": stat.S_IFBLK, "sock": stat.S_IFSOCK}
    assert os.lstat(here / "null").st_rdev == os.makedev(1, 3)
    assert os.lstat(here / "loop").st_rdev == os.makedev(7, 12)
    listing = {line.split()[-1]: line for line in
               subprocess.run(["ls", "-l", str(here)], capture_output=True, text=True, check=True).stdout.splitlines()[1:]}
    assert listing["fifo"].startswith("prw-r-----") and listing["sock"].startswith("s")
    assert listing["null"].startswith("crw-") and re.search(r" 1,\s+3 ", listing["null"])
    assert listing["loop"].startswith("brw-") and re.search(r" 7,\s+12 ", listing["loop"])
    for name in kinds:
        os.rename(here / name, here / (name + "2"))
        os.link(here / (name + "2"), here / (name + "3"))
        assert os.lstat(here / (name + "2")).st_nlink == 2
        os.chmod(here / (name + "3"), 0o600)
        os.chown(here / (name + "3"), OTHER_UID, OTHER_UID)
        os.utime(here / (name + "3"), ns=(1_000_000_001, 2_000_000_002))
        st_ = os.lstat(here / (name + "2"))
        assert (stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid) == (0o600, OTHER_UID, OTHER_UID), name
        assert (st_.st_atime_ns, st_.st_mtime_ns) == (1_000_000_001, 2_000_000_002), name
        os.unlink(here / (name + "2"))
        os.unlink(here / (name + "3"))
    assert os.listdir(here) == []


def test_a_writer_and_a_reader_exchange_bytes_through_a_fifo_in_the_mount(mount: Path, tmpfs_root: Path) -> None:
    here, _ = fresh_pair(mount, tmpfs_root)
    fifo = here / "pipe"
    os.mkfifo(fifo)
    payload = os.urandom(300_000)  # more than a pipe buffer: the two must take turns
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with open(fifo, "wb") as writer:
        writer.write(payload)
    reader.join(timeout=60)
    assert got == [payload]


def test_special_files_survive_a_name_node_restart_and_show_in_liststatus(make_cluster, mount_of) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(datanodes=1)
    mnt = mount_of(cluster)
    os.mkfifo(mnt / "fifo")
    os.mknod(mnt / "tty", 0o620 | stat.S_IFCHR, os.makedev(4, 1))
    cluster.namenode.restart()
    listed = {s["pathSuffix"]: s for s in cluster.client().list_status("/")}
    assert (listed["fifo"]["type"], listed["fifo"]["kind"]) == ("FILE", "FIFO")
    assert (listed["tty"]["kind"], listed["tty"]["rdev"]) == ("CHAR", os.makedev(4, 1))
    assert stat.S_ISCHR(os.lstat(mnt / "tty").st_mode) and os.lstat(mnt / "tty").st_rdev == os.makedev(4, 1)
    assert stat.S_ISFIFO(os.lstat(mnt / "fifo").st_mode)


# -- attributes of hard links and chown(-1, -1) ------------------------------------------------------

def test_link_and_unlink_show_at_once_through_every_name(mount: Path, tmpfs_root: Path) -> None:
    here, _ = fresh_pair(mount, tmpfs_root)
    first = here / "first"
    first.write_bytes(b"x")
    before = os.lstat(first)
    os.link(first, here / "second")
    after = os.lstat(first)
    assert after.st_nlink == 2 and after.st_ctime_ns != before.st_ctime_ns
    os.chmod(here / "second", 0o600)
    assert stat.S_IMODE(os.lstat(first).st_mode) == 0o600
    os.link(here / "second", here / "third")
    os.unlink(here / "second")
    assert os.lstat(first).st_nlink == 2 and os.lstat(here / "third").st_nlink == 2
    (here / "other").write_bytes(b"o")
    os.rename(here / "other", here / "third")  # replaces a name of first's inode
    assert os.lstat(first).st_nlink == 1


def test_chown_to_minus_one_still_changes_ctime(mount: Path, tmpfs_root: Path) -> None:
    here, _ = fresh_pair(mount, tmpfs_root)
    for name, make in (("file", lambda p: p.write_bytes(b"")), ("fifo", os.mkfifo), ("dir", os.mkdir)):
        path = here / name
        make(path)
        before = os.lstat(path).st_ctime_ns
        os.chown(path, -1, -1)
        assert os.lstat(path).st_ctime_ns > before, name


# -- long paths --------------------------------------------------------------------------------------

DEEP_NAME = "文件" * 40  # 240 bytes of UTF-8


def _deep_directory(top_fd: int, levels: int) -> int:
    """``levels`` nested directories of DEEP_NAME below ``top_fd``; answers the deepest one's fd."""
    fd = os.dup(top_fd)
    for _ in range(levels):
        os.mkdir(DEEP_NAME, dir_fd=fd)
        inner = os.open(DEEP_NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    return fd


def test_paths_of_4095_bytes_below_a_deep_directory_work_through_the_mount(mount: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    top = mount / ("long-" + uuid.uuid4().hex[:8])
    top.mkdir()
    top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    deep = _deep_directory(top_fd, 36)  # 36 × 241 bytes: the directory alone is past 8 KiB
    try:
        parts = ["é" * 125] * 16  # 250 bytes each
        relative_dir = "/".join(parts)
        for depth in range(1, len(parts) + 1):
            os.mkdir("/".join(parts[:depth]), dir_fd=deep)
        name_bytes = 4095 - len(relative_dir.encode()) - 1
        old = relative_dir + "/" + "f" * name_bytes
        new = relative_dir + "/" + "g" * name_bytes
        assert len(old.encode()) == len(new.encode()) == 4095
        fd = os.open(old, os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=deep)
        os.write(fd, b"far down")
        os.close(fd)
        assert os.stat(old, dir_fd=deep).st_size == 8
        os.rename(old, new, src_dir_fd=deep, dst_dir_fd=deep)
        dfs_path = "/" + top.name + ("/" + DEEP_NAME) * 36 + "/" + new
        assert len(dfs_path.encode()) > 8 * 1024 + 4095
        client = cluster.client()
        assert client.get_status(dfs_path)["length"] == 8 and client.cat(dfs_path) == b"far down"
        with pytest.raises(FileNotFoundError):
            os.stat(old, dir_fd=deep)
        os.unlink(new, dir_fd=deep)
        assert not any(True for _ in client.list_status(dfs_path.rsplit("/", 1)[0]))
    finally:
        os.close(deep)
        os.close(top_fd)
    shutil.rmtree(top)
    assert not top.exists()


def test_dfs_paths_over_8_kib_with_non_ascii_names_work_over_webhdfs(cluster, unique_path: str) -> None:  # type: ignore[no-untyped-def]
    import requests

    client = cluster.client()
    directory = unique_path + ("/" + "ünï" * 40) * 45  # 45 × 201 bytes, 3× that percent-encoded
    assert len(directory.encode()) > 8 * 1024
    client.mkdir(directory)
    path = directory + "/数据.bin"
    client.tee(path, b"payload")
    assert client.stat(path)["length"] == 7 and client.cat(path) == b"payload"
    client.mv(path, directory + "/renamed")
    assert [s["pathSuffix"] for s in client.list_status(directory)] == ["renamed"]
    # the two-step WebHDFS write and read through a data node carry the long path too
    url = f"{cluster.namenode_url}/webhdfs/v1{requests.utils.quote(directory + '/two-step')}"
    put = requests.put(url, params={"op": "CREATE", "user.name": "root"}, data=b"two steps", timeout=60,
                       headers=cluster.auth)
    assert put.status_code == 201, put.text
    got = requests.get(url, params={"op": "OPEN", "user.name": "root"}, timeout=60, headers=cluster.auth)
    assert got.status_code == 200 and got.content == b"two steps"
    assert client.delete(unique_path, recursive=True)
    with pytest.raises(FileNotFoundError):
        client.get_status(directory)


# -- close-to-open and the page cache ----------------------------------------------------------------

def test_close_to_open_after_an_in_place_write_holds_20_times_in_a_row(make_cluster, mount_of) -> None:  # type: ignore[no-untyped-def]
    # 64 KiB blocks: a rewrite is quick, so B opens well within its attribute timeout (30 s):
    # close-to-open must not depend on cached attributes having expired
    cluster = make_cluster(env={"DFS_BLOCK_SIZE": "65536"})
    mount = mount_of(cluster, "writer", ["-o", "allow_other"])
    other = mount_of(cluster, "lazy", ["-o", "allow_other,attr_timeout=30,entry_timeout=30"])
    name = "c2o-" + uuid.uuid4().hex[:8]
    data = bytearray(os.urandom(8 << 20))
    (mount / name).write_bytes(data)
    assert (other / name).read_bytes() == data  # B's page cache now holds the whole file
    for trial in range(20):
        offset = (3 << 20) + trial * 7919
        patch = os.urandom(5000)
        with open(mount / name, "r+b") as f:
            f.seek(offset)
            f.write(patch)
            if trial % 5 == 4:  # and sometimes the size changes too
                f.seek(0, os.SEEK_END)
                f.write(b"+" * 100)
                data += b"+" * 100
        data[offset:offset + 5000] = patch
        with open(other / name, "rb") as f:
            assert f.read() == data, f"trial {trial}: the other mount read stale pages"


def test_rereading_an_unchanged_file_is_served_from_the_page_cache(make_cluster, mount_of) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(datanodes=1)
    mnt = mount_of(cluster)
    data = os.urandom(8 << 20)
    (mnt / "cached").write_bytes(data)
    assert (mnt / "cached").read_bytes() == data
    cluster.datanodes[0].kill()  # from now on any block GET fails
    for _ in range(3):
        with open(mnt / "cached", "rb") as f:  # each open still asks the name node for the status
            assert f.read() == data
