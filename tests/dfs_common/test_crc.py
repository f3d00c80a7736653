"""dfs_common.crc: composing CRC32Cs gives the CRC32C of the concatenation, as HDFS's CrcUtil does."""
from __future__ import annotations

import crc32c as reference
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfs_common import crc


def test_crc32c_is_the_castagnoli_check_value() -> None:
    assert crc.crc32c(b"123456789") == 0xE3069283  # the catalogued check value of CRC-32C
    assert crc.to_hex(crc.crc32c(b"123456789")) == "e3069283"  # big-endian, as HDFS's getBytes()


@given(st.binary(max_size=3000), st.binary(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_combine_is_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc.combine(reference.crc32c(a), reference.crc32c(b), len(b)) == reference.crc32c(a + b)


@given(st.lists(st.binary(max_size=700), max_size=12))
@settings(max_examples=200, deadline=None)
def test_compose_of_many_pieces(pieces: list[bytes]) -> None:
    parts = [(reference.crc32c(piece), len(piece)) for piece in pieces]
    assert crc.compose(parts) == reference.crc32c(b"".join(pieces))


@pytest.mark.parametrize("length", [0, 1, 2, 3, 511, 512, 4096, 65537, (1 << 20) + 3])
def test_zeros_without_making_them(length: int) -> None:
    assert crc.zeros(length) == reference.crc32c(bytes(length))


def test_combine_with_large_lengths_is_cheap_and_consistent() -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    one = reference.crc32c(block)
    # a 128 GiB file of that block repeated: composing by lengths never touches the bytes
    doubled = crc.combine(one, one, len(block))
    assert doubled == reference.crc32c(block * 2)
    assert crc.combine(crc.zeros(1 << 37), 0, 0) == crc.zeros(1 << 37)


def test_hex_round_trip_and_garbage() -> None:
    assert crc.parse_hex(crc.to_hex(0x0000ABCD)) == 0x0000ABCD
    for bad in (None, 7, "", "abc", "0x12345", "ABCDEF01", "+1234567", "zzzzzzzz"):
        assert crc.parse_hex(bad) is None
    with pytest.raises(ValueError):
        crc.combine(1, 2, -1)
