"""crc32_combine joins the CRCs of parts into the CRC of the whole, as zlib computes it."""

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from litdata_storage.crc import crc32_combine


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_combining_two_parts_equals_the_crc_of_both(a, b):
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_many_large_parts_combine_in_order():
    blob = bytes(range(256)) * (3 * 1024 * 1024 // 256) + b"tail"
    part = 1024 * 1024 + 7
    crc = 0
    for start in range(0, len(blob), part):
        piece = blob[start : start + part]
        crc = crc32_combine(crc, zlib.crc32(piece), len(piece))
    assert crc == zlib.crc32(blob)


def test_an_empty_second_part_changes_nothing():
    assert crc32_combine(0x12345678, 0, 0) == 0x12345678
