"""``EncryptedFile``: a plaintext view of an encrypted DFS file (``encryption.py`` has the format).

It wraps the ``DFSFile`` of the stored (ciphertext) file and offers the same interface
(``read``/``pread``/``write``/``pwrite``/``truncate``/``flush``/``close``, thread-safe), so
``HttpNameNode.open`` and the FUSE mount use it unchanged. A read fetches and decrypts only the
chunks it covers (the stored file's ``pread`` fetches only the 64 KiB storage chunks under them);
a few recently decrypted chunks are kept for readers that read a chunk in pieces. Writes change
plaintext chunks in memory; ``flush`` seals what changed (each time with a fresh nonce), the new
last chunk with its "last" mark, and commits the stored file in one COMMIT, as ``DFSFile`` does.
Memory stays bounded: past ``MAX_DIRTY`` changed chunks, the ones that are whole and not last are
sealed into the stored file early (still uncommitted).
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from dfs_common.errors import DecryptionFailed, IllegalArgument

from .encryption import (CHUNK, HEADER_SIZE, OVERHEAD, SEALED_CHUNK, ContentKey, Header, Sealer,
                         chunk_count, chunk_offset, plain_length, sealed_length)
from .files import DFSFile
from .positioned import PositionedFile

MAX_DIRTY = 64  # changed chunks (4 MiB) kept before whole interior ones are sealed early
DECRYPTED_CACHE = 32  # decrypted chunks (2 MiB) kept for readers that read a chunk in pieces


StatusT = TypeVar("StatusT", bound=Mapping[str, Any])


def shown_status(status: StatusT) -> StatusT:
    """A FileStatus as a client with the key sees it: the plaintext length (the stored one kept
    as ``encryptedLength``). A stored length no encrypted file can have is shown as is; reading
    the file then fails."""
    if status.get("type") != "FILE" or status.get("kind") or "encryptedLength" in status:
        return status
    stored = int(status.get("length", 0))
    try:
        plain = plain_length(stored)
    except DecryptionFailed:
        plain = stored
    return cast(StatusT, {**status, "length": plain, "encryptedLength": stored})


def stored_status(status: dict[str, Any]) -> dict[str, Any]:
    """``shown_status`` undone: what the stored file's ``DFSFile`` must be opened with."""
    if "encryptedLength" not in status:
        return status
    raw = {key: value for key, value in status.items() if key != "encryptedLength"}
    raw["length"] = status["encryptedLength"]
    return raw


