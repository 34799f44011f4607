"""Zeek's two line encodings read into columns: TSV with ``#`` meta lines, and JSON lines.

Shared by the conn.log format (``zeek``) and the companion join (``zeek_names``): a block of whole lines (the
engine's ``LineBlock``) becomes the text (or JSON-typed) columns a caller asked for, for the lines that parse,
plus the lines that do not (``wrong_field_count``, ``invalid_utf8``, ``no_fields_header``, ``invalid_json``,
``truncated_json``, ``not_a_json_object``). Meta (``#``) and blank lines are no records.

TSV (Zeek ``base/frameworks/logging/writers/ascii.zeek``): ``#separator`` (written ``\\x09``, separated from its
value by a space), ``#set_separator``, ``#empty_field``, ``#unset_field``, ``#path``, ``#fields`` set how the
following lines split; a later ``#fields`` block (concatenated logs) takes over from there; the unset (``-``)
and empty (``(empty)``) markers both read as "no value". A run of data lines is split by ``pyarrow.csv`` in one
call (its bad-row handler names the lines with a wrong field count); an odd separator, duplicated field names or
stray carriage returns go line by line in Python. JSON: one object per line, keys as in ``#fields``; each line
decoded by orjson (Python's decoder only for a line orjson refuses, to name the error).

What the cells mean (time, counts): ``zeek_values``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..engine.blocks import NEWLINE, LineBlock, LongLine, line_blocks
from ..engine.files import LogFile
from ..engine.format import default_block_bytes
from ..engine.jsondecode import loads
from .zeek_values import to_text

_HASH = ord("#")
_CR = 13

Wanted = dict[str, tuple[str, str]]  # canonical name -> (Zeek field name, JSON value kind: str/int/bool/ts/list)


# --------------------------------------------------------------------------------------------------------------
# TSV meta lines


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass
class TsvState:
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
            value = line[len("#separator"):].strip(" ")
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


@dataclass
class Reading:
    """Per-file state: the encoding (decided by the first non-blank line), the TSV meta state, the JSON ``ts``
    type."""

    mode: str | None = None  # "tsv" | "json"
    tsv: TsvState = field(default_factory=TsvState)


@dataclass
class Parsed:
    """A block read: ``records`` marks the lines that are records (not meta, not blank); of those, ``rows`` are
    the ones that parsed (their columns in ``cols``, canonical names, in line order) and ``bad`` the others, as
    (line index in the block, reason)."""

    records: np.ndarray
    cols: dict[str, pa.Array]
    rows: np.ndarray
    bad: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Run:
    cols: dict[str, pa.Array]
    rows: np.ndarray
    bad: list[tuple[int, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# A block of lines


def _plain(data: bytes) -> bool:
    """Whether every line of ``data`` is a data line (no meta line, no blank line): a JSON block read whole."""
    return bool(data) and data[0] not in b"#\n" and not data.startswith(b"\r\n") and data != b"\r" \
        and b"\n#" not in data and b"\n\n" not in data and b"\n\r\n" not in data and not data.endswith(b"\n\r")


_MAX_HASHES = 256  # "#" bytes looked at in a block before it is read line by line (meta lines are few)


def _meta_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Byte spans of the lines that start with ``#`` (meta lines), found by scanning for ``#`` alone; None when
    the block holds too many ``#`` to look at each."""
    spans: list[tuple[int, int]] = []
    pos, looked = data.find(b"#"), 0
    while pos >= 0:
        looked += 1
        if looked > _MAX_HASHES:
            return None
        if pos == 0 or data[pos - 1] == NEWLINE:
            end = data.find(b"\n", pos) + 1 or len(data)
            spans.append((pos, end))
            pos = data.find(b"#", end)
        else:
            pos = data.find(b"#", pos + 1)
    return spans


def _meta_line_number(data: bytes, n: int, line: int, at: int, start: int, end: int) -> int:
    """The number in the block of the meta line at bytes ``start .. end``, the newlines counted on the shorter
    side: from ``at`` (the end of the previous meta line, whose next line is number ``line``) or from the
    block's end (a ``#close`` line is the last)."""
    if start - at <= len(data) - end:
        return line + data.count(b"\n", at, start)
    after = data.count(b"\n", end) + (0 if end == len(data) or data.endswith(b"\n") else 1)
    return n - 1 - after


def _tsv_quick(block: LineBlock, reading: Reading, wanted: Wanted) -> Parsed | None:
    """A TSV block read as a few runs of data lines between its meta lines, without finding every line start;
    None when the block needs the line-by-line look (a blank line, many ``#``, odd lines), its state untouched."""
    data = block.data
    spans = _meta_spans(data)
    if spans is None:
        return None
    saved = replace(reading.tsv)
    records = np.ones(block.n, dtype=bool)
    runs: list[_Run] = []
    line = at = 0
    for start, end in [*spans, (len(data), len(data))]:
        n = _meta_line_number(data, block.n, line, at, start, end) - line if start < len(data) else block.n - line
        if n:
            part = LineBlock(data[at:start], block.first_line + line, block.offset + at, n)
            run = None if part.data[0] in b"\r\n" or reading.tsv.fields is None else \
                _tsv_range(part, 0, n, reading.tsv, wanted, whole=True)
            if run is None:
                reading.tsv = saved
                return None
            runs.append(_Run(run.cols, run.rows + line, [(i + line, why) for i, why in run.bad]))
        if start < len(data):
            records[line + n] = False
            reading.tsv.apply(data[start:end].rstrip(b"\r\n").decode("utf-8", errors="replace"))
            line += n + 1
        at = end
    reading.mode = "tsv"
    if not runs:
        return Parsed(records, {}, np.array([], dtype=np.int64))
    run = _concat(runs, wanted)
    return Parsed(records, run.cols, run.rows, run.bad)


