"""``egress-sim whatif``: the flows whose verdict changes between two configurations, read once, evaluated twice.

The reference is the plainest one there is: two ``evaluate`` (or ``replay``) runs of the same flows, one per side,
compared row by row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
NSG_LOGS = ROOT / "data" / "logs" / "nsg-contoso"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
INTERNET, APPROVED = "allow_internet_outbound", "allow_only_approved_outbound"
SIDES = ("verdict", "reason", "rule")


@pytest.fixture(scope="module")
def flows(tmp_path_factory) -> Path:
    from egress_sim.cli import main
    from click.testing import CliRunner
    path = tmp_path_factory.mktemp("flows") / "flows.parquet"
    result = CliRunner().invoke(main, ["simulate", str(CONTOSO), "--flows", "6000", "--seed", "7", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _evaluate(cli, tmp_path: Path, flows: Path, mode: str, name: str) -> pd.DataFrame:
    out = tmp_path / f"{name}.parquet"
    result = cli("evaluate", CONTOSO, flows, "-o", out, "--mode", mode)
    assert result.exit_code == 0, result.output
    return pq.read_table(out).to_pandas()


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None).astype(str).reset_index(drop=True)


def test_internet_to_approved_lists_exactly_the_flows_two_evaluate_runs_disagree_on(cli, tmp_path, flows):
    before = _evaluate(cli, tmp_path, flows, INTERNET, "before")
    after = _evaluate(cli, tmp_path, flows, APPROVED, "after")
    disagree = (before["verdict"].astype(str) != after["verdict"].astype(str)).to_numpy()
    assert disagree.any() and not disagree.all()  # a comparison that can fail both ways
    changed_path = tmp_path / "changed.parquet"
    result = cli("whatif", CONTOSO, flows, "--mode", INTERNET, "--to-mode", APPROVED, "-o", changed_path,
                 "--fail-on", "any-change")
    assert result.exit_code == 1, result.output
    changed = pq.read_table(changed_path).to_pandas()

    inputs = [c for c in before.columns if c not in SIDES]
    expected = before.loc[disagree, inputs].copy()
    for k in SIDES:
        expected[f"{k}_before"] = before.loc[disagree, k]
        expected[f"{k}_after"] = after.loc[disagree, k]
    assert list(changed.columns) == inputs + [f"{k}_{s}" for s in ("before", "after") for k in SIDES]
    pd.testing.assert_frame_equal(_as_text(changed), _as_text(expected[list(changed.columns)]))


def test_the_groups_add_up_to_the_changed_flows_as_a_plain_group_by_counts_them(cli, tmp_path, flows):
    before = _evaluate(cli, tmp_path, flows, INTERNET, "before")
    after = _evaluate(cli, tmp_path, flows, APPROVED, "after")
    result = cli("whatif", CONTOSO, flows, "--mode", INTERNET, "--to-mode", APPROVED, "--json")
    data = json.loads(result.stdout)
    disagree = before["verdict"].astype(str) != after["verdict"].astype(str)
    assert data["totals"]["changed"] == int(disagree.sum()) == sum(g["flows"] for g in data["groups"])
    assert data["totals"]["flows"] == len(before)
    frame = pd.DataFrame({"compute_type": before["compute_type"].astype(str), "after": after["reason"].astype(str),
                          "bytes_out": before["bytes_out"]})[disagree.to_numpy()]
    expected = frame.groupby(["compute_type", "after"])["bytes_out"].agg(["size", "sum"])
    got = pd.DataFrame([(g["compute_type"], g["after"]["reason"], g["flows"], g["bytes_out"]) for g in data["groups"]],
                       columns=["compute_type", "after", "size", "sum"]).groupby(["compute_type", "after"]).sum()
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_dtype=False)


def test_fail_on_newly_denied_is_the_default_and_ignores_flows_that_become_allowed(cli, flows):
    tighter = cli("whatif", CONTOSO, flows, "--mode", INTERNET, "--to-mode", APPROVED)
    looser = cli("whatif", CONTOSO, flows, "--mode", APPROVED, "--to-mode", INTERNET)
    assert tighter.exit_code == 1 and "newly denied" in tighter.output
    assert looser.exit_code == 0, looser.output
    assert cli("whatif", CONTOSO, flows, "--mode", APPROVED, "--to-mode", INTERNET,
               "--fail-on", "any-change").exit_code == 1


def test_no_change_exits_0_under_either_fail_on(cli, flows):
    for fail_on in ("newly-denied", "any-change"):
        result = cli("whatif", CONTOSO, flows, "--to-mode", APPROVED, "--fail-on", fail_on, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["totals"]["changed"] == 0


def test_to_rules_compares_with_another_workspace_file(cli, tmp_path, flows):
    new = yaml.safe_load(CONTOSO.read_text())
    new["managed_network"]["outbound_rules"] = [r for r in new["managed_network"]["outbound_rules"]
                                                if r["name"] != "pypi"]
    new_path = tmp_path / "new.yaml"
    new_path.write_text(yaml.safe_dump(new, sort_keys=False))
    result = cli("whatif", CONTOSO, flows, "--to-rules", new_path, "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["totals"]["newly_denied"] > 0 and data["totals"]["newly_allowed"] == 0
    assert {g["before"]["rule"] for g in data["groups"]} == {"pypi"}
    assert {g["after"]["reason"] for g in data["groups"]} == {"default_deny"}


def test_to_service_tags_compares_with_another_weeks_file(cli, tmp_path, flows):
    bundled = ROOT / "data" / "servicetags" / "ServiceTags_Public_20251020.json"
    document = json.loads(bundled.read_text())
    for tag in document["values"]:  # next week, DataFactory lost every address
        if tag["name"].startswith("DataFactory"):
            tag["properties"]["addressPrefixes"] = ["192.0.2.0/32"]
    edited = tmp_path / "ServiceTags_next.json"
    edited.write_text(json.dumps(document))
    result = cli("whatif", CONTOSO, flows, "--to-service-tags", edited, "--json")
    data = json.loads(result.stdout)
    assert data["totals"]["newly_denied"] > 0
    assert {g["before"]["rule"] for g in data["groups"]} == {"datafactory"}
    assert {g["kind"] for g in data["groups"]} == {"service_tag"}  # addresses named by their tag
    assert all(g["destination"].startswith("DataFactory") for g in data["groups"])


def test_logs_are_read_once_and_every_record_is_accounted_for(cli, tmp_path):
    verdicts = {}
    for mode in (INTERNET, APPROVED):
        out = tmp_path / f"{mode}.parquet"
        assert cli("replay", CONTOSO, NSG_LOGS, "--inventory", FLEET, "-o", out, "--mode", mode).exit_code == 0
        verdicts[mode] = pq.read_table(out).to_pandas()
    result = cli("whatif", CONTOSO, NSG_LOGS, "--inventory", FLEET, "--mode", INTERNET, "--to-mode", APPROVED,
                 "--json", "-o", tmp_path / "changed.csv")
    data = json.loads(result.stdout)
    totals = data["replay"]["totals"]
    assert totals["read"] == totals["evaluated"] + totals["skipped"] + totals["rejected"]
    disagree = verdicts[INTERNET]["verdict"].astype(str) != verdicts[APPROVED]["verdict"].astype(str)
    assert data["totals"]["changed"] == int(disagree.sum()) > 0
    changed = pd.read_csv(tmp_path / "changed.csv")
    assert list(changed["source"]) == list(verdicts[INTERNET].loc[disagree.to_numpy(), "source"])


def test_logs_without_a_compute_say_how_to_name_one(cli):
    result = cli("whatif", CONTOSO, NSG_LOGS, "--to-mode", APPROVED)
    assert result.exit_code == 2 and "--inventory" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_another_side_it_is_a_usage_error(cli, flows):
    result = cli("whatif", CONTOSO, flows)
    assert result.exit_code == 2 and "--to-mode" in result.stderr


def test_the_output_is_never_one_of_the_inputs(cli, tmp_path, flows):
    copy = tmp_path / "flows.parquet"
    shutil.copy(flows, copy)
    before = copy.read_bytes()
    result = cli("whatif", CONTOSO, copy, "--to-mode", INTERNET, "-o", copy)
    assert result.exit_code == 2 and copy.read_bytes() == before


def test_an_endpoint_added_before_others_changes_no_flow_logged_by_address(cli, tmp_path):
    """Private endpoints have simulated addresses; the other side keeps every endpoint both sides have at the same
    address, so NSG flows (addresses only) to an existing endpoint keep their verdict and rule."""
    new = yaml.safe_load(CONTOSO.read_text())
    vault = {"name": "team-vault", "type": "private_endpoint", "destination": {
        "service_resource_id": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/data/providers/"
                               "Microsoft.KeyVault/vaults/team-vault", "subresource_target": "vault",
        "spark_enabled": False}}
    rules = new["managed_network"]["outbound_rules"]
    at = next(k for k, r in enumerate(rules) if r["name"] == "datalake")
    new["managed_network"]["outbound_rules"] = rules[:at] + [vault] + rules[at:]
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(new, sort_keys=False))
    result = cli("whatif", CONTOSO, NSG_LOGS, "--inventory", FLEET, "--to-rules", path, "--json",
                 "--fail-on", "any-change")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["changed"] == 0
