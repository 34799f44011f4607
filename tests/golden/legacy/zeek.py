# Frozen copy of egress_sim/logs/formats/zeek.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
"""Zeek logs: ``conn.log`` as flows, named from its ``ssl.log`` / ``http.log`` / ``dns.log`` companions.

Sources followed (field names, header lines, encodings):

* Zeek script reference, ``base/protocols/conn/main.zeek`` (``Conn::Info``): ``ts``, ``uid``, ``id.orig_h``,
  ``id.orig_p``, ``id.resp_h``, ``id.resp_p``, ``proto`` (``tcp``/``udp``/``icmp``/``unknown_transport``),
  ``service``, ``duration``, ``orig_bytes``, ``resp_bytes``, ``conn_state``, ``local_orig``, ``local_resp``, ...;
  for ICMP the "ports" carry the ICMP type (``id.orig_p``) and code (``id.resp_p``).
  https://docs.zeek.org/en/current/scripts/base/protocols/conn/main.zeek.html
* ``base/protocols/ssl/main.zeek`` (``server_name``: "Value of the Server Name Indicator SSL/TLS extension", set
  from the client hello, so it is logged even when the server never answers), ``base/protocols/http/main.zeek``
  (``host``: the Host header, which may carry ``:port``; ``trans_depth``), ``base/protocols/dns/main.zeek``
  (``query``, ``answers`` a vector of strings mixing CNAME targets and addresses, ``TTLs``).
  https://github.com/zeek/zeek/tree/master/scripts/base/protocols and https://docs.zeek.org/en/current/logs/
* ``base/frameworks/logging/writers/ascii.zeek`` (``LogAscii::use_json``, ``LogAscii::json_timestamps`` =
  ``JSON::TS_EPOCH`` (float seconds, the default), ``JSON::TS_MILLIS`` (integer milliseconds) or
  ``JSON::TS_ISO8601``; the TSV meta lines ``#separator \\x09``, ``#set_separator``, ``#empty_field``,
  ``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types``, ``#close``).
  https://docs.zeek.org/en/current/scripts/base/frameworks/logging/writers/ascii.zeek.html

Encodings. TSV: every ``#`` line is meta data, never a record; ``#separator`` (written ``\\x09``, separated from
its value by a space) and the other meta lines set how the following lines are split; columns are located by
name from ``#fields`` (a later ``#fields`` block, as in concatenated logs, takes over from there); the unset
(``-``) and empty (``(empty)``) markers both read as "no value". JSON: one object per line, keys as in
``#fields`` (``"id.orig_h"``), unset fields left out; ``ts`` may be a float (epoch seconds), an integer above
1e11 (epoch milliseconds, ``TS_MILLIS``) or an ISO 8601 string.

One record = one ``conn.log`` line (meta and blank lines are not records). ``local_orig`` F → skipped as
``inbound``; T or unset (no ``Site::local_nets``) → an outbound flow. ``proto`` other than tcp/udp/icmp is
rejected as ``unknown_protocol``. ``bytes_out`` = ``orig_bytes``, ``bytes_in`` = ``resp_bytes``. Rejection
reasons: ``line_too_long`` (over ``limits.MAX_LINE_BYTES``, never held whole), ``wrong_field_count``, ``no_fields_header``, ``invalid_utf8``, ``invalid_json``, ``truncated_json``,
``not_a_json_object``, ``missing_field``, ``invalid_ip``, ``invalid_port``, ``unknown_protocol``,
``invalid_byte_count``, ``invalid_timestamp``, ``invalid_local_orig``; ``where`` is ``file:line``.

Naming a destination (``fqdn``), in this order of preference:

1. ``ssl.log`` ``server_name`` (TLS SNI) of the same ``uid``;
2. ``http.log`` ``host`` of the same ``uid`` (the first request of the connection), without ``:port``;
3. ``dns.log``: the ``query`` whose ``answers`` contain the connection's ``id.resp_h``. When several queries
   answered that address, the most recent one at or before the connection's ``ts`` wins; when the connection
   comes before every such answer (its lookup is in an earlier, unread log), the earliest answer after it is
   used, since the address was still answered for that name. This is a sorted-array lookup per chunk
   (``numpy.searchsorted``), so it costs no more than a plain address → name map.

A name that is an IP literal or not a valid host name is not used (the next source is tried). Companions are
found next to the conn log: same directory, the file name with its first ``conn`` replaced by ``ssl``,
``http``, ``dns`` (``conn.log`` ↔ ``ssl.log``, ``conn.00:00:00-01:00:00.log.gz`` ↔
``ssl.00:00:00-01:00:00.log.gz``; a ``.gz`` suffix may differ); a missing companion simply names nothing, and
its malformed lines are ignored (they are not connection records, so they are not in the ledger).

Memory: the conn log streams in pieces of at most ``chunk_rows`` lines (plus one line), but each companion is
loaded whole into lookup tables first (uid → name for ssl/http, answered address → names over time for dns:
hash tables keyed by the uid / address bytes, the names themselves kept once each), so memory grows with the
size of the companion logs next to the conn file being read (not with the conn log's size), and is released
when that conn file is done.

Speed: a piece is parsed in one call (``pyarrow.csv`` for TSV, whose bad-row handler names lines with a wrong field
count; ``pyarrow.json`` for JSON, falling back to line by line only for a piece holding a broken line, to name
it) and checked with vectorized operations; Python-level checks (``ipaddress`` for non-dotted-quad addresses,
host names) run once per distinct value.

Given directly as inputs, ``ssl.log`` / ``http.log`` / ``dns.log`` are recognised by ``COMPANION_READER``, which
yields no flows and counts no records (they are read through the conn log they belong to).
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from egress_sim.model.hostnames import try_normalize_host
from .common import LogFile, LongLineHandler, RecordLedger, ip_cells, loads, rejects_long_lines

_NEWLINE = 10
_HASH = ord("#")
_CR = 13

# canonical name -> (Zeek field name, JSON value kind)
_CONN_FIELDS: dict[str, tuple[str, str]] = {
    "ts": ("ts", "ts"),
    "uid": ("uid", "str"),
    "orig_h": ("id.orig_h", "str"),
    "orig_p": ("id.orig_p", "int"),
    "resp_h": ("id.resp_h", "str"),
    "resp_p": ("id.resp_p", "int"),
    "proto": ("proto", "str"),
    "orig_bytes": ("orig_bytes", "int"),
    "resp_bytes": ("resp_bytes", "int"),
    "local_orig": ("local_orig", "bool"),
}
_SSL_FIELDS = {"uid": ("uid", "str"), "name": ("server_name", "str")}
_HTTP_FIELDS = {"uid": ("uid", "str"), "name": ("host", "str")}
_DNS_FIELDS = {"ts": ("ts", "ts"), "name": ("query", "str"), "answers": ("answers", "list")}
_COMPANIONS = (("ssl", _SSL_FIELDS), ("http", _HTTP_FIELDS), ("dns", _DNS_FIELDS))

# Keys (JSON) or #fields (TSV) that only one kind of Zeek log has.
_MARKERS: dict[str, frozenset[str]] = {
    "conn": frozenset({"conn_state", "missed_bytes", "orig_pkts", "resp_pkts", "orig_ip_bytes", "local_orig"}),
    "ssl": frozenset({"server_name", "cipher", "established", "resumed", "ssl_history", "curve", "next_protocol"}),
    "http": frozenset({"method", "trans_depth", "uri", "status_code", "user_agent", "request_body_len"}),
    "dns": frozenset({"query", "answers", "trans_id", "qtype", "qtype_name", "rcode", "TTLs"}),
}

# Keys a log of that kind always has (for a file-name hint to be believed).
_NEEDED: dict[str, frozenset[str]] = {
    "conn": frozenset({"id.resp_h", "id.resp_p", "proto"}),
    "ssl": frozenset({"id.resp_h"}),
    "http": frozenset({"id.resp_h"}),
    "dns": frozenset({"id.resp_h", "proto"}),
}

# Rejection reasons, in priority order: when a line has several faults the first one listed is reported.
_CHECKS = (
    "missing_field",
    "invalid_ip",
    "invalid_port",
    "unknown_protocol",
    "invalid_byte_count",
    "invalid_timestamp",
    "invalid_local_orig",
)
_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP"}
_COMPANION_CHUNK = 200_000


# --------------------------------------------------------------------------------------------------------------
# Reading a file as pieces of whole lines


class _Piece:
    """Whole lines of a file: line ``first_line + i`` is ``data[starts[i]:starts[i + 1]]`` (with its newline).

    ``starts`` is computed on first use."""

    def __init__(self, data: bytes, first_line: int, n: int, starts: np.ndarray | None = None):
        self.data = data
        self.first_line = first_line
        self.n = n
        self._starts = starts

    @property
    def starts(self) -> np.ndarray:
        if self._starts is None:
            self._starts = _line_starts(self.data)
        return self._starts

    def span(self, a: int, b: int) -> bytes:
        if a == 0 and b == self.n:
            return self.data
        return self.data[self.starts[a] : self.starts[b]]

    def raw(self, i: int) -> bytes:
        return self.span(i, i + 1).rstrip(b"\r\n")

    def text(self, i: int) -> str:
        return self.raw(i).decode("utf-8", errors="replace")


def _line_starts(data: bytes) -> np.ndarray:
    """Offsets where each line starts, plus ``len(data)``."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE) + 1
    if len(ends) and ends[-1] == len(data):
        ends = ends[:-1]
    starts = np.empty(len(ends) + 2, dtype=np.int64)
    starts[0] = 0
    starts[1:-1] = ends
    starts[-1] = len(data)
    return starts


