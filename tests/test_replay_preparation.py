"""Replay prepares the chunks its log readers hand out as Arrow tables on Arrow columns (``ARROW_PREPARATION``),
the others through pandas. The pandas way is the reference: on every bundled log, with and without an inventory,
the Arrow way writes the same verdict files, rejects and report."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from egress_sim.app import replay_chunks
from egress_sim.app.loading import load_checked
from egress_sim.app.replay import replay
from egress_sim.logs.engine.ledger import StrictInputError
from egress_sim.logs.inventory import load_inventory
from egress_sim.ruletable.compile import compile_rules

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / "data" / "logs"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
# Sources of the test logs in a /24 the fleet does not own: rows from them are rejected as ``unknown_source``.
PARTIAL_INVENTORY = """\
computes:
- name: gpu-cluster
  type: compute_cluster
  addresses: [10.0.3.0/24, 10.0.8.4]
- name: ci-ana
  type: compute_instance
  addresses: [10.0.0.4, 192.168.1.10]
"""

# Owns some of the NSG logs' destinations and not their sources: those flows come *into* a known compute from
# outside, and are skipped as ``inbound_by_inventory``.
DESTINATIONS_INVENTORY = """\
computes:
- name: ci-goran
  type: compute_instance
  addresses: [10.0.8.10, 20.60.1.4, 151.101.0.0/16]
"""

CASES = {
    "bundled NSG directory, fleet inventory": ([ROOT / "data" / "logs" / "nsg-contoso"], "fleet", None),
    "NSG test files, default compute": ([LOGS / "nsg"], None, "compute_cluster"),
    "NSG test files, part of the sources known": ([LOGS / "nsg"], "partial", None),
    "VNet test files": ([LOGS / "vnet"], None, "compute_instance"),
    "Azure Firewall test files": ([LOGS / "azfw"], "partial", "serverless_spark"),
    "Zeek sets": ([LOGS / "zeek" / "tsv", LOGS / "zeek" / "json"], "partial", None),
    "AWS VPC test files": ([LOGS / "awsvpc"], None, "compute_cluster"),
    "every test log at once": ([LOGS], "partial", "compute_cluster"),
    "flows into known computes": ([LOGS / "nsg", ROOT / "data" / "logs" / "nsg-contoso"], "destinations", None),
}


@pytest.fixture(scope="module")
def table(tags):
    workspace, _ = load_checked(ROOT / "data" / "workspaces" / "contoso-research.yaml", tags)
    return compile_rules(workspace, tags)


def _inventory(kind, tmp_path):
    if kind == "fleet":
        return load_inventory(FLEET)
    if kind in ("partial", "destinations"):
        path = tmp_path / "inventory.yaml"
        path.write_text(PARTIAL_INVENTORY if kind == "partial" else DESTINATIONS_INVENTORY)
        return load_inventory(path)
    return None


def _replay_both_ways(monkeypatch, table, tmp_path, inputs, inventory, default, suffix, **options):
    results = {}
    prepared_on_arrow = []
    real = replay_chunks._prepare_arrow
    monkeypatch.setattr(replay_chunks, "_prepare_arrow",
                        lambda *a, **k: prepared_on_arrow.append(1) or real(*a, **k))
    for arrow in (True, False):
        monkeypatch.setattr(replay_chunks, "ARROW_PREPARATION", arrow)
        out = tmp_path / f"{'arrow' if arrow else 'pandas'}{suffix}"
        rejects = tmp_path / f"{'arrow' if arrow else 'pandas'}.rejects.jsonl"
        report = replay(table, [str(p) for p in inputs], out, inventory=inventory, default_compute=default,
                        rejects_path=rejects, **options)
        results[arrow] = (out, rejects, report)
    return results, len(prepared_on_arrow)


@pytest.mark.parametrize("case", list(CASES))
def test_arrow_preparation_writes_what_the_pandas_preparation_writes(case, table, tmp_path, monkeypatch):
    inputs, inventory_kind, default = CASES[case]
    inventory = _inventory(inventory_kind, tmp_path)
    results_parquet, arrow_chunks = _replay_both_ways(
        monkeypatch, table, tmp_path, inputs, inventory, default, ".parquet")
    (arrow_out, arrow_rejects, arrow_report), (pandas_out, pandas_rejects, pandas_report) = \
        results_parquet[True], results_parquet[False]
    assert arrow_chunks > 0  # (the case does reach the Arrow way)
    arrow_table, pandas_table = pq.read_table(arrow_out), pq.read_table(pandas_out)
    assert arrow_table.schema == pandas_table.schema
    assert arrow_table.equals(pandas_table)
    assert arrow_rejects.read_bytes() == pandas_rejects.read_bytes()
    assert arrow_report.to_dict() == pandas_report.to_dict()
    if inventory_kind == "destinations":
        assert arrow_report.ledger.skipped["inbound_by_inventory"] > 0

    results_csv, _ = _replay_both_ways(monkeypatch, table, tmp_path, inputs, inventory, default, ".csv")
    assert results_csv[True][0].read_bytes() == results_csv[False][0].read_bytes()


def test_a_strict_replay_stops_at_the_same_row_with_the_same_words(table, tmp_path, monkeypatch):
    path = tmp_path / "elsewhere.yaml"
    path.write_text("computes:\n- name: gpu-cluster\n  type: compute_cluster\n  addresses: [10.0.3.0/24]\n")
    inventory = load_inventory(path)  # owns none of the log's sources
    messages = []
    for arrow in (True, False):
        monkeypatch.setattr(replay_chunks, "ARROW_PREPARATION", arrow)
        with pytest.raises(StrictInputError) as stopped:
            replay(table, [str(LOGS / "nsg" / "v2.json")], tmp_path / f"{arrow}.parquet", inventory=inventory,
                   strict=True)
        messages.append(str(stopped.value))
    assert messages[0] == messages[1] and "unknown source" in messages[0]
