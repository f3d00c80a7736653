"""The data node: checksummed, immutable blocks on a storage root, served and replicated over HTTP."""
from __future__ import annotations

from .app import DataNode, create_app

__all__ = ["DataNode", "create_app"]
