"""The elements of a ``{"records": [...]}`` JSON document (Azure's storage layout for NSG, VNet and firewall
logs), each with its byte offset, read at the speed of orjson.

A small compiled scanner (numba) walks the bytes of the ``records`` array once and finds where each element
starts and ends, tracking strings and escapes; each element is then decoded by orjson, the fastest well-kept
JSON parser for Python (wheels for every platform, strict RFC 8259). Memory: one block plus the element that
runs across its end.

The fast path vouches only for what it fully understands. At the first thing it does not (a syntax error, a
value orjson refuses such as bytes that are not UTF-8, an integer too long to keep exact, an element over
``limits.MAX_JSON_RECORD_BYTES``, a file that ends inside an element, commas out of place, a document that
does not begin ``{"records": [``), it hands the rest of the file, from that element on, to the careful stream
of ``jsoncareful``, which decides exactly as a record-by-record reader does. So the elements and problems
reported are the same as the careful stream's alone, only faster on clean files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numba
import numpy as np
import orjson

from ...base import limits
from .jsoncareful import CarefulArrayStream, JsonElement

READ_BYTES = 4 << 20
_HEAD = re.compile(rb'(?:\xef\xbb\xbf)?[ \t\r\n]*\{[ \t\r\n]*"records"[ \t\r\n]*:[ \t\r\n]*\[')
_LONGEST_EXACT_NUMBER = 18  # digits: orjson turns an integer outside 64 bits into a float, 19 digits below -2**63 already
# Nesting levels an element may reach on the fast path. orjson decodes up to 1024 levels, Python's decoder fails
# (a RecursionError, made ``invalid_json`` by ``jsondecode``) somewhere below 1000, depending on its stack: a
# deeper element goes to the careful stream, which decides as Python does. Real records nest about 6 deep.
_DEEPEST_FAST = 64

# scanner states between elements, and how a scan stops
_AFTER_OPEN, _AFTER_COMMA, _AFTER_VALUE = 0, 1, 2
_MORE, _CLOSED, _HAND_OVER = 0, 1, 2


@dataclass
class ElementBlock:
    """Consecutive clean elements of the ``records`` array found in one read block: element ``j`` is
    ``data[starts[j]:ends[j]]`` at byte offset ``base + starts[j]`` of the file, numbered ``first + j``, and
    decoded as ``values[j]``."""

    data: bytes
    base: int
    starts: np.ndarray
    ends: np.ndarray
    first: int
    values: list  # None for an element the format vouched for (it read the element's bytes itself)
    quotes: np.ndarray  # where every quote of ``data`` is, when it holds no backslash (else empty): see ``quote_index``
    vouched: np.ndarray | None = None  # which elements the format's ``vouch`` read itself
    extra: Any = None  # what ``vouch`` took from them

    def __len__(self) -> int:
        return len(self.values)

    def element(self, j: int) -> JsonElement:
        if self.vouched is not None and self.vouched[j]:
            raise ValueError("a vouched element was read by its format, not decoded")
        value, offset, number = self.values[j], self.base + int(self.starts[j]), self.first + j
        if isinstance(value, dict):
            return JsonElement(offset, number, record=value)
        return JsonElement(offset, number, reason="invalid_record", text=json.dumps(value)[:2000])


def array_elements(stream: BinaryIO, max_record: int | None = None,
                   careful: type[CarefulArrayStream] = CarefulArrayStream) -> Iterator[JsonElement]:
    """Every element of the document's ``records`` array in order (numbered from 1, with its byte offset), or
    the problem met in its place; see ``jsoncareful`` for the problems (and ``array_blocks`` for ``careful``)."""
    for item in array_blocks(stream, max_record, careful=careful):
        if isinstance(item, ElementBlock):
            for j in range(len(item)):
                yield item.element(j)
        else:
            yield item


Vouch = Callable[[bytes, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, Any]]


def array_blocks(stream: BinaryIO, max_record: int | None = None, vouch: Vouch | None = None,
                 careful: type[CarefulArrayStream] = CarefulArrayStream) -> Iterator[ElementBlock | JsonElement]:
    """``array_elements`` a block at a time: runs of clean elements as ``ElementBlock``s (their bytes and spans
    too, for a format that reads the bytes itself), and from the first element the fast path does not vouch
    for, the careful stream's ``JsonElement``s.

    ``vouch(data, buf, quotes, starts, ends)``: a format that reads plain elements from their bytes itself says
    which it read, having checked them to be valid JSON, and what it took (``ElementBlock.vouched``/``extra``);
    only the others are decoded.

    ``careful``: the stream the rest is handed to; ``jsondocuments.CarefulDocumentStream`` for a file that may
    hold more than one document."""
    limit = limits.MAX_JSON_RECORD_BYTES if max_record is None else max_record
    data = _read(stream)
    head = _HEAD.match(data)
    if head is None:
        yield from careful(stream, limit, preload=data).events()
        return
    base, pos, state, number = 0, head.end(), _AFTER_OPEN, 0
    while True:
        starts = np.empty(len(data) // 2 + 2, dtype=np.int64)
        ends = np.empty_like(starts)
        buf = np.frombuffer(data, dtype=np.uint8)
        quotes = quote_index(buf)
        count, stop, state, status = _scan(buf, quotes, pos, state, starts, ends, limit)
        vouched, extra = vouch(data, buf, quotes, starts[:count], ends[:count]) if vouch and count else (None, None)
        values, bad = _decode(data, starts[:count], ends[:count], vouched)
        if bad is not None and vouched is not None:  # a part of the block only: decode it whole, plainly
            vouched, extra = None, None
            values = _decode(data, starts[:len(values)], ends[:len(values)], None)[0]
        if values:
            yield ElementBlock(data, base, starts[:len(values)], ends[:len(values)], number + 1, values, quotes,
                               vouched, extra)
            number += len(values)
        if bad is not None:
            yield from careful(stream, limit, preload=data[bad:], base=base + bad).resume(number)
            return
        if status == _CLOSED:
            yield from careful(stream, limit, preload=data[stop:], base=base + stop).after_records()
            return
        if status == _HAND_OVER:
            yield from careful(stream, limit, preload=data[stop:], base=base + stop).resume(number)
            return
        more = _read(stream)
        if not more or len(data) - stop > limit:  # the file ends, or an element runs past the limit
            yield from careful(stream, limit, preload=data[stop:] + more, base=base + stop).resume(number)
            return
        data, base, pos = data[stop:] + more, base + stop, 0


def _read(stream: BinaryIO) -> bytes:
    """Up to ``READ_BYTES`` bytes, without allocating that much for a small file (``read1``: what one read gives;
    a 4 MiB ``read`` of a 70 KB blob cost more than decoding it)."""
    return stream.read1(READ_BYTES) if hasattr(stream, "read1") else stream.read(READ_BYTES)


def quote_index(buf: np.ndarray) -> np.ndarray:
    """Where every ``"`` of a block is, when the block holds no backslash: every quote then opens or closes a string,
    and a scanner skips a string by looking its closing quote up (``closing_quote``) instead of reading it byte by
    byte (a byte loop runs at ~300 MB/s, these two vectorized passes at GB/s). A block with a backslash gets an
    empty index: byte by byte."""
    if (buf == 92).any():
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(buf == 34)


def _decode(data: bytes, starts: np.ndarray, ends: np.ndarray, skip: np.ndarray | None) -> tuple[list, int | None]:
    """The elements decoded (None for those in ``skip``), in one orjson call when they all decode (the usual case);
    else those before the first that does not, and where that one starts."""
    if not len(starts):
        return [], None
    if skip is not None:
        values: list = []
        view = memoryview(data)
        for start, end, skipped in zip(starts.tolist(), ends.tolist(), skip.tolist()):
            if skipped:
                values.append(None)
                continue
            try:
                values.append(orjson.loads(view[start:end]))
            except orjson.JSONDecodeError:
                return values, start
        return values, None
    try:
        return orjson.loads(b"[" + data[int(starts[0]):int(ends[-1])] + b"]"), None
    except orjson.JSONDecodeError:
        pass
    view, values = memoryview(data), []
    for start, end in zip(starts.tolist(), ends.tolist()):
        try:
            values.append(orjson.loads(view[start:end]))
        except orjson.JSONDecodeError:
            return values, start
    return values, None  # each decodes alone (the whole may nest one level too deep for orjson)


@numba.njit(cache=True, nogil=True)
def closing_quote(quotes, cursor, i):  # pragma: no cover - compiled
    """Where the string opening at the quote ``buf[i]`` closes (-1: past the block), in a block whose ``quotes``
    index holds every quote. A scan meets strings in order, so ``cursor[0]`` (the index of the next opening quote
    it expects) finds it without a search; a scan that jumps falls back to a binary search."""
    k = cursor[0]
    if k >= len(quotes) or quotes[k] != i:
        k = np.searchsorted(quotes, i)
    cursor[0] = k + 2
    return quotes[k + 1] if k + 1 < len(quotes) else -1


@numba.njit(cache=True, nogil=True)
def _scan(buf, quotes, pos, state, starts, ends, limit):  # pragma: no cover - compiled
    """Complete elements of a JSON array from ``buf[pos]`` (between elements, in ``state``).

    Returns (elements found, where the scan stopped, the state there, why it stopped): ``_MORE`` (the buffer
    ends; ``stop`` is the start of the unfinished element, or the end), ``_CLOSED`` (``stop`` is just after
    the array's ``]``), ``_HAND_OVER`` (``stop`` is the start of what the careful stream must decide)."""
    n = len(buf)
    count = 0
    i = pos
    cursor = np.zeros(1, dtype=np.int64)
    while True:
        while i < n and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
            i += 1
        if i >= n:
            return count, i, state, _MORE
        c = buf[i]
        if c == 93:  # ]
            if state == _AFTER_COMMA:
                return count, i, state, _HAND_OVER
            return count, i + 1, state, _CLOSED
        if c == 44:  # ,
            if state != _AFTER_VALUE:
                return count, i, state, _HAND_OVER
            state = _AFTER_COMMA
            i += 1
            continue
        if state == _AFTER_VALUE:
            return count, i, state, _HAND_OVER
        start = i
        end = _value_end(buf, quotes, cursor, i, n, limit)
        if end == -1:  # runs past the buffer: read more
            return count, start, state, _MORE
        if end < 0:
            return count, start, state, _HAND_OVER
        starts[count] = start
        ends[count] = end
        count += 1
        state = _AFTER_VALUE
        i = end


@numba.njit(cache=True, nogil=True)
def _value_end(buf, quotes, cursor, i, n, limit):  # pragma: no cover - compiled
    """End (exclusive) of the JSON value starting at ``buf[i]``; -1 when the buffer ends first, -2 when the
    fast path will not vouch for it (a long digit run, nesting deeper than ``_DEEPEST_FAST``, over ``limit``
    bytes, not a value's first byte)."""
    start = i
    c = buf[i]
    if c != 123 and c != 91 and c != 34 and c != 45 and not (48 <= c <= 57) and c != 116 and c != 102 and c != 110:
        return -2
    depth = 0
    digits = 0
    stop = min(n, start + limit + 1)  # past the limit: not vouched for
    while i < stop:
        c = buf[i]
        if c == 34:  # a string: only a quote or a backslash matters until it ends
            if len(quotes):
                i = closing_quote(quotes, cursor, i)
                if i < 0:
                    i = stop
            else:
                i += 1
                while i < stop:
                    c = buf[i]
                    if c == 34:
                        break
                    i += 2 if c == 92 else 1
            if i >= stop:
                break
            if depth == 0:
                return i + 1
            i += 1
            digits = 0
            continue
        if 48 <= c <= 57:
            digits += 1
            if digits > _LONGEST_EXACT_NUMBER:
                return -2
        else:
            digits = 0
        if c == 123 or c == 91:
            depth += 1
            if depth > _DEEPEST_FAST:
                return -2
        elif c == 125 or c == 93:
            if depth == 0:  # the end of the array holding a bare number or literal
                return i
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and (c == 44 or c == 32 or c == 9 or c == 10 or c == 13):
            return i  # a bare number or literal ends
        i += 1
    return -2 if i - start > limit else -1
