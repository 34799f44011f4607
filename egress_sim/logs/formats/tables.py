"""Flow tables in egress_sim's own schema (README "The flow schema"), as log readers for ``replay``.

CSV (plain or gzip) is read in blocks of lines by ``csvrows`` (every column as text, so nothing is
reinterpreted); a row with the wrong number of fields is rejected with its line number and the rest of the
file goes on. A quoted value may span lines (``csvrows.Records`` gathers such a record's lines; its place is
its first line). A line over ``limits.MAX_LINE_BYTES`` is rejected (``line_too_long``) without being held whole.
Parquet keeps its types, within what each flow-schema column can hold (text columns text, counters and ports
numbers or text, ``ts`` a time or text): a column of another type (``compute_name`` as integers, a list column)
makes the file unreadable as a flow table, named with the column, before any of it is evaluated.
One row = one record = one flow. Rows whose ``ts`` is present but not a time are rejected
(``invalid_timestamp``), rows whose ``bytes_out`` / ``bytes_in`` is present but not a whole number of bytes
``invalid_bytes``; every other bad cell is left to the evaluator, which rejects the row with the precise reason
(``invalid_dst_port``, ...). Every chunk leaves with the same column types whatever its file held (``ts`` UTC
times, counters ``Int64``), so files whose columns differ in type are replayed together without clashing.
Each block's records are booked at once through ``Outcomes`` in file order (malformed lines and checked rows
together), so ``--strict`` names the first bad record and the samples are the first ones in the file. A CSV
flow's ``source`` is ``file:line`` (the file's own ``source`` column is replaced), built in one vectorized pass;
a Parquet row keeps the ``source`` its file holds.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...base.errors import FlowInputError
from ...flows.csvrows import CsvBlock, Records, duplicated, header_names, parse_block
from ...flows.sources import one_head
from ..engine.cells import frames
from ..engine.files import LogFile
from ..engine.ledger import Outcomes, RecordLedger, rejects_long_lines
from ...flows.io import open_parquet
from ...flows.schema import REQUIRED_COLUMNS, check_flow_schema

# One record = one row: a malformed CSV line, then a ``ts`` that is not a time, then a counter that is not a whole
# number of bytes (``bytes_out`` before ``bytes_in``); every other bad cell is the evaluator's to reject.
OUTCOMES = Outcomes(skips=(), rejects=("bad_field_count", "invalid_timestamp", "invalid_bytes"))


def _looks_like_our_header(line: str) -> bool:
    names = {c.strip().strip('"').lower() for c in line.split(",")}
    return set(REQUIRED_COLUMNS) <= names and bool(names & {"dst_ip", "fqdn"})


class CsvTableReader:
    name = "csv"
    description = "CSV in egress_sim's flow schema (header with dst_port, protocol and dst_ip or fqdn)"
    outcomes = OUTCOMES

    def sniff(self, head: bytes, file_name: str) -> bool:
        first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        return _looks_like_our_header(first)

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The flows as pandas frames, ``source`` as text. (Handed out as Arrow tables with the lazy source, their
        text columns would meet another format's numeric ``dst_port`` when chunks of several files are gathered.)"""
        return frames(self._tables(log, ledger, chunk_rows))

    def _tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        with log.open_text(long_lines=rejects_long_lines(log, ledger)) as text:
            header = text.readline().rstrip("\r\n")
            if not header:
                if text.read(1):  # an over-long first line, read as empty: the rows have no header
                    raise FlowInputError(f"{log.name}:1: no header line (the first line is over the line limit)",
                                         file=log.name)
                return
            names = header_names(header)
            if duplicated(names):
                raise FlowInputError(f"{log.name}:1: the header names {', '.join(duplicated(names))} more than once",
                                     file=log.name)
            records = Records(text, 2)
            while True:
                first_line = records.line
                lines, starts = records.take(chunk_rows)
                if not lines:
                    break
                table = _csv_block(parse_block(lines, first_line, names, starts), log.name, ledger)
                if table is not None:
                    yield table


