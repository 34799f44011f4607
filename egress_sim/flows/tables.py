"""Flow tables in egress_sim's own schema (README "The flow schema"), as log readers for ``replay``.

CSV (plain or gzip) is read in blocks of lines by ``csvrows`` (every column as text, so nothing is
reinterpreted); a row with the wrong number of fields is rejected with its line number and the rest of the
file goes on. A value cannot span lines.
Parquet keeps its types. One row = one record = one flow. Rows whose ``ts`` is present but not a time are
rejected (``invalid_timestamp``); every other bad cell is left to the evaluator, which rejects the row with the
precise reason (``invalid_dst_port``, ...).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import FlowInputError
from .csvrows import duplicated, header_names, parse_block
from .logs import LogFile, RecordLedger
from .io import open_parquet
from .schema import REQUIRED_COLUMNS, check_flow_schema

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
            names = header_names(header)
            if duplicated(names):
                raise FlowInputError(f"{log.name}:1: the header names {', '.join(duplicated(names))} more than once",
                                     file=log.name)
            first_line = 2
            while lines := list(itertools.islice(text, chunk_rows)):
                yield self._parse_block(lines, first_line, names, log.name, ledger)
                first_line += len(lines)

    @staticmethod
    def _parse_block(lines: list[str], first_line: int, names: list[str], name: str, ledger: RecordLedger) -> pd.DataFrame:
        """Parse a block of lines (``csvrows``); a malformed row is rejected with its exact line number."""
        block = parse_block(lines, first_line, names)
        for line_number, content in block.bad:
            ledger.read()
            ledger.reject("bad_field_count", f"{name}:{line_number}", content)
        rows = block.table.to_pandas()
        rows["source"] = [f"{name}:{line}" for line in block.lines]
        return _emit(rows, ledger, lambda i: f"{name}:{block.lines[i]}")


class ParquetTableReader:
    name = "parquet"
    description = "Parquet in egress_sim's flow schema"

    def sniff(self, head: bytes, file_name: str) -> bool:
        return head[:4] == b"PAR1"

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        try:
            parquet = open_parquet(log.path)
            check_flow_schema(parquet.schema_arrow, log.name)  # a list or struct column: one error naming it
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
