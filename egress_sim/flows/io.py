"""Read and write flow tables as CSV or Parquet (chosen by the file extension), in chunks.

Reading (``read_flow_tables``) fails closed: whatever the file holds, the reader yields chunks in which every
row is accounted for, or raises one ``FlowInputError`` naming the file (and the line or column where it can).

* CSV (plain, or gzip by its content): UTF-8 text with a header line, read in blocks of lines by ``csvrows``.
  Cells are text, nothing is reinterpreted (``443`` stays ``443``, not ``443.0``; a host literally named
  ``NA`` stays a host); only empty cells are missing. A line that is not one row of the header's width (a
  trailing extra field, a missing one) stays in its place as a row with every cell empty, marked
  ``malformed``: the evaluator rejects it as ``bad_field_count``, and the output keeps row-for-row order. A
  value cannot span lines. Not UTF-8, a cut or corrupt gzip stream, an empty file or a header naming a
  column twice: one error naming the file (and line).
* Parquet keeps its types. The columns the evaluator reads must hold text, numbers or booleans
  (``flows.schema.check_flow_schema``: a list or struct column there is one error naming the column);
  any other column is carried through untouched.

A file with a header (or a schema) and no rows gives one empty chunk, so its columns are still checked.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import io
import itertools
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..base.errors import FlowInputError, OutputFileError
from ..base.outputs import Outputs
from .csvrows import CsvBlock, Records, duplicated, header_names, parse_block
from .schema import check_flow_schema
from .spreadsheet import neutralise_frame, neutralise_table

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".csv.gz": "csv"}
DEFAULT_CHUNK_ROWS = 1_000_000
GZIP_LEVEL = 6  # zlib's default: level 9 compresses CSV a few percent smaller at two to three times the time
_GZIP_MAGIC = b"\x1f\x8b"


def table_format(path: str | Path) -> str:
    name = str(path).lower()
    for suffix, fmt in sorted(FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise FlowInputError(f"{path}: unknown file type (use .csv, .csv.gz or .parquet)", file=str(path))


@dataclass(frozen=True)
class FlowChunk:
    """Rows of a flow file, in file order, and which of them are malformed CSV lines (their cells empty)."""

    table: pa.Table
    malformed: np.ndarray | None = None  # bool per row, None when no row is

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


def read_flow_chunks(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the flow table in chunks of at most ``chunk_rows`` rows, in file order (malformed CSV lines as
    rows of empty cells)."""
    for chunk in read_flow_tables(path, chunk_rows):
        yield chunk.table.to_pandas()


def read_flow_tables(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                     columns: Iterable[str] | None = None) -> Iterator[FlowChunk]:
    """The flow table as chunks of at most ``chunk_rows`` rows, in file order; with ``columns``, only those
    of them the file has (Parquet then reads nothing else). See the module docstring for what is refused."""
    fmt = table_format(path)
    if not Path(path).is_file():
        why = "is not a regular file" if Path(path).exists() else "no such flow file"  # a FIFO would block
        raise FlowInputError(f"{path}: {why}", file=str(path))
    wanted = None if columns is None else set(columns)
    if fmt == "csv":
        yield from _csv_chunks(Path(path), chunk_rows, wanted)
    else:
        yield from _parquet_file_chunks(Path(path), chunk_rows, wanted)