class EncryptedFile(PositionedFile):
    """An open encrypted file: modes as ``DFSFile`` (``rb wb ab r+b xb``)."""

    def __init__(self, stored: DFSFile, key: ContentKey, path: str, mode: str | None = None) -> None:
        """``stored``: the ``DFSFile`` of the ciphertext, opened readable whenever existing bytes
        must be decrypted (``HttpNameNode.open`` opens ``ab`` as ``a+b``); ``mode``: the caller's."""
        super().__init__()
        self.stored, self.key, self._path = stored, key, path
        self._mode = mode or stored.mode
        self._lock = threading.RLock()
        self._pos = 0
        self._dirty: dict[int, bytearray] = {}
        self._decrypted: OrderedDict[int, bytes] = OrderedDict()
        self.chunks_decrypted = 0  # how many chunks this handle has decrypted (reads decrypt few)
        length = stored.size
        if length == 0:
            # A new or emptied file: sealed under a fresh file id at the first flush.
            self._sealer: Sealer | None = None
            self._size = 0
            self._stored_chunks = 0
            self._needs_header = True
        else:
            self._sealer = Sealer(key, Header.unpack(stored.pread(HEADER_SIZE, 0, random_access=True), path), path)
            self._size = plain_length(length)
            self._stored_chunks = chunk_count(self._size)
            self._needs_header = False
        self._final: int | None = self._stored_chunks - 1 if self._stored_chunks else None
        self._stored_tail = self._size - (self._stored_chunks - 1) * CHUNK if self._stored_chunks else 0
        if "a" in self._mode:
            self._pos = self._size
        self._version = self._committed_version = 0

    # -- io.RawIOBase --------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @path.setter
    def path(self, path: str) -> None:
        """A rename of the open file (the mount's ``retarget``): later commits use the new name."""
        self._path = path
        self.stored.path = path
        if self._sealer is not None:
            self._sealer.path = path

    @property
    def mode(self) -> str:
        return self._mode

    def readable(self) -> bool:
        return "r" in self._mode or "+" in self._mode

    def writable(self) -> bool:
        return self._mode != "rb"

    @property
    def size(self) -> int:
        with self._lock:
            return self._size

    @property
    def failed(self) -> bool:
        return bool(getattr(self.stored, "failed", False))

    @property
    def status(self) -> dict[str, Any] | None:
        """The stored file's last FileStatus, with the plaintext length."""
        status = getattr(self.stored, "status", None)
        return shown_status(status) if isinstance(status, dict) else status

    @property
    def file_id(self) -> Any:
        return self.stored.file_id

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        offset = self.size if "a" in self._mode else self._pos
        count = self.pwrite(data, offset)
        self._pos = offset + count
        return count

    def truncate(self, size: int | None = None) -> int:
        self._check_writable()
        size = self._pos if size is None else size
        if size < 0:
            raise IllegalArgument(f"Negative size: {size}")
        with self._lock:
            if size == 0:  # nothing of the old content is needed (O_TRUNC of any file)
                self._dirty.clear()
                self._stored_chunks = self._stored_tail = 0
            elif size < self._size:
                # What is cut must read as zeros if the file grows again: the new last chunk is
                # kept trimmed among the changed ones, and stored chunks past it no longer count.
                last = (size - 1) // CHUNK if size else 0
                if last not in self._dirty and last < self._stored_chunks:
                    self._dirty[last] = bytearray(self._load_stored(last, last)[last])
                for index in [i for i in self._dirty if i > last]:
                    del self._dirty[index]
                if last in self._dirty:
                    del self._dirty[last][size - last * CHUNK:]
                if self._stored_chunks > last + 1:
                    self._stored_chunks, self._stored_tail = last + 1, CHUNK
            self._size = size
            self._version += 1
        return size

    # -- positional I/O ---------------------------------------------------------------------------

    def pread(self, size: int, offset: int) -> bytes:
        self._check_open()
        if not self.readable():
            raise io.UnsupportedOperation("File not open for reading")
        with self._lock:
            end = min(offset + max(size, 0), self._size)
            if offset < 0 or end <= offset:
                return b""
            first, last = offset // CHUNK, (end - 1) // CHUNK
            loaded = self._load_stored(first, last)
            pieces = [self._chunk(index, loaded) for index in range(first, last + 1)]
        joined = b"".join(pieces) if len(pieces) > 1 else pieces[0]
        start = offset - first * CHUNK
        return joined[start:start + end - offset]

    def pwrite(self, data: Any, offset: int) -> int:
        self._check_writable()
        view = memoryview(data).cast("B")
        if offset < 0:
            raise IllegalArgument(f"Negative offset: {offset}")
        if not len(view):
            return 0
        with self._lock:
            end = offset + len(view)
            first, last = offset // CHUNK, (end - 1) // CHUNK
            done = 0
            for index in range(first, last + 1):
                buffer = self._dirty.get(index)
                if buffer is None:
                    # Only a chunk written in part needs its old bytes (the first and the last).
                    edge = index in (first, last)
                    buffer = bytearray(self._chunk(index, self._load_stored(index, index)) if edge else b"")
                    self._dirty[index] = buffer
                    self._decrypted.pop(index, None)
                inner = offset + done - index * CHUNK
                count = min(CHUNK - inner, len(view) - done)
                if len(buffer) < inner:
                    buffer.extend(bytes(inner - len(buffer)))
                buffer[inner:inner + count] = view[done:done + count]
                done += count
            self._size = max(self._size, end)
            self._version += 1
            if len(self._dirty) > MAX_DIRTY:
                self._seal_early()
        return len(view)

    # -- flushing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Seal every changed chunk and the new last one, and commit the stored file."""
        self._commit(sync=False)

    def fsync(self) -> None:
        """``flush``, then the stored file's ``fsync`` (every replica and the name node on disk)."""
        self._commit(sync=True)

    def _commit(self, sync: bool) -> None:
        if self.closed or not self.writable():
            return
        with self._lock:
            if self._version == self._committed_version:
                if sync:
                    self.stored.fsync()
                return  # nothing changed (a new file with nothing written stays zero bytes)
            sealer = self._ensure_sealer()
            chunks = chunk_count(self._size)
            final = chunks - 1
            wanted = {i for i in self._dirty if i < chunks}
            wanted.update(range(self._stored_chunks, chunks))  # new chunks, written or holes
            if self._stored_chunks and self._stored_chunks - 1 < final:
                wanted.add(self._stored_chunks - 1)  # the old last chunk: now whole and not last
            wanted.add(final)
            for index in sorted(wanted):
                self._store(sealer, index, index == final)
            if self._needs_header:
                self.stored.pwrite(sealer.header_bytes, 0)
            length = sealed_length(self._size)
            if self.stored.size > length:
                self.stored.truncate(length)
            self._dirty.clear()
            self._stored_chunks, self._final = chunks, final
            self._stored_tail = self._size - final * CHUNK
            self._needs_header = False
            version = self._version
            if sync:
                self.stored.fsync()
            else:
                self.stored.flush()
            self._committed_version = version

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self._committed_version = self._version  # (io's close flushes again: nothing more)
            self.stored.close()
            super().close()

    def abort(self) -> None:
        """Close without committing (``DFSFile.abort``)."""
        with self._lock:
            self._dirty.clear()
            self._committed_version = self._version
        self.stored.abort()
        super().close()

    # -- chunks ----------------------------------------------------------------------------------

    def _chunk(self, index: int, loaded: dict[int, bytes]) -> bytes:
        """The plaintext of chunk ``index`` as this handle sees it (its length follows ``size``);
        ``loaded``: ``_load_stored``'s answer for a range holding it."""
        length = max(0, min(CHUNK, self._size - index * CHUNK))
        buffer = self._dirty.get(index)
        if buffer is not None:
            data = bytes(buffer[:length])
        elif index < self._stored_chunks:
            data = loaded[index][:length]
        else:
            data = b""
        return data + bytes(length - len(data)) if len(data) < length else data

    def _load_stored(self, first: int, last: int) -> dict[int, bytes]:
        """The plaintext of the stored chunks in ``[first, last]`` that are not changed ones: from
        the cache, or fetched (in one ranged read of the stored file) and decrypted."""
        last = min(last, self._stored_chunks - 1)
        wanted = [i for i in range(first, last + 1) if i not in self._dirty]
        loaded = {i: self._decrypted[i] for i in wanted if i in self._decrypted}
        needed = [i for i in wanted if i not in loaded]
        for index in loaded:
            self._decrypted.move_to_end(index)
        if not needed:
            return loaded
        assert self._sealer is not None
        start = chunk_offset(needed[0])
        stop = min(chunk_offset(needed[-1]) + SEALED_CHUNK, self._stored_end())
        span = memoryview(self.stored.pread(stop - start, start))
        if len(span) != stop - start:
            raise DecryptionFailed(f"{self.path} is shorter than its encryption says")
        for index in needed:
            if index in loaded:
                continue
            at = chunk_offset(index) - start
            plaintext = self._sealer.open(index, span[at:at + SEALED_CHUNK], index == self._final)
            self.chunks_decrypted += 1
            loaded[index] = self._decrypted[index] = plaintext
        while len(self._decrypted) > DECRYPTED_CACHE:
            self._decrypted.popitem(last=False)
        return loaded

    def _stored_end(self) -> int:
        """Where the stored chunks that count end (uncommitted early-sealed ones included)."""
        if not self._stored_chunks:
            return HEADER_SIZE
        return chunk_offset(self._stored_chunks - 1) + self._stored_tail + OVERHEAD

    def _store(self, sealer: Sealer, index: int, final: bool) -> None:
        """Seal chunk ``index`` as this handle sees it and write it into the stored file."""
        plaintext = self._chunk(index, self._load_stored(index, index))
        self.stored.pwrite(sealer.seal(index, plaintext, final), chunk_offset(index))
        self._decrypted[index] = plaintext
        self._decrypted.move_to_end(index)
        while len(self._decrypted) > DECRYPTED_CACHE:
            self._decrypted.popitem(last=False)

    def _seal_early(self) -> None:
        """Bound memory: seal changed chunks that are whole and not last, in order, as long as the
        stored file stays contiguous (a chunk beyond its end waits for ``flush``, which also fills
        any hole before it)."""
        sealer = self._ensure_sealer()
        last = chunk_count(self._size) - 1
        for index in sorted(self._dirty):
            if index >= last or len(self._dirty[index]) < CHUNK or index > self._stored_chunks:
                continue
            if index == self._stored_chunks and self._stored_chunks and \
                    (self._stored_tail < CHUNK or self._final == index - 1):
                self._store(sealer, index - 1, False)  # the old last chunk, now whole and interior
                self._stored_tail = CHUNK
                self._final = None
            self._store(sealer, index, False)
            del self._dirty[index]
            if index == self._final:
                self._final = None
            if index == self._stored_chunks:
                self._stored_chunks += 1
                self._stored_tail = CHUNK

    def _ensure_sealer(self) -> Sealer:
        if self._sealer is None:
            self._sealer = Sealer.new(self.key, self.path)
        return self._sealer


