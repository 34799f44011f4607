"""Azure Firewall JSON lines read straight from a block's bytes: a compiled scanner (numba) that checks each line
is JSON and takes out the twelve fields the reader uses, without building Python objects.

A storage-account record (``{"time", "resourceId", "category", "operationName", "properties": {...}}``) is small
and regular, and decoding it into dictionaries and then picking twelve values out of them in Python costs two to
three times what decoding alone costs. The scanner walks each line once, checks its JSON grammar as strictly as
orjson does (RFC 8259), and notes where each field's value lies; a block's text fields then become Arrow string
arrays in one copy each, its ports one integer array each.

It vouches for a line, and says so per line, only when the line is what ``azfw_records.fields_of`` reads with plain
look-ups: one object whose keys are all documented storage keys (``STORAGE_KEYS``), each once, with a
``properties`` object whose keys are all documented property keys (``PROPERTY_KEYS``), each once; no escape
sequence in any key or in the value of a field read; text fields holding a string or ``null``, ports an integer
(at most 18 digits) or ``null``; only ASCII bytes; nesting at most ``_MAX_DEPTH`` deep; numbers orjson reads
finitely (at most 40 characters, an exponent of at most two digits); ``\\u`` escapes outside the surrogate range.
Any other line goes the decoded way (orjson, then :mod:`json` for what orjson refuses), which decides what it is;
the property tests hold the scanner to that way on random lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa

from .azfw_records import FIELDS, PROPERTY_KEYS, STORAGE_KEYS, TABLE_COLUMNS

_MAX_DEPTH = 32  # nesting of a value the scanner skips; deeper lines go the decoded way
_PROPERTIES = -2  # the key table's mark for the ``properties`` member
ABSENT, NULL, TEXT, INTEGER = 0, 1, 2, 3  # what a field holds on a vouched line
PORTS = (FIELDS.index("sourceport"), FIELDS.index("destinationport"))
TEXT_FIELDS = tuple(k for k in range(len(FIELDS)) if k not in PORTS)


def _table(keys: list[str], fields: dict[str, int]) -> tuple[np.ndarray, ...]:
    """Keys as one byte array with their starts, the field each one is (-1: a key whose value is skipped), and
    a look-up by length and first byte: ``first[len, byte]`` is the first such key, ``chain[k]`` the next."""
    data = b"".join(k.encode("ascii") for k in keys)
    starts = np.cumsum([0] + [len(k) for k in keys]).astype(np.int64)
    first = np.full((_LONGEST_KEY + 1, 128), -1, dtype=np.int64)
    chain = np.full(len(keys), -1, dtype=np.int64)
    for k in reversed(range(len(keys))):
        chain[k] = first[len(keys[k]), ord(keys[k][0])]
        first[len(keys[k]), ord(keys[k][0])] = k
    fields_of_keys = np.array([fields.get(k, -1) for k in keys], dtype=np.int64)
    return np.frombuffer(data, dtype=np.uint8), starts, fields_of_keys, first, chain


_LONGEST_KEY = 31
_TOP = _table(sorted(STORAGE_KEYS), {"category": 0, "operationName": 1, "time": 2, "properties": _PROPERTIES})
_PROPS = _table(sorted(PROPERTY_KEYS), {"msg": 3, **{k: 4 + j for j, k in enumerate(TABLE_COLUMNS)}})
_PORT_SLOT = np.full(len(FIELDS), -1, dtype=np.int64)
_PORT_SLOT[list(PORTS)] = np.arange(len(PORTS))


@dataclass
class Scanned:
    """A block's lines as the scanner saw them: which it vouches for (``ok``) and, for those in line order, the
    field columns (``FIELDS`` order: Arrow strings, ports as Arrow int64)."""

    ok: np.ndarray
    columns: list[pa.Array]


def scan_block(data: bytes, starts: np.ndarray) -> Scanned:
    """Scan the lines ``data[starts[j]:starts[j + 1]]`` (``starts``: the block's line starts plus its end)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    n = len(starts) - 1
    ok = np.zeros(n, dtype=np.bool_)
    kinds = np.zeros((len(FIELDS), n), dtype=np.int8)  # field by field: each a contiguous row
    begins = np.zeros((len(FIELDS), n), dtype=np.int64)
    ends = np.zeros((len(FIELDS), n), dtype=np.int64)
    numbers = np.zeros((len(PORTS), n), dtype=np.int64)
    _scan_lines(buf, starts, ok, kinds, begins, ends, numbers, *_TOP, *_PROPS, _PORT_SLOT)
    n_ok = int(ok.sum())
    columns: list[pa.Array] = []
    for f in range(len(FIELDS)):
        kind = kinds[f]
        if f in PORTS:
            values = numbers[PORTS.index(f)]
            columns.append(pa.array(values[ok], pa.int64(), mask=kind[ok] != INTEGER))
            continue
        offsets, text, present = _gather(buf, begins[f], ends[f], kind, ok, n_ok)
        bitmap = pa.py_buffer(np.packbits(present, bitorder="little"))
        columns.append(pa.StringArray.from_buffers(n_ok, pa.py_buffer(offsets), pa.py_buffer(text), bitmap,
                                                   n_ok - int(present.sum())))
    return Scanned(ok, columns)


def merge_columns(scanned: Scanned, others: np.ndarray, fields: list[tuple]) -> list:
    """The block's field columns in line order: the scanned lines' columns with the fields of the lines at
    ``others`` (``fields_of`` of their decoded records) put in their places. A column stays Arrow when the
    others' values are of its type (text or null; integers or null for ports), else becomes a Python list, as
    the decoded way would give it."""
    n = len(scanned.ok)
    order = np.empty(n, dtype=np.int64)  # line -> its row in [scanned rows..., other rows...]
    order[np.flatnonzero(scanned.ok)] = np.arange(n - len(others))
    order[others] = np.arange(n - len(others), n)
    take = pa.array(order)
    merged: list = []
    for f, column in enumerate(scanned.columns):
        values = [v[f] for v in fields]
        port = f in PORTS
        kinds = set(map(type, values)) - {type(None)}
        if kinds <= ({int} if port else {str}):
            try:
                extra = pa.array(values, pa.int64() if port else pa.string())
            except OverflowError:  # an integer Arrow cannot hold: the list keeps it as it is
                pass
            else:
                merged.append(pa.concat_arrays([column, extra]).take(take))
                continue
        everything = column.to_pylist() + values
        merged.append([everything[k] for k in order.tolist()])
    return merged


@numba.njit(cache=True, nogil=True)
def _gather(buf, starts, ends, kinds, ok, n_ok):  # pragma: no cover - compiled
    """The text values of the vouched lines as one Arrow string buffer: (int32 offsets, bytes, present)."""
    offsets = np.zeros(n_ok + 1, dtype=np.int32)
    present = np.zeros(n_ok, dtype=np.bool_)
    total = 0
    r = 0
    for j in range(len(ok)):
        if ok[j]:
            if kinds[j] == TEXT:
                present[r] = True
                total += ends[j] - starts[j]
            r += 1
            offsets[r] = total
    text = np.empty(total, dtype=np.uint8)
    at = 0
    for j in range(len(ok)):
        if ok[j] and kinds[j] == TEXT:
            size = ends[j] - starts[j]
            text[at:at + size] = buf[starts[j]:ends[j]]
            at += size
    return offsets, text, present


@numba.njit(cache=True, nogil=True)
def _scan_lines(buf, starts, ok, kinds, begins, ends, numbers, top_keys, top_starts, top_fields, top_first, top_chain,
                prop_keys, prop_starts, prop_fields, prop_first, prop_chain, port_slot):  # pragma: no cover - compiled
    stack = np.zeros(_MAX_DEPTH, dtype=np.uint8)
    for j in range(len(starts) - 1):
        ok[j] = _record(buf, starts[j], starts[j + 1], j, kinds, begins, ends, numbers, top_keys, top_starts,
                        top_fields, top_first, top_chain, prop_keys, prop_starts, prop_fields, prop_first, prop_chain,
                        port_slot, stack)


@numba.njit(cache=True, nogil=True)
def _ws(buf, i, end):  # pragma: no cover - compiled
    while i < end and (buf[i] == 32 or buf[i] == 9 or buf[i] == 10 or buf[i] == 13):
        i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _hex(c):  # pragma: no cover - compiled
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@numba.njit(cache=True, nogil=True)
def _string(buf, i, end):  # pragma: no cover - compiled
    """The string opening at ``i``: (index after it or -1 when not vouched for, whether it holds an escape)."""
    i += 1
    escaped = False
    while i < end:
        c = buf[i]
        if c == 34:
            return i + 1, escaped
        if c < 32 or c > 127:
            return -1, escaped
        if c == 92:
            escaped = True
            if i + 1 >= end:
                return -1, escaped
            e = buf[i + 1]
            if e == 117:  # \uXXXX, outside the surrogates (orjson refuses a lone one)
                if i + 5 >= end:
                    return -1, escaped
                code = 0
                for k in range(i + 2, i + 6):
                    h = _hex(buf[k])
                    if h < 0:
                        return -1, escaped
                    code = code * 16 + h
                if 0xD800 <= code <= 0xDFFF:
                    return -1, escaped
                i += 6
                continue
            if not (e == 34 or e == 92 or e == 47 or e == 98 or e == 102 or e == 110 or e == 114 or e == 116):
                return -1, escaped
            i += 2
            continue
        i += 1
    return -1, escaped


@numba.njit(cache=True, nogil=True)
def _number(buf, i, end):  # pragma: no cover - compiled
    """The number at ``i``: (index after it or -1, whether it is an integer kept exactly, its value)."""
    start = i
    negative = i < end and buf[i] == 45
    if negative:
        i += 1
    if i >= end or not (48 <= buf[i] <= 57):
        return -1, False, 0
    value = 0
    digits = 0
    if buf[i] == 48:
        i += 1
        digits = 1
    else:
        while i < end and 48 <= buf[i] <= 57:
            if digits < 18:
                value = value * 10 + (buf[i] - 48)
            digits += 1
            i += 1
    integer = digits <= 18
    if i < end and buf[i] == 46:  # fraction
        i += 1
        if i >= end or not (48 <= buf[i] <= 57):
            return -1, False, 0
        while i < end and 48 <= buf[i] <= 57:
            i += 1
        integer = False
    if i < end and (buf[i] == 101 or buf[i] == 69):  # exponent, at most two digits (orjson refuses infinity)
        i += 1
        if i < end and (buf[i] == 43 or buf[i] == 45):
            i += 1
        e = i
        while i < end and 48 <= buf[i] <= 57:
            i += 1
        if i == e or i - e > 2:
            return -1, False, 0
        integer = False
    if i - start > 40:
        return -1, False, 0
    return i, integer, -value if negative else value


@numba.njit(cache=True, nogil=True)
def _literal(buf, i, end):  # pragma: no cover - compiled
    """Index after ``true`` / ``false`` / ``null`` at ``i``, or -1."""
    c = buf[i]
    if c == 116:
        word = (116, 114, 117, 101)
    elif c == 110:
        word = (110, 117, 108, 108)
    elif c == 102:
        if i + 5 <= end and buf[i + 1] == 97 and buf[i + 2] == 108 and buf[i + 3] == 115 and buf[i + 4] == 101:
            return i + 5
        return -1
    else:
        return -1
    if i + 4 > end:
        return -1
    for k in range(4):
        if buf[i + k] != word[k]:
            return -1
    return i + 4


@numba.njit(cache=True, nogil=True)
def _member_value(buf, i, end):  # pragma: no cover - compiled
    """At a member of an object being skipped: the index of its value (past key, colon, white space) or -1."""
    if i >= end or buf[i] != 34:
        return -1
    after, _ = _string(buf, i, end)
    if after < 0:
        return -1
    i = _ws(buf, after, end)
    if i >= end or buf[i] != 58:
        return -1
    return _ws(buf, i + 1, end)


@numba.njit(cache=True, nogil=True)
def _skip(buf, i, end, stack):  # pragma: no cover - compiled
    """Index after the JSON value at ``i`` (checked, not kept), or -1."""
    depth = 0
    while True:
        if i < 0 or i >= end:
            return -1
        c = buf[i]
        if c == 123 or c == 91:  # { or [
            if depth >= len(stack):
                return -1
            stack[depth] = c
            depth += 1
            i = _ws(buf, i + 1, end)
            if i < end and buf[i] == c + 2:  # } or ]: empty
                depth -= 1
                i += 1
            else:
                if c == 123:
                    i = _member_value(buf, i, end)
                continue  # at the first member's value or element
        elif c == 34:
            i, _ = _string(buf, i, end)
        elif c == 45 or 48 <= c <= 57:
            i, _, _ = _number(buf, i, end)
        else:
            i = _literal(buf, i, end)
        if i < 0:
            return -1
        while depth > 0:  # after a value inside containers: a comma, or closing brackets
            i = _ws(buf, i, end)
            if i >= end:
                return -1
            c = buf[i]
            if c == 44:
                i = _ws(buf, i + 1, end)
                if stack[depth - 1] == 123:
                    i = _member_value(buf, i, end)
                break
            if c != stack[depth - 1] + 2:
                return -1
            depth -= 1
            i += 1
        if depth == 0:
            return i


@numba.njit(cache=True, nogil=True)
def _field(buf, i, end, j, f, kinds, begins, ends, numbers, port_slot):  # pragma: no cover - compiled
    """A read field's value at ``i``: noted, and the index after it, or -1 when not vouched for."""
    if i >= end:
        return -1
    c = buf[i]
    slot = port_slot[f]
    if c == 34 and slot < 0:
        after, escaped = _string(buf, i, end)
        if after < 0 or escaped:
            return -1
        kinds[f, j] = TEXT
        begins[f, j] = i + 1
        ends[f, j] = after - 1
        return after
    if c == 110:
        after = _literal(buf, i, end)
        if after >= 0:
            kinds[f, j] = NULL
        return after
    if slot >= 0 and (c == 45 or 48 <= c <= 57):
        after, integer, value = _number(buf, i, end)
        if after < 0 or not integer:
            return -1
        kinds[f, j] = INTEGER
        numbers[slot, j] = value
        return after
    return -1


@numba.njit(cache=True, nogil=True)
def _key(buf, i, end, keys, starts, first, chain):  # pragma: no cover - compiled
    """At a member: (the key's index in the table or -1, the index of its value)."""
    if i >= end or buf[i] != 34:
        return -1, i
    after, escaped = _string(buf, i, end)
    if after < 0 or escaped:
        return -1, i
    a, b = i + 1, after - 1
    found = -1
    if 0 < b - a <= _LONGEST_KEY:
        k = first[b - a, buf[a]]
        while k >= 0:
            same = True
            for m in range(1, b - a):
                if buf[a + m] != keys[starts[k] + m]:
                    same = False
                    break
            if same:
                found = k
                break
            k = chain[k]
    if found < 0:
        return -1, i
    i = _ws(buf, after, end)
    if i >= end or buf[i] != 58:
        return -1, i
    return found, _ws(buf, i + 1, end)


@numba.njit(cache=True, nogil=True)
def _open(buf, i, end):  # pragma: no cover - compiled
    """At an object: (the index of its first key or after an empty object, or -1; whether it is empty)."""
    if i >= end or buf[i] != 123:
        return -1, False
    i = _ws(buf, i + 1, end)
    if i < end and buf[i] == 125:
        return i + 1, True
    return i, False


@numba.njit(cache=True, nogil=True)
def _next(buf, i, end):  # pragma: no cover - compiled
    """After a member's value: (the index of the next key, or after the object, or -1; whether one follows)."""
    i = _ws(buf, i, end)
    if i >= end:
        return -1, False
    if buf[i] == 44:
        return _ws(buf, i + 1, end), True
    if buf[i] == 125:
        return i + 1, False
    return -1, False


@numba.njit(cache=True, nogil=True)
def _properties(buf, i, end, j, keys, starts, fields, first, chain, kinds, begins, ends, numbers, port_slot, stack):  # pragma: no cover
    """The ``properties`` object at ``i`` (documented keys, each once): the index after it, or -1."""
    i, empty = _open(buf, i, end)
    if i < 0 or empty:
        return i
    seen = np.int64(0)
    while True:
        k, i = _key(buf, i, end, keys, starts, first, chain)
        if k < 0 or (seen >> k) & 1:
            return -1
        seen |= np.int64(1) << k
        f = fields[k]
        i = _field(buf, i, end, j, f, kinds, begins, ends, numbers, port_slot) if f >= 0 else _skip(buf, i, end, stack)
        if i < 0:
            return -1
        i, more = _next(buf, i, end)
        if i < 0 or not more:
            return i


@numba.njit(cache=True, nogil=True)
def _record(buf, start, end, j, kinds, begins, ends, numbers, top_keys, top_starts, top_fields, top_first, top_chain,
            prop_keys, prop_starts, prop_fields, prop_first, prop_chain, port_slot, stack):  # pragma: no cover - compiled
    """Whether the line ``buf[start:end]`` is a record the scanner vouches for (its fields noted)."""
    i, empty = _open(buf, _ws(buf, start, end), end)
    if i < 0 or empty:
        return False
    seen = np.int64(0)
    saw_properties = False
    while True:
        k, i = _key(buf, i, end, top_keys, top_starts, top_first, top_chain)
        if k < 0 or (seen >> k) & 1:
            return False
        seen |= np.int64(1) << k
        f = top_fields[k]
        if f == _PROPERTIES:
            i = _properties(buf, i, end, j, prop_keys, prop_starts, prop_fields, prop_first, prop_chain, kinds,
                            begins, ends, numbers, port_slot, stack)
            saw_properties = True
        elif f >= 0:
            i = _field(buf, i, end, j, f, kinds, begins, ends, numbers, port_slot)
        else:
            i = _skip(buf, i, end, stack)
        if i < 0:
            return False
        i, more = _next(buf, i, end)
        if i < 0:
            return False
        if not more:
            return saw_properties and _ws(buf, i, end) == end