def _csv_chunks(path: Path, chunk_rows: int, wanted: set[str] | None) -> Iterator[FlowChunk]:
    line, lines = 1, []  # the line the block being read starts at, and the block's lines read so far
    try:
        with _open_text(path) as text:
            header = text.readline()
            _check_utf8([header], path, line)
            names = header_names(header) if header.strip() else []
            if not names:
                raise FlowInputError(f"{path}: empty file: a flow table starts with a header line naming its "
                                     f"columns", file=str(path))
            if duplicated(names):
                raise FlowInputError(f"{path}:1: the header names {', '.join(duplicated(names))} more than once",
                                     file=str(path))
            keep = names if wanted is None else [n for n in names if n in wanted]
            line, rows = 2, 0
            records = Records(text, line)
            while True:
                lines, starts = records.take(chunk_rows)
                if not lines:
                    break
                _check_utf8(lines, path, line)
                chunk = _in_line_order(parse_block(lines, line, names, starts))
                line = records.line
                rows += chunk.num_rows
                lines = []
                yield FlowChunk(chunk.table.select(keep), chunk.malformed)
            if rows == 0:
                yield FlowChunk(pa.table({n: pa.array([], pa.string()) for n in keep}))
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FlowInputError(f"{path}: cannot read flows: the gzip stream breaks off (cut short or corrupt) near "
                             f"line {line + len(lines)}: {exc}", file=str(path)) from None
    except OSError as exc:
        raise FlowInputError(f"{path}: cannot read flows: {exc.strerror or exc}", file=str(path)) from None


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    """The file as text, gunzipped when it starts as gzip does. Bytes that are not UTF-8 come through as
    lone surrogates, so ``_check_utf8`` can name the line that holds them."""
    with open(path, "rb") as raw:
        binary = gzip.GzipFile(fileobj=raw, mode="rb") if raw.peek(2)[:2] == _GZIP_MAGIC else raw
        with io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
            yield text


def _check_utf8(lines: list[str], path: Path, first_line: int) -> None:
    """Refuse text that is not UTF-8, naming the line and the first byte that is not."""
    block = "".join(lines)
    if block.isascii():
        return
    try:
        block.encode("utf-8")
    except UnicodeEncodeError as exc:
        ends = list(itertools.accumulate(len(x) for x in lines))
        where = first_line + bisect.bisect_right(ends, exc.start)
        byte = ord(block[exc.start]) - 0xDC00
        raise FlowInputError(f"{path}:{where}: not UTF-8 text (byte 0x{byte:02x}): flow tables are read as UTF-8; "
                             f"save the file as UTF-8", file=str(path)) from None


def _in_line_order(block: CsvBlock) -> FlowChunk:
    """The block's rows with each malformed line put back in its place as a row of empty cells."""
    if not block.bad:
        return FlowChunk(block.table)
    lines = np.array(block.lines + [n for n, _ in block.bad], dtype=np.int64)
    source = np.concatenate([np.arange(len(block.lines)), np.full(len(block.bad), -1)])[np.argsort(lines, kind="stable")]
    malformed = source < 0
    return FlowChunk(block.table.take(pa.array(source, mask=malformed)), malformed)


def _parquet_file_chunks(path: Path, chunk_rows: int, wanted: set[str] | None) -> Iterator[FlowChunk]:
    try:
        parquet = open_parquet(path)
        check_flow_schema(parquet.schema_arrow, str(path))
        names = None if wanted is None else [c for c in parquet.schema_arrow.names if c in wanted]
        rows = 0
        for table in _parquet_chunks(parquet, chunk_rows, names):
            rows += table.num_rows
            yield FlowChunk(table)
        if rows == 0:
            empty = parquet.schema_arrow.empty_table()
            yield FlowChunk(empty if names is None else empty.select(names))
    except (pa.ArrowException, OSError) as exc:
        raise FlowInputError(f"{path}: cannot read flows: {str(exc).splitlines()[0]}", file=str(path)) from None


def is_text(kind: pa.DataType) -> bool:
    """A text column: Arrow ``string`` or ``large_string`` (what pandas 3 ``str`` columns become), or a
    dictionary of either."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def open_parquet(path: str | Path) -> pq.ParquetFile:
    """A Parquet file opened for streaming: text columns read dictionary-encoded (Parquet stores them so:
    each chunk then carries a code per row and the distinct values once, which is what the evaluator works
    on, and writing them back costs no hashing), and no pre-buffering (it keeps every row group read so far:
    peak memory grew with the file)."""
    text = [f.name for f in pq.read_schema(path) if is_text(f.type)]
    return pq.ParquetFile(path, read_dictionary=text, pre_buffer=False)


def _parquet_chunks(parquet: pq.ParquetFile, chunk_rows: int, columns: list[str] | None) -> Iterator[pa.Table]:
    """Record batches stop at row-group boundaries; gather them into chunks of ``chunk_rows`` rows, so that
    a file of many small row groups is not evaluated a few thousand rows at a time."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        if rows + batch.num_rows > chunk_rows and pending:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
        pending.append(batch)
        rows += batch.num_rows
    if pending:
        yield pa.Table.from_batches(pending)


