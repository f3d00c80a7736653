"""The file-position half of a DFS file object, shared by the plain and the encrypted file: a
position, ``seek``/``tell`` and ``read`` over the subclass's ``pread`` and ``size``."""
from __future__ import annotations

import io

from dfs_common.errors import IllegalArgument


class PositionedFile(io.RawIOBase):
    """``io.RawIOBase`` with a position; subclasses give ``size``, ``pread`` and ``writable``."""

    _pos: int = 0

    @property
    def size(self) -> int:
        raise NotImplementedError

    def pread(self, size: int, offset: int) -> bytes:
        raise NotImplementedError

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None or base + offset < 0:
            raise IllegalArgument(f"Invalid seek: offset {offset}, whence {whence}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.size - self._pos)
        data = self.pread(size, self._pos)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _check_writable(self) -> None:
        self._check_open()
        if not self.writable():
            raise io.UnsupportedOperation("File not open for writing")
