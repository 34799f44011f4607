# Frozen copy of egress_sim/logs/formats/tables.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
"""Flow tables in egress_sim's own schema (README "The flow schema"), as log readers for ``replay``.

CSV (plain or gzip) is read in blocks of lines by ``csvrows`` (every column as text, so nothing is
reinterpreted); a row with the wrong number of fields is rejected with its line number and the rest of the
file goes on. A value cannot span lines. A line over ``limits.MAX_LINE_BYTES`` is rejected
(``line_too_long``) without being held whole.
Parquet keeps its types, within what each flow-schema column can hold (text columns text, counters and ports
numbers or text, ``ts`` a time or text): a column of another type (``compute_name`` as integers, a list column)
makes the file unreadable as a flow table, named with the column, before any of it is evaluated.
One row = one record = one flow. Rows whose ``ts`` is present but not a time are rejected
(``invalid_timestamp``), rows whose ``bytes_out`` / ``bytes_in`` is present but not a whole number of bytes
``invalid_bytes``; every other bad cell is left to the evaluator, which rejects the row with the precise reason
(``invalid_dst_port``, ...). Every chunk leaves with the same column types whatever its file held (``ts`` UTC
times, counters ``Int64``), so files whose columns differ in type are replayed together without clashing.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from egress_sim.base.errors import FlowInputError
from egress_sim.flows.csvrows import Records, duplicated, header_names, parse_block
from .common import LogFile, RecordLedger, rejects_long_lines
from egress_sim.flows.io import open_parquet
from egress_sim.flows.schema import REQUIRED_COLUMNS, check_flow_schema

def _looks_like_our_header(line: str) -> bool:
    names = {c.strip().strip('"').lower() for c in line.split(",")}
    return set(REQUIRED_COLUMNS) <= names and bool(names & {"dst_ip", "fqdn"})


class CsvTableReader:
    name = "csv"
    description = "CSV in egress_sim's flow schema (header with dst_port, protocol and dst_ip or fqdn)"

    def sniff(self, head: bytes, file_name: str) -> bool:
        first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        return _looks_like_our_header(first)

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
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
                yield self._parse_block(lines, first_line, starts, names, log.name, ledger)

    @staticmethod
    def _parse_block(lines: list[str], first_line: int, starts: list[int], names: list[str], name: str,
                     ledger: RecordLedger) -> pd.DataFrame:
        """Parse a block of records (``csvrows``); a malformed row is rejected with its exact line number."""
        block = parse_block(lines, first_line, names, starts)
        for line_number, content in block.bad:
            ledger.read()
            ledger.reject("bad_field_count", f"{name}:{line_number}", content)
        rows = block.table.to_pandas()
        rows["source"] = [f"{name}:{line}" for line in block.lines]
        return _emit(rows, ledger, lambda i: f"{name}:{block.lines[i]}")


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
    """Count the chunk's rows as records; reject rows whose ``ts`` is not a time or whose byte counters are not
    whole numbers; give ``ts`` and the counters one type whatever the file held."""
    ledger.read(len(chunk))
    keep = np.ones(len(chunk), dtype=bool)
    converted: dict[str, pd.Series] = {}
    if "ts" in chunk.columns:
        converted["ts"], bad = _times(chunk["ts"])
        _reject(chunk, bad & keep, "invalid_timestamp", "ts", ledger, where)
        keep &= ~bad
    for column in _COUNT_COLUMNS:
        if column in chunk.columns:
            converted[column], bad = _counts(chunk[column])
            _reject(chunk, bad & keep, "invalid_bytes", column, ledger, where)
            keep &= ~bad
    chunk = chunk.assign(**converted)
    return chunk if keep.all() else chunk.loc[keep]


def _reject(chunk: pd.DataFrame, bad: np.ndarray, reason: str, column: str, ledger: RecordLedger,
            where: Callable[[int], str]) -> None:
    for position in np.flatnonzero(bad):
        ledger.reject(reason, where(int(position)), f"{column}={chunk[column].iloc[position]!s}")


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
