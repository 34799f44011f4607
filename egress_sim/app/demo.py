"""``egress-sim demo``: simulate a workspace's traffic, evaluate it under every isolation mode, write reports.

The result is one JSON-able dict (``DemoReport.data``) that both the JSON file and the Markdown report are
rendered from, so they cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..base.datafiles import bundled_path
from ..flows.io import make_output_dir
from ..simulate.scenario import load_scenario
from ..simulate.simulator import BENIGN, simulate
from ..base.findings import Finding
from .loading import load_checked
from ..base.outputs import Outputs
from ..net.servicetags import load_service_tags
from ..flows.verdicts import Reason
from .report import build_report
from .whatif import ALL_MODES, evaluate_modes, verdicts_path

DEFAULT_WORKSPACE = "contoso-research.yaml"
DEFAULT_FLOWS = 250_000
DEFAULT_SEED = 7
DEFAULT_OUT = "reports/demo"


@dataclass(frozen=True)
class DemoReport:
    data: dict
    json_path: Path
    markdown_path: Path
    findings: list[Finding] = field(default_factory=list)  # the workspace's warnings
    report: dict = field(default_factory=dict)  # report.json's dict (exfiltration risk per mode)
    documents: dict[str, Path] = field(default_factory=dict)  # report.json, .md, .html by kind


def bundled_workspace_path(name: str = DEFAULT_WORKSPACE) -> Path:
    return bundled_path("workspaces", name)


def run_demo(
    out_dir: str | Path = "reports/demo",
    flows: int = DEFAULT_FLOWS,
    seed: int = DEFAULT_SEED,
    workspace_path: str | Path | None = None,
    scenario_path: str | Path | None = None,
    service_tags_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    location: str | None = None,
    evaluation_progress: Callable[[int], None] | None = None,
    write_documents: Callable[..., dict] | None = None,
) -> DemoReport:
    """Simulate ``flows`` flows, evaluate them under all three modes, assess the exfiltration risk of every flow,
    write ``summary.json`` and the reports into ``out_dir``.

    ``write_documents(report, out_dir, outputs)`` writes ``report.json``, ``report.md`` and ``report.html`` (the CLI
    passes ``report.document.write_reports``: presentation sits above the jobs, so the job is handed it); without
    it only ``report.json``'s dict is kept in ``DemoReport.report``.

    The files are checked before any work (none may be one of the input files) and appear together when the
    demo has succeeded; a failed or interrupted demo leaves an earlier demo's files as they were."""
    out = make_output_dir(out_dir, parents=str(out_dir) == DEFAULT_OUT)  # the default reports/demo is made whole
    ws_file = Path(workspace_path) if workspace_path is not None else bundled_workspace_path()
    flows_path, json_path, md_path = out / "flows.parquet", out / "summary.json", out / "report.md"
    written = [flows_path, *(verdicts_path(out, mode) for mode in ALL_MODES), json_path]
    with Outputs(written, inputs=[ws_file, scenario_path, service_tags_path]) as outputs:
        tags = load_service_tags(service_tags_path)
        workspace, findings = load_checked(ws_file, tags, location)
        scenario = load_scenario(scenario_path)
        plan, simulated = simulate(workspace, tags, scenario, flows, seed, flows_path, progress, outputs=outputs)
        outcomes = evaluate_modes(workspace, tags, outputs.temp(flows_path), out, ALL_MODES, outputs=outputs,
                                  progress=evaluation_progress)
        data = {
            "workspace": {"name": workspace.name, "file": str(ws_file), "location": workspace.location,
                          "isolation_mode": workspace.managed_network.isolation_mode.yaml},
            "service_tags": tags.source.rsplit("/", 1)[-1],
            "simulation": {**plan.describe(), **simulated.to_dict(), "flows_file": str(flows_path)},
            "modes": {mode.yaml: _mode_result(o.summary, str(o.verdicts_path)) for mode, o in outcomes.items()},
        }
        runs = [(mode, outputs.temp(o.verdicts_path)) for mode, o in outcomes.items()]
        report = build_report(workspace, str(ws_file), tags, runs,
                              f"{workspace.name}: {flows:,} simulated flows under each isolation mode (demo, seed {seed})",
                              inputs=[{"kind": "demo", "path": str(flows_path), "flows": simulated.flows}])
        report["inputs"][0]["path"] = str(flows_path)
        data["risk"] = {m["mode"]: {"exfiltration": m["exfiltration"], "bytes_at_risk": m["bytes_at_risk"]}
                        for m in report["modes"]}
        outputs.write_text(json_path, json.dumps(data, indent=2) + "\n")
        documents = write_documents(report, out, outputs) if write_documents else {}
    return DemoReport(data, json_path, Path(documents.get("markdown", md_path)), findings, report,
                      {k: Path(v) for k, v in documents.items()})


def _mode_result(summary, verdicts_path: str) -> dict:
    """One mode's outcome: totals, benign vs exfiltration flows, per scenario, and what breaks per service."""
    by_scenario = summary.label_verdicts("scenario")
    reasons_by_scenario = summary.label_reasons("scenario")
    benign = by_scenario.get(BENIGN, {"allow": 0, "deny": 0, "rejected": 0})
    exfil = {"allow": 0, "deny": 0, "rejected": 0}
    for name, counts in by_scenario.items():
        if name != BENIGN:
            for k, v in counts.items():
                exfil[k] += v
    broken: dict[str, dict[str, int]] = {}
    for (scenario, service), reasons in summary.label_reasons("scenario+service").items():
        if scenario == BENIGN:
            denied = {r: n for r, n in reasons.items() if Reason[r.upper()].verdict.label == "deny"}
            if denied:
                broken[service] = denied
    return {
        "verdicts_file": verdicts_path,
        "flows": summary.total,
        "verdicts": summary.by_verdict(),
        "reasons": summary.by_reason(),
        "benign": benign,
        "exfiltration": exfil,
        "by_scenario": {name: {**counts, "reasons": reasons_by_scenario.get(name, {})}
                        for name, counts in by_scenario.items() if name != BENIGN},
        "benign_denied_by_service": dict(sorted(broken.items(), key=lambda kv: -sum(kv[1].values()))),
    }
