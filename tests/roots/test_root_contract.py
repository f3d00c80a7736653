"""The storage-root contract: every backend (local folder, Lustre path, S3 prefix) passes exactly
these tests, through the ``backend`` fixture (tests/roots/conftest.py, one fixture per backend)."""
from __future__ import annotations

import io
from typing import Any

import pytest

from data_node.scrubber import Scrubber
from dfs_common.blocks import checksum, chunk_digests
from dfs_common.errors import ChecksumMismatch, IllegalArgument, NotFound, TooLarge
from dfs_common.settings import DATA_NODE_CLASS, Settings

BLOCK, OTHER, THIRD = "00000000000000a1", "00000000000000b2", "00000000000000c3"
DATA = bytes(range(256)) * 600  # 153600 bytes: three digest chunks, the last one short
LIMIT = 64 * 1024 * 1024
BAD_IDS = ["../x", "..", "00a1", "00000000000000A1", "0000000000000000", "00000000000000a1/../../node-id",
           "00000000000000a1.meta", "000000000000000g", "00000000000000a1\0", "../../node-id", "/etc/passwd"]


class _Link:
    """Stands in for the name node link of a scrubber: records the bad blocks reported."""

    def __init__(self) -> None:
        self.bad: list[tuple[str, str]] = []

    def bad_block(self, node_id: str, block_id: str, reason: str) -> None:
        self.bad.append((block_id, reason))


