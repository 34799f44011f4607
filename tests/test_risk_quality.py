"""The README's precision/recall table (section "Measured quality") is a real run: this test runs the same
measurement (``egress_sim.app.quality``: contoso, 200,000 simulated flows, seed 0, each mode; and again with
legitimate uploads mixed in) and holds every figure of the table to it within 0.02."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from egress_sim.app.quality import LEGIT_UPLOADS, measure
from egress_sim.base.datafiles import bundled_path
from egress_sim.model import read_workspace

README = Path(__file__).resolve().parents[1] / "README.md"
TOLERANCE = 0.02


def _table() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("<!-- quality:begin -->"):text.index("<!-- quality:end -->")]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()
            if line.startswith("|") and not line.startswith("|---")][1:]


def _figure(cell: str) -> float:
    return float(re.match(r"[\d.]+", cell).group())


@pytest.fixture(scope="module")
def measured(tags):
    workspace = read_workspace(bundled_path("workspaces", "contoso-research.yaml")).workspace
    return (measure(workspace, tags),
            measure(workspace, tags, scenario=bundled_path("simulation", LEGIT_UPLOADS)))


def test_every_recall_in_the_readme_is_within_002_of_a_fresh_run(measured):
    result = measured[0]
    modes = list(dict.fromkeys(result["mode"]))
    rows = [r for r in _table() if not r[0].startswith("**") and r[0] != "benign"]
    assert len(rows) >= 14  # every scenario, and "all exfiltration"
    for row in rows:
        fresh = result[result["scenario"] == row[0]].set_index("mode")["recall"]
        for mode, cell in zip(modes, row[2:]):
            assert abs(_figure(cell) - fresh[mode]) <= TOLERANCE, (row[0], mode, cell, fresh[mode])


def test_both_precision_rows_are_within_002_of_a_fresh_run(measured):
    rows = {r[0]: r for r in _table() if r[0].startswith("**precision**")}
    assert set(rows) == {"**precision**", "**precision**, with legitimate uploads"}
    for label, result in zip(("**precision**", "**precision**, with legitimate uploads"), measured):
        fresh = result[result["scenario"] == "all exfiltration"].set_index("mode")["precision"]
        modes = list(dict.fromkeys(result["mode"]))
        for mode, cell in zip(modes, rows[label][2:]):
            assert abs(_figure(cell) - fresh[mode]) <= TOLERANCE, (label, mode, cell, fresh[mode])