def _csv_block(block: CsvBlock, name: str, ledger: RecordLedger) -> pa.Table | None:
    """Book a block's records in line order (malformed lines and rows together: ``--strict`` names the first bad
    one) and give its flows, ``ts`` as UTC times and the counters as integers, ``source`` as ``file:line``."""
    table = block.table
    checks: list[tuple[str, str, pa.ChunkedArray, np.ndarray]] = []  # (reason, column, cells, bad) in check order
    if "ts" in table.column_names:
        times, bad = _text_times(table.column("ts"))
        checks.append(("invalid_timestamp", "ts", table.column("ts"), bad))
        table = table.set_column(table.column_names.index("ts"), "ts", times)
    for column in _COUNT_COLUMNS:
        if column in table.column_names:
            counts, bad = _text_counts(table.column(column))
            checks.append(("invalid_bytes", column, table.column(column), bad))
            table = table.set_column(table.column_names.index(column), column, counts)
    row_codes, failed = _first_failure(checks, table.num_rows)
    bad_lines = np.array([line for line, _ in block.bad], dtype=np.int64)
    lines = np.concatenate([np.asarray(block.lines, dtype=np.int64), bad_lines])
    codes = np.concatenate([row_codes, np.full(len(bad_lines), OUTCOMES["bad_field_count"], dtype=np.int16)])
    order = np.argsort(lines, kind="stable")
    n_rows = table.num_rows

    def text(i: int) -> str:
        at = int(order[i])
        if at >= n_rows:
            return block.bad[at - n_rows][1]
        _, column, cells, _ = checks[failed[at]]
        return f"{column}={cells[at].as_py()!s}"

    flows = OUTCOMES.account(ledger, codes[order], lambda i: f"{name}:{lines[order[i]]}", text)
    keep = flows[np.argsort(order, kind="stable")][:n_rows]  # back in row order
    if not keep.any():
        return None
    if not keep.all():
        table = table.filter(pa.array(keep))
    if "source" in table.column_names:  # the file's own source column: the flow's source is this file and line
        table = table.drop_columns(["source"])
    return pa.table({**dict(zip(table.column_names, table.columns)),
                     **one_head(f"{name}:", np.asarray(block.lines, dtype=np.int64)[keep])})


