"""CRC32C and its composition: the per-block digest behind HDFS's ``COMPOSITE-CRC32C`` file checksum.

A block's CRC32C (Castagnoli, reflected polynomial ``0x82F63B78``, initial value and final xor all
ones: the ``crc32c`` library's, the one iSCSI, ext4 and HDFS's ``CRC32C`` use) is computed once,
when a data node receives the block, and kept in the name node's block record. The file's checksum
is then the CRC32C of the whole file's bytes, *composed* from those per-block values and the block
lengths, without reading a byte: that is what makes it comparable with an HDFS cluster's
``dfs.checksum.combine.mode=COMPOSITE_CRC`` checksum whatever the block sizes on either side.

Composition: for byte strings ``A`` and ``B``,

    crc(A + B) = crc(A) · x^(8·len(B))  xor  crc(B)        (in GF(2)[x] modulo the polynomial)

(the all-ones initial value and final xor cancel out between the two halves). The multiplication
works on the reflected representation the CRC itself uses: the top bit of the 32-bit value is the
coefficient of x^0, the bottom bit that of x^31, and the x^32 term of the modulus is implicit.
"""
from __future__ import annotations

from collections.abc import Iterable

import crc32c as _crc32c

from .errors import IllegalArgument

POLYNOMIAL = 0x82F63B78  # Castagnoli, reflected
_ONE = 0x80000000  # the polynomial 1 (x^0) in the reflected representation
_MASK = 0xFFFFFFFF
_HEX = frozenset("0123456789abcdef")

# WebHDFS GETFILECHECKSUM's choice of form, named after HDFS's client setting
# ``dfs.checksum.combine.mode`` (HDFS's own WebHDFS has no parameter: its data nodes always answer
# MD5MD5CRC). The default stays MD5MD5CRC, as in HDFS.
COMBINE_MODE_PARAM = "checksum.combine.mode"
MD5MD5CRC = "MD5MD5CRC"
COMPOSITE_CRC = "COMPOSITE_CRC"


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32C of ``data``; ``value`` continues an earlier CRC (``crc32c(b, crc32c(a)) == crc32c(a + b)``)."""
    return _crc32c.crc32c(data, value)


def _multiply(a: int, b: int) -> int:
    """``a · b`` modulo the polynomial, both in the reflected representation."""
    product = 0
    term = _ONE
    while term and b:
        if b & term:
            product ^= a
            b &= ~term
        a = (a >> 1) ^ POLYNOMIAL if a & 1 else a >> 1  # a · x
        term >>= 1
    return product


def _shift(length: int) -> int:
    """x^(8·length) modulo the polynomial, by squaring: O(log length) multiplications."""
    if length < 0:
        raise ValueError(f"A length cannot be negative: {length}")
    result, power = _ONE, _ONE >> 8  # power starts at x^8: one byte
    while length:
        if length & 1:
            result = _multiply(result, power)
        power = _multiply(power, power)
        length >>= 1
    return result


def combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC32C of ``A + B`` from ``crc32c(A)``, ``crc32c(B)`` and ``len(B)`` (bytes)."""
    return (_multiply(crc_a & _MASK, _shift(length_b)) ^ crc_b) & _MASK


def compose(parts: Iterable[tuple[int, int]]) -> int:
    """CRC32C of the concatenation of pieces given as ``(crc32c, length)``, in order."""
    total = 0
    for crc, length in parts:
        total = combine(total, crc, length)
    return total


def zeros(length: int) -> int:
    """CRC32C of ``length`` zero bytes (a hole of a sparse file), without making them."""
    if length < 0:
        raise ValueError(f"A length cannot be negative: {length}")
    result = 0  # crc32c of the empty string
    piece, piece_size = crc32c(b"\0"), 1  # crc of 2^k zero bytes, doubled each round
    while length:
        if length & 1:
            result = combine(result, piece, piece_size)
        piece = combine(piece, piece, piece_size)
        piece_size *= 2
        length >>= 1
    return result


def to_hex(crc: int) -> str:
    """The 4 bytes of a CRC, big-endian, in hex: how HDFS spells a ``COMPOSITE-CRC32C`` checksum."""
    return (crc & _MASK).to_bytes(4, "big").hex()


def parse_hex(text: object) -> int | None:
    """A CRC from ``to_hex``'s spelling; None for anything else (an absent or garbled value)."""
    if not isinstance(text, str) or len(text) != 8 or not all(c in _HEX for c in text):
        return None
    return int(text, 16)


def combine_mode(value: str | None) -> str:
    """The ``checksum.combine.mode`` parameter's value: MD5MD5CRC (the default) or COMPOSITE_CRC,
    in any case; anything else is IllegalArgument (HDFS's CRC32-only mode included)."""
    mode = (value or MD5MD5CRC).strip().upper()
    if mode not in (MD5MD5CRC, COMPOSITE_CRC):
        raise IllegalArgument(f'Invalid value for webhdfs parameter "{COMBINE_MODE_PARAM}": {value!r} '
                              f"(one of {MD5MD5CRC}, {COMPOSITE_CRC})")
    return mode
