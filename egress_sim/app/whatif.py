"""What-if comparisons: the same flows evaluated under several configurations.

For now one question: how would these flows fare under each isolation mode? Each mode's verdicts go to their
own file, and the summaries come back side by side, so a report can say what switching would block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
