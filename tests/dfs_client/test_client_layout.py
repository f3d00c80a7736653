"""The layout bookkeeping alone (no network): any sequence of writes and truncates leaves segments
whose bytes equal a plain bytearray model, and files written by this client stay block-aligned."""
from __future__ import annotations

import itertools
from concurrent.futures import Future

from hypothesis import given, settings
from hypothesis import strategies as st

from dfs_client.layout import Layout, NeedBlocks, Segment
from dfs_common.blocks import checksum

BLOCK = 16


class Store:
    """Ships segments synchronously into a dict, standing in for the data nodes."""

    def __init__(self) -> None:
        self.blocks: dict[str, bytes] = {}
        self.ids = itertools.count(1)

    def ship(self, layout: Layout, segment: Segment) -> None:
        future: Future = Future()
        data = bytes(layout.start_shipping(segment, future))
        block_id = f"{next(self.ids):016x}"
        self.blocks[block_id] = data
        future.set_result({"blockId": block_id, "length": len(data), "checksum": checksum(data)})
        assert layout.finish_shipping(segment, future)

    def edit(self, layout: Layout, change) -> list[Segment]:  # type: ignore[no-untyped-def]
        contents: dict[str, bytes] = {}
        while True:
            try:
                return change(contents) or []
            except NeedBlocks as need:
                assert need.segments
                for segment in need.segments:
                    contents[segment.block_id] = self.blocks[segment.block_id]

    def read(self, layout: Layout) -> bytes:
        out = bytearray()
        for segment in layout.segments:
            if segment.buffer is not None:
                assert len(segment.buffer) == segment.length
                out += segment.buffer
            elif segment.location is not None:
                out += self.blocks[segment.block_id]
            else:
                out += bytes(segment.length)
        return bytes(out)


operations = st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(0, 120), st.binary(min_size=1, max_size=50)),
    st.tuples(st.just("append"), st.just(0), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("truncate"), st.integers(0, 150), st.just(b"")),
    st.tuples(st.just("flush"), st.just(0), st.just(b"")),
), max_size=25)


@settings(max_examples=400, deadline=None)
@given(operations, st.booleans())
def test_layout_matches_a_bytearray_model(ops: list, ship_completed: bool) -> None:
    layout, store, model = Layout(BLOCK, [], 0), Store(), bytearray()
    for kind, offset, data in ops:
        if kind in ("write", "append"):
            at = len(model) if kind == "append" else offset
            completed = store.edit(layout, lambda c: layout.write(at, memoryview(data), c))
            if len(model) < at:
                model += bytes(at - len(model))
            model[at:at + len(data)] = data
            if ship_completed:
                for segment in completed:
                    store.ship(layout, segment)
        elif kind == "truncate":
            store.edit(layout, lambda c: layout.truncate(offset, c))
            model = model[:offset] + bytes(max(0, offset - len(model)))
        else:
            for segment in list(layout.dirty):
                store.ship(layout, segment)
            assert sum(b["length"] for b in layout.commit_blocks()) == len(model)
        assert layout.size == len(model)
        assert store.read(layout) == model
    # what this client writes is block-aligned: every data block but the last starts at k*BLOCK
    position = 0
    for segment in layout.segments:
        if not segment.is_hole:
            assert segment.length <= BLOCK
            assert position // BLOCK == (position + segment.length - 1) // BLOCK
        position += segment.length


def test_reopened_irregular_layout_keeps_block_boundaries() -> None:
    store = Store()
    locations = []
    offset = 0
    for length in (5, 40, 3):
        block_id = f"{next(store.ids):016x}"
        store.blocks[block_id] = bytes([length]) * length
        locations.append({"blockId": block_id, "length": length, "offset": offset, "checksum": "x"})
        offset += length
    layout = Layout(BLOCK, locations, offset)
    store.edit(layout, lambda c: layout.write(10, memoryview(b"abc"), c))
    assert [s.length for s in layout.segments] == [5, 40, 3]
    store.edit(layout, lambda c: layout.write(48, memoryview(b"z" * 30), c))
    # the last block (45..48) already ends on a block boundary: new blocks follow, aligned
    assert [s.length for s in layout.segments] == [5, 40, 3, 16, 14]
    assert store.read(layout)[10:13] == b"abc"
