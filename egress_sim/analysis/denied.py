"""The flows a rule table denies, kept compactly for ``suggest``: one row per distinct flow shape (compute type, host,
address, protocol, port, whether names are logged, the denial's reason and rule, the flow's label), with the flows
and bytes out behind it. Everything the evaluator reads is in the shape, so evaluating the shapes under another rule
table gives each flow's verdict exactly, however many flows were read."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..evaluation.evaluate import REASON_LABELS, Verdicts
from ..flows.schema import COMPUTE_TYPES, PROTOCOLS, FlowBatch
from ..flows.verdicts import Verdict
from ..net.ipnum import ipv4_text

_KEY = ["compute_type", "host", "dst_ip", "protocol", "port", "name_logged", "reason", "rule", "label"]


@dataclass
class DeniedFlows:
    """The flows a rule table denies, one row per distinct shape (``_KEY``), with flows and bytes out."""

    _parts: list[pd.DataFrame] = field(default_factory=list)
    total: int = 0
    rejected: int = 0  # flows the evaluator could not judge: no rule changes that

    def add(self, table: pa.Table, batch: FlowBatch, verdicts: Verdicts) -> None:
        self.total += batch.n
        self.rejected += int((verdicts.verdict == Verdict.REJECTED).sum())
        rows = np.flatnonzero(verdicts.verdict == Verdict.DENY)
        if not len(rows):
            return
        codes, names = verdicts.rule_codes()
        frame = pd.DataFrame({
            "compute_type": np.array([c.yaml for c in COMPUTE_TYPES] + [""], dtype=object)[
                np.where(batch.compute[rows] >= 0, batch.compute[rows], len(COMPUTE_TYPES))],
            "host": _hosts(batch, rows),
            "dst_ip": _addresses(batch, rows),
            "protocol": np.array([p.value for p in PROTOCOLS] + [""], dtype=object)[batch.protocol[rows]],
            "port": batch.port[rows].astype(np.int64),
            "name_logged": batch.name_logged[rows],
            "reason": np.array(REASON_LABELS, dtype=object)[verdicts.reason_positions[rows]],
            "rule": np.array([*names, ""], dtype=object)[np.where(codes[rows] >= 0, codes[rows], len(names))],
            "label": _labels(table, rows),
            "flows": np.ones(len(rows), dtype=np.int64),
            "bytes_out": _bytes(table, rows),
        })
        self._parts.append(frame.groupby(_KEY, sort=False).sum().reset_index())
        if len(self._parts) > 8:
            self._parts = [self.frame()]

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(columns=[*_KEY, "flows", "bytes_out"])
        return pd.concat(self._parts, ignore_index=True).groupby(_KEY, sort=False).sum().reset_index()


def _hosts(batch: FlowBatch, rows: np.ndarray) -> np.ndarray:
    out = np.full(len(rows), "", dtype=object)
    codes = batch.host_code[rows]
    named = codes >= 0
    if named.any():
        out[named] = pc.take(batch.hosts, pa.array(codes[named])).to_numpy(zero_copy_only=False)
    return out


def _addresses(batch: FlowBatch, rows: np.ndarray) -> np.ndarray:
    out = np.full(len(rows), "", dtype=object)
    codes = batch.dest_code[rows]
    has = codes >= 0
    if not has.any():
        return out
    unique, inverse = np.unique(codes[has], return_inverse=True)
    text = []
    for c in unique.tolist():
        version = int(batch.dest_version[c])
        if version == 4:
            text.append(ipv4_text(int(batch.dest_lo[c])))
        elif version == 6:
            text.append(str(ipaddress.IPv6Address((int(batch.dest_hi[c]) << 64) | int(batch.dest_lo[c]))))
        else:
            text.append("")
    out[has] = np.array(text, dtype=object)[inverse]
    return out


def _labels(table: pa.Table, rows: np.ndarray) -> np.ndarray:
    if "scenario" not in table.column_names:
        return np.full(len(rows), "", dtype=object)
    values = pc.take(table.column("scenario"), pa.array(rows)).to_pylist()
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def _bytes(table: pa.Table, rows: np.ndarray) -> np.ndarray:
    if "bytes_out" not in table.column_names:
        return np.zeros(len(rows), dtype=np.int64)
    values = pd.to_numeric(pd.Series(pc.take(table.column("bytes_out"), pa.array(rows)).to_pylist()),
                           errors="coerce")
    return values.fillna(0).clip(lower=0).to_numpy(dtype=np.int64)

