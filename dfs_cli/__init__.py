"""``dfs``: the command line of DFS, for users and operators, built on ``HttpNameNode``."""
from __future__ import annotations

from .main import main

__all__ = ["main"]
