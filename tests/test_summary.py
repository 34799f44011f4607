"""Counting verdicts per label: simulator labels are tabulated, a column with too many values is not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from egress_sim.evaluation.evaluate import Verdicts
from egress_sim.flows.schema import FlowBatch
from egress_sim.evaluation.summary import MAX_LABEL_VALUES, EvaluationSummary
from egress_sim.flows.verdicts import Reason


def batch_and_verdicts(n: int) -> tuple[FlowBatch, Verdicts]:
    frame = pd.DataFrame({"compute_type": ["compute_cluster"] * n, "dst_ip": ["203.0.113.1"] * n,
                          "dst_port": [443] * n, "protocol": ["TCP"] * n})
    reasons = np.full(n, Reason.DEFAULT_DENY.value, dtype=np.uint8)
    return FlowBatch.from_frame(frame), Verdicts(reason=reasons, rule=np.full(n, -1, dtype=np.int32), rule_names=())


def test_label_values_are_counted_per_reason():
    batch, verdicts = batch_and_verdicts(4)
    summary = EvaluationSummary()
    summary.add(batch, verdicts, {"scenario": [pd.Series(["benign", "benign", "dns_tunnel", "benign"])]})
    assert summary.label_reasons("scenario") == {"benign": {"default_deny": 3}, "dns_tunnel": {"default_deny": 1}}
    assert summary.label_verdicts("scenario")["benign"]["deny"] == 3


def test_a_column_with_too_many_values_is_not_tabulated():
    n = MAX_LABEL_VALUES + 5
    batch, verdicts = batch_and_verdicts(n)
    summary = EvaluationSummary()
    summary.add(batch, verdicts, {"scenario": [pd.Series([f"value-{i}" for i in range(n)])]})
    assert summary.label_reasons("scenario") == {}
    assert summary.dropped_labels == {"scenario"}
    assert summary.total == n