def parse_block(block: LineBlock, reading: Reading, wanted: Wanted) -> Parsed:
    """The block's lines as columns (``wanted``), the meta lines applied in their place."""
    if reading.mode == "tsv" or (reading.mode is None and block.data[:1] == b"#"):
        quick = _tsv_quick(block, reading, wanted)
        if quick is not None:
            return quick
    elif reading.mode == "json" and _plain(block.data):
        run = _run(block, 0, block.n, reading, wanted)
        return Parsed(np.ones(block.n, dtype=bool), run.cols, run.rows, run.bad)
    view = np.frombuffer(block.data, dtype=np.uint8)
    starts = block.starts
    heads = view[starts[:-1]]  # first byte of each line: meta (#) and blank lines stand out
    lengths = np.diff(starts)
    blank = (lengths <= 1) | ((lengths == 2) & (heads == _CR))
    if reading.mode is None:
        firsts = np.flatnonzero(~blank)
        if len(firsts):
            reading.mode = "tsv" if heads[firsts[0]] == _HASH else "json"
    meta = (heads == _HASH) & ~blank
    special = np.flatnonzero(meta | blank)
    runs: list[_Run] = []
    start = 0
    for stop in [*special.tolist(), block.n]:
        if stop > start:
            runs.append(_run(block, start, stop, reading, wanted))
        if stop < block.n and meta[stop] and reading.mode == "tsv":
            reading.tsv.apply(block.text(stop))
        start = stop + 1
    records = ~(meta | blank)
    if not runs:
        return Parsed(records, {}, np.array([], dtype=np.int64))
    run = _concat(runs, wanted)
    return Parsed(records, run.cols, run.rows, run.bad)


def _run(block: LineBlock, a: int, b: int, reading: Reading, wanted: Wanted) -> _Run:
    """Data lines ``[a, b)`` of the block."""
    if reading.mode == "tsv":
        run = _tsv_range(block, a, b, reading.tsv, wanted)
        assert run is not None
        return run
    return _json_range(block, a, b, wanted)


def read_file(log: LogFile, chunk_rows: int, wanted: Wanted, max_line_bytes: int
              ) -> Iterator[tuple[LineBlock, Parsed] | LongLine]:
    """Every block of the file with its parsed lines, and the over-long lines in their place."""
    reading = Reading()
    with log.open_binary() as stream:
        for item in line_blocks(stream, default_block_bytes(chunk_rows), max(1, chunk_rows), max_line_bytes):
            yield item if isinstance(item, LongLine) else (item, parse_block(item, reading, wanted))


# --------------------------------------------------------------------------------------------------------------
# TSV runs