def _pieces(stream, max_lines: int, block_bytes: int) -> Iterator[_Piece]:
    """Pieces of at most ``max_lines`` lines; memory: one block plus one (possibly long) line."""
    carry = b""
    line_no = 1
    first = True
    while True:
        block = stream.read(block_bytes)
        if first:
            block = block.removeprefix(b"\xef\xbb\xbf")  # a byte order mark is not part of the first line
            first = False
        if not block:
            if carry:
                yield _Piece(carry, line_no, 1, np.array([0, len(carry)], dtype=np.int64))
            return
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # no line end yet: a very long line, keep reading
            carry = data
            continue
        carry, data = data[cut:], data[:cut]
        lines = data.count(b"\n")
        if lines <= max_lines:
            yield _Piece(data, line_no, lines)
        else:
            starts = _line_starts(data)
            for a in range(0, lines, max_lines):
                b = min(a + max_lines, lines)
                base = starts[a]
                yield _Piece(data[base : starts[b]], line_no + a, b - a, starts[a : b + 1] - base)
        line_no += lines


def _block_bytes(chunk_rows: int) -> int:
    return int(min(max(chunk_rows * 256, 1 << 16), 1 << 25))


# --------------------------------------------------------------------------------------------------------------
# TSV meta lines


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass
class _TsvState:
    """What the meta lines seen so far say about the following lines."""

    sep: str = "\t"
    set_sep: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str | None = None
    fields: list[str] | None = None

    def apply(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if line.startswith("#separator"):
            value = line[len("#separator") :].strip(" ")
            self.sep = _unescape(value) or "\t"
            return
        name, _, rest = line.partition(self.sep)
        values = rest.split(self.sep) if rest else []
        if name == "#set_separator" and values:
            self.set_sep = _unescape(values[0])
        elif name == "#empty_field" and values:
            self.empty = values[0]
        elif name == "#unset_field" and values:
            self.unset = values[0]
        elif name == "#path" and values:
            self.path = values[0]
        elif name == "#fields":
            self.fields = values

    @property
    def nulls(self) -> list[str]:
        return [self.unset, self.empty, ""]


# --------------------------------------------------------------------------------------------------------------
# Parsing ranges of data lines into columns


@dataclass
class _Parsed:
    """Columns (canonical names) of the good lines, their line indices in the piece, and the broken lines."""

    cols: dict[str, pa.Array]
    rows: np.ndarray  # int64 index into the piece, one per good line
    bad: list[tuple[int, str]] = field(default_factory=list)  # (index into the piece, reason)


def _utf8_split(piece: _Piece, a: int, b: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Lines of ``[a, b)`` that decode as UTF-8, and the ones that do not."""
    data = piece.span(a, b)
    if data.isascii():
        return np.arange(a, b, dtype=np.int64), []
    try:
        data.decode("utf-8")
        return np.arange(a, b, dtype=np.int64), []
    except UnicodeDecodeError:
        pass
    good, bad = [], []
    for i in range(a, b):
        try:
            piece.span(i, i + 1).decode("utf-8")
            good.append(i)
        except UnicodeDecodeError:
            bad.append((i, "invalid_utf8"))
    return np.array(good, dtype=np.int64), bad


def _join(piece: _Piece, rows: np.ndarray) -> bytes:
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return piece.span(int(rows[0]), int(rows[-1]) + 1)
    return b"".join(piece.span(int(i), int(i) + 1) for i in rows)


def _null_strings(n: int) -> pa.Array:
    return pa.nulls(n, type=pa.string())


def _tsv_range(piece: _Piece, a: int, b: int, state: _TsvState, wanted: dict[str, tuple[str, str]]) -> _Parsed:
    if state.fields is None:
        return _Parsed({}, np.array([], dtype=np.int64), [(i, "no_fields_header") for i in range(a, b)])
    rows, bad = _utf8_split(piece, a, b)
    data = _join(piece, rows)
    fields = state.fields
    simple = (
        len(state.sep) == 1
        and len(set(fields)) == len(fields)
        and not (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))
    )
    parsed = _tsv_arrow(data, rows, state, wanted) if simple and len(rows) else None
    if parsed is None:
        parsed = _tsv_python(piece, rows, state, wanted)
    parsed.bad = sorted(bad + parsed.bad)
    for name, (_, kind) in wanted.items():
        if kind == "list" and name in parsed.cols:  # a Zeek set or vector: one cell, items joined
            parsed.cols[name] = pc.split_pattern(parsed.cols[name], pattern=state.set_sep)
    return parsed


def _tsv_arrow(data: bytes, rows: np.ndarray, state: _TsvState, wanted: dict[str, tuple[str, str]]) -> _Parsed | None:
    fields = state.fields
    assert fields is not None
    include = sorted({zeek for zeek, _ in wanted.values() if zeek in fields}, key=fields.index)
    if not include:
        include = [fields[0]]
    invalid: list[int | None] = []

    def on_invalid(row) -> str:
        invalid.append(row.number)
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=fields, use_threads=threads),
            parse_options=pacsv.ParseOptions(
                delimiter=state.sep,
                quote_char=False,
                escape_char=False,
                double_quote=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=include,
                column_types={name: pa.string() for name in include},
                null_values=state.nulls,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        table = read(threads=True)
        if invalid:  # row numbers are only known when reading on one thread
            invalid.clear()
            table = read(threads=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows + len(invalid) != len(rows) or any(number is None or number < 1 for number in invalid):
        return None
    bad_positions = np.array(sorted(invalid), dtype=np.int64) - 1
    bad = [(int(rows[p]), "wrong_field_count") for p in bad_positions]
    good = np.delete(rows, bad_positions) if len(bad_positions) else rows
    cols = {}
    for name, (zeek, _) in wanted.items():
        cols[name] = table.column(zeek).combine_chunks() if zeek in include else _null_strings(table.num_rows)
    return _Parsed(cols, good, bad)


def _tsv_python(piece: _Piece, rows: np.ndarray, state: _TsvState, wanted: dict[str, tuple[str, str]]) -> _Parsed:
    """Line by line (any separator, duplicated field names, stray carriage returns)."""
    fields = state.fields
    assert fields is not None
    nulls = set(state.nulls)
    positions = {name: (fields.index(zeek) if zeek in fields else None) for name, (zeek, _) in wanted.items()}
    values: dict[str, list] = {name: [] for name in wanted}
    good, bad = [], []
    for i in rows:
        parts = piece.span(int(i), int(i) + 1).decode("utf-8").rstrip("\r\n").split(state.sep)
        if len(parts) != len(fields):
            bad.append((int(i), "wrong_field_count"))
            continue
        good.append(int(i))
        for name, pos in positions.items():
            value = parts[pos] if pos is not None else None
            values[name].append(None if value is None or value in nulls else value)
    cols = {name: pa.array(vals, type=pa.string()) for name, vals in values.items()}
    return _Parsed(cols, np.array(good, dtype=np.int64), bad)


def _json_schema(wanted: dict[str, tuple[str, str]], ts_type: pa.DataType) -> pa.Schema:
    types = {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "ts": ts_type, "list": pa.list_(pa.string())}
    return pa.schema([(zeek, types[kind]) for zeek, kind in wanted.values()])


def _json_range(piece: _Piece, a: int, b: int, wanted: dict[str, tuple[str, str]], ts_type: pa.DataType) -> _Parsed:
    rows, bad = _utf8_split(piece, a, b)
    parsed = None
    if len(rows):
        data = _join(piece, rows)
        try:
            table = pajson.read_json(
                io.BytesIO(data),
                parse_options=pajson.ParseOptions(
                    explicit_schema=_json_schema(wanted, ts_type), unexpected_field_behavior="ignore"
                ),
            )
            if table.num_rows == len(rows):
                cols = {name: table.column(zeek).combine_chunks() for name, (zeek, _) in wanted.items()}
                parsed = _Parsed(cols, rows)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = None
    if parsed is None:
        parsed = _json_python(piece, rows, wanted)
    parsed.bad = sorted(bad + parsed.bad)
    return parsed


def _as_text(value) -> str | None:
    if value is None:
        return None
    if value is True:
        return "T"
    if value is False:
        return "F"
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else json.dumps(value)


def _json_python(piece: _Piece, rows: np.ndarray, wanted: dict[str, tuple[str, str]]) -> _Parsed:
    """Line by line: finds the broken lines; values become text, checked afterwards like TSV cells."""
    values: dict[str, list] = {name: [] for name in wanted}
    good, bad = [], []
    for i in rows:
        text = piece.span(int(i), int(i) + 1).decode("utf-8").rstrip("\r\n")
        try:
            obj = loads(text)
        except json.JSONDecodeError as exc:
            cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
            bad.append((int(i), "truncated_json" if cut else "invalid_json"))
            continue
        if not isinstance(obj, dict):
            bad.append((int(i), "not_a_json_object"))
            continue
        good.append(int(i))
        for name, (zeek, kind) in wanted.items():
            value = obj.get(zeek)
            if kind == "list":
                if isinstance(value, list):
                    value = [_as_text(v) for v in value]
                elif value is not None:
                    value = [_as_text(value)]
                values[name].append(value)
            else:
                values[name].append(_as_text(value))
    cols = {
        name: pa.array(vals, type=pa.list_(pa.string()) if wanted[name][1] == "list" else pa.string())
        for name, vals in values.items()
    }
    return _Parsed(cols, np.array(good, dtype=np.int64), bad)


def _concat(parts: list[_Parsed], wanted: dict[str, tuple[str, str]]) -> _Parsed:
    if len(parts) == 1:
        return parts[0]
    cols = {}
    for name in wanted:
        arrays = [p.cols[name] for p in parts if name in p.cols]
        if len({a.type for a in arrays}) > 1:
            arrays = [a if pa.types.is_list(a.type) else _to_text(a) for a in arrays]
        cols[name] = pa.concat_arrays(arrays) if arrays else _null_strings(0)
    rows = np.concatenate([p.rows for p in parts]) if parts else np.array([], dtype=np.int64)
    bad = sorted(b for p in parts for b in p.bad)
    return _Parsed(cols, rows, bad)


def _to_text(arr: pa.Array) -> pa.Array:
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_boolean(arr.type):
        return pc.if_else(arr, pa.scalar("T"), pa.scalar("F"))
    return pc.cast(arr, pa.string())


def _parse_file(log: LogFile, chunk_rows: int, wanted: dict[str, tuple[str, str]],
                long_lines: LongLineHandler) -> Iterator[tuple[_Piece, _Parsed]]:
    """Every piece of the file with its parsed lines (TSV or JSON, decided by the first non-blank line). A line
    over ``limits.MAX_LINE_BYTES`` reads as a blank line and goes to ``long_lines``."""
    mode: str | None = None
    state = _TsvState()
    ts_type: pa.DataType | None = None
    with log.open_binary(long_lines=long_lines) as stream:
        for piece in _pieces(stream, max(1, chunk_rows), _block_bytes(chunk_rows)):
            view = np.frombuffer(piece.data, dtype=np.uint8)
            heads = view[piece.starts[:-1]]  # first byte of each line: meta (#) and blank lines stand out
            lengths = np.diff(piece.starts)
            blank = (lengths <= 1) | ((lengths == 2) & (heads == _CR))
            if mode is None:
                firsts = np.flatnonzero(~blank)
                if len(firsts):
                    mode = "tsv" if heads[firsts[0]] == _HASH else "json"
            meta = (heads == _HASH) & ~blank
            special = np.flatnonzero(meta | blank)
            parts: list[_Parsed] = []
            start = 0
            for stop in [*special.tolist(), piece.n]:
                if stop > start:
                    if mode == "tsv":
                        parts.append(_tsv_range(piece, start, stop, state, wanted))
                    else:
                        if ts_type is None:
                            ts_type = _guess_ts_type(piece, start, stop)
                        parts.append(_json_range(piece, start, stop, wanted, ts_type))
                if stop < piece.n and meta[stop] and mode == "tsv":
                    state.apply(piece.text(stop))
                start = stop + 1
            if parts:
                yield piece, _concat(parts, wanted)


def _guess_ts_type(piece: _Piece, a: int, b: int) -> pa.DataType:
    """The ``ts`` type the JSON writer was configured with, from the first line that says."""
    for i in range(a, min(b, a + 100)):
        try:
            value = loads(piece.span(i, i + 1)).get("ts")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, str):
            return pa.string()
        if isinstance(value, (int, float)):
            return pa.float64()
    return pa.float64()


# --------------------------------------------------------------------------------------------------------------
# Checking values (per chunk, vectorized; per distinct value where a Python check is needed)


def _codes(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Dictionary codes (-1 for null) and the distinct values."""
    encoded = pc.dictionary_encode(arr)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _numbers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN when null or not a number) and the mask of non-null cells that are not numbers."""
    n = len(arr)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
    if not pa.types.is_string(arr.type):
        arr = _to_text(arr)
    try:
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    series = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & series.notna().to_numpy()
    return values, bad


def _counts(arr: pa.Array, upper: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole numbers 0..upper: (int64 values, null mask, bad mask)."""
    values, bad = _numbers(arr)
    null = np.isnan(values) & ~bad
    ok = ~np.isnan(values)
    bad |= ok & ~((values >= 0) & (values <= upper) & (np.floor(values) == values))
    out = np.where(ok & ~bad, values, 0).astype(np.int64)
    return out, null, bad


_EPOCH = r"^[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$"


def _timestamps(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch microseconds (int64), null mask, bad mask. Numbers above 1e11 are milliseconds (``TS_MILLIS``)."""
    n = len(arr)
    seconds = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            seconds = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # ISO 8601 text, or some broken cells
            seconds = np.full(n, np.nan)
            numeric = pc.fill_null(pc.match_substring_regex(arr, _EPOCH), False).to_numpy(zero_copy_only=False)
            if numeric.any():
                rows = np.flatnonzero(numeric)
                seconds[rows] = pc.cast(arr.take(pa.array(rows)), pa.float64()).to_numpy(zero_copy_only=False)
            present = arr.is_valid().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(present & ~numeric)
            if len(rows):
                text = pd.Series(arr.take(pa.array(rows)).to_numpy(zero_copy_only=False), dtype=object)
                iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
                got = iso.notna().to_numpy()
                naive = iso[got].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
                seconds[rows[got]] = naive.astype("datetime64[us]").astype(np.int64) / 1e6
            bad = present & np.isnan(seconds)
    else:
        seconds, bad = _numbers(arr)
        bad = bad.copy()
    null = np.isnan(seconds) & ~bad
    millis = np.abs(np.nan_to_num(seconds)) > 1e11
    seconds = np.where(millis, seconds / 1000.0, seconds)
    bad |= ~np.isnan(seconds) & (np.abs(np.nan_to_num(seconds)) > 1e10)  # past year 2286: not a Zeek time
    ok = ~np.isnan(seconds) & ~bad
    micros = np.zeros(n, dtype=np.int64)
    micros[ok] = np.round(seconds[ok] * 1e6).astype(np.int64)
    return micros, null, bad


def _ip_mask(arr: pa.Array) -> np.ndarray:
    """Which cells are IP addresses (null cells: False), by the strict parser the evaluator uses."""
    return ip_cells(_to_text(arr))


def _addresses(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(null mask, bad mask) of an address column."""
    null = ~arr.is_valid().to_numpy(zero_copy_only=False)
    return null, ~null & ~_ip_mask(arr)


def _protocols(arr: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(protocol names, null mask, unknown mask)."""
    codes, uniques = _codes(_to_text(arr))
    names = [_PROTOCOLS.get(u.strip().lower()) for u in uniques]
    known = np.array([name is not None for name in names] + [False], dtype=bool)
    null = codes < 0
    out = pa.array(names, type=pa.string()).take(pa.array(codes, mask=null | ~known[codes]))
    return out, null, ~null & ~known[codes]


_LOCAL_ORIG = {"t": True, "true": True, "f": False, "false": False}


def _local_orig(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(inbound mask, bad mask): F is inbound; T and unset are outbound."""
    if pa.types.is_boolean(arr.type):
        values = pc.fill_null(arr, True).to_numpy(zero_copy_only=False)
        return ~values, np.zeros(len(arr), dtype=bool)
    codes, uniques = _codes(_to_text(arr))
    meaning = [_LOCAL_ORIG.get(u.strip().lower()) for u in uniques]
    inbound = np.array([m is False for m in meaning] + [False], dtype=bool)
    bad = np.array([m is None for m in meaning] + [False], dtype=bool)
    return inbound[codes], bad[codes]


def _objects(arr: pa.Array) -> np.ndarray:
    return _to_text(arr).to_numpy(zero_copy_only=False)


# --------------------------------------------------------------------------------------------------------------
# Companion logs: naming destinations


_NAME_CACHE_LIMIT = 1_000_000
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63],
                dtype=np.uint64)


def _host_name(text: str | None, cache: dict) -> str | None:
    """A usable destination name, or None (unset, an IP literal, not a host name)."""
    if text is None:
        return None
    if text in cache:
        return cache[text]
    value = text.strip()
    if value.startswith("["):  # [v6]:port
        name = None
    else:
        if value.count(":") == 1:
            value = value.split(":", 1)[0]
        try:
            ipaddress.ip_address(value)
            name = None
        except ValueError:
            name = try_normalize_host(value)
    if len(cache) < _NAME_CACHE_LIMIT:
        cache[text] = name
    return name


def _words(arr: pa.Array, width: int) -> np.ndarray | None:
    """Each string as ``width // 8`` uint64 words (its bytes, NUL-padded); None when one is longer than ``width``.

    This lets a chunk's uids / addresses be looked up with integer hashing, without making Python strings."""
    arr = pc.fill_null(_to_text(arr), "")
    if len(arr) and pc.max(pc.binary_length(arr)).as_py() > width:
        return None
    padded = pc.ascii_rpad(arr, width=width, padding="\0")
    if isinstance(padded, pa.ChunkedArray):
        padded = padded.combine_chunks()
    n = len(padded)
    if n == 0:
        return np.zeros((0, width // 8), dtype=np.uint64)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)[padded.offset : padded.offset + n + 1]
    if offsets[-1] - offsets[0] != width * n:  # not plain bytes after all
        return None
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(n, width).view(np.uint64)


def _mix(words: np.ndarray) -> np.ndarray:
    out = np.zeros(len(words), dtype=np.uint64)
    for j in range(words.shape[1]):
        out ^= words[:, j] * _MIX[j]
    return out


class _StringTable:
    """Distinct strings, looked up by position. Short plain strings (uids, addresses) are hashed as integers and
    the match verified on the full bytes; otherwise an object index is used."""

    def __init__(self, values: pa.Array, width: int):
        self.width = width
        words = _words(values, width)
        if words is not None:
            hashes = _mix(words)
            first = ~pd.Series(hashes).duplicated(keep="first").to_numpy()
            self.first = np.flatnonzero(first)
            self.words: np.ndarray | None = words[first]
            self.index = pd.Index(hashes[first])
        else:
            objects = _objects(values)
            first = ~pd.Index(objects, dtype=object).duplicated(keep="first")
            self.first = np.flatnonzero(first)
            self.words = None
            self.index = pd.Index(objects[first], dtype=object)

    def __len__(self) -> int:
        return len(self.index)

    def positions(self, values: pa.Array) -> np.ndarray:
        """Position of each value in the table, -1 when absent (or null)."""
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        if self.words is None:
            pos = self.index.get_indexer(_objects(values))
        else:
            words = _words(values, self.width)
            if words is None:  # some values are longer than any key: they cannot be in the table
                short = pc.less_equal(pc.binary_length(pc.fill_null(_to_text(values), "")), self.width)
                values = pc.if_else(short, values, pa.scalar(None, type=values.type))
                valid &= short.to_numpy(zero_copy_only=False)
                words = _words(values, self.width)
            pos = self.index.get_indexer(_mix(words))
            hit = pos >= 0
            hit[hit] = (self.words[pos[hit]] == words[hit]).all(axis=1)
            pos = np.where(hit, pos, -1)
        return np.where(valid, pos, -1)


@dataclass
class _DnsNames:
    """Answered address → query names over time, as sorted integer keys ``address code * span + time slot``."""

    addresses: _StringTable
    keys: np.ndarray  # int64, sorted
    names: np.ndarray  # int64 index into the names array, aligned with keys
    group_start: np.ndarray  # first key position of each address
    t0: int
    step: int
    span: int

    def lookup(self, addresses: pa.Array, micros: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Index of the name for each address (-1: none)."""
        out = np.full(len(addresses), -1, dtype=np.int64)
        code = self.addresses.positions(addresses)
        hit = np.flatnonzero(code >= 0)
        if not len(hit):
            return out
        c = code[hit]
        slot = np.clip((micros[hit] - self.t0) // self.step + 1, 0, self.span - 1)
        slot = np.where(known[hit], slot, self.span - 1)
        pos = np.searchsorted(self.keys, c * self.span + slot, side="right") - 1
        pos = np.maximum(pos, self.group_start[c])  # nothing at or before: the earliest answer after
        out[hit] = self.names[pos]
        return out


_UNSEEN = -1  # no companion saw the connection
_SEEN_NO_NAME = -2  # ssl.log saw it, without SNI


@dataclass
class _Names:
    """Every usable name of the companions, and how to find one per connection."""

    names: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))
    by_uid: list[tuple[_StringTable, np.ndarray]] = field(default_factory=list)  # ssl first, then http
    dns: _DnsNames | None = None

    def name(self, uids: pa.Array, resp_h: pa.Array, micros: np.ndarray, known_ts: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """Per connection: its name (or null), and whether a companion saw the connection at all.

        A connection ssl.log saw without SNI stays nameless (the firewall would see no name either); only one
        no companion saw falls back to DNS answers, and without a name it counts as "name not logged"."""
        n = len(uids)
        pos = np.full(n, _UNSEEN, dtype=np.int64)
        for table, name_of in self.by_uid:
            todo = np.flatnonzero(pos == _UNSEEN)
            if not len(todo) or not len(table):
                continue
            found = table.positions(uids.take(pa.array(todo)) if len(todo) < n else uids)
            pos[todo] = np.where(found >= 0, name_of[np.maximum(found, 0)], _UNSEEN)
        seen = pos != _UNSEEN
        if self.dns is not None:
            todo = np.flatnonzero(pos == _UNSEEN)
            if len(todo):
                sub = resp_h.take(pa.array(todo)) if len(todo) < n else resp_h
                pos[todo] = self.dns.lookup(sub, micros[todo], known_ts[todo])
        return self.names.take(pa.array(np.maximum(pos, 0), mask=pos < 0)), seen | (pos >= 0)


def companion_paths(conn: Path) -> dict[str, Path]:
    """The ssl/http/dns logs next to a conn log that exist (``conn`` replaced in the file name)."""
    found: dict[str, Path] = {}
    if "conn" not in conn.name:
        return found
    for kind, _ in _COMPANIONS:
        name = conn.name.replace("conn", kind, 1)
        candidates = [name, name[:-3] if name.endswith(".gz") else name + ".gz"]
        for candidate in candidates:
            path = conn.with_name(candidate)
            if path.is_file() and path != conn:
                found[kind] = path
                break
    return found


class _NameList:
    """Distinct normalized names, numbered."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.cache: dict = {}

    def codes(self, raw: pa.Array) -> np.ndarray:
        """Name number per cell (-1: unusable)."""
        codes, uniques = _codes(_to_text(raw))
        numbers = []
        for value in uniques:
            name = _host_name(value, self.cache)
            numbers.append(-1 if name is None else self.number.setdefault(name, len(self.number)))
        return np.array([*numbers, -1], dtype=np.int64)[codes]

    def array(self) -> pa.Array:
        return pa.array(list(self.number), type=pa.string())


def _noting_long_lines(ledger: RecordLedger, kind: str) -> LongLineHandler:
    """A companion's over-long line names nothing: a warning, not a record (like its other bad lines)."""
    return lambda line, head: ledger.note(f"{kind}.log lines over the line limit, passed over")


def _load_uid_names(path: Path, wanted: dict[str, tuple[str, str]], names: _NameList,
                    ledger: RecordLedger, kind: str) -> tuple[_StringTable, np.ndarray]:
    uids: list[pa.Array] = []
    codes: list[np.ndarray] = []
    for _, parsed in _parse_file(LogFile(path), _COMPANION_CHUNK, wanted, _noting_long_lines(ledger, kind)):
        if parsed.bad:  # a companion's bad line names nothing; say so without counting it as a record
            ledger.note(f"unreadable {kind}.log lines", len(parsed.bad))
        if not len(parsed.rows):
            continue
        code = names.codes(parsed.cols["name"])
        if kind == "ssl":  # a TLS connection logged without SNI: known to have no name
            code = np.where(code >= 0, code, _SEEN_NO_NAME)
        keep = np.flatnonzero((code != _UNSEEN) & parsed.cols["uid"].is_valid().to_numpy(zero_copy_only=False))
        uids.append(_to_text(parsed.cols["uid"]).take(pa.array(keep)))
        codes.append(code[keep])
    table = _StringTable(pa.concat_arrays(uids) if uids else pa.array([], type=pa.string()), 24)
    all_codes = np.concatenate(codes) if codes else np.array([], dtype=np.int64)
    return table, all_codes[table.first]


def _load_dns_names(path: Path, names: _NameList, ledger: RecordLedger) -> _DnsNames | None:
    ips: list[pa.Array] = []
    times: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for _, parsed in _parse_file(LogFile(path), _COMPANION_CHUNK, _DNS_FIELDS, _noting_long_lines(ledger, "dns")):
        if parsed.bad:
            ledger.note("unreadable dns.log lines", len(parsed.bad))
        answers = parsed.cols.get("answers")
        if not len(parsed.rows) or answers is None:
            continue
        micros, _, bad_ts = _timestamps(parsed.cols["ts"])
        code = names.codes(parsed.cols["name"])
        flat = pc.list_flatten(answers)
        if not len(flat):
            continue
        parent = pc.list_parent_indices(answers).to_numpy(zero_copy_only=False)
        keep = np.flatnonzero(_ip_mask(flat) & (code[parent] >= 0) & ~bad_ts[parent])
        ips.append(_to_text(flat).take(pa.array(keep)))
        times.append(micros[parent[keep]])
        codes.append(code[parent[keep]])
    if not ips or not sum(len(i) for i in ips):
        return None
    ip = pa.concat_arrays(ips)
    t = np.concatenate(times)
    name = np.concatenate(codes)
    table = _StringTable(ip, 40)
    group = table.positions(ip)
    order = np.lexsort((t, group))
    group, t, name = group[order], t[order], name[order]
    t0 = int(t.min())
    width = int(t.max()) - t0
    step = 1
    while len(table) * (width // step + 3) >= (1 << 62):
        step *= 10
    span = width // step + 3  # slot 0: before every answer; 1..: answers; span - 1: after every answer
    keys = group.astype(np.int64) * span + ((t - t0) // step + 1)
    group_start = np.searchsorted(group, np.arange(len(table)), side="left")
    return _DnsNames(table, keys, name, group_start, t0, step, span)


def _load_names(conn: Path, ledger: RecordLedger) -> _Names:
    paths = companion_paths(conn)
    names = _NameList()
    found = _Names()
    for kind, wanted in _COMPANIONS[:2]:
        if kind in paths:
            found.by_uid.append(_load_uid_names(paths[kind], wanted, names, ledger, kind))
    if "dns" in paths:
        found.dns = _load_dns_names(paths["dns"], names, ledger)
    found.names = names.array()
    return found


# --------------------------------------------------------------------------------------------------------------
# Format detection


def _first_lines(head: bytes, count: int = 20) -> list[bytes]:
    head = head.removeprefix(b"\xef\xbb\xbf")
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:count]]
    return [line for line in lines if line.strip()]


def _classify_keys(keys: set[str], file_name: str) -> str | None:
    if "uid" not in keys or "id.orig_h" not in keys:
        return None
    kinds = [kind for kind, markers in _MARKERS.items() if keys & markers]
    if len(kinds) == 1:
        return kinds[0]
    hint = file_name.split(".", 1)[0].lower()
    if hint in _MARKERS and (not kinds or hint in kinds) and keys >= _NEEDED[hint]:
        return hint
    return None


def zeek_kind(head: bytes, file_name: str) -> str | None:
    """``conn``, ``ssl``, ``http``, ``dns``, another Zeek ``#path``, or None when the head is not a Zeek log."""
    lines = _first_lines(head)
    if not lines:
        return None
    if lines[0].startswith(b"#separator"):
        state = _TsvState()
        for line in lines:
            if not line.startswith(b"#"):
                break
            state.apply(line.decode("utf-8", errors="replace"))
        if state.path:
            return state.path
        return _classify_keys(set(state.fields or ()), file_name)
    if not lines[0].startswith(b"{"):
        return None
    try:
        obj = loads(lines[0])
        keys = set(obj) if isinstance(obj, dict) else set()
    except ValueError:  # a line longer than the head: look at the keys' text
        text = lines[0].decode("utf-8", errors="replace")
        keys = {k for k in {"uid", "id.orig_h"} | set().union(*_MARKERS.values()) if f'"{k}"' in text}
    return _classify_keys(keys, file_name)


# --------------------------------------------------------------------------------------------------------------
# The readers


class ZeekConnReader:
    name = "zeek"
    description = "Zeek conn.log (TSV or JSON), named from ssl.log SNI, http.log Host and dns.log answers"

    def sniff(self, head: bytes, file_name: str) -> bool:
        return zeek_kind(head, file_name) == "conn"

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        names = _load_names(log.path, ledger)
        for piece, parsed in _parse_file(log, chunk_rows, _CONN_FIELDS, rejects_long_lines(log, ledger)):
            frame = _conn_frame(log, piece, parsed, ledger, names)
            if frame is not None:
                yield frame


def _conn_frame(log: LogFile, piece: _Piece, parsed: _Parsed, ledger: RecordLedger, names: _Names) -> pd.DataFrame | None:
    cols = parsed.cols
    n = len(parsed.rows)
    ledger.read(n + len(parsed.bad))
    failed: dict[str, np.ndarray] = {}
    if n:
        _, src_bad = _addresses(cols["orig_h"])  # an unset originator is allowed
        dst_null, dst_bad = _addresses(cols["resp_h"])
        _, _, sport_bad = _counts(cols["orig_p"], 65535)
        dport, dport_null, dport_bad = _counts(cols["resp_p"], 65535)
        proto, proto_null, proto_bad = _protocols(cols["proto"])
        out_b, out_null, out_bad = _counts(cols["orig_bytes"], 2.0**62)
        in_b, in_null, in_bad = _counts(cols["resp_bytes"], 2.0**62)
        micros, ts_null, ts_bad = _timestamps(cols["ts"])
        inbound, local_bad = _local_orig(cols["local_orig"])
        failed = {
            "missing_field": dst_null | dport_null | proto_null,
            "invalid_ip": src_bad | dst_bad,
            "invalid_port": sport_bad | dport_bad,
            "unknown_protocol": proto_bad,
            "invalid_byte_count": out_bad | in_bad,
            "invalid_timestamp": ts_bad,
            "invalid_local_orig": local_bad,
        }
    reason = np.full(n, -1, dtype=np.int8)
    for code in range(len(_CHECKS) - 1, -1, -1):
        if _CHECKS[code] in failed:
            reason[failed[_CHECKS[code]]] = code
    bad = list(parsed.bad) + [(int(parsed.rows[i]), _CHECKS[reason[i]]) for i in np.flatnonzero(reason >= 0)]
    for index, why in sorted(bad):
        ledger.reject(why, f"{log.name}:{piece.first_line + index}", piece.text(index))
    if not n:
        return None
    valid = reason < 0
    skipped = valid & inbound
    if skipped.any():
        ledger.skip("inbound", int(skipped.sum()))
    keep = np.flatnonzero(valid & ~inbound)
    if not len(keep):
        return None
    take = pa.array(keep)
    resp_h = _to_text(cols["resp_h"]).take(take)
    k_micros = micros[keep]
    k_ts_known = ~ts_null[keep]
    lines = pa.array(piece.first_line + parsed.rows[keep])
    fqdn, name_seen = names.name(_to_text(cols["uid"]).take(take), resp_h, k_micros, k_ts_known)
    table = pa.table(
        {
            "ts": pa.array(k_micros, type=pa.timestamp("us", tz="UTC"), mask=~k_ts_known),
            "src_ip": _to_text(cols["orig_h"]).take(take),
            "dst_ip": resp_h,
            "dst_port": pa.array(dport[keep]),
            "protocol": proto.take(take),
            "fqdn": fqdn,
            "name_logged": pa.array(name_seen),
            "bytes_out": pa.array(out_b[keep], mask=out_null[keep]),
            "bytes_in": pa.array(in_b[keep], mask=in_null[keep]),
            "source": pc.binary_join_element_wise(f"{log.name}:", pc.cast(lines, pa.string()), ""),
        }
    )
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


class ZeekCompanionReader:
    name = "zeek-companion"
    description = ("Zeek logs other than conn.log (ssl, http, dns read through their conn.log; weird, files, x509 "
                   "and the rest): no flows of their own")

    def sniff(self, head: bytes, file_name: str) -> bool:
        kind = zeek_kind(head, file_name)
        return kind is not None and kind != "conn"

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        return iter(())


READER = ZeekConnReader()
COMPANION_READER = ZeekCompanionReader()
