"""``DFSFileSystem``: DFS as an fsspec filesystem, protocol ``dfs`` (``dfs://host:port/path``).

Registered through the ``fsspec.specs`` entry point (pyproject.toml), so once DFS is installed
``fsspec.filesystem("dfs", host=..., port=...)``, ``fsspec.open("dfs://host:8180/a.csv")`` and
``pandas.read_parquet("dfs://host:8180/t.parquet")`` work with no import of ours.

Bytes never go through WebHDFS redirects: a file opened here is a ``DFSFile``, which asks the name
node for the block list once and then reads blocks straight from the data nodes, several at once,
every one verified against its xxhash (failing over to another replica, and reporting the bad one,
when a copy is corrupt); writes ship blocks through the replica pipelines and COMMIT at close, so a
reader never sees a half-written file. Errors are Python's own (``FileNotFoundError``,
``FileExistsError``, ``PermissionError``…), which ``dfs_common.errors`` classes already are.
"""
from __future__ import annotations

import datetime
import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

from dfs_common.errors import NotFound

from .connect import make_client
from .files import DFSFile
from .namenode import HttpNameNode

if TYPE_CHECKING:
    from .sealed import EncryptedFile

DEFAULT_PORT = 8180
# Reads through the fsspec file go to ``DFSFile.pread``, which has its own block cache and
# read-ahead; a second cache in front of it would only copy the bytes once more.
DEFAULT_CACHE = "none"
# Writes are handed to ``DFSFile`` in pieces this large (a default DFS block), so each piece is
# one block shipped in the background while the caller goes on writing.
WRITE_BUFFER = 4 * 1024 * 1024
_COPY_CHUNK = 8 * 1024 * 1024
_TYPES = {"FILE": "file", "DIRECTORY": "directory", "SYMLINK": "link"}


