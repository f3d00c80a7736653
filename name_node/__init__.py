"""The DFS name node: namespace, block map, members, placement and healing behind WebHDFS.

``HttpNameNode`` (the client) is re-exported lazily from ``dfs_client`` so the server does not
need the client package to import.
"""
from __future__ import annotations

from typing import Any

from .app import NameNode, create_app

__all__ = ["NameNode", "create_app", "HttpNameNode"]


def __getattr__(name: str) -> Any:
    if name == "HttpNameNode":
        from dfs_client import HttpNameNode

        return HttpNameNode
    raise AttributeError(f"module 'name_node' has no attribute {name!r}")
