"""How well the risk model flags labelled exfiltration: simulate a workspace's traffic (benign and every exfiltration
scenario, labelled), evaluate it under each isolation mode, assess every flow, and count per scenario and mode the
flows flagged (recall) and, over all flagged flows, those that are exfiltration (precision).

``python -m egress_sim.app.quality`` prints the README's table; ``tests/test_risk_quality.py`` runs the same
measurement and holds the README's figures to it within 0.02.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..analysis.risk import RiskContext, aggregate_signals
from ..evaluation.evaluate import evaluate_frame
from ..model import IsolationMode, Workspace
from ..net.servicetags import ServiceTagSet, load_service_tags
from ..net.taglocator import TagLocator
from ..ruletable.compile import compile_rules
from ..simulate.scenario import load_scenario
from ..simulate.simulator import BENIGN, simulate
from .loading import load_checked

QUALITY_FLOWS = 200_000
QUALITY_SEED = 0


def measure(workspace: Workspace, tags: ServiceTagSet, flows: int = QUALITY_FLOWS, seed: int = QUALITY_SEED,
            scenario: str | Path | None = None) -> pd.DataFrame:
    """One row per (mode, scenario): flows, allowed, flagged, recall; plus per mode a ``benign`` row (flows,
    flagged) and an ``all exfiltration`` row with the precision of the mode's flags."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flows.parquet"
        simulate(workspace, tags, load_scenario(scenario), flows, seed, path)
        frame = pq.read_table(path).to_pandas()
    locator = TagLocator(tags)
    isolated = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    rows = []
    for mode in IsolationMode:
        table = compile_rules(workspace, tags, mode)
        verdicts = evaluate_frame(table, frame)
        ctx = RiskContext(table, locator, isolated)
        assessed = ctx.assess(verdicts)
        for tracker in aggregate_signals():
            tracker.add(verdicts, assessed)
            tracker.mark(verdicts, assessed)
        label = frame["scenario"].astype(str).to_numpy()
        flagged = assessed["flagged"].to_numpy()
        allowed = (verdicts["verdict"].astype(str) == "allow").to_numpy()
        exfil = label != BENIGN
        for scenario in sorted(set(label[exfil])):
            mine = label == scenario
            rows.append({"mode": mode.yaml, "scenario": scenario, "flows": int(mine.sum()),
                         "allowed": int((mine & allowed).sum()), "flagged": int((mine & flagged).sum()),
                         "recall": round(float((mine & flagged).sum() / mine.sum()), 3)})
        true = int((exfil & flagged).sum())
        rows.append({"mode": mode.yaml, "scenario": "all exfiltration", "flows": int(exfil.sum()),
                     "allowed": int((exfil & allowed).sum()), "flagged": true,
                     "recall": round(true / max(int(exfil.sum()), 1), 3),
                     "precision": round(true / max(int(flagged.sum()), 1), 3)})
        rows.append({"mode": mode.yaml, "scenario": BENIGN, "flows": int((~exfil).sum()),
                     "allowed": int((~exfil & allowed).sum()), "flagged": int((~exfil & flagged).sum())})
    return pd.DataFrame(rows)


def markdown_table(result: pd.DataFrame) -> str:
    """The README's table: a row per scenario, per mode its recall (flows flagged / flows), then precision."""
    modes = list(dict.fromkeys(result["mode"]))
    short = {"disabled": "disabled", "allow_internet_outbound": "internet", "allow_only_approved_outbound": "approved-only"}
    lines = ["| scenario | flows | " + " | ".join(f"recall, {short[m]} (allowed)" for m in modes) + " |",
             "|---|---:|" + "---:|" * len(modes)]
    for scenario in dict.fromkeys(result["scenario"]):
        part = result[result["scenario"] == scenario].set_index("mode")
        cells = []
        for m in modes:
            r = part.loc[m]
            if scenario == BENIGN:
                cells.append(f"{int(r['flagged']):,} flagged ({int(r['allowed']):,})")
            else:
                cells.append(f"{r['recall']:.3f} ({int(r['allowed']):,})")
        lines.append(f"| {scenario} | {int(part['flows'].iloc[0]):,} | " + " | ".join(cells) + " |")
    precision = result[result["scenario"] == "all exfiltration"].set_index("mode")["precision"]
    lines.append("| **precision** | | " + " | ".join(f"{precision[m]:.3f}" for m in modes) + " |")
    return "\n".join(lines)


def precision_line(result: pd.DataFrame, label: str) -> str:
    """One table row: the precision of each mode's flags, and the benign flows flagged."""
    modes = list(dict.fromkeys(result["mode"]))
    exfil = result[result["scenario"] == "all exfiltration"].set_index("mode")
    benign = result[result["scenario"] == BENIGN].set_index("mode")
    cells = [f"{exfil.loc[m, 'precision']:.3f} ({int(benign.loc[m, 'flagged']):,} benign flagged)" for m in modes]
    return f"| **precision**, {label} | | " + " | ".join(cells) + " |"


LEGIT_UPLOADS = "legit-uploads.yaml"


def main(argv: list[str]) -> None:
    from ..base.datafiles import bundled_path
    workspace_file = argv[0] if argv else str(bundled_path("workspaces", "contoso-research.yaml"))
    tags = load_service_tags()
    workspace = load_checked(workspace_file, tags)[0]
    print(markdown_table(measure(workspace, tags)))
    print(precision_line(measure(workspace, tags, scenario=bundled_path("simulation", LEGIT_UPLOADS)),
                         "with legitimate uploads"))


if __name__ == "__main__":
    main(sys.argv[1:])