class _Failing(io.RawIOBase):
    """A request body whose connection drops after ``good`` bytes."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__()
        self._data, self._good, self._at = data, good, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._at >= self._good:
            raise ConnectionResetError("the writer went away")
        size = self._good - self._at if size < 0 else min(size, self._good - self._at)
        self._at += size
        return self._data[self._at - size:self._at]


def _read_all(root: Any, block_id: str) -> bytes:
    file, length = root.open(block_id)
    with file:
        data = file.read()
    assert len(data) == length
    return data


class TestStorageRoot:
    def test_a_stored_block_reads_back_with_its_checksum_and_digests(self, backend: Any) -> None:
        root = backend.open()
        info = root.store(BLOCK, io.BytesIO(DATA), LIMIT, checksum(DATA))
        assert (info.block_id, info.length, info.checksum) == (BLOCK, len(DATA), checksum(DATA))
        assert root.info(BLOCK) == info and root.exists(BLOCK)
        assert _read_all(root, BLOCK) == DATA
        assert root.digests(BLOCK) == chunk_digests(DATA)

    def test_a_block_without_an_expected_checksum_gets_it_computed(self, backend: Any) -> None:
        root = backend.open()
        assert root.store(BLOCK, io.BytesIO(b"abc"), LIMIT, None).checksum == checksum(b"abc")
        assert root.store(OTHER, io.BytesIO(b""), LIMIT, None).length == 0
        assert _read_all(root, OTHER) == b"" and _read_all(root, BLOCK) == b"abc"

    def test_a_wrong_checksum_is_refused_and_nothing_is_kept(self, backend: Any) -> None:
        root = backend.open()
        before = backend.names()
        with pytest.raises(ChecksumMismatch):
            root.store(BLOCK, io.BytesIO(DATA), LIMIT, checksum(DATA + b"x"))
        assert not root.exists(BLOCK) and backend.names() == before
        with pytest.raises(NotFound):
            root.open(BLOCK)
        assert not backend.open().exists(BLOCK)

    def test_a_body_over_the_limit_is_refused_while_streaming(self, backend: Any) -> None:
        root = backend.open()
        before = backend.names()
        with pytest.raises(TooLarge):
            root.store(BLOCK, io.BytesIO(b"y" * 5000), 4096, None)
        assert not root.exists(BLOCK) and backend.names() == before

    def test_a_block_larger_than_an_upload_part_round_trips(self, backend: Any) -> None:
        big = bytes(range(251)) * (11 * 1024 * 1024 // 251)  # ~11 MiB: three 5 MiB parts on S3
        root = backend.open()
        root.store(BLOCK, io.BytesIO(big), LIMIT, checksum(big))
        assert backend.open().info(BLOCK).checksum == checksum(big)
        file, length = root.open(BLOCK)
        with file:
            file.seek(len(big) - 70000)
            assert file.read(70000) == big[-70000:]
        assert root.digests(BLOCK) == chunk_digests(big)
        root.store(OTHER, io.BytesIO(big), LIMIT, None)  # unknown checksum, several parts
        assert root.info(OTHER).checksum == checksum(big) and _read_all(root, OTHER) == big

    def test_ranged_reads_answer_exactly_the_range(self, backend: Any) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        for start, size in ((0, 1), (100, 200), (65536, 65536), (len(DATA) - 10, 10), (70000, 1 << 20)):
            file, _ = root.open(BLOCK)
            with file:
                file.seek(start)
                got = file.read(size)
            assert got == DATA[start:start + size], (start, size)

    def test_list_and_count_show_every_stored_block(self, backend: Any) -> None:
        root = backend.open()
        for block_id, data in ((BLOCK, DATA), (OTHER, b"two"), (THIRD, b"")):
            root.store(block_id, io.BytesIO(data), LIMIT, None)
        listed = {info.block_id: (info.length, info.checksum) for info in root.list()}
        assert listed == {BLOCK: (len(DATA), checksum(DATA)), OTHER: (3, checksum(b"two")), THIRD: (0, checksum(b""))}
        assert root.count() == 3

    def test_delete_removes_the_bytes(self, backend: Any) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        assert root.delete(BLOCK) is True
        assert root.delete(BLOCK) is False
        assert not root.exists(BLOCK) and root.count() == 0
        assert not any(BLOCK in name for name in backend.names())
        assert not backend.open().exists(BLOCK)

    def test_usage_counts_the_stored_bytes(self, backend: Any) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        root.store(OTHER, io.BytesIO(b"xy"), LIMIT, None)
        usage = root.usage()
        assert usage.used == len(DATA) + 2
        assert usage.capacity >= usage.remaining > 0
        root.delete(OTHER)
        assert root.usage().used == len(DATA)

    def test_quarantine_hides_a_replica_but_keeps_its_bytes(self, backend: Any) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        assert root.quarantine(BLOCK, "checksum mismatch (test)") is True
        assert not root.exists(BLOCK) and root.usage().used == 0
        with pytest.raises(NotFound):
            root.open(BLOCK)
        assert any(name.startswith(f"quarantine/{BLOCK}") for name in backend.names())
        assert root.quarantine(BLOCK, "again") is False
        assert not backend.open().exists(BLOCK)

    def test_a_restart_keeps_blocks_usage_and_node_id(self, backend: Any) -> None:
        first = backend.open()
        first.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        first.store(OTHER, io.BytesIO(b"second"), LIMIT, None)
        again = backend.open()
        assert again.node_id() == first.node_id() and len(first.node_id()) >= 8
        assert sorted(info.block_id for info in again.list()) == [BLOCK, OTHER]
        assert again.info(BLOCK) == first.info(BLOCK)
        assert again.usage().used == len(DATA) + 6
        assert _read_all(again, BLOCK) == DATA and again.digests(BLOCK) == chunk_digests(DATA)

    def test_a_half_written_block_never_appears_and_its_leftovers_are_swept(self, backend: Any) -> None:
        root = backend.open()
        root.store(OTHER, io.BytesIO(b"kept"), LIMIT, None)
        clean = backend.names()
        backend.leave_half_written(BLOCK, DATA)
        again = backend.open()
        assert not again.exists(BLOCK) and [info.block_id for info in again.list()] == [OTHER]
        assert backend.names() == clean
        assert getattr(backend, "uploads", list)() == []
        assert again.store(BLOCK, io.BytesIO(DATA), LIMIT, None).checksum == checksum(DATA)

    def test_a_writer_that_goes_away_mid_block_leaves_nothing(self, backend: Any) -> None:
        root = backend.open()
        before = backend.names()
        with pytest.raises(OSError):
            root.store(BLOCK, _Failing(DATA, 70000), LIMIT, checksum(DATA))
        assert not root.exists(BLOCK) and backend.names() == before
        assert not backend.open().exists(BLOCK)

    @pytest.mark.parametrize("bad", BAD_IDS)
    def test_ids_that_could_escape_the_root_are_refused(self, backend: Any, bad: str) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        before = backend.names()
        for attempt in (lambda: root.store(bad, io.BytesIO(b"x"), LIMIT, None), lambda: root.open(bad),
                        lambda: root.delete(bad), lambda: root.quarantine(bad, "x"), lambda: root.digests(bad)):
            with pytest.raises(IllegalArgument):
                attempt()
        assert root.info(bad) is None
        assert backend.names() == before

    def test_mark_verified_puts_a_block_last_in_the_scrub_order(self, backend: Any) -> None:
        root = backend.open()
        for block_id in (BLOCK, OTHER, THIRD):
            root.store(block_id, io.BytesIO(block_id.encode()), LIMIT, None)
        root.mark_verified(BLOCK)
        assert [info.block_id for info in root.list()] == [OTHER, THIRD, BLOCK]

    def test_audit_forgets_a_block_removed_behind_its_back(self, backend: Any) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        root.store(OTHER, io.BytesIO(b"stays"), LIMIT, None)
        backend.remove(BLOCK)
        assert root.audit() == [BLOCK]
        assert [info.block_id for info in root.list()] == [OTHER] and root.usage().used == 5

    def test_the_scrubber_finds_a_flipped_byte_and_quarantines_it(self, backend: Any) -> None:
        root = backend.open()
        root.store(BLOCK, io.BytesIO(DATA), LIMIT, None)
        root.store(OTHER, io.BytesIO(b"fine"), LIMIT, None)
        backend.corrupt(BLOCK)
        link = _Link()
        settings = Settings(node_class=DATA_NODE_CLASS, scrub_rate=0)
        assert Scrubber(settings, root, link).scrub_once(throttle=False) == [BLOCK]  # type: ignore[arg-type]
        assert [block for block, _ in link.bad] == [BLOCK]
        assert not root.exists(BLOCK) and root.exists(OTHER)
        assert any(name.startswith(f"quarantine/{BLOCK}") for name in backend.names())

    def test_a_healthy_root_says_so(self, backend: Any) -> None:
        root = backend.open()
        assert root.check_health() is True
        assert root.kind == backend.name
