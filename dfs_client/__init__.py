"""The DFS client library: ``HttpNameNode`` (metadata, blocks, the seed's commands) and ``DFSFile``
(the streaming file ``HttpNameNode.open`` answers). Errors are ``dfs_common.errors`` classes, which
are also Python's own ``OSError`` subclasses."""
from __future__ import annotations

from .files import DFSFile
from .namenode import HttpNameNode, Operation, default_user
from .transport import NodeUnreachable, Transport

__all__ = ["DFSFile", "HttpNameNode", "NodeUnreachable", "Operation", "Transport", "default_user"]
