"""What-if jobs: the same flows evaluated under several configurations.

* ``evaluate_modes`` (the demo): one flow file under each isolation mode, each mode's verdicts to their own file,
  the summaries side by side.
* ``run_whatif`` (``egress-sim whatif``): the flows read once and evaluated under two rule tables (another mode,
  other rules, another week's service tags), the flows whose verdict changes counted by group
  (``analysis.whatif``) and, on request, written with both verdicts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..analysis.whatif import Comparison
from ..base.outputs import check_outputs, staged
from ..evaluation.evaluate import Verdicts, evaluate
from ..flows.io import FlowWriter
from ..net.taglocator import TagLocator
from ..ruletable.compile import RuleTable
from .flowinput import FlowInput, read_flow_input
from .replay import ReplayReport, count_verdicts

from ..ruletable.compile import compile_rules
from ..flows.io import make_output_dir
from ..model import IsolationMode, Workspace
from ..base.outputs import Outputs
from .pipeline import evaluate_file
from ..net.servicetags import ServiceTagSet
from ..evaluation.summary import EvaluationSummary

ALL_MODES: tuple[IsolationMode, ...] = (
    IsolationMode.DISABLED,
    IsolationMode.ALLOW_INTERNET_OUTBOUND,
    IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND,
)


@dataclass(frozen=True)
class ModeOutcome:
    mode: IsolationMode
    summary: EvaluationSummary
    verdicts_path: Path


def evaluate_modes(
    workspace: Workspace,
    tags: ServiceTagSet,
    flows_path: str | Path,
    out_dir: str | Path,
    modes: tuple[IsolationMode, ...] = ALL_MODES,
    outputs: Outputs | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[IsolationMode, ModeOutcome]:
    """Evaluate one flow file under each mode; verdicts go to ``out_dir/verdicts-<mode>.parquet`` (published
    with the caller's other files when it passes its ``outputs``)."""
    out = make_output_dir(out_dir)
    outcomes = {}
    for mode in modes:
        path = verdicts_path(out, mode)
        summary = evaluate_file(compile_rules(workspace, tags, mode), flows_path, path, outputs=outputs,
                                progress=progress)
        outcomes[mode] = ModeOutcome(mode, summary, path)
    return outcomes


def verdicts_path(out_dir: Path, mode: IsolationMode) -> Path:
    return out_dir / f"verdicts-{mode.yaml}.parquet"


# ---------------------------------------------------------------------------------------------------- what-if

CHANGED_COLUMNS = tuple(f"{k}_{side}" for side in ("before", "after") for k in ("verdict", "reason", "rule"))


@dataclass
class WhatIfResult:
    comparison: Comparison
    groups: pd.DataFrame  # Comparison.groups()
    replay: ReplayReport | None  # when the flows were logs: what was read, skipped and rejected
    output: str | None
    rows_written: int


def run_whatif(before: RuleTable, after: RuleTable, flows: FlowInput, tags: ServiceTagSet,
               output: str | Path | None = None, progress: Callable[[int], None] | None = None) -> WhatIfResult:
    """Read ``flows`` once; evaluate each chunk under both tables; count the flows whose verdict changes and,
    with ``output``, write them (input columns, then ``verdict/reason/rule`` ``_before`` and ``_after``)."""
    if output is not None:
        check_outputs([output], inputs=flows.files())
    report, chunks = read_flow_input(flows, progress)
    comparison = Comparison(TagLocator(tags))
    written = 0
    with contextlib.ExitStack() as stack:
        writer = None
        if output is not None:
            files = stack.enter_context(staged(None, [output], inputs=flows.files()))
            writer = stack.enter_context(FlowWriter(output, files))
        for chunk in chunks:
            was, now = evaluate(before, chunk.batch), evaluate(after, chunk.batch)
            if chunk.prepared is not None and report is not None:
                count_verdicts(chunk.prepared, was, report, flows.strict)
            changed = comparison.add(chunk.table, chunk.batch, was, now)
            if writer is not None:
                writer.write(_changed_rows(chunk.table, was, now, changed))
                written += int(changed.sum())
    if report is not None:
        report.check()
    return WhatIfResult(comparison, comparison.groups(), report, None if output is None else str(output), written)


def _changed_rows(table: pa.Table, before: Verdicts, after: Verdicts, changed: np.ndarray) -> pa.Table:
    """The changed rows with both sides' verdict columns (input columns of those names kept, renamed ``input_``)."""
    rows = pa.array(np.flatnonzero(changed))
    out = table.take(rows)
    taken = set(out.column_names)
    renamed = []
    for name in out.column_names:
        new = name
        while new in CHANGED_COLUMNS or (new != name and new in taken):
            new = f"input_{new}"
        renamed.append(new)
    out = out.rename_columns(renamed)
    for side, verdicts in (("before", before), ("after", after)):
        for name, column in verdicts.to_arrow().items():
            out = out.append_column(f"{name}_{side}", column.take(rows))
    return out
