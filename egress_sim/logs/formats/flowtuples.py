"""Network Watcher flow tuples (NSG versions 1 and 2, VNet version 4) parsed a batch at a time, never one by one.

Which checks a tuple passes and in which order is written down in ``azure_flowlogs``'s docstring; this module
is how they run fast on the tuples of many records, and of many small blobs, at once.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engine.cells import ip_cells
from ..engine.ledger import Outcomes

N_FIELDS = 13  # a tuple once normalised (NSG version 1 tuples are padded with five empty fields)

# Reason codes of tuple-level rejects, in check order (0 = valid).
_TUPLE_REASONS = (
    "", "bad_tuple_field_count", "invalid_tuple", "invalid_utf8", "invalid_timestamp", "invalid_ip",
    "invalid_port", "unknown_protocol", "unsupported_protocol", "unknown_direction", "unknown_decision",
    "unknown_flow_state", "invalid_counter",
)
_CODE = {name: i for i, name in enumerate(_TUPLE_REASONS)}
TUPLE_OUTCOMES = Outcomes(skips=("inbound",), rejects=_TUPLE_REASONS[1:])  # reject r is outcome r + 1
_PROTOCOL_NAMES = pa.array(["TCP", "UDP", "ICMP"])
_ACTIONS = pa.array(["allow", "deny"])
# A lone surrogate is no UTF-8 text: undecodable bytes kept by the careful stream (U+DC80..U+DCFF) or a JSON
# escape such as "\\ud800", which Python decodes as it is written.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_A_KEPT_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")

# How: # The tuples become one Arrow string array, which is cut into fields with numpy on its data buffer: the
# commas and line breaks of all tuples are found at once, and a tuple with the expected number of commas
# and no line break is cut at its commas. The fields stay where they are: numbers (1..n ASCII digits) are
# read from the buffer by a small numba loop, one-letter fields byte by byte with numpy (letters come from
# a fixed set), and an Arrow string array laid over the same buffer, with offsets that alternate field and
# comma, lets one ``take`` gather the addresses, which are validated once per distinct value. Slices of
# SLICE_ROWS tuples keep the temporary arrays small.

SLICE_ROWS = 1 << 18
_COLUMNS = [f"f{j}" for j in range(N_FIELDS)]
_IANA = np.full(256, -1, dtype=np.int8)
_IANA[[6, 17, 1, 58]] = [0, 1, 2, 2]  # TCP, UDP, ICMP, ICMPv6 (as ICMP)
_VNET_DROPPING = pa.array(["NX_SW_NOT_READY", "NX_NOT_ACCEPTED", "NX_NOT_SUPPORTED"])


@dataclass
class _Fields:
    """The fields of the tuples of a slice that split, located in the slice's data buffer (not copied)."""

    rows: np.ndarray  # positions in the slice of the tuples that split
    edges: np.ndarray  # (len(rows), 2 * N_FIELDS) int32: field j of row i is data[edges[i, 2j]:edges[i, 2j + 1]]
    data: pa.Buffer

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        """Byte length of every field, shape (N_FIELDS, rows)."""
        return (self.edges[:, 1::2] - self.edges[:, 0::2]).T.copy()

    def text(self, columns: tuple[int, ...]) -> pa.StringArray:
        """The fields of these columns as one array, column after column: copied out of the buffer in one
        compiled pass (an Arrow ``take`` over the buffer cut at every edge cost twice as much)."""
        if not len(self.rows) or not columns:
            return pa.array([], pa.string())
        cols = np.asarray(columns, dtype=np.int64)
        n = len(cols) * len(self.rows)
        offsets = np.empty(n + 1, dtype=np.int32)
        size = int(self.lengths[cols].sum())
        data = np.empty(size, dtype=np.uint8)
        _gather_fields(np.frombuffer(self.data, dtype=np.uint8), self.edges, cols, offsets, data)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))

    def numbers(self, columns: tuple[int, ...], max_digits: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """(value, is 1..max_digits ASCII digits, is empty) of these columns, each of shape (len(columns), rows);
        the value is 0 where the field is not such a number."""
        shape = (len(columns), len(self.rows))
        value, ok, empty = np.zeros(shape, np.int64), np.zeros(shape, np.bool_), np.zeros(shape, np.bool_)
        if len(self.rows):
            _read_numbers(np.frombuffer(self.data, dtype=np.uint8), self.edges, np.asarray(columns, np.int64),
                          np.asarray(max_digits, np.int64), value, ok, empty)
        return value, ok, empty

    def codes(self, columns: tuple[int, ...], value_sets: tuple[tuple[str, ...], ...]) -> np.ndarray:
        """Index of each field of column ``columns[i]`` in ``value_sets[i]`` (strings of at most one ASCII
        character), -1 when absent; shape (len(columns), rows)."""
        start = self.edges[:, 2 * np.asarray(columns)].T
        length = self.lengths[list(columns)]
        data = np.frombuffer(self.data, dtype=np.uint8)
        key = data[np.minimum(start, len(data) - 1)].astype(np.int16) if len(data) else np.zeros(start.shape, np.int16)
        key[length == 0] = 256
        key[length > 1] = 257
        lookup = np.full((len(columns), 258), -1, dtype=np.int8)  # by byte; 256: the empty field, 257: longer
        for i, values in enumerate(value_sets):
            for k, value in enumerate(values):
                lookup[i, ord(value) if value else 256] = k
        return np.take_along_axis(lookup, key, axis=1)


@numba.njit(cache=True, nogil=True)
def _gather_fields(data, edges, columns, offsets, out):  # pragma: no cover - compiled
    """Fields of ``columns`` (column after column, row after row) copied one after the other, with their offsets."""
    at = 0
    k = 0
    offsets[0] = 0
    for c in range(len(columns)):
        first = 2 * columns[c]
        for i in range(edges.shape[0]):
            start, end = edges[i, first], edges[i, first + 1]
            out[at:at + end - start] = data[start:end]
            at += end - start
            k += 1
            offsets[k] = at


@numba.njit(cache=True, nogil=True)
def _read_numbers(data, edges, columns, max_digits, value, ok, empty):
    """Decimal fields of these columns, digit by digit (one pass over their bytes, no copies)."""
    for c in range(len(columns)):
        first, limit = 2 * columns[c], max_digits[c]
        for i in range(edges.shape[0]):
            start, end = edges[i, first], edges[i, first + 1]
            if end == start:
                empty[c, i] = True
                continue
            if end - start > limit:
                continue
            number = 0
            for at in range(start, end):
                digit = np.int64(data[at]) - 48
                if digit < 0 or digit > 9:
                    break
                number = number * 10 + digit
            else:
                value[c, i] = number
                ok[c, i] = True


def _cut(arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> _Fields:
    """The tuples that split into the expected number of fields (12 commas, or 7 for NSG version 1, whose five
    missing fields are then empty). The other tuples get their reason here: ``invalid_tuple`` when they hold
    a line break, else ``bad_tuple_field_count``."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    data_buffer = arr.buffers()[2] if arr.buffers()[2] is not None else pa.py_buffer(b"")
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buffer, dtype=np.uint8)[lo:hi]
    starts, ends = offsets[:-1], offsets[1:]
    control = np.flatnonzero(data < 14)  # few: line breaks are among them
    breaks = control[(data[control] == 10) | (data[control] == 13)] + lo
    if len(breaks):
        reason[(reason == 0) & (np.diff(np.searchsorted(breaks, offsets)) > 0)] = _CODE["invalid_tuple"]
    comma_at = (np.flatnonzero(data == 44) + lo).astype(np.int32)
    regular = len(comma_at) == 12 * n and ((comma_at[0::12] >= starts) & (comma_at[11::12] < ends)).all()
    if regular:  # the usual case: twelve commas in every tuple
        count = np.full(n, 12)
    else:
        first = np.searchsorted(comma_at, offsets)
        count = np.diff(first)
    reason[(reason == 0) & (count != commas)] = _CODE["bad_tuple_field_count"]
    good = np.flatnonzero(reason == 0)
    edges = np.empty((len(good), 2 * N_FIELDS), dtype=np.int32)
    edges[:, 0] = starts[good]
    edges[:, -1] = ends[good]
    if regular:
        at = comma_at.reshape(n, 12)
        at = at if len(good) == n else at[good]
        edges[:, 1:24:2] = at
        edges[:, 2:25:2] = at + 1
    else:
        for width in (12, 7):
            within = np.flatnonzero(count[good] == width)
            if len(within):
                at = comma_at[first[good[within]][:, None] + np.arange(width)]
                edges[within, 1:2 * width:2] = at
                edges[within, 2:2 * width + 1:2] = at + 1
                edges[within, 2 * width + 1:] = ends[good[within]][:, None]  # the empty fields of a version 1 tuple
    return _Fields(good, edges, data_buffer)


def _split(arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> tuple[np.ndarray, pa.Table]:
    """``_cut`` with all 13 fields as string columns: the form in which the tests compare it with
    ``_split_checked``."""
    fields = _cut(arr, commas, reason)
    text, m = fields.text(tuple(range(N_FIELDS))), len(fields.rows)
    return fields.rows, pa.table({c: text.slice(j * m, m) for j, c in enumerate(_COLUMNS)})


def _split_checked(arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> tuple[np.ndarray, pa.Table]:
    """``_split`` tuple by tuple with ``str.split``: the plain statement of what it computes, which the tests
    hold it to."""
    good: list[int] = []
    columns: list[list[str]] = [[] for _ in range(N_FIELDS)]
    for i, text in enumerate(arr.to_pylist()):
        if reason[i]:
            continue
        if "\n" in text or "\r" in text:
            reason[i] = _CODE["invalid_tuple"]
        elif text.count(",") != commas[i]:
            reason[i] = _CODE["bad_tuple_field_count"]
        else:
            good.append(i)
            for column, value in zip(columns, text.split(",") + [""] * (N_FIELDS - 1 - int(commas[i]))):
                column.append(value)
    return np.asarray(good, dtype=np.int64), pa.table({c: pa.array(v, pa.string()) for c, v in zip(_COLUMNS, columns)})


def _valid_ips(text: pa.StringArray, columns: int) -> np.ndarray:
    """Whether every address of a row is IPv4 or IPv6 text (``columns`` columns stacked in ``text``): each
    distinct address is checked once."""
    encoded = pc.dictionary_encode(text)
    ok = ip_cells(encoded.dictionary)[encoded.indices.to_numpy()]
    return ok.reshape(columns, -1).all(axis=0)


@dataclass
class _Parsed:
    """The outbound tuples of a slice that passed every check (one entry per row of ``rows``), and how many
    valid inbound ones it held."""

    rows: np.ndarray  # positions in the slice
    ts_ms: np.ndarray
    src: pa.StringArray
    dst: pa.StringArray
    dst_port: np.ndarray
    protocol: np.ndarray  # index into _PROTOCOL_NAMES
    denied: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    has_out: np.ndarray
    has_in: np.ndarray
    inbound: np.ndarray  # positions in the slice of the valid inbound tuples


def _parse(dialect: str, arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> _Parsed:
    fields = _cut(arr, commas, reason)
    good, m = fields.rows, len(fields.rows)
    why = np.zeros(m, dtype=np.uint8)

    def fail(failed: np.ndarray, name: str) -> None:
        why[(why == 0) & failed] = _CODE[name]

    nsg = dialect == "nsg"
    numbers = (0, 3, 4, 9, 10, 11, 12) + (() if nsg else (5,))
    value, number_ok, empty = fields.numbers(numbers, (15, 5, 5, 18, 18, 18, 18) + (() if nsg else (3,)))
    addresses = fields.text((1, 2))  # source, then destination
    ts = value[0]
    fail(~number_ok[0] | (ts >= 10**14), "invalid_timestamp")
    ts_ms = np.where(ts < 10**11, ts * 1000, ts)
    fail(~_valid_ips(addresses, 2), "invalid_ip")
    src_port, dst_port = value[1], value[2]
    fail(~number_ok[1] | ~number_ok[2] | (src_port > 65535) | (dst_port > 65535), "invalid_port")

    if nsg:
        protocol, direction, decision, state = fields.codes(
            (5, 6, 7, 8), (("T", "U"), ("I", "O"), ("A", "D"), ("B", "C", "E", "")))
        fail(protocol < 0, "unknown_protocol")
        fail(direction < 0, "unknown_direction")
        fail(decision < 0, "unknown_decision")
        version1 = commas[good] == 7
        fail((state < 0) | ((state == 3) != version1), "unknown_flow_state")  # v1: none; v2: B, C or E
        denied = decision == 1
        no_stats = version1 | (state == 0)
    else:
        number = value[7]
        iana = number_ok[7] & (number <= 255)
        protocol = np.where(iana, _IANA[np.minimum(number, 255)], -1).astype(np.int8)
        fail(~iana, "unknown_protocol")
        fail(protocol < 0, "unsupported_protocol")
        direction, state = fields.codes((6, 7), (("I", "O"), ("B", "C", "E", "D")))
        fail(direction < 0, "unknown_direction")
        fail(state < 0, "unknown_flow_state")
        denied = (state == 3) | pc.is_in(fields.text((8,)), value_set=_VNET_DROPPING).to_numpy(zero_copy_only=False)
        no_stats = state == 0  # a B tuple carries no statistics (VNet logs write zeros there)

    fail(~(number_ok[3:7] | empty[3:7]).all(axis=0), "invalid_counter")
    bytes_out, has_out = value[4], number_ok[4] & ~no_stats
    bytes_in, has_in = value[6], number_ok[6] & ~no_stats
    reason[good] = why
    valid = why == 0
    out = np.flatnonzero(valid & (direction == 1))
    ends = addresses.take(pa.array(np.concatenate([out, out + m])))
    return _Parsed(good[out], ts_ms[out], ends.slice(0, len(out)), ends.slice(len(out)), dst_port[out].astype(np.int32),
                   protocol[out], denied[out], bytes_out[out], bytes_in[out], has_out[out], has_in[out],
                   good[valid & (direction != 1)])



def _clean(text: str) -> str:
    """Undecodable bytes (kept as lone surrogates) and escaped lone surrogates shown as U+FFFD."""
    if text.isascii():
        return text
    return _NOT_A_KEPT_BYTE.sub("\ufffd", text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _string_array(tuples: list, reason: np.ndarray) -> pa.StringArray:
    """The tuples as one Arrow array; an item that is not a string, or holds undecodable bytes, is
    rejected and stands in as an empty string."""
    try:
        arr = pa.array(tuples, type=pa.string())
        if not arr.null_count:  # (a null tuple is no string either: it is rejected below, not read as empty)
            return arr
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        pass
    cleaned = []
    for i, item in enumerate(tuples):
        if not isinstance(item, str):
            reason[i] = _CODE["invalid_tuple"]
            cleaned.append("")
        elif not item.isascii() and _SURROGATE.search(item):
            reason[i] = _CODE["invalid_utf8"]
            cleaned.append("")
        else:
            cleaned.append(item)
    return pa.array(cleaned, type=pa.string())


class TupleRuns:
    """Tuples gathered run by run, as the records give them: a run is an Arrow string array (tuples found in the
    bytes by ``flowtuple_spans``) or a Python list (tuples of a record decoded the careful way, which may hold
    things that are not strings). ``array()`` is all of them as one array with the reason codes of the items
    that cannot be tuples; ``text(i)`` shows item ``i`` as a reject sample does."""

    def __init__(self) -> None:
        self.runs: list[pa.StringArray | list] = []
        self.size = 0

    def add(self, run: pa.StringArray | list) -> None:
        if len(run):
            self.runs.append(run)
            self.size += len(run)

    def slice(self, lo: int, hi: int) -> TupleRuns:
        out, at = TupleRuns(), 0
        for run in self.runs:
            a, b = max(lo - at, 0), min(hi - at, len(run))
            if a < b:
                out.add(run[a:b] if isinstance(run, list) else run.slice(a, b - a))
            at += len(run)
        return out

    def array(self) -> tuple[pa.StringArray, np.ndarray]:
        arrays, reasons = [], []
        for run in self.runs:
            reason = np.zeros(len(run), dtype=np.uint8)
            arrays.append(_string_array(run, reason) if isinstance(run, list) else run)
            reasons.append(reason)
        if not arrays:
            return pa.array([], pa.string()), np.zeros(0, dtype=np.uint8)
        return (arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)), np.concatenate(reasons)

    def text(self, i: int) -> str:
        for run in self.runs:
            if i < len(run):
                return tuple_text(run[i] if isinstance(run, list) else run[i].as_py())
            i -= len(run)
        raise IndexError(i)


def parse_tuples(dialect: str, arr: pa.StringArray, reason: np.ndarray,
                 commas: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, pa.Array]]:
    """The tuples of a batch (``commas[i]``: the commas tuple ``i`` must hold, 7 or 12; ``reason``: codes of
    items already known not to be tuples): each tuple's outcome code (``TUPLE_OUTCOMES``), the positions of the
    tuples that are flows, and those flows' columns."""
    n = len(arr)
    inbound = np.zeros(n, dtype=bool)
    rows: list[np.ndarray] = []
    pieces: list[dict[str, pa.Array]] = []
    for lo in range(0, n, SLICE_ROWS):
        hi = min(n, lo + SLICE_ROWS)
        p = _parse(dialect, arr.slice(lo, hi - lo), commas[lo:hi], reason[lo:hi])
        inbound[lo + p.inbound] = True
        if not len(p.rows):
            continue
        rows.append(lo + p.rows)
        pieces.append({
            "ts": pa.array(p.ts_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "src_ip": p.src,
            "dst_ip": p.dst,
            "dst_port": pa.array(p.dst_port, type=pa.int32()),
            "protocol": _PROTOCOL_NAMES.take(pa.array(p.protocol)),
            "bytes_out": pa.array(p.bytes_out, type=pa.int64(), mask=~p.has_out),
            "bytes_in": pa.array(p.bytes_in, type=pa.int64(), mask=~p.has_in),
            "observed_action": _ACTIONS.take(pa.array(p.denied.astype(np.int8))),
        })
    codes = np.where(reason > 0, reason.astype(np.int64) + 1, inbound.astype(np.int64))
    if not pieces:
        return codes, np.zeros(0, dtype=np.int64), {}
    columns = pieces[0] if len(pieces) == 1 else {
        name: pa.concat_arrays([p[name] for p in pieces]) for name in pieces[0]}
    return codes, np.concatenate(rows), columns


def tuple_text(item: object) -> str:
    """A tuple as shown in a reject sample: its text (undecodable bytes as U+FFFD), or its JSON."""
    return _clean(item) if isinstance(item, str) else json.dumps(item)
