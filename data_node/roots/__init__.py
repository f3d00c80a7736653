"""Storage roots, chosen by the form of ``DFS_FS_ROOT``.

- a plain path or ``file:///path``: a local directory (``local``), or a Lustre directory
  (``lustre``) when the filesystem under the path says it is Lustre (its statfs magic);
- ``lustre:///path``: a Lustre directory, named explicitly;
- ``s3://BUCKET/PREFIX``: objects in a bucket (``s3``), through boto3 and the standard AWS
  configuration chain (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ...).

Backends are imported lazily so a missing optional dependency (the S3 library) only matters to
the nodes that use that backend. Every backend passes the same contract suite (tests/roots/).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from urllib.parse import unquote, urlparse

from dfs_common.errors import Unsupported
from dfs_common.settings import Settings

from .base import CHUNK, BlockInfo, StorageRoot, Usage, capped

__all__ = ["CHUNK", "BlockInfo", "StorageRoot", "Usage", "capped", "open_root", "register", "root_kind"]

Factory = Callable[[str, Settings], StorageRoot]

# scheme -> "module:function" (imported on first use) or a factory registered at run time; each
# gets the URL (a bare path for file-like schemes) and the node's settings.
_BACKENDS: dict[str, str | Factory] = {
    "": "data_node.roots.lustre:open_posix",
    "file": "data_node.roots.lustre:open_posix",
    "lustre": "data_node.roots.lustre:open_lustre",
    "s3": "data_node.roots.s3:open_s3",
}


def register(scheme: str, factory: Factory) -> None:
    """Add a backend (plug-ins); the factory gets the bare path for ``file``-like schemes, else
    the whole URL, and the settings."""
    _BACKENDS[scheme.lower()] = factory


def open_root(url: str, settings: Settings | None = None) -> StorageRoot:
    """The storage root that ``url`` names (``/data``, ``file:///data``, ``lustre:///scratch/dfs``,
    ``s3://bucket/prefix``)."""
    scheme = urlparse(url).scheme.lower() if "://" in url else ""
    backend = _BACKENDS.get(scheme)
    if backend is None:
        raise Unsupported(f"Unsupported storage root scheme {scheme!r} in {url!r}")
    if isinstance(backend, str):
        module_name, function_name = backend.split(":")
        backend = getattr(importlib.import_module(module_name), function_name)
    return backend(_local_path(url) if scheme in ("", "file", "lustre") else url, settings or Settings())


def root_kind(root: StorageRoot) -> str:
    """``local``, ``lustre`` or ``s3``: what ``/status`` and heartbeats call the root."""
    return getattr(root, "kind", "local")


def _local_path(url: str) -> str:
    if "://" in url:
        return unquote(urlparse(url).path) or "/"
    return url
