"""Random POSIX operation sequences run side by side on two directories; results must match."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from hypothesis import strategies as st

NAMES = st.sampled_from(["a", "b", "d", "d/a", "d/b", "e", "e/x"])
OPS = st.one_of(
    st.tuples(st.just("write"), NAMES, st.integers(0, 70_000), st.binary(min_size=1, max_size=300)),
    st.tuples(st.just("read"), NAMES, st.integers(0, 70_000), st.integers(1, 500)),
    st.tuples(st.just("truncate"), NAMES, st.integers(0, 100_000)),
    st.tuples(st.just("rename"), NAMES, NAMES),
    st.tuples(st.just("unlink"), NAMES),
    st.tuples(st.just("mkdir"), NAMES),
    st.tuples(st.just("rmdir"), NAMES),
    st.tuples(st.just("link"), NAMES, NAMES),
    st.tuples(st.just("append"), NAMES, st.binary(min_size=1, max_size=100)),
    st.tuples(st.just("create_excl"), NAMES),
)


def apply(root: Path, op: tuple) -> object:  # type: ignore[type-arg]
    """Run one operation; the answer is its result or the errno it failed with."""
    kind, *args = op
    path = lambda name: str(root / name)  # noqa: E731
    try:
        if kind == "write":
            fd = os.open(path(args[0]), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                return os.pwrite(fd, args[2], args[1])
            finally:
                os.close(fd)
        if kind == "append":
            fd = os.open(path(args[0]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                return os.write(fd, args[1])
            finally:
                os.close(fd)
        if kind == "read":
            fd = os.open(path(args[0]), os.O_RDONLY)
            try:
                return os.pread(fd, args[2], args[1])
            finally:
                os.close(fd)
        if kind == "truncate":
            return os.truncate(path(args[0]), args[1])
        if kind == "rename":
            return os.rename(path(args[0]), path(args[1]))
        if kind == "unlink":
            return os.unlink(path(args[0]))
        if kind == "mkdir":
            return os.mkdir(path(args[0]))
        if kind == "rmdir":
            return os.rmdir(path(args[0]))
        if kind == "link":
            return os.link(path(args[0]), path(args[1]))
        if kind == "create_excl":
            os.close(os.open(path(args[0]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return None
    except OSError as error:
        return ("errno", error.errno)
    raise AssertionError(kind)


def snapshot(root: Path) -> dict[str, object]:
    """Every entry: type, size, contents, link count."""
    tree: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            tree[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            full = os.path.join(dirpath, name)
            st_ = os.lstat(full)
            with open(full, "rb") as f:
                tree[os.path.relpath(full, root)] = (st_.st_size, st_.st_nlink, f.read())
    return tree


def assert_behaves_like(mounted: Path, local: Path, ops: list) -> None:  # type: ignore[type-arg]
    """Run ``ops`` on a fresh directory of the mount and on a local one: every result and errno,
    then the whole tree, must be the same. The mounted directory is removed afterwards."""
    mounted.mkdir()
    try:
        for op in ops:
            assert apply(mounted, op) == apply(local, op), op
        assert snapshot(mounted) == snapshot(local)
    finally:
        shutil.rmtree(mounted)
