"""Evaluate a flow file against a compiled rule table, chunk by chunk, into a verdict file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..ruletable.compile import RuleTable
from ..base.errors import FlowInputError
from ..evaluation.evaluate import evaluate, input_renames, table_with_verdicts
import pyarrow as pa
import pyarrow.parquet as pq

from ..flows.io import table_format, DEFAULT_CHUNK_ROWS, FlowWriter, read_flow_tables
from ..flows.schema import EVALUATED_COLUMNS, flow_batch_from_table
from ..model import ComputeType
from ..base.outputs import Outputs, staged
from ..evaluation.summary import EvaluationSummary

# The simulator's labels: which scenario made a flow, and the scenario and service together.
SIMULATOR_LABELS: dict[str, tuple[str, ...]] = {"scenario": ("scenario",), "scenario+service": ("scenario", "service")}


def evaluate_file(
    table: RuleTable,
    flows_path: str | Path,
    out_path: str | Path,
    default_compute: ComputeType | str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    labels: dict[str, tuple[str, ...]] | None = None,
    keep_input: bool = True,
    outputs: Outputs | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationSummary:
    """Write the input rows, in order, with ``verdict``, ``reason`` and ``rule``; return the counts.

    Memory stays bounded by ``chunk_rows``; every row read is written back with exactly one verdict. When
    ``labels`` names label columns (``{"scenario": ("scenario",)}``), verdicts are also counted per label value;
    by default the simulator's labels, when the flows carry them. The rows travel as Arrow tables: only the
    columns the evaluator reads are converted, the others go to the output untouched.

    ``keep_input=False`` writes only the verdict columns, row for row with the input (join by row number):
    only the columns the evaluator and the labels need are read, and the output is a few bytes per flow.

    The output is checked before anything is read (``egress_sim.base.outputs``: never the flow file itself) and
    appears under ``out_path`` only once every row is written; a failure leaves a file standing there as it
    was. With ``outputs``, the caller publishes it together with its other files.

    Input columns named ``verdict``, ``reason`` or ``rule`` are renamed (``input_verdict``, ...), and the
    summary says so. A CSV line that is not one row of the header's width is a row rejected as
    ``bad_field_count``, in its place.
    """
    label_columns = SIMULATOR_LABELS if labels is None else labels
    needed = None if keep_input else {*EVALUATED_COLUMNS, *(c for cs in label_columns.values() for c in cs)}
    summary = EvaluationSummary()
    rows_read = 0
    with staged(outputs, [out_path], inputs=[flows_path]) as files, FlowWriter(out_path, files) as writer:
        for flows in read_flow_tables(flows_path, chunk_rows, needed):
            chunk = flows.table
            rows_read += chunk.num_rows
            try:
                batch = flow_batch_from_table(chunk, default_compute, flows.malformed)
            except FlowInputError as exc:  # a column missing or unreadable: say which file
                raise FlowInputError(f"{flows_path}: {exc}", file=str(flows_path)) from None
            verdicts = evaluate(table, batch)
            present = {name: [chunk.column(c) for c in columns]
                       for name, columns in label_columns.items()
                       if all(c in chunk.column_names for c in columns)}
            summary.add(batch, verdicts, present)
            if keep_input:
                summary.renamed_columns.update(input_renames(chunk.column_names))
            writer.write(table_with_verdicts(chunk if keep_input else chunk.select([]), verdicts))
            if progress is not None:
                progress(chunk.num_rows)
        if not (rows_read == writer.rows == summary.total):  # an internal invariant, not a user error
            raise AssertionError(f"row count mismatch: read {rows_read}, wrote {writer.rows}, counted {summary.total}")
    return summary


def flow_count(flows_path: str | Path) -> int | None:
    """How many flows a file holds, when that is known without reading it (Parquet's footer); else None."""
    if table_format(flows_path) != "parquet":
        return None
    try:
        return pq.ParquetFile(flows_path).metadata.num_rows
    except (OSError, pa.ArrowException):
        return None  # the reader will say what is wrong with the file
