"""Replay recorded connection logs against a rule table: read, identify the compute, evaluate, write, count.

Every record read is accounted for exactly once, and the totals are checked before returning:

    read = evaluated + skipped + rejected

``skipped`` are records deliberately not evaluated (inbound traffic, log lines that are not connections);
``rejected`` are records a reader could not understand plus flows the evaluator could not judge (a bad cell,
a source address no inventory entry owns). Logs stream through in chunks of ``chunk_rows`` flows, so memory
does not grow with the input (the Zeek reader holds a conn log's ssl/http/dns companions while reading it).
"""

from __future__ import annotations

import functools
import glob
import gzip
import json
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..ruletable.compile import RuleTable
from ..base.errors import FlowInputError, OutputFileError
from ..evaluation.evaluate import Verdicts, evaluate, with_verdicts
from ..logs.reading import Chunk, FileReport, LogReading
from ..logs.registry import list_inputs
from ..logs.engine.listing import Listing
from ..logs.inventory import Inventory
from ..flows.io import FlowWriter, table_format
from ..logs.engine.cells import arrow_to_frame
from ..logs.engine.ledger import RecordLedger, Sample, StrictInputError
from ..flows.schema import EVALUATED_COLUMNS, FlowBatch
from ..flows.sources import HEAD as SOURCE_HEAD, NUM as SOURCE_NUM, has_lazy_source, row_source, source_text
from ..flows.sources import with_source_text
from ..model import ComputeType
from ..base.outputs import Outputs, check_outputs, staged
from ..evaluation.summary import EvaluationSummary
from ..flows.verdicts import Reason, Verdict

# The verdict file's columns, whatever the log format (a format that lacks one leaves it empty).
REPLAY_COLUMNS: tuple[str, ...] = (
    "ts", "source", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn",
    "bytes_out", "bytes_in", "observed_action", "name_logged",
)
_SOURCE_AT = REPLAY_COLUMNS.index("source")
EVALUATOR_SAMPLES_PER_REASON = 20
REPLAY_CHUNK_ROWS = 250_000  # log rows carry more text (the source of each record) than flow-table rows
INBOUND_BY_INVENTORY = "inbound_by_inventory"
# Chunks whose parts all came from log readers as Arrow are prepared on Arrow columns, the others through pandas.
# A test sets this to False to prepare every chunk through pandas and holds the Arrow way to it.
ARROW_PREPARATION = True
NAMED_LOOPS = 20  # symlink loops named one by one in the warnings; more are counted together


@dataclass
class ReplayReport:
    files: list[FileReport]
    ledger: RecordLedger
    evaluation: EvaluationSummary
    observed: Counter = field(default_factory=Counter)  # (observed_action, simulated verdict) -> flows
    evaluator_samples: list[Sample] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        verdicts = self.evaluation.by_verdict()
        return {
            "read": self.ledger.records_read,
            "evaluated": verdicts["allow"] + verdicts["deny"],
            "skipped": self.ledger.total_skipped,
            "rejected": self.ledger.total_rejected + verdicts["rejected"],
        }

    def check(self) -> None:
        t = self.totals
        if t["read"] != t["evaluated"] + t["skipped"] + t["rejected"]:  # an internal invariant, not a user error
            raise AssertionError(f"replay totals do not add up: {t}")

    def rejected_by_reason(self) -> dict[str, int]:
        out = Counter(self.ledger.rejected)
        for reason, n in self.evaluation.by_reason().items():
            if Reason[reason.upper()].verdict is Verdict.REJECTED:
                out[reason] += n
        return dict(out.most_common())

    def to_dict(self) -> dict[str, object]:
        return {
            "totals": self.totals,
            "skipped": dict(self.ledger.skipped.most_common()),
            "warnings": dict(self.ledger.notes.most_common()),
            "rejected": self.rejected_by_reason(),
            "files": [vars(f) for f in self.files],
            "observed_vs_simulated": [{"observed": o, "simulated": v, "flows": n} for (o, v), n in sorted(self.observed.items())],
            **self.evaluation.to_dict(),
        }


