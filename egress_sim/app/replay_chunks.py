"""A gathered chunk of log rows made ready to evaluate, and made back into verdict-file rows.

Every log format hands out its flows with its own columns; replay needs the same columns of the same types from
all of them (``REPLAY_COLUMNS``), each flow's compute identified from the inventory, flows *into* a known
compute from outside skipped and counted, and a parsed ``FlowBatch``. ``prepare_chunk`` does that once per chunk;
``verdict_table`` gives the rows as the verdict file holds them, with the verdicts and the ``source`` text made
only then.

Chunks whose parts all came from log readers as Arrow tables (every format today) are prepared on Arrow columns;
other chunks (pandas frames) through pandas. The pandas way is the reference the tests hold the Arrow way to
(``ARROW_PREPARATION``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..evaluation.evaluate import Verdicts, with_verdicts
from ..flows.schema import EVALUATED_COLUMNS, FlowBatch
from ..flows.sources import HEAD as SOURCE_HEAD
from ..flows.sources import NUM as SOURCE_NUM
from ..flows.sources import has_lazy_source, source_text, with_source_text
from ..logs.engine.cells import arrow_to_frame
from ..logs.engine.ledger import RecordLedger
from ..logs.inventory import Inventory
from ..logs.reading import Chunk
from ..model import ComputeType

# The verdict file's columns, whatever the log format (a format that lacks one leaves it empty).
REPLAY_COLUMNS: tuple[str, ...] = (
    "ts", "source", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn",
    "bytes_out", "bytes_in", "observed_action", "name_logged",
)
_SOURCE_AT = REPLAY_COLUMNS.index("source")
INBOUND_BY_INVENTORY = "inbound_by_inventory"
# Chunks whose parts all came from log readers as Arrow are prepared on Arrow columns, the others through pandas.
# A test sets this to False to prepare every chunk through pandas and holds the Arrow way to it.
ARROW_PREPARATION = True


@dataclass
class PreparedChunk:
    """Flows of a gathered chunk ready to evaluate: the replay columns (``rows``: an Arrow table when every part
    came from a log reader as Arrow, else a pandas frame), the lazy source kept apart (``source``, None when
    ``rows`` holds it as text) and the parsed ``batch``."""

    rows: pa.Table | pd.DataFrame
    source: pa.Table | None
    batch: FlowBatch


def _one_frame(chunks: list[pd.DataFrame | pa.Table]) -> tuple[pd.DataFrame, pa.Table | None]:
    """The chunks as one pandas frame; runs of Arrow tables are concatenated before converting, once.

    When every chunk keeps its source lazily (``flows.sources``), the source stays out of pandas: it comes back
    apart, as an Arrow table of the two lazy columns row for row, and becomes text only when written."""
    if all(isinstance(c, pa.Table) and has_lazy_source(c) for c in chunks):
        table = pa.concat_tables(chunks, promote_options="permissive")
        return arrow_to_frame(table.drop_columns([SOURCE_HEAD, SOURCE_NUM])), table.select([SOURCE_HEAD, SOURCE_NUM])
    frames, tables = [], []
    for chunk in [*chunks, None]:
        if isinstance(chunk, pa.Table):
            tables.append(with_source_text(chunk))
            continue
        if tables:
            frames.append(arrow_to_frame(pa.concat_tables(tables, promote_options="permissive")))
            tables = []
        if chunk is not None:
            frames.append(chunk)
    return (frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)), None


def prepare_chunk(gathered: Chunk, inventory: Inventory | None, default_compute: ComputeType | str | None,
                  ledger: RecordLedger) -> PreparedChunk | None:
    """Prepare a gathered chunk once: replay columns, computes identified, inbound flows skipped and counted
    against their file (None when nothing is left to evaluate)."""
    if ARROW_PREPARATION:
        table = _reader_table(gathered.parts)
        if table is not None:
            return _prepare_arrow(gathered, table, inventory, default_compute, ledger)
    file_of, names_logged, files, no_compute = gathered.file_of, gathered.names_logged, gathered.files, \
        gathered.no_compute
    frame, source = _one_frame(gathered.parts)
    chunk = _normalized(frame, lazy_source=source is not None)
    if inventory is not None:
        inbound, unknown = _identify_computes(chunk, inventory)
        if inbound.any():
            ledger.skip(INBOUND_BY_INVENTORY, int(inbound.sum()))
            for position, n in enumerate(np.bincount(file_of[inbound], minlength=len(files)).tolist()):
                files[position].skipped += n
            keep = ~inbound
            chunk, unknown = chunk.loc[keep].reset_index(drop=True), unknown[keep]
            names_logged, no_compute = names_logged[keep], no_compute[keep]
            source = source.filter(pa.array(keep)) if source is not None else None
            if not len(chunk):
                return None
    else:
        unknown = no_compute if default_compute is None else np.zeros(len(chunk), dtype=bool)
    if default_compute is not None and no_compute.any():
        fill = ComputeType.parse(default_compute).yaml
        chunk["compute_type"] = np.where(no_compute & chunk["compute_type"].isna().to_numpy(), fill,
                                         chunk["compute_type"].to_numpy(dtype=object))
    batch = FlowBatch.from_frame(chunk, None, unknown, names_logged)  # a name_logged cell says, else the format
    return PreparedChunk(chunk, source, batch)


def _reader_table(parts: list[pd.DataFrame | pa.Table]) -> pa.Table | None:
    """The parts as one Arrow table, when every part is a reader's Arrow table with a lazy source and columns of
    the types the Arrow preparation takes as they are; else None (pandas decides)."""
    if not all(isinstance(p, pa.Table) and has_lazy_source(p) for p in parts):
        return None
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
    for field_ in table.schema:
        kind = field_.type.value_type if pa.types.is_dictionary(field_.type) else field_.type
        if field_.name == "ts":
            ok = pa.types.is_timestamp(kind) and kind.tz in ("UTC", "+00:00")
        elif field_.name in ("dst_port", "bytes_out", "bytes_in"):
            ok = pa.types.is_integer(kind) or pa.types.is_null(kind)
        elif field_.name == "name_logged":
            ok = pa.types.is_boolean(kind) or pa.types.is_null(kind)
        elif field_.name in REPLAY_COLUMNS:
            ok = pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
        else:
            ok = True  # not a replay column: left out
        if not ok:
            return None
    return table


_EMPTY_TYPES = {"ts": pa.timestamp("s", "UTC"), "dst_port": pa.int64(), "bytes_out": pa.int64(),
                "bytes_in": pa.int64()}


def _replay_column(table: pa.Table, name: str) -> pa.Array:
    """A replay column with the type the pandas path writes: text as ``large_string``, 64-bit integers, a column
    the format lacks as nulls."""
    column = table.column(name).combine_chunks() if name in table.column_names else pa.nulls(table.num_rows)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    kind = column.type
    if pa.types.is_null(kind) and name in _EMPTY_TYPES:  # (what pandas makes of a column of empty cells)
        return pa.nulls(len(column), _EMPTY_TYPES[name])
    if pa.types.is_null(kind) or pa.types.is_timestamp(kind) or pa.types.is_boolean(kind):
        return column
    if pa.types.is_integer(kind):  # (the readers' ports and counters: ``whole_numbers`` in the pandas path)
        return pc.cast(column, pa.int64())
    return pc.cast(column, pa.large_string())


def _prepare_arrow(gathered: Chunk, table: pa.Table, inventory: Inventory | None,
                   default_compute: ComputeType | str | None, ledger: RecordLedger) -> PreparedChunk | None:
    """``prepare_chunk`` on Arrow columns (no pandas frame): the same rows, computes, skips and batch."""
    names_logged, no_compute = gathered.names_logged, gathered.no_compute
    source = table.select([SOURCE_HEAD, SOURCE_NUM])
    columns = {name: _replay_column(table, name) for name in REPLAY_COLUMNS if name != "source"}
    if inventory is not None:
        inbound, unknown = _identify_computes_arrow(columns, inventory)
        if inbound.any():
            ledger.skip(INBOUND_BY_INVENTORY, int(inbound.sum()))
            files = gathered.files
            for position, n in enumerate(np.bincount(gathered.file_of[inbound], minlength=len(files)).tolist()):
                files[position].skipped += n
            keep = ~inbound
            if not keep.any():
                return None
            mask = pa.array(keep)
            columns = {name: column.filter(mask) for name, column in columns.items()}
            unknown, names_logged, no_compute = unknown[keep], names_logged[keep], no_compute[keep]
            source = source.filter(mask)
    else:
        unknown = no_compute if default_compute is None else np.zeros(table.num_rows, dtype=bool)
    compute_type = columns["compute_type"]
    if default_compute is not None and no_compute.any():
        fill = ComputeType.parse(default_compute).yaml
        missing = no_compute & ~compute_type.is_valid().to_numpy(zero_copy_only=False)
        columns["compute_type"] = pa.array(np.where(missing, fill, compute_type.to_numpy(zero_copy_only=False)),
                                           pa.large_string())
    batch = FlowBatch.from_columns({name: columns[name] for name in EVALUATED_COLUMNS}, len(columns["ts"]), None,
                                   unknown, names_logged)
    rows = pa.table(columns)
    return PreparedChunk(rows, source, batch)


def _identify_computes_arrow(columns: dict[str, pa.Array], inventory: Inventory) -> tuple[np.ndarray, np.ndarray]:
    """``_identify_computes`` on Arrow columns (replaced in ``columns``)."""
    types, names, known = inventory.lookup(columns["src_ip"])
    _, _, dst_known = inventory.lookup(columns["dst_ip"])
    has_type = columns["compute_type"].is_valid().to_numpy(zero_copy_only=False)
    has_name = columns["compute_name"].is_valid().to_numpy(zero_copy_only=False)
    for name, found, has in (("compute_type", types, has_type), ("compute_name", names, has_name)):
        if not has.any():  # the usual log names no compute: the inventory's few values, dictionary-encoded
            columns[name] = pa.array(found)
        else:
            columns[name] = pa.array(np.where(has, columns[name].to_numpy(zero_copy_only=False),
                                              np.asarray(found, dtype=object)), pa.large_string())
    return ~known & dst_known, ~known & ~has_type


def verdict_table(prepared: PreparedChunk, verdicts: Verdicts | None) -> pa.Table:
    """The chunk's rows as the verdict file holds them: the replay columns, then verdict, reason and rule (none
    when ``verdicts`` is None)."""
    rows, source, batch = prepared.rows, prepared.source, prepared.batch
    if isinstance(rows, pa.Table):
        at = rows.schema.get_field_index("name_logged")  # the batch's: a cell's word, else the format's
        table_out = rows.set_column(at, "name_logged", pa.array(batch.name_logged, pa.bool_()))
        if verdicts is not None:  # (through pandas' categoricals: the same column types as the frame path)
            added = pa.Table.from_pandas(verdicts.to_frame(), preserve_index=False)
            for name, column in zip(added.column_names, added.columns):
                table_out = table_out.append_column(name, column)
    else:
        out = rows.assign(dst_port=whole_numbers(rows["dst_port"]), name_logged=batch.name_logged)
        if verdicts is not None:
            out = with_verdicts(out, verdicts.to_frame())
        table_out = pa.Table.from_pandas(out, preserve_index=False)
    for name in ("compute_type", "compute_name"):  # categoricals from the inventory: written as text, as always
        at = table_out.schema.get_field_index(name)
        if at >= 0 and pa.types.is_dictionary(table_out.schema.field(at).type):
            table_out = table_out.set_column(at, name, pc.cast(table_out.column(at), pa.large_string()))
    if source is not None:  # the source text, made now, in its place among the replay columns
        table_out = table_out.add_column(_SOURCE_AT, "source", pc.cast(source_text(source), pa.large_string()))
    if isinstance(rows, pa.Table):
        table_out = table_out.replace_schema_metadata(_pandas_metadata(table_out.schema))
    return table_out


_NULLABLE_INTEGERS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                      pa.int64(): pd.Int64Dtype()}


@functools.lru_cache(maxsize=64)
def _pandas_metadata(schema: pa.Schema) -> dict[bytes, bytes]:
    """The pandas metadata a verdict table of this schema carries when made through pandas (integer columns as
    nullable ``Int64``, ...), so that a verdict file reads back into pandas the same whichever way its chunks were
    prepared (without it, a byte count column with empty cells would read back as floats)."""
    empty = schema.empty_table().to_pandas(types_mapper=_NULLABLE_INTEGERS.get)
    return pa.Table.from_pandas(empty, preserve_index=False).schema.metadata


def whole_numbers(values: pd.Series) -> pd.Series:
    """``Int64`` of the cells that are whole numbers, empty elsewhere, never an error: a port the evaluator
    rejected (``443.5``, ``https``) is written as an empty cell beside its ``invalid_dst_port`` verdict
    (casting it raised ``TypeError: cannot safely cast`` after the verdicts were counted)."""
    if pd.api.types.is_signed_integer_dtype(values.dtype):  # what the log readers give: exact and fast
        return values.astype("Int64")
    numbers = values if pd.api.types.is_float_dtype(values.dtype) else pd.to_numeric(values.astype(object),
                                                                                     errors="coerce")
    if pd.api.types.is_signed_integer_dtype(numbers.dtype):
        return numbers.astype("Int64")
    floats = numbers.to_numpy(dtype=float, na_value=np.nan)
    whole = np.isfinite(floats) & (np.abs(floats) < 2.0**63) & (np.mod(floats, 1) == 0)
    return pd.Series(pd.array(np.where(whole, floats, 0).astype(np.int64), dtype="Int64"),
                     index=values.index).mask(~whole)


def _normalized(chunk: pd.DataFrame, lazy_source: bool = False) -> pd.DataFrame:
    """The fixed replay columns with fixed types, so every chunk of every format writes the same schema.

    ``dst_port`` keeps what the log said until the evaluator has judged it (a bad port is named precisely)."""
    out = {}
    for column in REPLAY_COLUMNS:
        if column == "source" and lazy_source:  # kept apart, made text when written
            continue
        values = chunk[column] if column in chunk.columns else pd.Series(None, index=chunk.index, dtype=object)
        if column == "ts":
            out[column] = values if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(
                values, utc=True, errors="coerce")
        elif column in ("bytes_out", "bytes_in"):
            out[column] = whole_numbers(values)  # the readers checked them: what is not whole was rejected
        elif column == "dst_port":
            out[column] = values
        elif isinstance(values.dtype, (pd.CategoricalDtype, pd.StringDtype)):
            out[column] = values  # already text with proper missing cells: converting costs ~40% of a replay
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out).reset_index(drop=True)


def _identify_computes(chunk: pd.DataFrame, inventory: Inventory) -> tuple[np.ndarray, np.ndarray]:
    """Fill compute type and name from the inventory (in place); return which flows come *into* a known compute
    from outside (to skip) and which come from a source no entry owns and carry no compute type (unknown)."""
    types, names, known = inventory.lookup(chunk["src_ip"])
    _, _, dst_known = inventory.lookup(chunk["dst_ip"])
    has_type = chunk["compute_type"].notna().to_numpy()
    has_name = chunk["compute_name"].notna().to_numpy()
    # The usual log (NSG, VNet, firewall) names no compute at all: the inventory's answers go in as categories,
    # a few distinct values, instead of a text per row that pandas would convert once more.
    chunk["compute_type"] = types if not has_type.any() else \
        np.where(has_type, chunk["compute_type"].to_numpy(dtype=object), types)
    chunk["compute_name"] = names if not has_name.any() else \
        np.where(has_name, chunk["compute_name"].to_numpy(dtype=object), names)
    return ~known & dst_known, ~known & ~has_type
