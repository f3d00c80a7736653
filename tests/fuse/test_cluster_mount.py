"""Real mounts of a real cluster (``cluster`` fixture: name node + 3 data nodes as gunicorn processes)."""
from __future__ import annotations

import errno
import filecmp
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posix_model import OPS, assert_behaves_like
from tests.cluster import wait_for

STDLIB = Path(os.__file__).parent
USER = "dfsfusetest"


def sh(*args: str, cwd: Path | None = None, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = (["runuser", "-u", user, "--"] if user else []) + list(args)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_cp_r_of_a_source_tree_diffs_clean_from_the_other_mount(mount: Path, second_mount: Path) -> None:
    for package in ("json", "email"):
        assert sh("cp", "-r", str(STDLIB / package), str(mount / package)).returncode == 0
        # a name new to a directory the other mount listed shows within its attribute timeout
        wait_for(lambda: (second_mount / package).exists(), timeout=5)
        done = sh("diff", "-r", str(STDLIB / package), str(second_mount / package))
        assert done.returncode == 0, done.stdout + done.stderr


def test_tar_extract_and_create(mount: Path, tmp_path: Path) -> None:
    archive = tmp_path / "json.tar"
    assert sh("tar", "-C", str(STDLIB), "-cf", str(archive), "json").returncode == 0
    assert sh("tar", "-C", str(mount), "-xf", str(archive)).returncode == 0
    assert sh("diff", "-r", str(STDLIB / "json"), str(mount / "json")).returncode == 0
    assert sh("tar", "-C", str(mount), "-cf", str(mount / "again.tar"), "json").returncode == 0
    listing = sh("tar", "-tf", str(mount / "again.tar")).stdout.split()
    assert "json/__init__.py" in listing


def test_git_init_add_commit_log(mount: Path) -> None:
    repo = mount / "repo"
    repo.mkdir()
    (repo / "hello.txt").write_text("hello\n")
    env = ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]
    logs = ""
    for step in (["init"], ["add", "."], ["commit", "-m", "first"], ["log", "--oneline"], ["fsck"]):
        done = sh("git", *env, *step, cwd=repo)
        assert done.returncode == 0, (step, done.stderr)
        logs += done.stdout if step[0] == "log" else ""
    assert "first" in logs


def test_100_mib_dd_checked_with_cmp_from_the_other_mount(mount: Path, second_mount: Path, tmp_path: Path) -> None:
    source = tmp_path / "random.bin"
    source.write_bytes(os.urandom(100 << 20))
    done = sh("dd", f"if={source}", f"of={mount / 'big.bin'}", "bs=1M", "conv=fsync")
    assert done.returncode == 0, done.stderr
    assert sh("cmp", str(source), str(second_mount / "big.bin")).returncode == 0