def read_flows(path: str | Path) -> pd.DataFrame:
    """The whole flow table (for small files and tests)."""
    chunks = list(read_flow_chunks(path))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


class _OutputFile:
    """A file written in a ``with`` block through ``egress_sim.base.outputs``: its bytes go to a hidden temporary,
    renamed onto the name asked for when the block succeeds, removed when it fails or is interrupted; a file
    already standing at that name is replaced only by a complete one. Given the command's ``Outputs``, the
    writer only fills its temporary, and the command publishes all its files together at its end."""

    path: Path

    def __init__(self, path: str | Path, outputs: Outputs | None) -> None:
        self.path = Path(path)
        self.format = table_format(path)
        self._own = Outputs([self.path]) if outputs is None else None
        if self._own is not None:
            self._own.__enter__()
        self._output = (outputs or self._own).file(self.path)
        self.temp = self._output.temp

    def close(self) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        raise NotImplementedError

    def _fail_opening(self) -> None:
        """Undo ``__init__`` when the writer itself cannot be opened."""
        if self._own is not None:
            self._own.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.close()
            else:
                self._abandon()
        except BaseException as error:
            if self._own is not None:
                self._own.__exit__(type(error), error, error.__traceback__)
            raise
        if self._own is not None:
            self._own.__exit__(exc_type, exc, tb)


def _cannot_write(path: Path, exc: BaseException) -> OutputFileError:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc).splitlines() or [""])[0]
    return OutputFileError(f"{path}: cannot write: {detail}", file=str(path))


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


class FlowWriter(_OutputFile):
    """Append chunks to a CSV (optionally gzip-compressed) or Parquet file; the first chunk fixes the Parquet
    schema. CSV text cells a spreadsheet would run as formulas are quoted (``flows.spreadsheet``)."""

    def __init__(self, path: str | Path, outputs: Outputs | None = None):
        super().__init__(path, outputs)
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._csv: IO[str] | None = None
        self._wrote_header = False
        self.rows = 0
        if self.format == "csv":
            try:
                self._csv = (gzip.open(self.temp, "wt", encoding="utf-8", newline="", compresslevel=GZIP_LEVEL)
                             if _is_gzip(self.path) else open(self.temp, "w", encoding="utf-8", newline=""))
            except BaseException as exc:
                self._fail_opening()
                if isinstance(exc, OSError):
                    raise _cannot_write(self.path, exc) from None
                raise

    def write(self, chunk: pd.DataFrame | pa.Table) -> None:
        try:
            self._write(chunk)
        except (OSError, pa.ArrowException) as exc:
            raise _cannot_write(self.path, exc) from None

    def _write(self, chunk: pd.DataFrame | pa.Table) -> None:
        if self._csv is not None:
            if isinstance(chunk, pa.Table):
                frame = neutralise_table(chunk).to_pandas()
            else:
                frame = neutralise_frame(chunk)
            frame.to_csv(self._csv, header=not self._wrote_header, index=False)
            self._wrote_header = True
        else:
            table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk, preserve_index=False)
            if self._parquet is None:
                self._schema = _stable_schema(table.schema)
                text = [f.name for f in self._schema if is_text(f.type)]
                # Statistics (min/max per page) help readers skip row groups by number or time; on text they
                # cost as much as the rest of the writing, and nobody filters verdict files by text ranges.
                numbers = [f.name for f in self._schema if f.name not in text]
                self._parquet = pq.ParquetWriter(self.temp, self._schema, use_dictionary=text, write_statistics=numbers)
            self._parquet.write_table(table.cast(self._schema))
        self.rows += len(chunk)

    def close(self) -> None:
        try:
            if self._parquet is not None:
                self._parquet.close()
            elif self.format == "parquet":
                pq.write_table(pa.table({}), self.temp)
            if self._csv is not None:
                self._csv.close()
        except (OSError, pa.ArrowException) as exc:
            raise _cannot_write(self.path, exc) from None

    def _abandon(self) -> None:
        with contextlib.suppress(Exception):
            if self._parquet is not None:
                self._parquet.close()
        with contextlib.suppress(Exception):
            if self._csv is not None:
                self._csv.close()


