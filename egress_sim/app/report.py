"""Build the report (``report.json`` schema version 1, see the README) from verdict files: each file read a chunk at a
time, its flows assessed by the risk model (``analysis.risk``), counted by mode, compute type and channel class,
the denied and risky destinations ranked, the labelled exfiltration measured, the rules scored.

Memory: the counters, the ranked groups, and the rows that may belong to a slow drip (small upload-shaped flows to
an outsider's channel, kept until the whole file is read because only their sum decides).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..analysis.risk import CANNOT_SEE, CHANNELS, RiskContext, aggregate_signals, score_rules, text_column
from ..flows.io import read_flow_tables
from ..model import IsolationMode, Workspace
from ..net.servicetags import ServiceTagSet
from ..net.taglocator import TagLocator
from ..ruletable.compile import compile_rules

SCHEMA, VERSION = "egress-sim-report", 1
TOP = 20
BENIGN = "benign"
_OUTSIDER = ("any_tenant", "open_internet")
_DESTINATION_KEYS = ["destination", "port", "protocol"]


@dataclass
class _ModeCounts:
    mode: str
    flows: int = 0
    verdicts: dict[str, int] = field(default_factory=lambda: {"allow": 0, "deny": 0, "rejected": 0})
    bytes_out_allowed: int = 0
    bytes_at_risk: int = 0
    by_compute: dict[str, dict[str, int]] = field(default_factory=dict)
    by_channel: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0] for c in CHANNELS})
    heat: dict[tuple[str, str], int] = field(default_factory=dict)
    denied: list[pd.DataFrame] = field(default_factory=list)
    risky: list[pd.DataFrame] = field(default_factory=list)
    labelled: pd.DataFrame | None = None  # scenario x (flows, allowed, flagged)
    drip_rows: list[pd.DataFrame] = field(default_factory=list)
    rule_hits: dict[str, list[int]] = field(default_factory=dict)

    def merge(self, other: "_ModeCounts") -> "_ModeCounts":
        """Add another part's counts (the Dask engine assesses each partition apart)."""
        self.flows += other.flows
        for v, n in other.verdicts.items():
            self.verdicts[v] = self.verdicts.get(v, 0) + n
        self.bytes_out_allowed += other.bytes_out_allowed
        self.bytes_at_risk += other.bytes_at_risk
        for c, counts in other.by_compute.items():
            mine = self.by_compute.setdefault(c, {"allow": 0, "deny": 0, "rejected": 0})
            for v, n in counts.items():
                mine[v] = mine.get(v, 0) + n
        for ch, (n, b) in other.by_channel.items():
            self.by_channel[ch][0] += n
            self.by_channel[ch][1] += b
        for key, n in other.heat.items():
            self.heat[key] = self.heat.get(key, 0) + n
        self.denied += other.denied
        self.risky += other.risky
        if other.labelled is not None:
            self.labelled = other.labelled if self.labelled is None else self.labelled.add(other.labelled, fill_value=0)
        self.drip_rows += other.drip_rows
        for name, (n, b) in other.rule_hits.items():
            hit = self.rule_hits.setdefault(name, [0, 0])
            hit[0] += n
            hit[1] += b
        return self

    def add(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> None:
        verdict = frame["verdict"].astype(str)
        allowed = (verdict == "allow").to_numpy()
        out = pd.to_numeric(frame.get("bytes_out", pd.Series(0, index=frame.index)), errors="coerce").fillna(0)
        out = out.clip(lower=0).astype(np.int64)
        compute = frame.get("compute_type", pd.Series("", index=frame.index)).astype(object).fillna("").astype(str)
        channel = assessed["channel"]
        self.flows += len(frame)
        for v, n in verdict.value_counts().items():
            self.verdicts[v] = self.verdicts.get(v, 0) + int(n)
        self.bytes_out_allowed += int(out[allowed].sum())
        self.bytes_at_risk += int(out[allowed & channel.isin(_OUTSIDER).to_numpy()].sum())
        for (c, v), n in pd.crosstab(compute, verdict).stack().items():
            self.by_compute.setdefault(c, {"allow": 0, "deny": 0, "rejected": 0})
            self.by_compute[c][v] = self.by_compute[c].get(v, 0) + int(n)
        for ch, group in out.groupby(channel):
            self.by_channel[ch][0] += len(group)
            self.by_channel[ch][1] += int(group.sum())
        for (c, ch), n in pd.crosstab(compute[allowed], channel[allowed]).stack().items():
            if n:
                self.heat[(c, ch)] = self.heat.get((c, ch), 0) + int(n)
        destination = _destinations(frame)
        base = pd.DataFrame({"destination": destination, "port": _ports(frame), "protocol": text_column(frame, "protocol"),
                             "flows": 1, "bytes_out": out})
        denied = ~allowed  # denied, or rejected (a cell the evaluator could not read: shown with its reason)
        if denied.any():
            part = base[denied].assign(reason=frame.loc[denied, "reason"].astype(str).to_numpy())
            self.denied.append(part.groupby([*_DESTINATION_KEYS, "reason"]).sum().reset_index())
        flagged = assessed["flagged"].to_numpy()
        if flagged.any():
            self.risky.append(_risky_groups(base[flagged], assessed[flagged], verdict[flagged]))
        rule = frame.get("rule", pd.Series(None, index=frame.index)).astype(object).fillna("")
        for name, group in out.groupby(rule.astype(str)):
            if name:
                hit = self.rule_hits.setdefault(name, [0, 0])
                hit[0] += len(group)
                hit[1] += int(group.sum())
        if "scenario" in frame:
            scenario = frame["scenario"].astype(str)
            table = pd.DataFrame({"scenario": scenario, "flows": 1, "allowed": allowed.astype(int),
                                  "flagged": flagged.astype(int),
                                  "allowed_flagged": (allowed & flagged).astype(int)}).groupby("scenario").sum()
            self.labelled = table if self.labelled is None else self.labelled.add(table, fill_value=0)

    def keep_candidates(self, frame: pd.DataFrame, assessed: pd.DataFrame, tracker, first_row: tuple) -> None:
        """The flows not flagged yet that the aggregate signal of ``tracker`` may flag once the input is read."""
        rows, keys = tracker.keys_for(frame, assessed)
        unflagged = ~assessed["flagged"].to_numpy(dtype=bool)[rows]
        mask = np.zeros(len(frame), dtype=bool)
        mask[rows[unflagged]] = True
        if mask.any():
            self.drip_rows.append(pd.DataFrame({
                "signal": tracker.signal,
                "row": [f"{first_row[0]}:{first_row[1] + k}" for k in np.flatnonzero(mask)],
                "key": [k for k, keep in zip(keys, unflagged.tolist()) if keep],
                "destination": _destinations(frame)[mask], "port": _ports(frame)[mask],
                "protocol": np.asarray(text_column(frame, "protocol"))[mask], "verdict": frame["verdict"].astype(str)[mask].to_numpy(),
                "channel": assessed["channel"][mask].to_numpy(), "bytes_out":
                    pd.to_numeric(frame["bytes_out"], errors="coerce").fillna(0)[mask].to_numpy(),
                "scenario": frame["scenario"].astype(str)[mask].to_numpy() if "scenario" in frame else "",
            }))

    def settle(self, trackers: list) -> None:
        """The candidate rows of the aggregate signals found once the whole input was read: flagged now (a row
        two signals found counts once, under the first)."""
        if not self.drip_rows:
            return
        rows = pd.concat(self.drip_rows, ignore_index=True)
        found = {t.signal: t.found() for t in trackers}
        rows = rows[[k in found.get(sig, set()) for sig, k in zip(rows["signal"], rows["key"])]]
        rows = rows.drop_duplicates("row") if "row" in rows else rows
        if rows.empty:
            return
        base = rows[["destination", "port", "protocol"]].assign(flows=1, bytes_out=rows["bytes_out"].astype(np.int64))
        assessed = pd.DataFrame({"channel": rows["channel"], "signals": rows["signal"], "flagged": True})
        self.risky.append(_risky_groups(base, assessed, rows["verdict"]))
        if self.labelled is not None:
            extra = rows.assign(n=1).groupby("scenario")["n"].sum()
            self.labelled["flagged"] = self.labelled["flagged"].add(extra, fill_value=0)
            extra = rows[rows["verdict"] == "allow"].assign(n=1).groupby("scenario")["n"].sum()
            self.labelled["allowed_flagged"] = self.labelled["allowed_flagged"].add(extra, fill_value=0)

    def to_dict(self) -> dict:
        denied = _top(self.denied, [*_DESTINATION_KEYS, "reason"])
        risky = _top(self.risky, [*_DESTINATION_KEYS, "channel", "signals", "verdict"])
        computes = sorted({c for c, _ in self.heat} | set(self.by_compute))
        channels = [c for c in CHANNELS if c != "blocked"]
        exfiltration, scenarios = None, []
        if self.labelled is not None:
            table = self.labelled.astype(int)
            exfil = table.drop(index=BENIGN, errors="ignore")
            benign = table.loc[BENIGN] if BENIGN in table.index else None
            exfiltration = {"labelled": int(exfil["flows"].sum()), "allowed": int(exfil["allowed"].sum()),
                            "flagged": int(exfil["flagged"].sum()),
                            "allowed_flagged": int(exfil["allowed_flagged"].sum()),
                            "benign_flagged": int(benign["flagged"]) if benign is not None else 0}
            scenarios = [{"scenario": str(s), "flows": int(r["flows"]), "allowed": int(r["allowed"]),
                          "flagged": int(r["flagged"]), "allowed_flagged": int(r["allowed_flagged"])}
                         for s, r in exfil.iterrows()]
        return {
            "mode": self.mode, "flows": self.flows, "allowed": self.verdicts.get("allow", 0),
            "denied": self.verdicts.get("deny", 0), "rejected": self.verdicts.get("rejected", 0),
            "bytes_out_allowed": self.bytes_out_allowed, "bytes_at_risk": self.bytes_at_risk,
            "exfiltration": exfiltration,
            "by_compute": [{"compute_type": c, "allowed": v.get("allow", 0), "denied": v.get("deny", 0), "rejected": v.get("rejected", 0)}
                           for c, v in sorted(self.by_compute.items())],
            "by_channel": [{"channel": c, "flows": n, "bytes_out": b} for c, (n, b) in self.by_channel.items()],
            "heatmap": {"computes": computes, "channels": channels,
                        "flows": [[self.heat.get((c, ch), 0) for ch in channels] for c in computes]},
            "top_denied": [{"destination": r["destination"], "port": _port(r["port"]), "protocol": r["protocol"],
                            "flows": int(r["flows"]), "bytes_out": int(r["bytes_out"]), "reason": r["reason"]}
                           for r in denied],
            "top_risky": [{"destination": r["destination"], "port": _port(r["port"]), "protocol": r["protocol"],
                           "channel": r["channel"], "flows": int(r["flows"]), "bytes_out": int(r["bytes_out"]),
                           "signals": r["signals"].split(";") if r["signals"] else [], "verdict": r["verdict"]}
                          for r in risky],
            "scenarios": scenarios,
        }


def assess_file(path: str | Path, mode_name: str, ctx: RiskContext, chunk_rows: int = 250_000,
                progress: Callable[[int], None] | None = None) -> _ModeCounts:
    """One verdict file (evaluate's, replay's, one of demo's) counted and assessed."""
    counts, trackers = _ModeCounts(mode_name), aggregate_signals()
    files = sorted(Path(path).glob("part-*.parquet")) if Path(path).is_dir() else [Path(path)]
    seen = 0
    for file in files:
        if file.stat().st_size == 0:  # a replay whose every record was rejected writes an empty CSV
            continue
        for chunk in read_flow_tables(file, chunk_rows):
            frame = chunk.table.to_pandas()
            assess_frame(frame, ctx, counts, trackers, (str(file), seen))
            seen += len(frame)
            if progress is not None:
                progress(len(frame))
    counts.settle(trackers)
    return counts


def assess_frame(frame: pd.DataFrame, ctx: RiskContext, counts: "_ModeCounts", trackers: list, first) -> None:
    """One chunk of a verdict file assessed into ``counts`` and the aggregate signals' ``trackers``; ``first`` names
    its first row (file, row), so a candidate row of an aggregate signal is counted once."""
    if "verdict" not in frame:
        raise ValueError("not a verdict file (no verdict column)")
    assessed = ctx.assess(frame)
    counts.add(frame, assessed)
    for tracker in trackers:
        tracker.add(frame, assessed)
        counts.keep_candidates(frame, assessed, tracker, first)


def build_report(workspace: Workspace, workspace_file: str, tags: ServiceTagSet,
                 runs: list[tuple[IsolationMode, str | Path]], title: str, inputs: list[dict] | None = None,
                 whatif: dict | None = None, suggestions: list[dict] | None = None,
                 progress: Callable[[int], None] | None = None, notes: list[str] | None = None,
                 assess: Callable | None = None) -> dict:
    """The report dict: one entry per (mode, verdict file) run. ``assess(path, mode name, context)`` counts a
    file (default: ``assess_file`` here; the Dask engine passes its own)."""
    assess = assess or (lambda path, name, ctx: assess_file(path, name, ctx, progress=progress))
    locator = TagLocator(tags)
    isolated = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    modes, rules = [], []
    for mode, path in runs:
        table = compile_rules(workspace, tags, mode)
        counts = assess(path, mode.yaml, RiskContext(table, locator, isolated))
        modes.append(counts.to_dict())
        if mode is workspace.managed_network.isolation_mode or not rules:
            rules = [{"name": r.name, "type": r.type, "channel": r.channel, "risk": r.risk, "why": list(r.why),
                      "hits": counts.rule_hits.get(r.name, [0, 0])[0], "bytes_out": counts.rule_hits.get(r.name, [0, 0])[1]}
                     for r in score_rules(table)]
    if not runs:  # a report of a what-if alone: the rules of the workspace as its file sets them
        rules = [{"name": r.name, "type": r.type, "channel": r.channel, "risk": r.risk, "why": list(r.why),
                  "hits": None, "bytes_out": None} for r in score_rules(compile_rules(workspace, tags))]
    return {
        "schema": SCHEMA, "version": VERSION, "generated_by": f"egress-sim {__version__}", "title": title,
        "workspace": {"name": workspace.name, "file": workspace_file, "location": workspace.location,
                      "isolation_mode": workspace.managed_network.isolation_mode.yaml},
        "inputs": inputs or [{"kind": "verdicts", "path": str(p), "flows": m["flows"]} for (_, p), m in zip(runs, modes)],
        "modes": modes, "rules": rules, "whatif": whatif, "suggestions": suggestions,
        "cannot_see": list(CANNOT_SEE), "notes": list(notes or []),
    }


def _risky_groups(base: pd.DataFrame, assessed: pd.DataFrame, verdict: pd.Series) -> pd.DataFrame:
    part = base.assign(channel=assessed["channel"].to_numpy(), signals=assessed["signals"].to_numpy(),
                       verdict=np.asarray(verdict))
    return part.groupby([*_DESTINATION_KEYS, "channel", "signals", "verdict"]).sum().reset_index()


def _top(parts: list[pd.DataFrame], keys: list[str]) -> list[dict]:
    if not parts:
        return []
    table = pd.concat(parts, ignore_index=True).groupby(keys).sum().reset_index()
    order = table.sort_values(["flows", "bytes_out", *keys], ascending=[False, False, *[True] * len(keys)])
    return order.head(TOP).to_dict("records")  # ties broken by the keys: the same list however the input was cut


def _destinations(frame: pd.DataFrame) -> np.ndarray:
    host = np.asarray(text_column(frame, "fqdn"), dtype=object)
    address = np.asarray(text_column(frame, "dst_ip"), dtype=object)
    return np.where(host != "", host, address)


def _ports(frame: pd.DataFrame) -> np.ndarray:
    if "dst_port" not in frame:
        return np.full(len(frame), -1, dtype=np.int64)
    return pd.to_numeric(frame["dst_port"], errors="coerce").fillna(-1).astype(np.int64).to_numpy()


def _port(value) -> int | None:
    return None if value is None or int(value) < 0 else int(value)




# ---------------------------------------------------------------------------------------------------- results

_MODE_FILE = {f"verdicts-{m.yaml}.parquet": m for m in IsolationMode}


def results_runs(results: list[str], mode: IsolationMode | None, workspace: Workspace) -> tuple[list, list[dict]]:
    """The (mode, verdict file) runs a report reads from RESULTS, and the what-if files among them.

    A directory is a ``demo`` output (its ``verdicts-<mode>.parquet`` files); a file is a verdict file of
    ``evaluate`` or ``replay`` (read under ``mode``, else the workspace's own), or a ``whatif -o`` file (its
    ``verdict_before``/``verdict_after`` columns)."""
    from ..base.errors import FlowInputError
    from ..flows.io import open_parquet, table_format
    runs, whatifs = [], []
    for item in results:
        path = Path(item)
        if not path.exists():
            raise FlowInputError(f"{item}: no such result file or directory", file=item)
        if path.is_dir():
            found = [(m, path / name) for name, m in _MODE_FILE.items() if (path / name).is_file()]
            if not found and any(path.glob("part-*.parquet")):  # a dataset of the Dask engine
                found = [(mode or workspace.managed_network.isolation_mode, path)]
            if not found:
                raise FlowInputError(f"{item}: a directory of results must hold a demo's verdicts-<mode>.parquet "
                                     "files, or the part files of an --engine dask run", file=item)
            runs.extend(found)
            continue
        columns = _columns(path, table_format, open_parquet)
        if "verdict_before" in columns and "verdict_after" in columns:
            whatifs.append({"path": item})
        elif "verdict" in columns and not {"fqdn", "dst_ip"} & set(columns):
            raise FlowInputError(f"{item}: a verdicts-only file (evaluate --verdicts-only) has no flow columns to "
                                 "assess: evaluate without --verdicts-only for a report", file=item)
        elif "verdict" in columns:
            runs.append((mode or workspace.managed_network.isolation_mode, path))
        else:
            raise FlowInputError(f"{item}: not a verdict file (no verdict column) nor a whatif -o file", file=item)
    return runs, whatifs


def _columns(path: Path, table_format, open_parquet) -> list[str]:
    if table_format(path) == "parquet":
        return open_parquet(path).schema_arrow.names
    with path.open("rb") as handle:
        head = handle.readline()
    if head[:2] == b"\x1f\x8b":
        import gzip
        with gzip.open(path, "rb") as handle:
            head = handle.readline()
    return [c.strip().strip('"') for c in head.decode("utf-8", "replace").strip().split(",")]


def whatif_section(path: str | Path, chunk_rows: int = 250_000) -> dict:
    """The what-if section of a report from a ``whatif -o`` file: totals and the largest groups."""
    groups: dict[tuple, int] = {}
    changed = newly_denied = newly_allowed = 0
    for chunk in read_flow_tables(path, chunk_rows):
        frame = chunk.table.to_pandas()
        before, after = frame["verdict_before"].astype(str), frame["verdict_after"].astype(str)
        changed += len(frame)
        newly_denied += int(((before == "allow") & (after != "allow")).sum())
        newly_allowed += int(((before != "allow") & (after == "allow")).sum())
        keys = pd.DataFrame({"compute_type": text_column(frame, "compute_type"), "destination": _destinations(frame),
                             "port": _ports(frame), "before": before + " " + frame["reason_before"].astype(str),
                             "after": after + " " + frame["reason_after"].astype(str)})
        for key, n in keys.value_counts().items():
            groups[key] = groups.get(key, 0) + int(n)
    top = sorted(groups.items(), key=lambda kv: -kv[1])[:TOP]
    return {"before": "verdict_before", "after": "verdict_after", "changed": changed, "newly_denied": newly_denied,
            "newly_allowed": newly_allowed,
            "groups": [{"compute_type": k[0], "destination": k[1], "port": _port(k[2]), "before": k[3],
                        "after": k[4], "flows": n} for k, n in top]}


def whatif_from_result(result_json: dict) -> dict:
    """The what-if section from ``whatif``'s own result (``cli.decide.result_dict``)."""
    totals = result_json["totals"]
    return {"before": result_json.get("before_label", "before"), "after": result_json.get("after_label", "after"),
            "changed": totals["changed"], "newly_denied": totals["newly_denied"],
            "newly_allowed": totals["newly_allowed"],
            "groups": [{"compute_type": g["compute_type"], "destination": g["destination"], "port": g["dst_port"],
                        "before": f"{g['before']['verdict']} {g['before']['reason']}",
                        "after": f"{g['after']['verdict']} {g['after']['reason']}", "flows": g["flows"]}
                       for g in result_json["groups"][:TOP]]}


REJECT_NOTES = 20


def rejected_notes(samples) -> list[str]:
    """Samples of the records a replay rejected, as report notes: what could not be read, where, and its text as
    the log had it (untrusted: the renderers escape it)."""
    return [f"{'rejected (' + s.reason + ')' if ' ' not in s.reason else s.reason} at {s.where}: {s.text[:300]}"
            for s in list(samples)[:REJECT_NOTES]]
