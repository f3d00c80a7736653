"""The seed's ``HttpNameNode`` commands (``ls``, ``mkdir``, ``cat``, ``tee``…), kept with their names
and meanings so existing scripts keep working; each is a few lines over the full API.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dfs_common.errors import AlreadyExists, DFSError, IsADirectory, NotADirectory, NotFound
from dfs_common.filestatus import FileStatus
from dfs_common.paths import join, normalize, split_path

if TYPE_CHECKING:
    from .files import DFSFile
    from .sealed import EncryptedFile

# Copies stream in pieces this large: big enough for whole-block writes, small enough to bound memory.
_COPY_CHUNK = 8 * 1024 * 1024


class SeedCommands:
    """Mixin of the seed's commands; the methods it relies on are ``HttpNameNode``'s full API."""

    # Supplied by HttpNameNode (declared here for type checkers).
    if TYPE_CHECKING:
        url: str
        user: str

        def get_status(self, path: str) -> FileStatus: ...
        def list_status(self, path: str) -> Iterator[FileStatus]: ...
        def mkdirs(self, path: str, permission: int = 0o755, parents: bool = True,
                   owner: str | None = None, group: str | None = None) -> bool: ...
        def delete(self, path: str, recursive: bool = False) -> bool: ...
        def rename(self, src: str, dst: str, overwrite: bool | None = None) -> bool: ...
        def symlink(self, target: str, linkpath: str, owner: str | None = None,
                    group: str | None = None) -> None: ...
        def set_times(self, path: str, mtime_ns: int | None = None, atime_ns: int | None = None) -> None: ...
        def commit(self, path: str, blocks: list[dict[str, Any]], **options: Any) -> FileStatus: ...
        def open(self, path: str, mode: str = "rb", *, permission: int = 0o644) -> DFSFile | EncryptedFile: ...
        def _plain(self, method: str, route: str, *, idempotent: bool | None = None) -> Any: ...

    def ls(self, path: str = "/") -> list[str]:
        """Names in a directory (a file lists as its own name, like ``ls file``)."""
        names = [status["pathSuffix"] for status in self.list_status(path)]
        if names == [""]:
            segments = split_path(path)
            return [segments[-1]] if segments else []
        return names

    def mkdir(self, path: str) -> None:
        """Make a directory and any missing parents (the seed's ``mkdir``, WebHDFS's MKDIRS)."""
        self.mkdirs(path)

    def rmdir(self, path: str, force: bool = False) -> None:
        """Remove a directory; ``force`` removes its contents too (``rm -r``)."""
        if self.get_status(path)["type"] != "DIRECTORY":
            raise NotADirectory(f"Not a directory: {path}")
        if not self.delete(path, recursive=force):
            raise NotFound(f"File does not exist: {path}")

    def touch(self, path: str) -> None:
        """Create an empty file if ``path`` is absent, else set its times to now: one request
        for a new file (the create itself says whether the name was taken)."""
        try:
            self.commit(path, [], create=True, overwrite=False)
            return
        except (AlreadyExists, IsADirectory):
            pass
        now = time.time_ns()
        self.set_times(path, mtime_ns=now, atime_ns=now)

    def cat(self, path: str) -> bytes:
        """The whole content of a file."""
        with self.open(path, "rb") as handle:
            return handle.readall()

    def tee(self, path: str, data: bytes) -> None:
        """Write a whole file (created or replaced), as ``echo data | tee path``."""
        with self.open(path, "wb") as handle:
            handle.write(data)

    def rm(self, path: str) -> None:
        """Remove a file or symlink (directories need ``rmdir``)."""
        if self.get_status(path)["type"] == "DIRECTORY":
            raise IsADirectory(f"Is a directory: {path}")
        if not self.delete(path):
            raise NotFound(f"File does not exist: {path}")

    def stat(self, path: str) -> FileStatus:
        return self.get_status(path)

    def cp(self, src: str, dst: str) -> None:
        """Copy a file, or a directory recursively; into ``dst`` when it is an existing directory.
        The bytes travel data node → this client → data nodes (blocks are never shared by files)."""
        src, dst = normalize(src), normalize(dst)
        status = self.get_status(src)
        try:
            if self.get_status(dst)["type"] == "DIRECTORY":
                dst = join(dst, split_path(src)[-1] if split_path(src) else "")
        except NotFound:
            pass
        if dst == src or dst.startswith(src.rstrip("/") + "/"):
            raise DFSError(f"Cannot copy {src} into itself ({dst})")
        self._copy(src, dst, status)

    def _copy(self, src: str, dst: str, status: FileStatus) -> None:
        kind = status["type"]
        if kind == "SYMLINK":
            self.symlink(status.get("symlink", ""), dst)
        elif kind == "DIRECTORY":
            self.mkdirs(dst, permission=int(status.get("permission", "755"), 8))
            for child in self.list_status(src):
                name = child["pathSuffix"]
                self._copy(join(src, name), join(dst, name), child)
        else:
            with self.open(src, "rb") as reader, \
                    self.open(dst, "wb", permission=int(status.get("permission", "644"), 8)) as writer:
                while chunk := reader.read(_COPY_CHUNK):
                    writer.write(chunk)

    def mv(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (into ``dst`` when it is a directory, as ``mv``)."""
        if not self.rename(src, dst):
            self.get_status(src)  # NotFound when the source is missing
            raise AlreadyExists(f"Cannot move {src} to {dst}")

    def df(self) -> dict[str, Any]:
        """Cluster capacity: ``{"capacity","used","remaining","datanodes_alive","datanodes_dead"}``."""
        return self._plain("GET", "/df")

    def status(self) -> dict[str, Any]:
        """The name node's view of the cluster: every data node and its state, file counts."""
        return self._plain("GET", "/status")

    def ping_alive(self) -> bool:
        """True when the name node answers; never raises."""
        try:
            answer = self._plain("GET", "/ping_alive")
        except (DFSError, OSError):
            return False
        return bool(isinstance(answer, dict) and answer.get("alive"))

    def mkfs(self) -> None:
        """Empty the whole namespace (superuser only), as the seed's ``mkfs``."""
        self._plain("POST", "/mkfs", idempotent=True)