def make_output_dir(path: str | Path, parents: bool = False) -> Path:
    """Create an output directory, or say in one line why it cannot be. Its parent must exist, as for every output
    (a typo in a path is an error, not a new tree of directories), unless ``parents``."""
    out = Path(path)
    if not parents and not out.parent.is_dir():
        raise OutputFileError(f"{out}: cannot create output directory: directory {out.parent} does not exist",
                              file=str(out))
    try:
        out.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"{out}: cannot create output directory: {exc.strerror or exc}", file=str(out)) from None
    return out


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with every dictionary (categorical) column as its plain value type."""
    return pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema])


def _stable_schema(schema: pa.Schema) -> pa.Schema:
    """A schema every later chunk can be cast to: dictionary columns get 32-bit codes (a later chunk may
    have more distinct values than the first), and a column that is empty in the first chunk, which has no
    type yet, becomes text, which is what every such column holds."""
    def stable(field: pa.Field) -> pa.Field:
        if pa.types.is_dictionary(field.type):
            return pa.field(field.name, pa.dictionary(pa.int32(), field.type.value_type))
        if pa.types.is_null(field.type):
            return pa.field(field.name, pa.string())
        return field
    return pa.schema([stable(f) for f in schema])


def write_flows(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a whole flow table (small files and tests), all at once or not at all."""
    with FlowWriter(path) as writer:
        writer.write(frame)


class TableWriter(_OutputFile):
    """Append Arrow tables of one schema to a Parquet or CSV file (the simulator's output).

    Parquet keeps dictionary-encoded columns as they are (small files, categoricals on reading); CSV gets
    plain text, timestamps as ``2026-11-16 00:00:05.364299Z``, formula-like text quoted; a ``.gz`` name is
    gzip-compressed. Written through a temporary like ``FlowWriter``.
    """

    def __init__(self, path: str | Path, schema: pa.Schema, row_group_rows: int = DEFAULT_CHUNK_ROWS,
                 outputs: Outputs | None = None):
        super().__init__(path, outputs)
        self.schema = schema
        self.rows = 0
        self.row_group_rows = row_group_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._sink: pa.NativeFile | str = str(self.temp)
        try:
            if self.format == "parquet":
                self._writer = pq.ParquetWriter(self.temp, schema)
            else:
                self._text_schema = _plain_schema(schema)
                if _is_gzip(self.path):
                    self._sink = pa.CompressedOutputStream(str(self.temp), "gzip")
                self._writer = pacsv.CSVWriter(self._sink, self._text_schema)
        except BaseException as exc:
            self._fail_opening()
            if isinstance(exc, (OSError, pa.ArrowException)):
                raise _cannot_write(self.path, exc) from None
            raise

    def write(self, table: pa.Table) -> None:
        """Buffer ``table``; small tables are gathered into row groups of about ``row_group_rows`` rows."""
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending).unify_dictionaries().combine_chunks()
        self._pending, self._pending_rows = [], 0
        if self.format == "csv":
            table = neutralise_table(table).cast(self._text_schema)
        try:
            self._writer.write_table(table)
        except (OSError, pa.ArrowException) as exc:
            raise _cannot_write(self.path, exc) from None
        self.rows += table.num_rows

    def close(self) -> None:
        self._flush()
        try:
            self._writer.close()
            if not isinstance(self._sink, str):
                self._sink.close()
        except (OSError, pa.ArrowException) as exc:
            raise _cannot_write(self.path, exc) from None

    def _abandon(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            if not isinstance(self._sink, str):
                self._sink.close()
