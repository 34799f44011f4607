"""FLOWS for the decision commands (``whatif``, ``suggest``, ``rules``): a flow table, or anything ``replay``
reads, taken a chunk at a time so each chunk can be evaluated under several rule tables after one read.

One path to a ``.csv``, ``.csv.gz`` or ``.parquet`` file, with neither ``--inventory`` nor ``--format``, is a
flow table (its ``compute_type`` column, or ``--compute`` for a table without one). Anything else (several
paths, a directory, a pattern, a log) is replayed, and then, as for ``replay``, ``--inventory`` or ``--compute``
must say which compute sent the traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..base.errors import FlowInputError
from ..flows.io import DEFAULT_CHUNK_ROWS, read_flow_tables
from ..flows.schema import FlowBatch, flow_batch_from_table
from ..logs.inventory import load_inventory
from .replay import REPLAY_CHUNK_ROWS, ReplayReport, read_logs, table_format_or_none
from .replay_chunks import PreparedChunk, verdict_table


@dataclass(frozen=True)
class FlowInput:
    paths: tuple[str, ...]
    inventory: str | None = None
    compute: str | None = None
    log_format: str | None = None
    chunk_rows: int | None = None
    strict: bool = False

    @property
    def is_flow_table(self) -> bool:
        return (len(self.paths) == 1 and self.inventory is None and self.log_format is None
                and table_format_or_none(Path(self.paths[0])) is not None)

    def files(self) -> list[str]:
        """Every file named (for the check that no output overwrites an input)."""
        return [*self.paths, *([self.inventory] if self.inventory else [])]


@dataclass
class InputChunk:
    """Flows read once: their rows as Arrow (``table``, what an output copies) and parsed (``batch``);
    ``prepared`` when they came from logs (``replay.count_verdicts`` books them)."""

    table: pa.Table
    batch: FlowBatch
    prepared: PreparedChunk | None = None


def read_flow_input(flows: FlowInput, progress: Callable[[int], None] | None = None,
                    ) -> tuple[ReplayReport | None, Iterator[InputChunk]]:
    """The flows chunk by chunk, and for logs the replay report that accounts for every record read."""
    if flows.is_flow_table:
        return None, _table_chunks(flows, progress)
    if flows.inventory is None and flows.compute is None:
        raise FlowInputError("these flows are logs: say which compute sent the logged traffic with --inventory FILE "
                             "or --compute TYPE (a flow table is one .csv or .parquet file)")
    inventory = load_inventory(flows.inventory) if flows.inventory is not None else None
    report, chunks = read_logs(list(flows.paths), inventory, flows.compute, flows.log_format, flows.strict,
                               flows.chunk_rows or REPLAY_CHUNK_ROWS, progress)
    return report, (InputChunk(verdict_table(p, None), p.batch, p) for p in chunks)


def _table_chunks(flows: FlowInput, progress: Callable[[int], None] | None) -> Iterator[InputChunk]:
    path = flows.paths[0]
    for chunk in read_flow_tables(path, flows.chunk_rows or DEFAULT_CHUNK_ROWS):
        try:
            batch = flow_batch_from_table(chunk.table, flows.compute, chunk.malformed)
        except FlowInputError as exc:  # a column missing or unreadable: say which file
            raise FlowInputError(f"{path}: {exc}", file=str(path)) from None
        if progress is not None:
            progress(chunk.num_rows)
        yield InputChunk(chunk.table, batch)
