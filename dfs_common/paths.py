"""DFS path syntax, checked in one place: absolute, UTF-8, no ``.``/``..``, NUL or empty segments."""
from __future__ import annotations

from .errors import IllegalArgument, NameTooLong

MAX_NAME_BYTES = 255
# A DFS path has no POSIX limit of its own: PATH_MAX (4096) bounds a path *relative to a process's
# working directory*, and that directory may itself be deep in the mount. 64 KiB keeps the longest
# request (RENAME: two paths, each percent-encoded to at most 3 bytes a byte) under 400 KiB, within
# the 1 MiB request line gunicorn's C parser allows when server.py lifts its line limit.
MAX_PATH_BYTES = 65536


def split_path(path: str) -> tuple[str, ...]:
    """The segments of an absolute path (``()`` for ``/``); a single trailing slash is allowed."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise IllegalArgument(f"Invalid path, not absolute: {path!r}")
    if "\0" in path:
        raise IllegalArgument("Invalid path, contains NUL")
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise NameTooLong(f"Path longer than {MAX_PATH_BYTES} bytes")
    body = path[1:-1] if path.endswith("/") and path != "/" else path[1:]
    if not body:
        return ()
    segments = tuple(body.split("/"))
    for name in segments:
        if name in ("", ".", ".."):
            raise IllegalArgument(f"Invalid path, segment {name!r} not allowed: {path!r}")
        if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise NameTooLong(f"Name longer than {MAX_NAME_BYTES} bytes: {name[:40]}…")
    return segments


def normalize(path: str) -> str:
    """The canonical spelling of a valid path (no trailing slash except for ``/``)."""
    return "/" + "/".join(split_path(path))


def join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name
