"""Long runs show progress on a terminal: the library reports every evaluated flow exactly once."""

from __future__ import annotations

from pathlib import Path

from egress_sim.ruletable.compile import compile_rules
from egress_sim.app.loading import load_checked
from egress_sim.app.pipeline import evaluate_file, flow_count

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "flows" / "sample_flows.csv"
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"


def test_evaluate_file_reports_each_chunk_and_the_counts_add_up_to_the_rows(tags, tmp_path):
    table = compile_rules(load_checked(CONTOSO, tags)[0], tags)
    seen: list[int] = []
    summary = evaluate_file(table, SAMPLE, tmp_path / "v.parquet", chunk_rows=7, progress=seen.append)
    assert sum(seen) == summary.total and len(seen) > 1


def test_a_parquet_file_knows_its_flow_count_and_a_csv_does_not(tags, tmp_path):
    table = compile_rules(load_checked(CONTOSO, tags)[0], tags)
    summary = evaluate_file(table, SAMPLE, tmp_path / "v.parquet")
    assert flow_count(tmp_path / "v.parquet") == summary.total
    assert flow_count(SAMPLE) is None
