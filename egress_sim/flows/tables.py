"""Flow tables in egress_sim's own schema (README "The flow schema"), as log readers for ``replay``.

CSV (plain or gzip) is read in blocks of lines, each parsed by one Arrow call with every column as text, so
nothing is reinterpreted; a row with the wrong number of fields is rejected with its line number and the
rest of the file goes on (a block Arrow cannot parse, such as one with an unterminated quote, is redone line
by line). A value cannot span lines.
Parquet keeps its types. One row = one record = one flow. Rows whose ``ts`` is present but not a time are
rejected (``invalid_timestamp``); every other bad cell is left to the evaluator, which rejects the row with the
precise reason (``invalid_dst_port``, ...).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import FlowInputError
from .logs import LogFile, RecordLedger
from .io import open_parquet
from .schema import REQUIRED_COLUMNS

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
        with log.open_text() as text:
            header = text.readline().rstrip("\r\n")
            if not header:
                return
            names = [c.strip() for c in next(csv.reader([header]))]
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                raise FlowInputError(f"{log.name}:1: the header names {', '.join(duplicated)} more than once")
            read_options = pacsv.ReadOptions(column_names=names)
            convert_options = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                   strings_can_be_null=True, quoted_strings_can_be_null=False)
            first_line = 2
            while lines := list(itertools.islice(text, chunk_rows)):
                yield self._parse_block(lines, first_line, read_options, convert_options, log.name, ledger)
                first_line += len(lines)

    @staticmethod
    def _parse_block(lines: list[str], first_line: int, read_options: pacsv.ReadOptions,
                     convert_options: pacsv.ConvertOptions, name: str, ledger: RecordLedger) -> pd.DataFrame:
        """Parse a block of lines in one Arrow call; a malformed row is rejected with its exact line number."""
        bad_texts: list[str] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            bad_texts.append(row.text)
            return "skip"

        try:
            table = pacsv.read_csv(io.BytesIO("".join(lines).encode("utf-8")), read_options=read_options,
                                   parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
                                   convert_options=convert_options)
        except pa.ArrowInvalid:  # e.g. an unterminated quote: the exact, slow path below decides line by line
            table = None
        # Line numbers of the rows Arrow kept: every non-blank line except the malformed ones, in order.
        bad_left = list(bad_texts)
        kept: list[int] = []
        rejected: list[tuple[int, str]] = []
        for offset, line in enumerate(lines):
            content = line.rstrip("\r\n")
            if not content.strip():
                continue  # blank lines are not records
            if bad_left and content == bad_left[0]:
                bad_left.pop(0)
                rejected.append((first_line + offset, content))
            else:
                kept.append(first_line + offset)
        if table is None or bad_left or len(kept) != table.num_rows:
            return CsvTableReader._parse_lines(lines, first_line, read_options.column_names, name, ledger)
        for line_number, content in rejected:
            ledger.read()
            ledger.reject("bad_field_count", f"{name}:{line_number}", content)
        rows = table.to_pandas()
        rows["source"] = [f"{name}:{line}" for line in kept]
        return _emit(rows, ledger, lambda i: f"{name}:{kept[i]}")

    @staticmethod
    def _parse_lines(lines: list[str], first_line: int, names: list[str], name: str, ledger: RecordLedger) -> pd.DataFrame:
        """One line at a time with the csv module: exact line numbers whatever the block holds (quotes that
        never close, a quoted newline); a line that is not one row of the header's width is rejected."""
        rows: list[list[str | None]] = []
        kept: list[int] = []
        for offset, line in enumerate(lines):
            content = line.rstrip("\r\n")
            if not content.strip():
                continue
            try:
                fields = next(csv.reader([content], strict=True))
            except csv.Error:
                fields = []
            if len(fields) != len(names):
                ledger.read()
                ledger.reject("bad_field_count", f"{name}:{first_line + offset}", content)
                continue
            rows.append([f if f != "" else None for f in fields])
            kept.append(first_line + offset)
        frame = pd.DataFrame(rows, columns=names, dtype=object)
        frame["source"] = [f"{name}:{line}" for line in kept]
        return _emit(frame, ledger, lambda i: f"{name}:{kept[i]}")


class ParquetTableReader:
    name = "parquet"
    description = "Parquet in egress_sim's flow schema"

    def sniff(self, head: bytes, file_name: str) -> bool:
        return head[:4] == b"PAR1"

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        try:
            parquet = open_parquet(log.path)
            done = 0
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield _emit(batch.to_pandas(), ledger, lambda i, base=done: f"{log.name}: row {base + i}")
                done += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise FlowInputError(f"{log.name}: cannot read Parquet: {str(exc).splitlines()[0]}") from None


def _emit(chunk: pd.DataFrame, ledger: RecordLedger, where: Callable[[int], str]) -> pd.DataFrame:
    """Count the chunk's rows as records; reject rows whose ``ts`` is present but not a time."""
    ledger.read(len(chunk))
    if "ts" in chunk.columns and not pd.api.types.is_datetime64_any_dtype(chunk["ts"]):
        parsed = pd.to_datetime(chunk["ts"], utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna() & chunk["ts"].notna()
        if bad.any():
            for position in np.flatnonzero(bad.to_numpy()):
                ledger.reject("invalid_timestamp", where(int(position)), str(chunk["ts"].iloc[position]))
            chunk = chunk.loc[~bad.to_numpy()]
            parsed = parsed[~bad]
        chunk = chunk.assign(ts=parsed)
    return chunk


CSV_READER = CsvTableReader()
PARQUET_READER = ParquetTableReader()
