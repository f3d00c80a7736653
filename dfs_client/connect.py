"""``make_client``: the one place the ecosystem adapters (fsspec, ProxyStore) make an ``HttpNameNode``."""
from __future__ import annotations

from typing import Any

from .namenode import HttpNameNode


def make_client(url: str, user: str | None = None, token: str | None = None, **options: Any) -> HttpNameNode:
    """An ``HttpNameNode`` for ``url``; ``token`` (a bearer token) is passed on only when given."""
    if token is not None:
        options["token"] = token
    return HttpNameNode(url, user=user, **options)
