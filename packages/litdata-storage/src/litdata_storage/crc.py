"""CRC-32 (zlib's) of an object assembled from parts that arrive in parallel.

A parallel download computes each part's CRC while its bytes stream in, then joins
them: ``crc32_combine(crc(A), crc(B), len(B)) == crc(A + B)``. Joining multiplies
``crc(A)`` by x^(8 len(B)) modulo the CRC polynomial (in the reflected bit order zlib
uses), which takes a few hundred integer operations instead of a second pass over the
bytes. The powers of x are cached per part length: a download has at most two.
"""

from __future__ import annotations

from functools import lru_cache

_POLY = 0xEDB88320  # the CRC-32 polynomial, bit-reflected
_X0 = 1 << 31  # the polynomial 1 (x^0) in reflected order


def _multiply(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC polynomial, both in reflected bit order."""
    product = 0
    bit = 1 << 31
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


def _squares() -> list[int]:
    """x^(2^k) modulo the polynomial, for k = 0..31 (x^(2^k) repeats with period 32 here)."""
    table, power = [], _X0 >> 1  # x^1
    for _ in range(32):
        table.append(power)
        power = _multiply(power, power)
    return table


_X_POW_2K = _squares()


@lru_cache(maxsize=64)
def _shift_by_bytes(length: int) -> int:
    """x^(8 * length) modulo the polynomial."""
    result, k, n = _X0, 3, length  # 8 * length = length << 3: start at x^(2^3)
    while n:
        if n & 1:
            result = _multiply(_X_POW_2K[k % 32], result)
        n >>= 1
        k += 1
    return result


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from ``crc1`` = crc32(A), ``crc2`` = crc32(B) and len(B)."""
    if length2 <= 0:
        return crc1
    return _multiply(_shift_by_bytes(length2), crc1 & 0xFFFFFFFF) ^ (crc2 & 0xFFFFFFFF)
