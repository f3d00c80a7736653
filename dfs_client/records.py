"""Ingest buffers from Python (``BufferCommands``, mixed into ``HttpNameNode``), and posting one
record: blocks straight to the data nodes, then COMMITRECORD.

The record becomes visible whole or not at all: its blocks are shipped first (pending, under a
placeholder name in the buffer), and the one COMMITRECORD transaction names the file by its
arrival time and counts it. A record that fails half-way gives its blocks up at once.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from dfs_common.paths import join, normalize

if TYPE_CHECKING:
    from .namenode import HttpNameNode

# Bytes read from a file-like record source at a time.
_READ_CHUNK = 1024 * 1024

# 4 MiB: the default block size; a record larger than that is split (a data node takes any block
# up to DFS_MAX_BLOCK_SIZE, which is never below the default).
RECORD_BLOCK = 4 * 1024 * 1024
_PLACEHOLDER = ".record"  # the name block allocation is asked under: never created


class RecordWriter:
    """``write`` the record's bytes, then ``close`` (commit: answers the Record) or ``abort``."""

    def __init__(self, nn: HttpNameNode, buffer: str, suffix: str = "", permission: int = 0o644,
                 replication: int | None = None) -> None:
        self.nn = nn
        self.path = normalize(buffer)
        self.suffix = suffix
        self.permission = permission
        self.replication = replication
        self.blocks: list[dict[str, Any]] = []
        self._pending = bytearray()
        self.record: dict[str, Any] | None = None
        self.done = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        while len(self._pending) >= RECORD_BLOCK:
            self._ship(bytes(self._pending[:RECORD_BLOCK]))
            del self._pending[:RECORD_BLOCK]
        return len(data)

    def close(self) -> dict[str, Any]:
        if self.done:
            assert self.record is not None
            return self.record
        try:
            if self._pending:
                self._ship(bytes(self._pending))
                self._pending.clear()
            body: dict[str, Any] = {"blocks": [{"blockId": b["blockId"], "length": b["length"],
                                                "checksum": b["checksum"]} for b in self.blocks],
                                    "suffix": self.suffix, "permission": f"{self.permission & 0o7777:o}"}
            if self.replication is not None:
                body["replication"] = int(self.replication)
            self.record = self.nn._commit_record(self.path, body)
        except BaseException:
            self.abort()
            raise
        self.done = True
        return self.record

    def abort(self) -> None:
        """Give up every block shipped so far: no record, and the data nodes drop the copies now."""
        self.done = True
        ids = [b["blockId"] for b in self.blocks]
        self.blocks = []
        if ids:
            try:
                self.nn.abandon_blocks(ids)
            except OSError:
                pass  # unreachable name node: the blocks expire with their pending lifetime

    def _ship(self, data: bytes) -> None:
        self.blocks.append(self.nn.write_block(join(self.path, _PLACEHOLDER), data,
                                               replication=self.replication))

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class BufferCommands:
    """Mixin: the buffer operations of ``HttpNameNode`` (see ``name_node/ingest.py``). Every
    status is a dict with the seed's ``n_itm``, ``buff_size`` and ``dstatus`` (OPERATIONAL or
    FROZEN) plus ``max_bytes``, ``full``, ``frozen_by``, ``frozen_at``, ``batch``."""

    # Supplied by HttpNameNode (its declared operations, the Operation descriptors).
    if TYPE_CHECKING:
        def _create_buffer(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _get_buffer_status(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _get_buffer_log(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _freeze_buffer(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _release_buffer(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def _commit_record(self, path: str, json_body: Any = None, **params: Any) -> Any: ...
        def abandon_blocks(self, block_ids: list[str]) -> None: ...
        def write_block(self, path: str, data: bytes | bytearray | memoryview,
                        replication: int | None = None) -> dict[str, Any]: ...

    def create_buffer(self, path: str, max_bytes: int, permission: int = 0o755) -> dict[str, Any]:
        """Make ``path`` (new, or an existing directory) a buffer frozen at ``max_bytes``."""
        return self._create_buffer(path, maxbytes=int(max_bytes), permission=f"{permission & 0o7777:o}")

    def buffer_status(self, path: str) -> dict[str, Any]:
        return self._get_buffer_status(path)

    def freeze_buffer(self, path: str, force: bool = False) -> dict[str, Any]:
        """FROZEN, read-only; a ``WrongState`` error (409, EAGAIN) below ``max_bytes`` unless ``force``."""
        return self._freeze_buffer(path, force=force or None)

    def release_buffer(self, path: str, force: bool = False, archive_dir: str | None = None) -> dict[str, Any]:
        """The frozen batch becomes ``NAME.<UTC time>`` (its path in the answer's ``archive``) and an
        empty buffer takes its name, atomically."""
        return self._release_buffer(path, force=force or None,
                                    archivedir=normalize(archive_dir) if archive_dir else None)

    def buffer_log(self, path: str) -> Iterator[dict[str, Any]]:
        """The buffer's events (created, frozen, released), oldest first, page by page."""
        after = 0
        while True:
            answer = self._get_buffer_log(path, after=after or None) or {}
            entries = answer.get("BufferLog") or []
            yield from entries
            if not entries or not answer.get("remaining"):
                return
            after = entries[-1]["seq"]

    def post_record(self, path: str, data: bytes | bytearray | memoryview | IO[bytes], suffix: str = "",
                    permission: int = 0o644, replication: int | None = None) -> dict[str, Any]:
        """Store one record (bytes, or a binary file read to its end) in the buffer ``path``:
        answers ``{"name", "path", "length", "n_itm", "buff_size", "dstatus"}``. A frozen buffer
        refuses it with ``ReadOnly`` (EROFS, a ``PermissionError``-like 403)."""
        with self.record_writer(path, suffix, permission, replication) as writer:
            if isinstance(data, (bytes, bytearray, memoryview)):
                writer.write(data)
            else:
                while chunk := data.read(_READ_CHUNK):
                    writer.write(chunk)
        assert writer.record is not None
        return writer.record

    def record_writer(self, path: str, suffix: str = "", permission: int = 0o644,
                      replication: int | None = None) -> RecordWriter:
        """A record streamed in pieces (``write``…, then ``close``); what a data node uses for POSTRECORD."""
        return RecordWriter(self, path, suffix, permission, replication)  # type: ignore[arg-type]