class Encryption:
    """Which files a client encrypts: every regular file under ``under`` (default: all), with
    ``key``. ``HttpNameNode(url, key=…)`` makes one; its FileStatus answers for those files
    carry the plaintext length, and its ``open`` answers an ``EncryptedFile``."""

    def __init__(self, key: ContentKey, under: str = "/") -> None:
        self.key = key
        self.under = "/" + under.strip("/") if under.strip("/") else "/"

    def covers(self, path: str) -> bool:
        path = "/" + path.strip("/")
        return self.under == "/" or path == self.under or path.startswith(self.under + "/")

    def shown(self, path: str, status: StatusT) -> StatusT:
        return shown_status(status) if isinstance(status, dict) and self.covers(path) else status

    def open(self, stored_opener: Any, path: str, mode: str, status: dict[str, Any] | None) -> EncryptedFile:
        """``stored_opener(mode, status)`` opens the ciphertext's ``DFSFile``; an appender must
        read the last chunk, so ``ab`` opens it ``a+b``."""
        stored_mode = "a+b" if mode.replace("b", "") == "a" else mode
        stored = stored_opener(stored_mode, stored_status(status) if status is not None else None)
        try:
            return EncryptedFile(stored, self.key, path, mode)
        except BaseException:
            stored.abort()  # (nothing of the caller's to commit yet)
            raise
