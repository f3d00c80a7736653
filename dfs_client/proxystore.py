"""``DFSConnector``: a ProxyStore connector that keeps objects as files of a DFS directory.

ProxyStore (``proxystore.store.Store('dfs', DFSConnector(url))``) hands the connector serialized
objects; each becomes one file ``<directory>/<uuid>``, written as DFS writes every file: blocks
through replica pipelines, then one COMMIT, so an object is either wholly there or absent (no marker
files as on a plain shared filesystem) and any process that can reach the name node resolves a
proxy. The connector follows ProxyStore's ``Connector`` protocol (and its ``DeferrableConnector``
extension: ``new_key``/``set``) structurally; nothing here imports ProxyStore.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from dfs_common.errors import IllegalArgument, NotFound
from dfs_common.paths import join, normalize

from .connect import make_client

DEFAULT_DIRECTORY = "/proxystore"
# Batch operations overlap this many objects: each is a few round trips, mostly waiting.
BATCH_WORKERS = 8


class DFSKey(NamedTuple):
    """Names one object: its file ``object_id`` in the connector's directory."""

    object_id: str


class DFSConnector:
    """Objects as files of ``directory`` on the cluster whose name node is ``namenode_url``.

    ``user``/``token``: who the connector acts as (a bearer token for a secured cluster);
    ``replication``: copies of each object (default: the cluster's); ``clear``: ``close`` removes
    the whole directory (off by default: other processes may still hold proxies into it).
    """

    def __init__(self, namenode_url: str, directory: str = DEFAULT_DIRECTORY, *, user: str | None = None,
                 token: str | None = None, replication: int | None = None, clear: bool = False) -> None:
        self.namenode_url = namenode_url.rstrip("/")
        self.directory = normalize(directory)
        self.user, self.token, self.replication, self.clear = user, token, replication, clear
        self.client = make_client(self.namenode_url, user, token)
        self.client.mkdirs(self.directory)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"DFSConnector({self.namenode_url!r}, directory={self.directory!r})"

    def __enter__(self) -> DFSConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Connector protocol ------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Everything another process needs to reach the same objects (ProxyStore calls the
        constructor with it)."""
        return {"namenode_url": self.namenode_url, "directory": self.directory, "user": self.client.user,
                "token": self.token, "replication": self.replication, "clear": self.clear}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DFSConnector:
        return cls(**config)

    def put(self, obj: bytes | bytearray | memoryview) -> DFSKey:
        key = self.new_key()
        self.set(key, obj)
        return key

    def put_batch(self, objs: Sequence[bytes | bytearray | memoryview]) -> list[DFSKey]:
        return list(self._map(self.put, objs))

    def get(self, key: DFSKey) -> bytes | None:
        """The object's bytes, or None when there is none under ``key`` (never written, evicted)."""
        try:
            return self.client.cat(self._path(key))
        except NotFound:
            return None

    def get_batch(self, keys: Sequence[DFSKey]) -> list[bytes | None]:
        return list(self._map(self.get, keys))

    def exists(self, key: DFSKey) -> bool:
        try:
            return self.client.get_status(self._path(key)).get("type") == "FILE"
        except NotFound:
            return False

    def evict(self, key: DFSKey) -> None:
        """Remove the object; evicting a missing one does nothing."""
        self.client.delete(self._path(key), kind="file")

    def new_key(self, obj: bytes | None = None) -> DFSKey:
        return DFSKey(uuid.uuid4().hex)

    def set(self, key: DFSKey, obj: bytes | bytearray | memoryview) -> None:
        """Write the object: visible to ``get``/``exists`` only once wholly stored."""
        with self.client.open(self._path(key), "wb", replication=self.replication) as handle:
            handle.write(obj)

    def close(self, clear: bool | None = None) -> None:
        """Let go of connections (idempotent); with ``clear`` remove every object first."""
        if self._closed:
            return
        if self.clear if clear is None else clear:
            self.client.delete(self.directory, recursive=True)
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.client.close()

    # -- helpers -----------------------------------------------------------------------------

    def _path(self, key: DFSKey) -> str:
        name = key.object_id if isinstance(key, DFSKey) else str(key[0])
        if not name or "/" in name or name in (".", ".."):
            raise IllegalArgument(f"Not a DFSConnector key: {key!r}")
        return join(self.directory, name)

    def _map(self, function: Any, items: Sequence[Any]) -> Any:
        if len(items) <= 1:
            return [function(item) for item in items]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(BATCH_WORKERS, thread_name_prefix="dfs-proxystore")
        return self._pool.map(function, items)
