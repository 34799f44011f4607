"""Counting verdicts: flows by compute type, verdict and reason, accumulated over chunks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from ..base.errors import FlowInputError
from ..flows.schema import COMPUTE_TYPES, FlowBatch, factorize
from .evaluate import Verdicts
from ..flows.verdicts import REASONS, Reason, Verdict


_COMPUTE_LABELS = np.array([c.yaml for c in COMPUTE_TYPES] + ["invalid", "missing"], dtype=object)


def compute_codes(batch: FlowBatch) -> tuple[np.ndarray, np.ndarray]:
    """Each flow's compute type as a code into YAML labels; ``invalid``/``missing`` for rows whose cell is bad."""
    n = len(COMPUTE_TYPES)  # an invalid cell's code -1 becomes n, a missing one's -2 becomes n + 1
    return np.where(batch.compute >= 0, batch.compute, n - 1 - batch.compute), _COMPUTE_LABELS


MAX_LABEL_VALUES = 1000  # a column with more distinct values is data, not a label worth a table


@dataclass
class EvaluationSummary:
    """How many flows got which verdict and reason, per compute type. Adding two summaries adds counts."""

    counts: Counter = field(default_factory=Counter)  # (compute_type, reason code) -> flows
    # (label, value, reason code) -> flows, for label columns such as the simulator's scenario and service
    by_label: Counter = field(default_factory=Counter)
    # labels no longer counted because they have more than MAX_LABEL_VALUES values (not labels, then), or
    # hold values that are not text or numbers
    dropped_labels: set = field(default_factory=set)
    # input columns renamed in the output because they carry a verdict column's name (``verdict`` -> ...)
    renamed_columns: dict = field(default_factory=dict)

    def add(self, batch: FlowBatch, verdicts: Verdicts, labels: dict[str, list[pd.Series]] | None = None) -> None:
        """Count a chunk. ``labels`` maps a label name to its column(s); with several columns (e.g.
        ``"scenario+service"``) their combinations are counted, each value a tuple."""
        for (compute,), reason, n in _count([compute_codes(batch)], verdicts.reason):
            self.counts[(compute, reason)] += n
        for name, columns in (labels or {}).items():
            if name in self.dropped_labels:
                continue
            try:
                codes = [factorize(c, name) for c in columns]
            except FlowInputError:  # lists or mappings: not a label
                self.dropped_labels.add(name)
                continue
            for values, reason, n in _count(codes, verdicts.reason):
                self.by_label[(name, values if len(values) > 1 else values[0], reason)] += n
            if len({value for label, value, _ in self.by_label if label == name}) > MAX_LABEL_VALUES:
                self.dropped_labels.add(name)
                for key in [k for k in self.by_label if k[0] == name]:
                    del self.by_label[key]

    def label_reasons(self, column: str) -> dict:
        """Flows per value of a label and reason."""
        out: dict[str, dict[str, int]] = {}
        for (col, value, reason), n in sorted(self.by_label.items()):
            if col == column:
                out.setdefault(value, {})[reason] = n
        return out

    def label_verdicts(self, column: str) -> dict:
        """Flows per value of a label and verdict (allow/deny/rejected)."""
        out: dict[str, dict[str, int]] = {}
        for value, reasons in self.label_reasons(column).items():
            row = out.setdefault(value, {v.label: 0 for v in Verdict})
            for reason, n in reasons.items():
                row[Reason[reason.upper()].verdict.label] += n
        return out

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
            **({"by_label_and_reason": [
                {"label": c, "value": list(v) if isinstance(v, tuple) else v, "reason": r,
                 "verdict": Reason[r.upper()].verdict.label, "flows": n}
                for (c, v, r), n in sorted(self.by_label.items())
            ]} if self.by_label else {}),
            **({"renamed_columns": dict(self.renamed_columns)} if self.renamed_columns else {}),
        }


REASON_RADIX = 32  # reason codes are below 32
assert max(r.value for r in REASONS) < REASON_RADIX


def _count(columns: list[tuple[np.ndarray, np.ndarray]], reasons: np.ndarray) -> list[tuple[tuple[str, ...], str, int]]:
    """Flows per (combination of column values, reason); each column given as (codes, unique values), with
    code -1 for a missing cell. One compiled counting pass over the rows into a dense table of every
    combination when that table is small beside the rows (it is, for compute types and simulator labels);
    else ``np.unique`` on a mixed-radix key."""
    labels = [np.append(np.asarray(uniques, dtype=object), "missing") for _, uniques in columns]  # code -1 → last
    sizes = np.array([len(values) for values in labels], dtype=np.int64)
    codes = tuple(np.ascontiguousarray(c, dtype=np.int32) for c, _ in columns)
    combinations = REASON_RADIX * int(np.prod(sizes))
    if combinations <= max(1 << 16, 4 * len(reasons)):
        counts = np.zeros(combinations, dtype=np.int64)
        _tally(reasons, codes, sizes, counts)
        keys = np.flatnonzero(counts)
        numbers = counts[keys]
    else:
        key = reasons.astype(np.int64)
        radix = REASON_RADIX
        for c, size in zip(codes, sizes.tolist()):
            key += np.where(c < 0, size - 1, c).astype(np.int64) * radix
            radix *= size
        keys, numbers = np.unique(key, return_counts=True)
    out = []
    for key, number in zip(keys.tolist(), numbers.tolist()):
        rest, combination = key // REASON_RADIX, []
        for values in labels:
            rest, position = divmod(rest, len(values))
            combination.append(str(values[position]))
        out.append((tuple(combination), Reason(key % REASON_RADIX).code, int(number)))
    return out


@numba.njit(cache=True, nogil=True)
def _tally(reasons, codes, sizes, counts):
    """``counts[reason + 32 * (c0 + size0 * (c1 + ...))] += 1`` per flow (a code -1 counts as the last value)."""
    for i in range(reasons.shape[0]):
        key, radix = np.int64(reasons[i]), np.int64(REASON_RADIX)
        for j in range(len(codes)):
            code = codes[j][i]
            key += (code if code >= 0 else sizes[j] - 1) * radix
            radix *= sizes[j]
        counts[key] += 1