def _first_failure(checks: list[tuple[str, str, Any, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's outcome code (the first check it fails, 0 if none) and the index of that check."""
    codes = np.zeros(n, dtype=np.int16)
    failed = np.full(n, -1, dtype=np.int64)
    for index in reversed(range(len(checks))):
        reason, _, _, bad = checks[index]
        codes[bad], failed[bad] = OUTCOMES[reason], index
    return codes, failed


def _text_times(cells: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """``_times`` for text cells: each distinct text parsed once."""
    values = pc.unique(cells.combine_chunks()).drop_null()
    parsed = pd.to_datetime(pd.Series(values.to_pylist(), dtype=object), utc=True, errors="coerce", format="ISO8601")
    times = pa.array(parsed, type=pa.timestamp("ns", tz="UTC")).take(pc.index_in(cells, value_set=values))
    return times, _np(pc.and_(pc.is_null(times), pc.is_valid(cells)))


def _text_counts(cells: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """``_counts`` for text cells: each distinct text judged once."""
    values = pc.unique(cells.combine_chunks()).drop_null()
    found = np.array([_count(v) for v in values.to_pylist()], dtype=np.int64)
    counts = pa.array(np.maximum(found, 0), mask=found < 0).take(pc.index_in(cells, value_set=values))
    return counts, _np(pc.fill_null(pc.equal(pa.array(found).take(pc.index_in(cells, value_set=values)),
                                             _BAD_COUNT), False))


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


# What each flow-schema column may hold in a Parquet file (Arrow type families).
_TEXT_COLUMNS = ("src_ip", "dst_ip", "protocol", "fqdn", "compute_type", "compute_name", "observed_action", "source")
_COUNT_COLUMNS = ("bytes_out", "bytes_in")


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _allowed(column: str, kind: pa.DataType) -> bool:
    if column in _TEXT_COLUMNS:
        return _is_text(kind)
    if column in _COUNT_COLUMNS or column == "dst_port":
        return _is_text(kind) or _is_number(kind)
    if column == "ts":
        return _is_text(kind) or pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    if column == "name_logged":
        return _is_text(kind) or pa.types.is_boolean(kind)
    return True  # a column the flow schema does not know is not read


def check_parquet_schema(schema: pa.Schema, name: str) -> None:
    """Refuse a Parquet file whose flow-schema columns hold a type they cannot (naming file and column): such a
    file would otherwise meet other files' chunks only at the writer ("cannot write")."""
    for column in schema:
        if not _allowed(column.name, column.type):
            raise FlowInputError(f"{name}: column {column.name} holds {column.type} values, which a flow table's "
                                 f"{column.name} cannot hold", file=name)


class ParquetTableReader:
    name = "parquet"
    description = "Parquet in egress_sim's flow schema"

    def sniff(self, head: bytes, file_name: str) -> bool:
        return head[:4] == b"PAR1"

    outcomes = OUTCOMES

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        try:
            parquet = open_parquet(log.path)
            check_flow_schema(parquet.schema_arrow, log.name)  # a list or struct column: one error naming it
            check_parquet_schema(parquet.schema_arrow, log.name)
            done = 0
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield _emit(batch.to_pandas(), ledger, lambda i, base=done: f"{log.name}: row {base + i}")
                done += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise FlowInputError(f"{log.name}: cannot read Parquet: {str(exc).splitlines()[0]}") from None


def _emit(chunk: pd.DataFrame, ledger: RecordLedger, where: Callable[[int], str]) -> pd.DataFrame:
    """Book the chunk's rows as records; reject rows whose ``ts`` is not a time or whose byte counters are not
    whole numbers; give ``ts`` and the counters one type whatever the file held."""
    checks: list[tuple[str, str, Any, np.ndarray]] = []  # (reason, column, cells, bad) in check order
    converted: dict[str, pd.Series] = {}
    if "ts" in chunk.columns:
        converted["ts"], bad = _times(chunk["ts"])
        checks.append(("invalid_timestamp", "ts", chunk["ts"], bad))
    for column in _COUNT_COLUMNS:
        if column in chunk.columns:
            converted[column], bad = _counts(chunk[column])
            checks.append(("invalid_bytes", column, chunk[column], bad))
    codes, failed = _first_failure(checks, len(chunk))

    def text(i: int) -> str:
        _, column, cells, _ = checks[failed[i]]
        return f"{column}={cells.iloc[i]!s}"

    keep = OUTCOMES.account(ledger, codes, where, text)
    chunk = chunk.assign(**converted)
    return chunk if keep.all() else chunk.loc[keep]


def _times(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """UTC times (a time without a zone is taken as UTC), and which present cells are not a time."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC"), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC"), np.zeros(len(values), dtype=bool)
    text = values.astype(object).where(values.notna(), None)
    parsed = pd.to_datetime(text.map(lambda v: v if v is None else str(v)), utc=True, errors="coerce",
                            format="ISO8601")
    return parsed, (parsed.isna() & values.notna()).to_numpy()


def _counts(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Byte counters as ``Int64``, and which present cells are not a whole number 0..2^63 (a fraction, a
    negative, a word: never rounded, and never turned into an empty cell)."""
    if pd.api.types.is_signed_integer_dtype(values.dtype):
        numbers = values.astype("Int64")
        bad = (numbers < 0).fillna(False).to_numpy(dtype=bool)
        return numbers.mask(bad), bad
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    table = np.array([_count(v) for v in uniques] + [_NO_COUNT], dtype=np.int64)
    found = table[codes]  # a missing cell (code -1) takes the last entry
    bad = found == _BAD_COUNT
    numbers = pd.Series(pd.array(np.maximum(found, 0), dtype="Int64"), index=values.index)
    return numbers.mask(found < 0), bad


_NO_COUNT, _BAD_COUNT = -2, -1


def _count(value: object) -> int:
    """One distinct counter cell: its value, or ``_BAD_COUNT``."""
    if isinstance(value, (bool, np.bool_)):
        return _BAD_COUNT
    if isinstance(value, (int, np.integer)):
        return int(value) if 0 <= value < 2**63 else _BAD_COUNT
    if isinstance(value, (float, np.floating)):
        return int(value) if math.isfinite(value) and 0 <= value < 2**63 and float(value).is_integer() else _BAD_COUNT
    if isinstance(value, decimal.Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() and 0 <= value < 2**63 else _BAD_COUNT
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return _BAD_COUNT


CSV_READER = CsvTableReader()
PARQUET_READER = ParquetTableReader()
