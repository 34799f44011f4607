"""Read and write flow tables as CSV or Parquet (chosen by the file extension), in chunks.

CSV cells are read as text so nothing is reinterpreted on the way through (``443`` stays ``443``, not
``443.0``; a host literally named ``NA`` stays a host); only empty cells are missing. Parquet keeps its types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import FlowInputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".csv.gz": "csv"}
DEFAULT_CHUNK_ROWS = 1_000_000


def table_format(path: str | Path) -> str:
    name = str(path).lower()
    for suffix, fmt in sorted(FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise FlowInputError(f"{path}: unknown file type (use .csv, .csv.gz or .parquet)")


def read_flow_chunks(path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the flow table in chunks of at most ``chunk_rows`` rows, in file order."""
    fmt = table_format(path)
    if not Path(path).is_file():
        raise FlowInputError(f"{path}: no such flow file")
    try:
        if fmt == "csv":
            reader = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], chunksize=chunk_rows)
            with reader:
                yield from reader
        else:
            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException, UnicodeDecodeError, OSError) as exc:
        raise FlowInputError(f"{path}: cannot read flows: {str(exc).splitlines()[0]}") from None


def read_flows(path: str | Path) -> pd.DataFrame:
    """The whole flow table (for small files and tests)."""
    chunks = list(read_flow_chunks(path))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


class FlowWriter:
    """Append chunks to a CSV or Parquet file; the first chunk fixes the Parquet schema."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = table_format(path)
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._wrote_header = False
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        frame = _plain_strings(frame)
        if self.format == "csv":
            frame.to_csv(self.path, mode="a" if self._wrote_header else "w", header=not self._wrote_header, index=False)
            self._wrote_header = True
        else:
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.path, self._schema)
            self._parquet.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self.format == "parquet" and self.rows == 0:
            pq.write_table(pa.table({}), self.path)
        elif self.format == "csv" and not self._wrote_header:
            self.path.write_text("")

    def __enter__(self) -> "FlowWriter":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals become plain strings so every chunk has the same Parquet schema."""
    out = frame.copy(deep=False)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("string")
    return out


def write_flows(frame: pd.DataFrame, path: str | Path) -> None:
    with FlowWriter(path) as writer:
        writer.write(frame)
