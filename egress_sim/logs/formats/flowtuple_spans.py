"""Finding the flow tuples of Network Watcher records in the records' bytes, without building Python objects.

A flow-log record is small and regular (``properties.flows[].flows[].flowTuples[]`` for NSG logs,
``flowRecords.flows[].flowGroups[].flowTuples[]`` for VNet logs) and holds ~10-100 tuples. Walking its decoded
dictionaries in Python costs more than decoding it, so a compiled walker (numba) reads each record's bytes,
follows exactly the keys the record-by-record extraction (``azure_flowlogs``) follows, and notes where each
tuple string starts and ends. The tuples of a whole read block then become one Arrow string array in one copy.

It vouches only for plain records, and says so per record: the expected objects and arrays where they belong,
each key at most once, no escape sequence in any key or tuple, every tuple a string, a version of exactly
``1``/``2`` (NSG) or ``4``/``"4"`` (VNet). Any other record goes the record-by-record way, which decides what
is wrong with it. The bytes were already checked to be valid JSON (``jsonrecords`` decoded them), so the walker
skips values it does not care about without checking their grammar.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

from ..engine.jsonrecords import ElementBlock, closing_quote

_PROPERTIES = np.frombuffer(b"properties", dtype=np.uint8)
_FLOWS = np.frombuffer(b"flows", dtype=np.uint8)
_VERSION = np.frombuffer(b"Version", dtype=np.uint8)
_FLOW_RECORDS = np.frombuffer(b"flowRecords", dtype=np.uint8)
_FLOW_GROUPS = np.frombuffer(b"flowGroups", dtype=np.uint8)
_FLOW_LOG_VERSION = np.frombuffer(b"flowLogVersion", dtype=np.uint8)
_FLOW_TUPLES = np.frombuffer(b"flowTuples", dtype=np.uint8)
_TRUE, _FALSE, _NULL = (np.frombuffer(w, dtype=np.uint8) for w in (b"true", b"false", b"null"))
_MAX_DEPTH = 64  # a value nested deeper is left to the decoders


def block_tuples(block: ElementBlock, vnet: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.StringArray]:
    """For each element of ``block`` (decoded, so valid JSON): whether the walker vouches for it, its field count
    (8 for NSG version 1, else 13) and its tuple count; and the tuples of the vouched elements, in order, as one
    string array."""
    return walk(np.frombuffer(block.data, dtype=np.uint8), block.quotes, block.starts, block.ends, vnet)


def vouch(buf: np.ndarray, quotes: np.ndarray, starts: np.ndarray, ends: np.ndarray,
          vnet: bool) -> tuple[np.ndarray | None, tuple | None]:
    """``block_tuples`` before anything is decoded (``jsonrecords.array_blocks``'s ``vouch``): in a block whose
    strings are all plain, the walker checks each element against the JSON grammar as it goes, so an element it
    vouches for needs no decoding at all. Any other block: (None, None), and everything is decoded."""
    if not len(quotes) or not plain_strings(buf, quotes):
        return None, None
    ok, fields, counts, found = walk(buf, quotes, starts, ends, vnet)
    return ok, (fields, counts, found)


def plain_strings(buf: np.ndarray, quotes: np.ndarray) -> bool:
    """Whether every string of a block (no backslash in it: ``quotes`` pairs open and close them) is plain ASCII
    without control characters, which JSON refuses inside a string: then every quote pair is a valid string."""
    if (buf >= 0x80).any():
        return False
    controls = np.flatnonzero(buf < 0x20)
    return not len(controls) or not (np.searchsorted(quotes, controls, side="right") % 2).any()


def walk(buf: np.ndarray, quotes: np.ndarray, starts: np.ndarray, ends: np.ndarray,
         vnet: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.StringArray]:
    n = len(starts)
    ok = np.zeros(n, dtype=np.bool_)
    fields = np.zeros(n, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    capacity = max(16, (int(ends[-1]) - int(starts[0])) // 8) if n else 16
    edges = np.empty(2 * capacity + 1, dtype=np.int32)
    total = _walk_block(buf, quotes, starts, ends, vnet, ok, fields, counts, edges)
    if total < 0:  # more tuples than room (tiny tuples: ``"",`` is 3 bytes): the block's records go the decoded way
        ok[:] = False
        counts[:] = 0
        total = 0
    if not total:
        return ok, fields, counts, pa.array([], pa.string())
    offsets = np.empty(total + 1, dtype=np.int32)
    data = np.empty(int(_gathered_size(edges, total)), dtype=np.uint8)
    _gather(buf, edges, total, offsets, data)
    return ok, fields, counts, pa.StringArray.from_buffers(total, pa.py_buffer(offsets), pa.py_buffer(data))


@numba.njit(cache=True, nogil=True)
def _gathered_size(edges, total):  # pragma: no cover - compiled
    size = 0
    for k in range(total):
        size += edges[2 * k + 1] - edges[2 * k]
    return size


@numba.njit(cache=True, nogil=True)
def _gather(buf, edges, total, offsets, data):  # pragma: no cover - compiled
    """The tuples' bytes, one after the other, with Arrow's offsets: a string array in one copy."""
    at = 0
    offsets[0] = 0
    for k in range(total):
        start, end = edges[2 * k], edges[2 * k + 1]
        data[at:at + end - start] = buf[start:end]
        at += end - start
        offsets[k + 1] = at


@numba.njit(cache=True, nogil=True)
def _walk_block(buf, quotes, starts, ends, vnet, ok, fields, counts, edges):  # pragma: no cover - compiled
    total = 0
    cursor = np.zeros(1, dtype=np.int64)  # see ``jsonrecords.closing_quote``
    for j in range(len(starts)):
        found, n_fields, end = _record(buf, quotes, cursor, int(starts[j]), vnet, edges, total)
        if found >= 0 and end == ends[j]:
            ok[j] = True
            fields[j] = n_fields
            counts[j] = found
            total += found
        elif found == -2:
            return -1
    return total


@numba.njit(cache=True, nogil=True)
def _ws(buf, i):  # pragma: no cover - compiled
    while buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9:
        i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _string_end(buf, quotes, cursor, i):  # pragma: no cover - compiled
    """(index after the string opening at ``i``, whether it holds an escape). ``quotes``: where every quote of a
    block without a backslash is (``closing_quote`` finds the closing one), or empty (read byte by byte)."""
    if len(quotes):
        return closing_quote(quotes, cursor, i) + 1, False
    i += 1
    escaped = False
    while buf[i] != 34:
        if buf[i] == 92:
            escaped = True
            i += 2
        else:
            i += 1
    return i + 1, escaped


@numba.njit(cache=True, nogil=True)
def _number_end(buf, i):  # pragma: no cover - compiled
    """Index after the JSON number at ``i`` (RFC 8259 grammar), or -1 when it is not one."""
    if buf[i] == 45:
        i += 1
    if buf[i] == 48:
        i += 1
    elif 49 <= buf[i] <= 57:
        while 48 <= buf[i] <= 57:
            i += 1
    else:
        return -1
    if buf[i] == 46:
        i += 1
        if not 48 <= buf[i] <= 57:
            return -1
        while 48 <= buf[i] <= 57:
            i += 1
    if buf[i] == 101 or buf[i] == 69:
        i += 1
        if buf[i] == 43 or buf[i] == 45:
            i += 1
        if not 48 <= buf[i] <= 57:
            return -1
        while 48 <= buf[i] <= 57:
            i += 1
    return i


@numba.njit(cache=True, nogil=True)
def _literal_end(buf, i, word):  # pragma: no cover - compiled
    for k in range(len(word)):
        if buf[i + k] != word[k]:
            return -1
    return i + len(word)


@numba.njit(cache=True, nogil=True)
def _in_object(objects, depth):  # pragma: no cover - compiled
    """Whether the innermost open container (``depth`` open) is an object."""
    return (objects >> np.uint64(depth - 1)) & np.uint64(1) == np.uint64(1)


@numba.njit(cache=True, nogil=True)
def _value_end(buf, quotes, cursor, i):  # pragma: no cover - compiled
    """Index after the JSON value at ``i``, checked against the grammar (strings are plain in the blocks walked:
    see ``plain_quotes``), or -1 when it is not valid JSON or nests deeper than ``_MAX_DEPTH``."""
    objects = np.uint64(0)  # bit d: the container open at depth d is an object (no array allocated per value)
    depth = 0
    while True:
        i = _ws(buf, i)
        c = buf[i]
        if c == 34:
            i = _string_end(buf, quotes, cursor, i)[0]
        elif c == 123 or c == 91:
            if depth == _MAX_DEPTH:
                return -1
            if c == 123:
                objects |= np.uint64(1) << np.uint64(depth)
            else:
                objects &= ~(np.uint64(1) << np.uint64(depth))
            depth += 1
            i = _ws(buf, i + 1)
            if buf[i] == c + 2:  # empty
                depth -= 1
                i += 1
            elif c == 123:
                i = _member_value(buf, quotes, cursor, i)
                if i < 0:
                    return -1
                continue  # the member's value comes next
            else:
                continue  # the first element comes next
        elif c == 45 or 48 <= c <= 57:
            i = _number_end(buf, i)
        elif c == 116:
            i = _literal_end(buf, i, _TRUE)
        elif c == 102:
            i = _literal_end(buf, i, _FALSE)
        elif c == 110:
            i = _literal_end(buf, i, _NULL)
        else:
            return -1
        if i < 0:
            return -1
        while depth:  # after a value inside containers: a comma, or the closing bracket
            i = _ws(buf, i)
            if buf[i] == 44:
                i = _ws(buf, i + 1)
                if _in_object(objects, depth):
                    i = _member_value(buf, quotes, cursor, i)
                    if i < 0:
                        return -1
                break
            if buf[i] != (125 if _in_object(objects, depth) else 93):
                return -1
            depth -= 1
            i += 1
        if depth == 0:
            return i


@numba.njit(cache=True, nogil=True)
def _member_value(buf, quotes, cursor, i):  # pragma: no cover - compiled
    """At a member's key: the index of its value (past ``"key" :``), or -1."""
    if buf[i] != 34:
        return -1
    i = _ws(buf, _string_end(buf, quotes, cursor, i)[0])
    if buf[i] != 58:
        return -1
    return i + 1


@numba.njit(cache=True, nogil=True)
def _is(buf, start, end, key):  # pragma: no cover - compiled
    """Whether the key string ``buf[start:end]`` (quotes excluded) is ``key``."""
    if end - start != len(key):
        return False
    for k in range(len(key)):
        if buf[start + k] != key[k]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _key(buf, quotes, cursor, i):  # pragma: no cover - compiled
    """At a member's key: (key start, key end, index of its value, whether the walker cannot vouch for it: an
    escape in the key, or no ``"key":`` there)."""
    i = _ws(buf, i)
    if buf[i] != 34:
        return i, i, i, True
    after, escaped = _string_end(buf, quotes, cursor, i)
    colon = _ws(buf, after)
    if buf[colon] != 58:
        return i, i, i, True
    return i + 1, after - 1, _ws(buf, colon + 1), escaped


@numba.njit(cache=True, nogil=True)
def _next_member(buf, i, closer):  # pragma: no cover - compiled
    """After a value in an object or array: (index of the next member or element, whether there is one); -1 when
    neither a comma nor the container's ``closer`` follows."""
    if i < 0:
        return -1, False
    i = _ws(buf, i)
    if buf[i] == 44:
        return _ws(buf, i + 1), True
    if buf[i] != closer:
        return -1, False
    return i + 1, False  # past the closing bracket


@numba.njit(cache=True, nogil=True)
def _record(buf, quotes, cursor, i, vnet, edges, total):  # pragma: no cover - compiled
    """Walk the record at ``i``: (tuples found, or -1 when not vouched for / -2 when out of room; field count;
    end)."""
    if buf[i] != 123:
        return -1, 0, i
    i = _ws(buf, i + 1)
    found, n_fields, seen_body, seen_version = 0, 0, False, False
    more = buf[i] != 125
    if not more:
        i += 1
    while more:
        ks, ke, v, escaped = _key(buf, quotes, cursor, i)
        if escaped:
            return -1, 0, i
        if (not vnet and _is(buf, ks, ke, _PROPERTIES)) or (vnet and _is(buf, ks, ke, _FLOW_RECORDS)):
            if seen_body or buf[v] != 123:
                return -1, 0, i
            seen_body = True
            found, version, v = _body(buf, quotes, cursor, v, vnet, edges, total)
            if found < 0:
                return found, 0, i
            if not vnet:
                if version == 0:
                    return -1, 0, i
                n_fields = 8 if version == 1 else 13
                seen_version = True
        elif vnet and _is(buf, ks, ke, _FLOW_LOG_VERSION):
            if seen_version:
                return -1, 0, i
            end = _value_end(buf, quotes, cursor, v)
            if end < 0 or not ((end - v == 1 and buf[v] == 52) or (end - v == 3 and buf[v] == 34 and buf[v + 1] == 52)):
                return -1, 0, i
            seen_version = True
            n_fields = 13
            v = end
        else:
            v = _value_end(buf, quotes, cursor, v)
        i, more = _next_member(buf, v, 125)
        if i < 0:
            return -1, 0, i
    if not (seen_body and seen_version):
        return -1, 0, i
    return found, n_fields, i


@numba.njit(cache=True, nogil=True)
def _body(buf, quotes, cursor, i, vnet, edges, total):  # pragma: no cover - compiled
    """``properties`` (NSG: ``flows`` and ``Version``) or ``flowRecords`` (VNet: ``flows``): (tuples found or
    -1/-2, NSG version 1/2 or 0 when absent or not plain, end)."""
    i = _ws(buf, i + 1)
    found, version, seen_flows = 0, 0, False
    more = buf[i] != 125
    if not more:
        i += 1
    while more:
        ks, ke, v, escaped = _key(buf, quotes, cursor, i)
        if escaped:
            return -1, 0, i
        if _is(buf, ks, ke, _FLOWS):
            if seen_flows or buf[v] != 91:
                return -1, 0, i
            seen_flows = True
            found, v = _groups(buf, quotes, cursor, v, _FLOW_GROUPS if vnet else _FLOWS, edges, total)
            if found < 0:
                return found, 0, i
        elif not vnet and _is(buf, ks, ke, _VERSION):
            if version:
                return -1, 0, i
            end = _value_end(buf, quotes, cursor, v)
            if end < 0 or end - v != 1 or not (buf[v] == 49 or buf[v] == 50):
                return -1, 0, i
            version = buf[v] - 48
            v = end
        else:
            v = _value_end(buf, quotes, cursor, v)
        i, more = _next_member(buf, v, 125)
        if i < 0:
            return -1, 0, i
    if not seen_flows:
        return -1, 0, i
    return found, version, i


@numba.njit(cache=True, nogil=True)
def _groups(buf, quotes, cursor, i, inner, edges, total):  # pragma: no cover - compiled
    """An array of rule groups, each an object whose ``inner`` key holds an array of tuple holders."""
    found = 0
    i = _ws(buf, i + 1)
    more = buf[i] != 93
    if not more:
        i += 1
    while more:
        if buf[i] != 123:
            return -1, i
        i = _ws(buf, i + 1)
        seen = False
        members = buf[i] != 125
        if not members:
            i += 1
        while members:
            ks, ke, v, escaped = _key(buf, quotes, cursor, i)
            if escaped:
                return -1, i
            if _is(buf, ks, ke, inner):
                if seen or buf[v] != 91:
                    return -1, i
                seen = True
                got, v = _holders(buf, quotes, cursor, v, edges, total + found)
                if got < 0:
                    return got, i
                found += got
            else:
                v = _value_end(buf, quotes, cursor, v)
            i, members = _next_member(buf, v, 125)
            if i < 0:
                return -1, i
        if not seen:
            return -1, i
        i, more = _next_member(buf, i, 93)
        if i < 0:
            return -1, i
    return found, i


@numba.njit(cache=True, nogil=True)
def _holders(buf, quotes, cursor, i, edges, total):  # pragma: no cover - compiled
    """An array of objects each with a ``flowTuples`` array of plain strings, noted in ``edges``."""
    found = 0
    i = _ws(buf, i + 1)
    more = buf[i] != 93
    if not more:
        i += 1
    while more:
        if buf[i] != 123:
            return -1, i
        i = _ws(buf, i + 1)
        seen = False
        members = buf[i] != 125
        if not members:
            i += 1
        while members:
            ks, ke, v, escaped = _key(buf, quotes, cursor, i)
            if escaped:
                return -1, i
            if _is(buf, ks, ke, _FLOW_TUPLES):
                if seen or buf[v] != 91:
                    return -1, i
                seen = True
                v = _ws(buf, v + 1)
                items = buf[v] != 93
                if not items:
                    v += 1
                while items:
                    if buf[v] != 34:
                        return -1, i
                    end, escaped = _string_end(buf, quotes, cursor, v)
                    if escaped:
                        return -1, i
                    at = total + found
                    if 2 * at + 2 >= len(edges):
                        return -2, i
                    edges[2 * at] = v + 1
                    edges[2 * at + 1] = end - 1
                    found += 1
                    v, items = _next_member(buf, end, 93)
                    if v < 0:
                        return -1, i
            else:
                v = _value_end(buf, quotes, cursor, v)
            i, members = _next_member(buf, v, 125)
            if i < 0:
                return -1, i
        if not seen:
            return -1, i
        i, more = _next_member(buf, i, 93)
        if i < 0:
            return -1, i
    return found, i
