"""The README's "Adding a log format" walks through ``tests/example_format/suricata_eve.py``: the file is quoted there
whole, and one registry line makes ``replay`` read its format, with every record accounted for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from egress_sim.app.loading import load_checked
from egress_sim.app.replay import replay
from egress_sim.logs import registry
from egress_sim.net.servicetags import load_service_tags
from egress_sim.ruletable.compile import compile_rules

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "example_format" / "suricata_eve.py"
SAMPLE = ROOT / "tests" / "data" / "logs" / "suricata" / "eve.json"


@pytest.fixture
def with_suricata(monkeypatch):
    """The one registry line the README asks for, added for this test only."""
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    monkeypatch.setattr(registry, "_READERS", (("suricata_eve", "FORMAT"), *registry._READERS))
    yield
    sys.modules.pop("suricata_eve", None)


def test_the_readme_quotes_the_example_format_whole():
    assert EXAMPLE.read_text() in (ROOT / "README.md").read_text()


def test_one_registry_line_makes_replay_read_the_new_format(with_suricata, tmp_path):
    tags = load_service_tags()
    workspace, _ = load_checked(ROOT / "data" / "workspaces" / "contoso-research.yaml", tags)
    report = replay(compile_rules(workspace, tags), [str(SAMPLE)], tmp_path / "out.csv", default_compute="serverless")
    assert [f.format for f in report.files] == ["suricata"]
    assert report.totals == {"read": 6, "evaluated": 2, "skipped": 1, "rejected": 3}
    assert dict(report.ledger.rejected) == {"invalid_ip": 1, "unknown_protocol": 1, "invalid_json": 1}
    assert [s.where for s in report.ledger.samples] == [f"{SAMPLE}:4", f"{SAMPLE}:5", f"{SAMPLE}:6"]
    out = (tmp_path / "out.csv").read_text()
    assert f"{SAMPLE}:1" in out and "2026-11-16 09:00:02" in out  # the +0100 time, in UTC