def replay(
    table: RuleTable,
    inputs: list[str],
    out_path: str | Path,
    inventory: Inventory | None = None,
    default_compute: ComputeType | str | None = None,
    log_format: str | None = None,
    strict: bool = False,
    chunk_rows: int = REPLAY_CHUNK_ROWS,
    rejects_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Evaluate every flow in the logs under ``table``; write verdicts to ``out_path``, rejects to ``rejects_path``.

    Both outputs are checked before any log is opened (a log named explicitly that is one of them is refused;
    one found in a replayed directory or by a pattern is passed over), and both appear only once the whole
    replay has succeeded: a failure or an interrupt leaves the files standing at those names as they were."""
    own = tuple(p for p in (out_path, rejects_path) if p is not None)
    check_replay_outputs(own, inputs)
    with Outputs(own, inputs=inputs) as outputs:
        report = _replay(table, inputs, out_path, inventory, default_compute, log_format, strict, chunk_rows, own,
                         outputs, progress)
        if rejects_path is not None:
            write_rejects(report, rejects_path, outputs)
    return report


def _replay(table: RuleTable, inputs: list[str], out_path: str | Path, inventory: Inventory | None,
            default_compute: ComputeType | str | None, log_format: str | None, strict: bool, chunk_rows: int,
            own: tuple[str | Path, ...], outputs: Outputs, progress: Callable[[int], None] | None) -> ReplayReport:
    report, chunks = read_logs(inputs, inventory, default_compute, log_format, strict, chunk_rows, progress,
                               exclude=own)
    with FlowWriter(out_path, outputs) as writer:
        for prepared in chunks:
            _evaluate_chunk(table, prepared, report, writer, strict)
    report.check()
    return report


@dataclass
class PreparedChunk:
    """Flows of a gathered chunk ready to evaluate: the replay columns (``rows``: an Arrow table when every part
    came from a log reader as Arrow, else a pandas frame), the lazy source kept apart (``source``, None when
    ``rows`` holds it as text) and the parsed ``batch``."""

    rows: pa.Table | pd.DataFrame
    source: pa.Table | None
    batch: FlowBatch


def read_logs(inputs: list[str], inventory: Inventory | None, default_compute: ComputeType | str | None,
              log_format: str | None = None, strict: bool = False, chunk_rows: int = REPLAY_CHUNK_ROWS,
              progress: Callable[[int], None] | None = None, exclude: tuple[str | Path, ...] = (),
              listing: Listing | None = None) -> tuple[ReplayReport, Iterator[PreparedChunk]]:
    """The logs' flows as prepared chunks (read lazily, as the iterator is consumed), and the report that counts
    them: the readers' ledger and files; the caller adds what its evaluation decides (``report.evaluation``).
    ``listing``: the files already listed (a part of a listing, on a Dask worker) instead of ``inputs``."""
    if listing is None:
        listing = list_inputs(inputs, exclude=exclude)  # never re-read our own output
    ledger = RecordLedger(strict=strict)
    reading = LogReading(listing, ledger, chunk_rows, log_format, progress)
    report = ReplayReport(reading.files, ledger, EvaluationSummary())

    def chunks() -> Iterator[PreparedChunk]:
        for gathered in reading.chunks():
            prepared = prepare_chunk(gathered, inventory, default_compute, report)
            if prepared is not None:
                yield prepared

    return report, chunks()


VERDICT_COLUMNS = {"verdict", "reason", "rule"}
REJECT_KEYS = {"reason", "where", "record"}
_HEAD_BYTES = 1 << 16


def check_replay_outputs(outputs: Iterable[str | Path | None], logs: Iterable[str],
                         other_inputs: Iterable[str | Path | None] = ()) -> None:
    """Before any work: ``check_outputs`` (no output is a log named explicitly, or another input), and no
    output is a log the replay would find in a directory or by a pattern."""
    outputs, logs = tuple(p for p in outputs if p is not None), list(logs)
    check_outputs(outputs, inputs=[*logs, *other_inputs])
    refuse_writing_over_a_log(outputs, logs)


def refuse_writing_over_a_log(outputs: tuple[str | Path, ...], inputs: list[str]) -> None:
    """An output standing inside a replayed directory (or matched by a replayed pattern) is passed over by the
    replay, as an earlier run's verdicts or rejects should be; but if it is not one, it is somebody's log,
    and replacing it would lose it: refuse. (A log named explicitly is refused by ``check_outputs``.)"""
    for out in map(Path, outputs):
        if not out.is_file() or _earlier_replay_output(out):
            continue
        for item in inputs:
            if _reaches(item, out):
                raise OutputFileError(
                    f"{out}: is a file the replay of {item} would read, not an earlier verdict or rejects file; "
                    f"write the output elsewhere", file=str(out))


def _reaches(item: str, out: Path) -> bool:
    """Whether expanding ``item`` (a directory or a pattern) finds ``out``."""
    path = Path(item)
    try:
        if path.is_dir():
            return Path(os.path.realpath(out)).is_relative_to(os.path.realpath(path))
        if any(ch in item for ch in "*?["):
            return any(os.path.samefile(found, out) for found in glob.glob(item, recursive=True)
                       if os.path.isfile(found))
    except (OSError, ValueError):
        return False
    return False


def _earlier_replay_output(path: Path) -> bool:
    """An empty file, a verdict file (CSV, CSV.gz or Parquet with verdict, reason and rule columns) or a
    rejects file (JSON lines of reason, where, record): what replay writes, safe to replace."""
    try:
        if path.stat().st_size == 0:
            return True
        if table_format_or_none(path) == "parquet":
            return VERDICT_COLUMNS <= set(pq.read_schema(path).names)
        with open(path, "rb") as raw:
            head = raw.read(_HEAD_BYTES)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as unzipped:
                head = unzipped.read(_HEAD_BYTES)
        first = head.split(b"\n", 1)[0].decode("utf-8").strip()
        if first.startswith("{"):
            return REJECT_KEYS <= set(json.loads(first))
        return VERDICT_COLUMNS <= {field.strip().strip('"') for field in first.split(",")}
    except (OSError, ValueError, EOFError, zlib.error, pa.ArrowException, TypeError):
        return False


def table_format_or_none(path: Path) -> str | None:
    try:
        return table_format(path)
    except FlowInputError:
        return None


def total_size(inputs: list[str]) -> int:
    return sum(f.size for f in list_inputs(inputs).files)


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
                  report: ReplayReport) -> PreparedChunk | None:
    """Prepare a gathered chunk once: replay columns, computes identified, inbound flows skipped and counted
    against their file (None when nothing is left to evaluate)."""
    if ARROW_PREPARATION:
        table = _reader_table(gathered.parts)
        if table is not None:
            return _prepare_arrow(gathered, table, inventory, default_compute, report)
    file_of, names_logged, files, no_compute = gathered.file_of, gathered.names_logged, gathered.files, \
        gathered.no_compute
    frame, source = _one_frame(gathered.parts)
    chunk = _normalized(frame, lazy_source=source is not None)
    if inventory is not None:
        inbound, unknown = _identify_computes(chunk, inventory)
        if inbound.any():
            report.ledger.skip(INBOUND_BY_INVENTORY, int(inbound.sum()))
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
                   default_compute: ComputeType | str | None, report: ReplayReport) -> PreparedChunk | None:
    """``prepare_chunk`` on Arrow columns (no pandas frame): the same rows, computes, skips and batch."""
    names_logged, no_compute = gathered.names_logged, gathered.no_compute
    source = table.select([SOURCE_HEAD, SOURCE_NUM])
    columns = {name: _replay_column(table, name) for name in REPLAY_COLUMNS if name != "source"}
    if inventory is not None:
        inbound, unknown = _identify_computes_arrow(columns, inventory)
        if inbound.any():
            report.ledger.skip(INBOUND_BY_INVENTORY, int(inbound.sum()))
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


def _evaluate_chunk(table: RuleTable, prepared: PreparedChunk, report: ReplayReport, writer: FlowWriter,
                    strict: bool) -> None:
    """Evaluate a prepared chunk, count and write."""
    verdicts = evaluate(table, prepared.batch)
    count_verdicts(prepared, verdicts, report, strict)
    writer.write(verdict_table(prepared, verdicts))


def count_verdicts(prepared: PreparedChunk, verdicts: Verdicts, report: ReplayReport, strict: bool) -> None:
    """Book a chunk's verdicts in the report: rejected rows sampled (the first stops a strict replay), verdicts
    counted, observed actions against simulated verdicts."""
    rejected = verdicts.verdict == Verdict.REJECTED
    if rejected.any():
        _sample_rejections(prepared.rows, prepared.source, verdicts.reason, rejected, report, strict)
    report.evaluation.add(prepared.batch, verdicts)
    _count_observed(prepared.rows, verdicts, report.observed)


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


def _count_observed(rows: pd.DataFrame | pa.Table, verdicts, observed: Counter) -> None:
    """What the real device decided, for the flows whose log says, against the simulated verdict."""
    if isinstance(rows, pa.Table):
        column = rows.column("observed_action")
        said = column.is_valid().to_numpy(zero_copy_only=False)
        if not said.any():
            return
        encoded = pc.dictionary_encode(column.filter(pa.array(said))).combine_chunks()
        codes, labels = encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()
    else:
        said = rows["observed_action"].notna().to_numpy()
        if not said.any():
            return
        codes, labels = pd.factorize(rows["observed_action"][said])
    combined = codes.astype(np.int64) * 3 + verdicts.verdict[said].astype(np.int64)
    counts = np.bincount(combined, minlength=3 * len(labels))
    for value in np.flatnonzero(counts):
        observed[(str(labels[value // 3]), Verdict(int(value % 3)).label)] += int(counts[value])


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


def _sample_rejections(chunk: pd.DataFrame | pa.Table, source: pa.Table | None, reasons: np.ndarray, rejected: np.ndarray,
                       report: ReplayReport, strict: bool) -> None:
    """Keep the first few rows of each rejection reason; the first rejected row stops a strict replay."""

    def describe(position: int) -> tuple[str, str]:
        values = list(chunk.slice(position, 1).to_pylist()[0].values()) if isinstance(chunk, pa.Table) else \
            chunk.iloc[position].tolist()
        if source is not None:  # the row as written: its source text in its place
            values.insert(_SOURCE_AT, row_source(source, position))
        where = str(values[_SOURCE_AT]) if values[_SOURCE_AT] is not None else "flow"
        return where, ",".join("" if pd.isna(v) else str(v) for v in values)

    if strict:
        first = int(np.flatnonzero(rejected)[0])
        where, text = describe(first)
        raise StrictInputError(f"{where}: {Reason(int(reasons[first])).code.replace('_', ' ')}: {text[:200]}")
    for code in np.unique(reasons[rejected]):
        reason = Reason(int(code)).code
        wanted = EVALUATOR_SAMPLES_PER_REASON - sum(1 for s in report.evaluator_samples if s.reason == reason)
        for position in np.flatnonzero(reasons == code)[:max(wanted, 0)]:
            where, text = describe(int(position))
            report.evaluator_samples.append(Sample(reason, where, text))


def write_rejects(report: ReplayReport, path: str | Path, outputs: Outputs | None = None) -> int:
    """Samples of every rejection reason, as JSON lines: reason, where (file:line or file@offset), record.

    Nothing rejected: an empty file, so a file standing at ``path`` from before is replaced like any output,
    never just removed, and an earlier run's samples cannot pass for this run's."""
    samples = [*report.ledger.samples, *report.evaluator_samples]
    with staged(outputs, [path]) as files:
        files.write_text(path, "".join(json.dumps(sample.to_dict()) + "\n" for sample in samples))
    return len(samples)
