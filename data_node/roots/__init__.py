"""Storage roots, chosen by the URL scheme of ``DFS_FS_ROOT``.

A plain path or ``file://`` is a local directory; ``lustre://`` and ``s3://`` get their own modules
as they arrive. Backends are imported lazily so a missing optional dependency (an S3 library) only
matters to the nodes that use that backend.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from urllib.parse import unquote, urlparse

from dfs_common.errors import Unsupported

from .base import CHUNK, BlockInfo, StorageRoot, Usage, capped

__all__ = ["CHUNK", "BlockInfo", "StorageRoot", "Usage", "capped", "open_root", "register"]

Factory = Callable[[str], StorageRoot]

# scheme -> "module:Class" (imported on first use) or a factory registered at run time.
_BACKENDS: dict[str, str | Factory] = {
    "": "data_node.roots.local:LocalRoot",
    "file": "data_node.roots.local:LocalRoot",
}


def register(scheme: str, factory: Factory) -> None:
    """Add a backend (tests and plug-ins); the factory gets the URL with the scheme stripped
    for ``file``-like schemes, else the whole URL."""
    _BACKENDS[scheme.lower()] = factory


def open_root(url: str) -> StorageRoot:
    """The storage root that ``url`` names (``/data``, ``file:///data``, later ``s3://b/p``)."""
    scheme = urlparse(url).scheme.lower() if "://" in url else ""
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise Unsupported(f"Unsupported storage root scheme {scheme!r} in {url!r}")
    if isinstance(backend, str):
        module_name, class_name = backend.split(":")
        backend = getattr(importlib.import_module(module_name), class_name)
    return backend(_local_path(url) if scheme in ("", "file") else url)


def _local_path(url: str) -> str:
    if url.startswith("file://"):
        return unquote(urlparse(url).path) or "/"
    return url
