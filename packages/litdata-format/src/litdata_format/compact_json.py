"""Reading LitData 0.2.76's ``json`` leaves: lists and dicts stored as one leaf.

LitData 0.2.76 lets users mark a list or dict as a single leaf; it stores the value in a
compact tagged binary form, or as JSON text for what that form does not cover. This
module only reads it (we write lists and dicts as pytree nodes, which every reader
understands). Layout, little-endian; a value starts with a one-byte tag:

====  =================  ==============================================================
tag   value              payload after the tag
====  =================  ==============================================================
0     any JSON value     u32 n, n bytes of UTF-8 JSON text
1     list of str        u32 count, then per string: u32 n, n bytes UTF-8
2     list of int        u32 count, count x i64
3     list of float      u32 count, count x f64
4     list of bool       u32 count, count bytes (0 or 1)
5     dict (str keys)    u32 count, then per entry: u32 n, key UTF-8, a tagged value
6     list of records    u32 rows, u32 k, k keys (u32 n + UTF-8), then per row and key a
                         record tag: 0x10 None, 0x11 str (u32 n + UTF-8), 0x12 i64,
                         0x13 f64, 0x14 bool (1 byte)
7     str                u32 n, UTF-8
8     int                i64
9     float              f64
10    bool               1 byte
11    None               nothing
====  =================  ==============================================================

An empty list is stored as tag 1 with count 0. A payload whose first byte is above 0x20
is plain JSON text (older writers).
"""

from __future__ import annotations

import json
import struct
from typing import Any

from .errors import FormatError

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise FormatError("a json leaf is truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def byte(self) -> int:
        return self.take(1)[0]

    def text(self) -> str:
        return self.take(self.u32()).decode("utf-8")


def _record_value(cursor: _Cursor) -> Any:
    kind = cursor.byte()
    if kind == 0x10:
        return None
    if kind == 0x11:
        return cursor.text()
    if kind == 0x12:
        return _I64.unpack(cursor.take(8))[0]
    if kind == 0x13:
        return _F64.unpack(cursor.take(8))[0]
    if kind == 0x14:
        return cursor.byte() != 0
    raise FormatError(f"a json leaf has an unknown record tag {kind:#x}")


def _value(cursor: _Cursor) -> Any:
    tag = cursor.byte()
    if tag == 0:
        return json.loads(cursor.take(cursor.u32()))
    if tag == 1:
        return [cursor.text() for _ in range(cursor.u32())]
    if tag == 2:
        count = cursor.u32()
        return list(struct.unpack(f"<{count}q", cursor.take(8 * count)))
    if tag == 3:
        count = cursor.u32()
        return list(struct.unpack(f"<{count}d", cursor.take(8 * count)))
    if tag == 4:
        return [b != 0 for b in cursor.take(cursor.u32())]
    if tag == 5:
        count = cursor.u32()
        result = {}
        for _ in range(count):
            key = cursor.text()
            result[key] = _value(cursor)
        return result
    if tag == 6:
        rows, width = cursor.u32(), cursor.u32()
        keys = [cursor.text() for _ in range(width)]
        return [{key: _record_value(cursor) for key in keys} for _ in range(rows)]
    if tag == 7:
        return cursor.text()
    if tag == 8:
        return _I64.unpack(cursor.take(8))[0]
    if tag == 9:
        return _F64.unpack(cursor.take(8))[0]
    if tag == 10:
        return cursor.byte() != 0
    if tag == 11:
        return None
    raise FormatError(f"a json leaf has an unknown tag {tag}")


def loads(data: bytes | memoryview) -> Any:
    """Decode one ``json`` leaf."""
    raw = bytes(data)
    if not raw or raw[0] > 0x20:
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"a json leaf is not valid JSON ({exc})") from None
    cursor = _Cursor(raw)
    value = _value(cursor)
    if cursor.pos != len(raw):
        raise FormatError("a json leaf has trailing bytes")
    return value
