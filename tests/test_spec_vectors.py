"""Every case of the spec's test vectors (spec/vectors.yaml) passes through `egress-sim evaluate`.

The workspaces are written to YAML files, each workspace's flows to one CSV, and the CLI evaluates them; each
case then checks its row. The reference evaluator must give the same answer.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import DATA
from egress_sim.model import workspace_from_dict
from egress_sim.ruletable.effective import effective_rules
from egress_sim.evaluation.reference import ReferenceEvaluator

VECTORS = yaml.safe_load((DATA / "spec_vectors.yaml").read_text())
CASES = VECTORS["cases"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Run the CLI once per workspace; map case name → (output row, reference decision)."""
    from click.testing import CliRunner

    from egress_sim.cli import main
    from egress_sim.net.servicetags import load_service_tags

    tags = load_service_tags()
    folder = tmp_path_factory.mktemp("vectors")
    results = {}
    for name, document in VECTORS["workspaces"].items():
        cases = [c for c in CASES if c["workspace"] == name]
        if not cases:
            continue
        ws_path = folder / f"{name}.yaml"
        ws_path.write_text(yaml.safe_dump(document, sort_keys=False))
        flows = pd.DataFrame([c["flow"] for c in cases])
        flows_path, out_path = folder / f"{name}.csv", folder / f"{name}.out.csv"
        flows.to_csv(flows_path, index=False)
        result = CliRunner().invoke(main, ["evaluate", str(ws_path), str(flows_path), "-o", str(out_path)])
        assert result.exit_code == 0, result.output
        out = pd.read_csv(out_path, dtype=str, keep_default_na=False)
        reference = ReferenceEvaluator(effective_rules(workspace_from_dict(document)[0], tags))
        for case, (_, row) in zip(cases, out.iterrows()):
            results[case["name"]] = (row, reference.evaluate_row(case["flow"]))
    return results


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_spec_vector(evaluated, case):
    row, reference = evaluated[case["name"]]
    expect = case["expect"]
    assert row["verdict"] == expect["verdict"], case.get("why")
    if "reason" in expect:
        assert row["reason"] == expect["reason"]
    if "rule" in expect:
        assert row["rule"] == expect["rule"]
    assert (reference.verdict.label, reference.reason.code, reference.rule or "") == (row["verdict"], row["reason"], row["rule"])
