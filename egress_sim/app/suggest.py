"""The ``suggest`` job: read the flows once, keep those approved-only outbound would deny, and propose the rules
(``analysis.suggest``); with an output path, write the workspace with them as Azure ML YAML."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..analysis.denied import DeniedFlows
from ..analysis.suggest import Suggestion, suggest_rules
from ..base.outputs import check_outputs, write_text_atomic
from ..evaluation.evaluate import evaluate
from ..model import IsolationMode, Workspace, dump_workspace
from ..net.servicetags import ServiceTagSet
from ..ruletable.compile import compile_rules
from .flowinput import FlowInput, read_flow_input
from .replay import ReplayReport, count_verdicts


@dataclasses.dataclass
class SuggestResult:
    suggestion: Suggestion
    denied: DeniedFlows
    replay: ReplayReport | None
    output: str | None


def run_suggest(workspace: Workspace, tags: ServiceTagSet, flows: FlowInput, output: str | Path | None = None,
                progress: Callable[[int], None] | None = None) -> SuggestResult:
    if output is not None:
        check_outputs([output], inputs=flows.files())
    table = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    report, chunks = read_flow_input(flows, progress)
    denied = DeniedFlows()
    for chunk in chunks:
        verdicts = evaluate(table, chunk.batch)
        if chunk.prepared is not None and report is not None:
            count_verdicts(chunk.prepared, verdicts, report, flows.strict)
        denied.add(chunk.table, chunk.batch, verdicts)
    if report is not None:
        report.check()
    suggestion = suggest_rules(workspace, tags, denied.frame())
    if output is not None:
        write_text_atomic(output, dump_workspace(suggestion.workspace) or "")
    return SuggestResult(suggestion, denied, report, None if output is None else str(output))