def _utf8_split(block: LineBlock, a: int, b: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Lines of ``[a, b)`` that decode as UTF-8, and the ones that do not."""
    data = block.span(a, b)
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
            block.span(i, i + 1).decode("utf-8")
            good.append(i)
        except UnicodeDecodeError:
            bad.append((i, "invalid_utf8"))
    return np.array(good, dtype=np.int64), bad


def _join(block: LineBlock, rows: np.ndarray) -> bytes:
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return block.span(int(rows[0]), int(rows[-1]) + 1)
    return b"".join(block.span(int(i), int(i) + 1) for i in rows)


def null_strings(n: int) -> pa.Array:
    return pa.nulls(n, type=pa.string())


def _tsv_range(block: LineBlock, a: int, b: int, state: TsvState, wanted: Wanted, whole: bool = False) -> _Run | None:
    """Lines ``[a, b)``, all data lines; ``whole``: the lines may hold a blank one, in which case (or when the
    lines need the line-by-line split) None says to read the block line by line."""
    if state.fields is None:
        return _Run({}, np.array([], dtype=np.int64), [(i, "no_fields_header") for i in range(a, b)])
    rows, bad = _utf8_split(block, a, b)
    data = _join(block, rows)
    fields = state.fields
    simple = (len(state.sep) == 1 and len(set(fields)) == len(fields)
              and not (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")))
    if whole and not (simple and len(rows)):
        return None
    run = _tsv_arrow(data, rows, state, wanted, whole) if simple and len(rows) else None
    if run is None:
        if whole:
            return None
        run = _tsv_python(block, rows, state, wanted)
    run.bad = sorted(bad + run.bad) if bad else run.bad
    for name, (_, kind) in wanted.items():
        if kind == "list" and name in run.cols:  # a Zeek set or vector: one cell, items joined
            run.cols[name] = pc.split_pattern(run.cols[name], pattern=state.set_sep)
    return run


def _tsv_arrow(data: bytes, rows: np.ndarray, state: TsvState, wanted: Wanted, whole: bool = False) -> _Run | None:
    fields = state.fields
    assert fields is not None
    include = sorted({zeek for zeek, _ in wanted.values() if zeek in fields}, key=fields.index)
    if not include:
        include = [fields[0]]
    invalid: list[int | None] = []

    def on_invalid(row) -> str:
        invalid.append(row.number)
        return "skip"

    try:  # one thread: the bad-row handler then knows each row's number
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=fields, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=state.sep, quote_char=False, escape_char=False,
                                             double_quote=False, newlines_in_values=False, ignore_empty_lines=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(include_columns=include,
                                                 column_types={name: pa.string() for name in include},
                                                 null_values=state.nulls, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows + len(invalid) != len(rows) or any(number is None or number < 1 for number in invalid):
        return None
    if whole and _blank_rows(table):
        return None
    bad_positions = np.array(sorted(invalid), dtype=np.int64) - 1
    bad = [(int(rows[p]), "wrong_field_count") for p in bad_positions]
    good = np.delete(rows, bad_positions) if len(bad_positions) else rows
    cols = {}
    for name, (zeek, _) in wanted.items():
        cols[name] = table.column(zeek).combine_chunks() if zeek in include else null_strings(table.num_rows)
    return _Run(cols, good, bad)


def _blank_rows(table: pa.Table) -> bool:
    """Whether a row has every column read null: ``pyarrow.csv`` reads a blank line so (it is no record), and
    so does a line whose every wanted cell is unset."""
    if not table.num_columns or not all(column.null_count for column in table.columns):
        return False
    nothing = table.column(0).is_null()
    for column in table.columns[1:]:
        nothing = pc.and_(nothing, column.is_null())
    return bool(pc.any(nothing).as_py())


def _tsv_python(block: LineBlock, rows: np.ndarray, state: TsvState, wanted: Wanted) -> _Run:
    """Line by line (any separator, duplicated field names, stray carriage returns)."""
    fields = state.fields
    assert fields is not None
    nulls = set(state.nulls)
    positions = {name: (fields.index(zeek) if zeek in fields else None) for name, (zeek, _) in wanted.items()}
    values: dict[str, list] = {name: [] for name in wanted}
    good, bad = [], []
    for i in rows:
        parts = block.span(int(i), int(i) + 1).decode("utf-8").rstrip("\r\n").split(state.sep)
        if len(parts) != len(fields):
            bad.append((int(i), "wrong_field_count"))
            continue
        good.append(int(i))
        for name, pos in positions.items():
            value = parts[pos] if pos is not None else None
            values[name].append(None if value is None or value in nulls else value)
    cols = {name: pa.array(vals, type=pa.string()) for name, vals in values.items()}
    return _Run(cols, np.array(good, dtype=np.int64), bad)


# --------------------------------------------------------------------------------------------------------------
# JSON runs


def _json_range(block: LineBlock, a: int, b: int, wanted: Wanted) -> _Run:
    """JSON lines ``[a, b)``: each decoded by orjson (Python's decoder only for a line orjson refuses, which then
    names the error exactly). pyarrow's JSON reader is not used on logs: on fuzzed input it crashed the process
    (a segmentation fault in one of its worker threads, pyarrow 26), which no ``except`` can turn into a reject."""
    rows, bad = _utf8_split(block, a, b)
    run = _json_python(block, rows, wanted)
    run.bad = sorted(bad + run.bad)
    return run


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


_UNDECODED = object()


def _json_python(block: LineBlock, rows: np.ndarray, wanted: Wanted) -> _Run:
    """Line by line: finds the broken lines; values become text, checked afterwards like TSV cells."""
    values: dict[str, list] = {name: [] for name in wanted}
    good, bad = [], []
    for i in rows:
        line = block.span(int(i), int(i) + 1)
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = _UNDECODED
        text = ""
        try:
            if obj is _UNDECODED:  # Python's decoder decides (long integers, NaN) and names the error
                text = line.decode("utf-8").rstrip("\r\n")
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
    cols = {name: pa.array(vals, type=pa.list_(pa.string()) if wanted[name][1] == "list" else pa.string())
            for name, vals in values.items()}
    return _Run(cols, np.array(good, dtype=np.int64), bad)


def _concat(runs: list[_Run], wanted: Wanted) -> _Run:
    if len(runs) == 1:
        return runs[0]
    cols = {}
    for name in wanted:
        arrays = [r.cols[name] for r in runs if name in r.cols]
        if len({a.type for a in arrays}) > 1:
            arrays = [a if pa.types.is_list(a.type) else to_text(a) for a in arrays]
        cols[name] = pa.concat_arrays(arrays) if arrays else null_strings(0)
    rows = np.concatenate([r.rows for r in runs]) if runs else np.array([], dtype=np.int64)
    bad = sorted(b for r in runs for b in r.bad)
    return _Run(cols, rows, bad)
