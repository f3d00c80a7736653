"""The DFS FUSE driver: a cluster presented as a POSIX directory.

- ``binding``: which Python FUSE binding (mfusepy over libfuse 3, and why) and its corrections;
- ``filesystem``: the FUSE-free logic (handles, attribute cache, identities), testable without a mount;
- ``operations``: the thin ``Operations`` adapter, where errors become errno;
- ``cli``: ``dfs.py MOUNT_POINT HOST [PORT]``: checks, daemon, readiness.
"""
from __future__ import annotations

from .filesystem import Caller, FileSystem

__all__ = ["Caller", "FileSystem"]
