"""POSIX namespace operations run as a chosen uid on two trees, and what `lstat` says afterwards, so
a mount can be compared step by step with a local tmpfs (``test_posix_conformance.py``)."""
from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OTHER_UID = OTHER_GID = 1001  # the dfsfusetest user the FUSE tests already use
SPECIAL = {"fifo": (stat.S_IFIFO, 0), "chr": (stat.S_IFCHR, os.makedev(1, 3)),
           "blk": (stat.S_IFBLK, os.makedev(7, 0)), "sock": (stat.S_IFSOCK, 0)}


@contextmanager
def as_user(uid: int) -> Iterator[None]:
    """Run the body with effective uid/gid ``uid`` (and only its own group), then root again."""
    if uid == 0:
        yield
        return
    groups = os.getgroups()
    os.setgroups([uid])
    os.setegid(uid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


@contextmanager
def tmpfs() -> Iterator[Path]:
    """A real tmpfs mounted for the test (the reference POSIX filesystem), searchable by any uid."""
    where = Path(tempfile.mkdtemp(prefix="dfs-tmpfs-", dir="/tmp"))
    where.chmod(0o755)
    os.system(f"mount -t tmpfs -o size=64m,mode=0755 dfs-reference {where}")  # noqa: S605 - a fixed command
    assert os.path.ismount(where), "mounting the reference tmpfs failed"
    try:
        yield where
    finally:
        os.system(f"umount -l {where}")  # noqa: S605
        os.rmdir(where)


def apply(root: Path, op: tuple[Any, ...]) -> object:
    """Run one operation (``(name, uid, *args)``) under ``root``; answer None or ("errno", code)."""
    kind, uid, *args = op
    at = lambda name: str(root / name)  # noqa: E731
    try:
        with as_user(uid):
            if kind == "create":
                os.close(os.open(at(args[0]), os.O_CREAT | os.O_EXCL | os.O_WRONLY, args[1]))
            elif kind == "mknod":
                fmt, rdev = SPECIAL[args[1]]
                os.mknod(at(args[0]), fmt | args[2], rdev)
            elif kind == "mkfifo":
                os.mkfifo(at(args[0]), args[1])
            elif kind == "mkdir":
                os.mkdir(at(args[0]), args[1])
            elif kind == "link":
                os.link(at(args[0]), at(args[1]), follow_symlinks=False)
            elif kind == "symlink":
                os.symlink(args[0], at(args[1]))
            elif kind == "rename":
                os.rename(at(args[0]), at(args[1]))
            elif kind == "unlink":
                os.unlink(at(args[0]))
            elif kind == "rmdir":
                os.rmdir(at(args[0]))
            elif kind == "chmod":
                os.chmod(at(args[0]), args[1])
            elif kind == "chown":
                os.chown(at(args[0]), args[1], args[2], follow_symlinks=args[3])
            elif kind == "truncate":
                os.truncate(at(args[0]), args[1])
            elif kind == "utime":
                times, follow = args[1], args[2]
                os.utime(at(args[0]), ns=times, follow_symlinks=follow) if times else \
                    os.utime(at(args[0]), follow_symlinks=follow)
            else:
                raise AssertionError(kind)
    except OSError as error:
        return ("errno", error.errno)
    return None


def entry(root: Path, name: str) -> tuple[object, tuple[int, int, int] | None]:
    """What ``lstat`` says of a name: (type, mode bits, nlink, size, uid, gid, rdev) or the errno,
    and the raw (atime, mtime, ctime) to tell which of them the next step changes."""
    try:
        st = os.lstat(root / name)
    except OSError as error:
        return ("errno", error.errno), None
    is_dir = stat.S_ISDIR(st.st_mode)
    device = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
    facts = (stat.S_IFMT(st.st_mode), oct(stat.S_IMODE(st.st_mode)), st.st_nlink,
             None if is_dir else st.st_size, st.st_uid, st.st_gid, st.st_rdev if device else 0)
    return facts, (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)


def snapshot(root: Path, names: list[str], before: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every name's facts plus which times changed since ``before`` (raw times returned apart)."""
    facts: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for name in names:
        fact, stamp = entry(root, name)
        old = (before or {}).get(name)
        changed = None if stamp is None or old is None else \
            tuple(label for label, a, b in zip("amc", old, stamp) if a != b)
        if changed and isinstance(fact, tuple) and fact[0] == stat.S_IFLNK:
            # following a symlink reads it: tmpfs records that as an access, DFS (like noatime) not
            changed = tuple(label for label in changed if label != "a")
        facts[name] = (fact, changed)
        times[name] = stamp
    return facts, times
