"""The ``rules`` job: every rule in force checked (``analysis.rulecheck``) and, when flows are given, what each
rule decided on them (one read of the flows, one evaluation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ..analysis.rulecheck import RuleCheck, RuleUsage, check_rules
from ..evaluation.evaluate import evaluate
from ..ruletable.compile import RuleTable
from .flowinput import FlowInput, InputChunk, read_flow_input
from .replay import ReplayReport, count_verdicts


@dataclass
class RulesResult:
    checks: list[RuleCheck]
    usage: RuleUsage | None  # None without flows
    replay: ReplayReport | None

    def rows(self) -> list[dict[str, object]]:
        """One dict per rule: the check, and the usage when flows were given (``never_hit`` then set)."""
        out = []
        for check in self.checks:
            row = check.to_dict()
            if self.usage is not None:
                row.update(self.usage.of(check.order))
                row["never_hit"] = row["hits"] == 0
            out.append(row)
        return out


def run_rules(table: RuleTable, flows: FlowInput | None = None,
              progress: Callable[[int], None] | None = None) -> RulesResult:
    checks = check_rules(table)
    if flows is None:
        return RulesResult(checks, None, None)
    report, chunks = read_flow_input(flows, progress)
    usage = RuleUsage(len(table.rule_names))
    for chunk in chunks:
        verdicts = evaluate(table, chunk.batch)
        if chunk.prepared is not None and report is not None:
            count_verdicts(chunk.prepared, verdicts, report, flows.strict)
        usage.add(chunk.batch, verdicts, _bytes_out(chunk), _times(chunk))
    if report is not None:
        report.check()
    return RulesResult(checks, usage, report)


def _bytes_out(chunk: InputChunk) -> np.ndarray | None:
    if "bytes_out" not in chunk.table.column_names:
        return None
    values = pd.to_numeric(pd.Series(chunk.table.column("bytes_out").to_numpy(zero_copy_only=False)), errors="coerce")
    return values.fillna(0).clip(lower=0).to_numpy(dtype=np.float64)


def _times(chunk: InputChunk) -> pd.Series | None:
    if "ts" not in chunk.table.column_names:
        return None
    column = chunk.table.column("ts")
    values = column.to_pandas() if not str(column.type).startswith("string") else pc.cast(column, "string").to_pandas()
    return pd.to_datetime(values, utc=True, errors="coerce")
