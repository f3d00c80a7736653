"""The block layout of an open file: the pure bookkeeping behind every write, without any I/O.

A file is an ordered list of segments; each is a hole (zeros, no block), a stored block (its
location) or dirty bytes waiting to become a new block. Writes, appends, truncates and random writes
through the mount are all edits of this list, and ``commit_blocks`` turns it back into the COMMIT
body, so the name node swaps the whole list in one transaction (blocks are immutable: a changed
block is always a new block).

The layout rule, which keeps files made by this client block-aligned:

* An existing block keeps its boundaries: bytes written inside it replace bytes in a copy of it
  (read-modify-write), and the copy becomes a new block of the same length.
* Growing the file first fills the last block up to the next multiple of ``block_size`` (so
  repeated small appends merge into one block), then continues with new blocks.
* New blocks are cut out of holes at multiples of ``block_size`` from the start of the file, so a
  file written by this client, sparse or not, has ``block_size`` blocks except the last.
* A file with irregular blocks (after CONCAT, or a hole appended behind a short last block) reads
  correctly, and a write into it follows the same rules: blocks keep their lengths, only the last
  one grows (to the next multiple of ``block_size``), holes are cut at multiples of
  ``block_size``; so after a write the file is aligned again from its old end on, and no block
  this client makes ever crosses a multiple of ``block_size``.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class Segment:
    """One entry of the block list; at most one of ``location`` and ``buffer`` is set."""

    length: int
    location: dict[str, Any] | None = None  # a stored block: blockId, length, checksum, dataNodes
    buffer: bytearray | None = None  # dirty bytes, authoritative while set
    shipping: Future[dict[str, Any]] | None = None  # the block write of ``buffer`` in flight

    @property
    def is_hole(self) -> bool:
        return self.location is None and self.buffer is None

    @property
    def block_id(self) -> str | None:
        return self.location["blockId"] if self.location is not None else None


class NeedBlocks(Exception):
    """An edit needs the current bytes of these stored blocks first (fetched outside the lock)."""

    def __init__(self, segments: list[Segment]) -> None:
        super().__init__(f"{len(segments)} block(s) to read first")
        self.segments = segments


class Layout:
    """The segments of one file, with their start offsets and the set of dirty ones."""

    def __init__(self, block_size: int, locations: list[dict[str, Any]], file_length: int) -> None:
        if block_size <= 0:
            raise ValueError(f"block size must be positive, not {block_size}")
        self.block_size = block_size
        self.segments: list[Segment] = []
        self.dirty: dict[Segment, None] = {}  # an ordered set: oldest dirty first
        position = 0
        for location in locations:
            offset, length = int(location.get("offset", position)), int(location["length"])
            if offset > position:  # a gap the name node did not spell as a hole
                self.segments.append(Segment(offset - position))
            if length > 0:
                stored = location if location.get("blockId") is not None else None
                self.segments.append(Segment(length, location=stored))
            position = max(position, offset) + length
        if file_length > position:
            self.segments.append(Segment(file_length - position))
        self._starts: list[int] = []
        self._reindex()

    # -- geometry ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        if not self.segments:
            return 0
        return self._starts[-1] + self.segments[-1].length

    def _reindex(self) -> None:
        starts, position = [], 0
        for segment in self.segments:
            starts.append(position)
            position += segment.length
        self._starts = starts

    def _index(self, offset: int) -> int:
        """Index of the segment holding byte ``offset`` (which must be < size)."""
        return bisect_right(self._starts, offset) - 1

    def pieces(self, offset: int, size: int) -> list[tuple[Segment, int, int]]:
        """``(segment, offset in it, length)`` covering ``[offset, offset+size)`` clipped to EOF."""
        end = min(offset + size, self.size)
        found: list[tuple[Segment, int, int]] = []
        if offset >= end:
            return found
        index = self._index(offset)
        while offset < end:
            segment, start = self.segments[index], self._starts[index]
            inner = offset - start
            count = min(segment.length - inner, end - offset)
            found.append((segment, inner, count))
            offset += count
            index += 1
        return found

    def stored_after(self, offset: int, count: int) -> list[Segment]:
        """The next ``count`` stored blocks from ``offset`` on (what read-ahead fetches)."""
        if offset >= self.size:
            return []
        found: list[Segment] = []
        for index in range(self._index(offset), len(self.segments)):
            segment = self.segments[index]
            if segment.location is not None:
                found.append(segment)
                if len(found) == count:
                    break
        return found

    # -- edits -------------------------------------------------------------------------------

    def write(self, offset: int, data: memoryview, contents: Mapping[str, bytes | bytearray]) -> list[Segment]:
        """Put ``data`` at ``offset``; answer the dirty segments this write completed (ready to
        ship). Raises NeedBlocks, having changed nothing, if stored bytes must be read first."""
        end = offset + len(data)
        self._check_contents(self._stored_needed(offset, end), contents)
        self._grow_for_write(end, contents)
        completed: list[Segment] = []
        position = offset
        while position < end:
            index = self._index(position)
            segment = self.segments[index]
            if segment.is_hole:
                index = self._cut_hole(index, position, end)
                segment = self.segments[index]
            start = self._starts[index]
            inner = position - start
            count = min(segment.length - inner, end - position)
            piece = data[position - offset:position - offset + count]
            if segment.location is not None and inner == 0 and count == segment.length:
                segment.location, segment.buffer = None, bytearray(piece)  # whole block replaced
            else:
                buffer = self._make_dirty(segment, contents)
                buffer[inner:inner + count] = piece
            self.dirty[segment] = None
            position += count
            is_last = index == len(self.segments) - 1
            if position == start + segment.length and (segment.length >= self.block_size or not is_last):
                completed.append(segment)
        return completed

    def truncate(self, length: int, contents: Mapping[str, bytes | bytearray]) -> None:
        """Cut the file to ``length`` (a block cut in the middle becomes a shorter new block) or
        grow it with a hole. Raises NeedBlocks, having changed nothing, like ``write``."""
        size = self.size
        if length >= size:
            self._append_hole(length - size)
            return
        index = self._index(length)
        segment, keep = self.segments[index], length - self._starts[index]
        if keep and segment.location is not None:
            self._check_contents([segment], contents)
        for dropped in self.segments[index + (1 if keep else 0):]:
            self.dirty.pop(dropped, None)
        del self.segments[index + (1 if keep else 0):]
        if keep:
            if not segment.is_hole:
                buffer = self._make_dirty(segment, contents)
                del buffer[keep:]
                self.dirty[segment] = None
            segment.length = keep
        self._reindex()

    def start_shipping(self, segment: Segment, future: Future[dict[str, Any]]) -> bytearray:
        """Mark a dirty segment as being written; its buffer stays readable and is copied before
        any later write changes it (so the bytes in flight never change under the writer)."""
        assert segment.buffer is not None
        segment.shipping = future
        self.dirty.pop(segment, None)
        return segment.buffer

    def finish_shipping(self, segment: Segment, future: Future[dict[str, Any]]) -> bool:
        """Record a completed block write; False if the segment changed meanwhile (or the write
        failed), in which case it stays dirty and will be shipped again."""
        if segment.shipping is not future:
            return False
        segment.shipping = None
        if future.exception() is not None:
            self.dirty[segment] = None
            return False
        segment.location, segment.buffer = future.result(), None
        return True

    def commit_blocks(self) -> list[dict[str, Any]]:
        """The COMMIT block list; adjacent holes are sent as one entry of any length."""
        blocks: list[dict[str, Any]] = []
        for segment in self.segments:
            if segment.length == 0:
                continue
            if segment.buffer is not None:
                raise RuntimeError("commit_blocks with unshipped dirty bytes")
            if segment.location is None:
                if blocks and blocks[-1]["blockId"] is None:
                    blocks[-1]["length"] += segment.length
                else:
                    blocks.append({"blockId": None, "length": segment.length})
            else:
                blocks.append({"blockId": segment.location["blockId"], "length": segment.length,
                               "checksum": segment.location["checksum"]})
                if segment.location.get("crc32c"):  # an erasure-coded group's (``striping``)
                    blocks[-1]["crc32c"] = segment.location["crc32c"]
        return blocks

    # -- helpers -----------------------------------------------------------------------------

    def _stored_needed(self, offset: int, end: int) -> list[Segment]:
        """Stored blocks a write of ``[offset, end)`` changes only in part (so must read first)."""
        needed = []
        for segment, _inner, count in self.pieces(offset, end - offset):
            if segment.location is not None and count < segment.length:
                needed.append(segment)
        if end > self.size and self.segments:
            last, start = self.segments[-1], self._starts[-1]
            if last.location is not None and self._room_in_last() > 0 and offset > start:
                if last not in needed:
                    needed.append(last)
        return needed

    @staticmethod
    def _check_contents(segments: list[Segment], contents: Mapping[str, bytes | bytearray]) -> None:
        missing = [s for s in segments if s.location is not None and s.block_id not in contents]
        if missing:
            raise NeedBlocks(missing)

    def _make_dirty(self, segment: Segment, contents: Mapping[str, bytes | bytearray]) -> bytearray:
        """The segment's own writable buffer (copy-on-write of stored or in-flight bytes)."""
        if segment.location is not None:
            segment.buffer = bytearray(contents[segment.location["blockId"]])
            segment.location = None
        elif segment.buffer is None:
            segment.buffer = bytearray(segment.length)
        elif segment.shipping is not None:
            segment.buffer, segment.shipping = bytearray(segment.buffer), None
        self.dirty[segment] = None
        return segment.buffer

    def _grow_for_write(self, end: int, contents: Mapping[str, bytes | bytearray]) -> None:
        """Extend the file to ``end``: the last block up to block size, the rest as a hole."""
        size = self.size
        if end <= size:
            return
        if self.segments:
            last, room = self.segments[-1], self._room_in_last()
            if not last.is_hole and room > 0:
                grow = min(room, end - size)
                if last.location is not None and last.block_id not in contents:
                    # _stored_needed skipped it: the write covers all of it, old bytes are moot
                    last.location, last.buffer = None, bytearray(last.length)
                self._make_dirty(last, contents).extend(bytes(grow))
                last.length += grow
                size += grow
        if end > size:
            self._append_hole(end - size)

    def _room_in_last(self) -> int:
        """How far the last segment may grow: to the end of the aligned block it starts in."""
        start = self._starts[-1]
        return (start // self.block_size + 1) * self.block_size - (start + self.segments[-1].length)

    def _append_hole(self, length: int) -> None:
        if length <= 0:
            return
        if self.segments and self.segments[-1].is_hole:
            self.segments[-1].length += length
            return
        self._starts.append(self.size)
        self.segments.append(Segment(length))

    def _cut_hole(self, index: int, position: int, end: int) -> int:
        """Replace the hole at ``index`` by dirty zero blocks, aligned to multiples of the block
        size, covering ``[position, end)`` as far as the hole goes; answer the first one's index."""
        hole, start = self.segments[index], self._starts[index]
        hole_end = start + hole.length
        size = self.block_size
        first = max(start, position - position % size)
        last_end = min(hole_end, end)
        replacement: list[Segment] = []
        if first > start:
            replacement.append(Segment(first - start))
        cut = first
        while cut < last_end:
            boundary = min(hole_end, (cut // size + 1) * size)
            replacement.append(Segment(boundary - cut, buffer=bytearray(boundary - cut)))
            cut = boundary
        if cut < hole_end:
            replacement.append(Segment(hole_end - cut))
        self.segments[index:index + 1] = replacement
        self._reindex()
        return index + (1 if first > start else 0)