class _Instances(type(AbstractFileSystem)):  # type: ignore[misc]
    """fsspec reuses an instance made with the same arguments, told apart by their ``repr``: a
    given ``client`` or ``key`` (whose ``repr`` never shows the secret) always makes a new one."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("client") is not None or kwargs.get("key") is not None:
            kwargs["skip_instance_cache"] = True
        return super().__call__(*args, **kwargs)


class DFSFileSystem(AbstractFileSystem, metaclass=_Instances):
    """A DFS cluster as an fsspec filesystem.

    ``host``/``port``: the name node (or ``url="http://host:port"``); ``user``: the WebHDFS
    ``user.name`` (default: the local login); ``token``: a bearer token for a secured cluster;
    ``key``/``encrypt_under``: client-side encryption (a ``dfs_client.encryption.ContentKey``);
    ``replication``/``block_size``: for files this filesystem creates; ``auto_mkdir``: writing a
    file creates its missing parent directories, as object stores and HDFS's CREATE do.
    """

    protocol = ("dfs",)
    root_marker = "/"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, url: str | None = None,
                 user: str | None = None, token: str | None = None, replication: int | None = None,
                 block_size: int | None = None, auto_mkdir: bool = True, key: Any = None,
                 encrypt_under: str = "/", client: HttpNameNode | None = None,
                 **storage_options: Any) -> None:
        super().__init__(**storage_options)
        self.host, self.port = host, int(port or DEFAULT_PORT)
        self.url = (url or f"http://{host}:{self.port}").rstrip("/")
        self.user, self.token = user, token
        self.replication, self.dfs_block_size, self.auto_mkdir = replication, block_size, auto_mkdir
        self.client = client or make_client(self.url, user, token, key=key, encrypt_under=encrypt_under)

    # -- paths -------------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        """``dfs://host:port/a/b/`` and ``/a/b`` both name ``/a/b`` (always absolute)."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith("dfs://"):
            path = "/" + path[len("dfs://"):].partition("/")[2]
        path = "/" + path.lstrip("/")
        return path.rstrip("/") or "/"

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        parts = urlsplit(stringify_path(path))
        options: dict[str, Any] = {}
        if parts.hostname:
            options["host"] = parts.hostname
        if parts.port:
            options["port"] = parts.port
        if parts.username:
            options["user"] = parts.username
        return options

    def unstrip_protocol(self, name: str) -> str:
        return f"dfs://{self.host}:{self.port}{self._strip_protocol(name)}"

    # -- metadata ----------------------------------------------------------------------------

    def _entry(self, path: str, status: Mapping[str, Any]) -> dict[str, Any]:
        kind = _TYPES.get(str(status.get("type")), "other")
        entry = {
            "name": path,
            "size": int(status.get("length", 0)) if kind == "file" else 0,
            "type": kind,
            "mtime": int(status.get("modificationTime", 0)) / 1000.0,
            "atime": int(status.get("accessTime", 0)) / 1000.0,
            "permission": status.get("permission"),
            "owner": status.get("owner"),
            "group": status.get("group"),
            "replication": status.get("replication"),
            "blocksize": status.get("blockSize"),
            "fileId": status.get("fileId"),
            "islink": kind == "link",
        }
        if kind == "link":
            entry["destination"] = status.get("symlink")
        return entry

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        entries = []
        for status in self.client.list_status(path):
            name = status.get("pathSuffix", "")
            entries.append(self._entry(posixpath.join(path, name) if name else path, status))
        return entries if detail else [entry["name"] for entry in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        return self._entry(path, self.client.get_status(path))

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def created(self, path: str) -> datetime.datetime:
        """DFS keeps no birth time; the last change of the content is the best answer."""
        return self.modified(path)

    def modified(self, path: str) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.info(path)["mtime"], tz=datetime.timezone.utc)

    def ukey(self, path: str) -> str:
        """Changes whenever the file does: a new commit gives a new mtime (and usually length)."""
        status = self.client.get_status(self._strip_protocol(path))
        return f"{status.get('fileId')}-{status.get('modificationTimeNs', status.get('modificationTime'))}" \
               f"-{status.get('length')}"

    # -- namespace changes -------------------------------------------------------------------

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        if create_parents:
            if self.exists(path):
                raise FileExistsError(path)
            self.client.mkdirs(path)
        else:
            self.client.mkdirs(path, parents=False)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        path = self._strip_protocol(path)
        if not exist_ok and self.exists(path):
            raise FileExistsError(path)
        self.client.mkdirs(path)

    def rmdir(self, path: str) -> None:
        """Remove an empty directory (``OSError`` ENOTEMPTY otherwise)."""
        self.client.delete(self._strip_protocol(path), kind="directory")

    def _rm(self, path: str) -> None:
        path = self._strip_protocol(path)
        if not self.client.delete(path):
            raise FileNotFoundError(path)

    def rm_file(self, path: str) -> None:
        self._rm(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """A recursive remove of a whole tree is one DELETE per named path, not one per entry."""
        if not recursive or maxdepth is not None:
            super().rm(path, recursive=recursive, maxdepth=maxdepth)
            return
        for name in self.expand_path(path, recursive=False):
            if not self.client.delete(name, recursive=True):
                raise FileNotFoundError(name)
        self.invalidate_cache()

    def mv(self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None,
           **kwargs: Any) -> None:
        """One path onto a name that is not a directory: a single RENAME (atomic, replacing a
        file there, no bytes moved); anything else as fsspec's copy-then-remove."""
        if isinstance(path1, str) and isinstance(path2, str) and not path2.endswith("/") \
                and not any(c in path1 for c in "*?["):
            src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
            try:
                target = self.client.get_status(dst)
            except NotFound:
                target = None
            if target is None or target.get("type") != "DIRECTORY":
                self.client.rename(src, dst, overwrite=True)
                return
        super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        if truncate:
            with self.open(path, "wb"):
                pass
        else:
            self.client.touch(path)

    # -- bytes -------------------------------------------------------------------------------

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: dict[str, Any] | None = None,
              **kwargs: Any) -> DFSBufferedFile:
        return DFSBufferedFile(self, self._strip_protocol(path), mode, block_size=block_size,
                               autocommit=autocommit, cache_options=cache_options, **kwargs)

    def open_dfs(self, path: str, mode: str = "rb", **options: Any) -> DFSFile | EncryptedFile:
        """The underlying ``DFSFile`` (modes ``rb wb ab r+b xb``, ``pread``/``pwrite``)."""
        path = self._strip_protocol(path)
        if mode != "rb" and self.auto_mkdir:
            parent = posixpath.dirname(path)
            if parent != "/" and not self.exists(parent):
                self.client.mkdirs(parent)
        options.setdefault("replication", self.replication)
        options.setdefault("block_size", self.dfs_block_size)
        return self.client.open(path, mode, **options)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        with self.open_dfs(path, "rb") as file:
            size = file.size
            start = 0 if start is None else (max(size + start, 0) if start < 0 else start)
            end = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
            return file.pread(max(end - start, 0), start) if end > start else b""

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """``mode="create"``: FileExistsError if the file is there (decided at the COMMIT too)."""
        with self.open_dfs(path, "xb" if mode == "create" else "wb") as file:
            file.write(value)
        self.invalidate_cache(self._parent(path))

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Data node → this client → data nodes: DFS files share no blocks."""
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        status = self.client.get_status(path1)
        if status.get("type") == "DIRECTORY":
            self.makedirs(path2, exist_ok=True)
            return
        with self.open_dfs(path1, "rb") as reader, self.open_dfs(path2, "wb") as writer:
            while chunk := reader.read(_COPY_CHUNK):
                writer.write(chunk)


class DFSBufferedFile(AbstractBufferedFile):
    """fsspec's file over a ``DFSFile``: ``rb`` reads are ``pread`` calls (parallel verified block
    fetches, only the 64 KiB chunks a small random read needs), ``wb``/``xb``/``ab`` hand their
    buffer to the ``DFSFile``, which ships full blocks at once and COMMITs at close (or at the
    transaction's end with ``autocommit=False``; ``discard`` then leaves the old file)."""

    def __init__(self, fs: DFSFileSystem, path: str, mode: str = "rb", block_size: int | None = None,
                 autocommit: bool = True, cache_type: str = DEFAULT_CACHE,
                 cache_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if mode not in {"rb", "wb", "ab", "xb"}:
            raise NotImplementedError(f"File mode not supported: {mode}")
        # Opened first: a missing file, a directory or an existing "xb" target fails the open itself.
        self.dfs_file = fs.open_dfs(path, mode)
        size = self.dfs_file.size if mode == "rb" else None
        super().__init__(fs, path, mode, block_size=block_size or WRITE_BUFFER, autocommit=autocommit,
                         cache_type=cache_type, cache_options=cache_options, size=size, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.dfs_file.pread(end - start, start)

    def _initiate_upload(self) -> None:
        """Nothing to ask: the ``DFSFile`` was opened (and checked) with the file object."""

    def _upload_chunk(self, final: bool = False) -> bool:
        self.dfs_file.write(self.buffer.getbuffer())
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        self.dfs_file.close()

    def discard(self) -> None:
        self.dfs_file.abort()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.mode == "rb":
                self.dfs_file.close()


__all__ = ["DFSBufferedFile", "DFSFileSystem"]
