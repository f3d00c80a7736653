#!/usr/bin/env python3
"""Mount a DFS cluster: ``dfs.py MOUNT_POINT HOST [PORT]`` (unmount with ``fusermount -u MOUNT_POINT``).

A thin entry point; everything lives in ``dfs_fuse`` (``dfs_fuse.cli`` for the options).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dfs_fuse.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