def test_write_in_the_middle_is_seen_by_the_other_mount_after_close(mount: Path, second_mount: Path) -> None:
    data = bytearray(os.urandom(20 << 20))
    (mount / "f").write_bytes(data)
    assert (second_mount / "f").read_bytes() == data
    with open(mount / "f", "r+b") as f:
        f.seek(9 << 20)
        f.write(b"X" * 100_000)
    data[9 << 20:(9 << 20) + 100_000] = b"X" * 100_000
    assert hashlib.sha256((second_mount / "f").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_rename_over_an_existing_file(mount: Path, second_mount: Path) -> None:
    (mount / "a").write_text("new")
    (mount / "b").write_text("old")
    os.rename(mount / "a", mount / "b")
    assert not (mount / "a").exists() and (mount / "b").read_text() == "new"
    assert (second_mount / "b").read_text() == "new"


def test_rename_onto_another_link_of_the_same_file_keeps_both_names(mount: Path) -> None:
    """POSIX: rename(2) between two hard links of one file does nothing (found by the property test)."""
    here = mount / "same-file"
    here.mkdir()
    (here / "b").write_bytes(b"\0")
    os.link(here / "b", here / "a")
    os.rename(here / "a", here / "b")
    os.truncate(here / "a", 0)
    assert sorted(os.listdir(here)) == ["a", "b"] and os.stat(here / "b").st_nlink == 2


def test_hard_links_and_symlinks(mount: Path) -> None:
    (mount / "f").write_text("data")
    os.link(mount / "f", mount / "g")
    os.symlink("f", mount / "s")
    assert os.stat(mount / "f").st_nlink == 2
    assert os.stat(mount / "f").st_ino == os.stat(mount / "g").st_ino
    assert os.readlink(mount / "s") == "f" and (mount / "s").read_text() == "data"
    inodes = {entry.name: entry.inode() for entry in os.scandir(mount)}
    assert inodes["f"] == os.stat(mount / "f").st_ino
    os.unlink(mount / "f")
    assert (mount / "g").read_text() == "data" and os.stat(mount / "g").st_nlink == 1


def test_chmod_utime_xattrs(mount: Path) -> None:
    path = mount / "f"
    path.write_text("x")
    os.chmod(path, 0o640)
    assert os.stat(path).st_mode & 0o7777 == 0o640
    os.utime(path, ns=(1_000_000_001, 2_000_000_002))
    st_ = os.stat(path)
    assert (st_.st_atime_ns, st_.st_mtime_ns) == (1_000_000_001, 2_000_000_002)
    os.setxattr(path, "user.colour", b"blue")
    assert os.getxattr(path, "user.colour") == b"blue" and os.listxattr(path) == ["user.colour"]
    os.removexattr(path, "user.colour")
    with pytest.raises(OSError) as error:
        os.getxattr(path, "user.colour")
    assert error.value.errno == errno.ENODATA


def test_rmdir_of_a_non_empty_directory(mount: Path) -> None:
    (mount / "d").mkdir()
    (mount / "d" / "f").write_text("")
    with pytest.raises(OSError) as error:
        os.rmdir(mount / "d")
    assert error.value.errno == errno.ENOTEMPTY


def test_df_shows_the_cluster_space(mount: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    from dfs_client import HttpNameNode
    status = HttpNameNode(cluster.namenode_url, user="root", token=cluster.token).fs_status()
    vfs = os.statvfs(mount)
    assert abs(vfs.f_blocks * vfs.f_frsize - int(status["capacity"])) < 1 << 20
    assert "127.0.0.1" in sh("df", str(mount)).stdout


@pytest.fixture(scope="module")
def test_user() -> str:
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", USER], check=True)
    return USER


def test_non_root_users_get_the_same_errors_as_on_a_local_directory(mount: Path, test_user: str) -> None:
    # Both the local directory and the interpreter must be reachable by the test user: pytest's
    # tmp_path and a pyenv python under /root are not, so use a world-searchable folder and the
    # system interpreter (the script needs only the standard library).
    local = Path(tempfile.mkdtemp(prefix="dfs-local-", dir="/tmp"))
    local.chmod(0o755)
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    uid = pwd.getpwnam(test_user).pw_uid
    results = {}
    for root in (local, mount):
        root.chmod(0o755)
        (root / "private").mkdir(mode=0o700)
        (root / "ro.txt").write_text("x")
        (root / "ro.txt").chmod(0o644)
        (root / "sticky").mkdir()
        (root / "sticky").chmod(0o1777)
        (root / "sticky" / "roots").write_text("x")
        (root / "open").mkdir()
        (root / "open").chmod(0o777)
        script = (
            "import os,sys,errno\n"
            "r=sys.argv[1]\n"
            "def t(f):\n"
            "  try: f(); return 0\n"
            "  except OSError as e: return errno.errorcode[e.errno]\n"
            "print([t(lambda: os.listdir(r+'/private')), t(lambda: open(r+'/ro.txt','a')),"
            " t(lambda: os.chmod(r+'/ro.txt',0o777)), t(lambda: os.chown(r+'/ro.txt',os.getuid(),-1)),"
            " t(lambda: os.unlink(r+'/sticky/roots')), t(lambda: open(r+'/new','w')),"
            " t(lambda: open(r+'/open/mine','w').close()), t(lambda: os.chmod(r+'/open/mine',0o600)),"
            " os.stat(r+'/open/mine').st_uid])\n")
        done = sh(python, "-c", script, str(root), user=test_user)
        assert done.returncode == 0, done.stderr
        results[root] = done.stdout
    shutil.rmtree(local)
    assert results[mount] == results[local]
    assert str(uid) in results[mount]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(OPS, min_size=1, max_size=20))
def test_random_operations_match_a_local_directory(mount: Path, tmp_path_factory: pytest.TempPathFactory,
                                                   ops: list) -> None:  # type: ignore[type-arg]
    local = tmp_path_factory.mktemp("local")
    assert_behaves_like(mount / local.name, local, ops)


def test_read_survives_a_data_node_killed_with_kill_9(mount: Path, second_mount: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(64 << 20)
    (mount / "big").write_bytes(data)
    digest = hashlib.sha256()
    killer = threading.Timer(0.3, cluster.datanodes[0].kill)
    with open(second_mount / "big", "rb") as f:
        killer.start()
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    killer.join()
    assert digest.digest() == hashlib.sha256(data).digest()
    cluster.datanodes[0].restart()


def test_unlinked_file_stays_readable_and_close_to_open(mount: Path, second_mount: Path) -> None:
    (mount / "f").write_bytes(b"one")
    with open(mount / "f", "rb") as f:
        os.unlink(mount / "f")
        assert f.read() == b"one"
    (mount / "g").write_bytes(b"first version")
    assert (second_mount / "g").read_bytes() == b"first version"
    (mount / "g").write_bytes(b"second")
    assert (second_mount / "g").read_bytes() == b"second"
    assert filecmp.cmp(mount / "g", second_mount / "g", shallow=False)


def test_unlink_and_rmdir_never_remove_a_name_another_mount_replaced(mount: Path, second_mount: Path) -> None:
    """The first mount still caches "x is a file" and "y is a directory" when the second swaps
    them: unlink(x) and rmdir(y) must fail as POSIX says, not remove what is there now."""
    (mount / "swap").mkdir()
    first, second = mount / "swap", second_mount / "swap"
    (first / "x").write_bytes(b"file")
    (first / "y").mkdir()
    assert (first / "x").is_file() and (first / "y").is_dir()  # both now in the caches
    os.unlink(second / "x")
    os.mkdir(second / "x")
    os.rmdir(second / "y")
    (second / "y").write_bytes(b"now a file")
    with pytest.raises(OSError) as unlinked:
        os.unlink(first / "x")
    assert unlinked.value.errno in (errno.EISDIR, errno.EPERM)  # Linux unlink(2) on a directory
    with pytest.raises(NotADirectoryError):
        os.rmdir(first / "y")
    assert (second / "x").is_dir() and (second / "y").read_bytes() == b"now a file"
    shutil.rmtree(first)
