"""Counting verdicts: flows by compute type, verdict and reason, accumulated over chunks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .flows.schema import COMPUTE_TYPES, FlowBatch
from .evaluate import Verdicts
from .verdicts import REASONS, Reason, Verdict


def compute_labels(batch: FlowBatch) -> np.ndarray:
    """The compute type of each flow as YAML text; ``missing``/``invalid`` for rows whose cell is bad."""
    labels = np.array([c.yaml for c in COMPUTE_TYPES] + ["invalid", "missing"], dtype=object)
    codes = np.where(batch.compute >= 0, batch.compute, np.where(batch.compute == -1, len(COMPUTE_TYPES), len(COMPUTE_TYPES) + 1))
    return labels[codes]


@dataclass
class EvaluationSummary:
    """How many flows got which verdict and reason, per compute type. Adding two summaries adds counts."""

    counts: Counter = field(default_factory=Counter)  # (compute_type, reason code) -> flows

    def add(self, batch: FlowBatch, verdicts: Verdicts) -> None:
        labels = compute_labels(batch)
        keys, numbers = np.unique(np.rec.fromarrays([labels.astype(str), verdicts.reason]), return_counts=True)
        for (compute, reason), number in zip(keys.tolist(), numbers.tolist()):
            self.counts[(compute, Reason(int(reason)).code)] += int(number)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_verdict(self) -> dict[str, int]:
        out = {v.label: 0 for v in Verdict}
        for (_, reason), n in self.counts.items():
            out[Reason[reason.upper()].verdict.label] += n
        return out

    def by_reason(self) -> dict[str, int]:
        out: Counter = Counter()
        for (_, reason), n in self.counts.items():
            out[reason] += n
        order = {r.code: i for i, r in enumerate(REASONS)}
        return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))

    def by_compute(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (compute, reason), n in sorted(self.counts.items()):
            row = out.setdefault(compute, {v.label: 0 for v in Verdict})
            row[Reason[reason.upper()].verdict.label] += n
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "flows": self.total,
            "verdicts": self.by_verdict(),
            "reasons": self.by_reason(),
            "by_compute_type": self.by_compute(),
            "by_compute_type_and_reason": [
                {"compute_type": c, "reason": r, "verdict": Reason[r.upper()].verdict.label, "flows": n}
                for (c, r), n in sorted(self.counts.items())
            ],
        }
