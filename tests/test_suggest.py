"""``egress-sim suggest``: the smallest rule set that lets benign traffic through in approved-only mode, and never
the traffic labelled as exfiltration unless benign work needs the very same destination.

The checks use nothing of suggest's own reasoning: the YAML it writes is evaluated by ``evaluate`` on the same
flows, and each suggested rule is taken out in turn.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKSPACES = sorted((ROOT / "data" / "workspaces").glob("*.yaml"))
APPROVED = "allow_only_approved_outbound"


@pytest.fixture(scope="module")
def suggested(tmp_path_factory):
    """Per bundled workspace: simulated flows, suggest's --json and the YAML it wrote."""
    from click.testing import CliRunner
    from egress_sim.cli import main
    out = {}
    for ws in WORKSPACES:
        folder = tmp_path_factory.mktemp(ws.stem)
        flows, new = folder / "flows.parquet", folder / "suggested.yaml"
        runner = CliRunner()
        assert runner.invoke(main, ["simulate", str(ws), "--flows", "12000", "--seed", "11", "-o", str(flows)]).exit_code == 0
        result = runner.invoke(main, ["suggest", str(ws), str(flows), "-o", str(new), "--json"])
        assert result.exit_code == 0, result.output
        out[ws.stem] = (ws, flows, new, json.loads(result.stdout))
    return out


def _verdicts(cli, workspace: Path, flows: Path, tmp_path: Path, name: str = "v") -> pd.DataFrame:
    out = tmp_path / f"{name}.parquet"
    result = cli("evaluate", workspace, flows, "-o", out, "--mode", APPROVED)
    assert result.exit_code == 0, result.output
    return pq.read_table(out).to_pandas()


def _destination(frame: pd.DataFrame) -> pd.Series:
    host = frame["fqdn"].astype(object).where(frame["fqdn"].notna(), frame["dst_ip"].astype(object))
    return host.astype(str) + "|" + frame["protocol"].astype(str) + "|" + frame["dst_port"].astype(str)


@pytest.mark.parametrize("name", [w.stem for w in WORKSPACES])
def test_the_suggested_rules_allow_every_benign_flow(suggested, cli, tmp_path, name):
    _, flows, new, data = suggested[name]
    verdicts = _verdicts(cli, new, flows, tmp_path)
    benign = verdicts["scenario"].astype(str) == "benign"
    denied = verdicts[benign & (verdicts["verdict"].astype(str) != "allow")]
    assert denied.empty, denied[["compute_type", "fqdn", "dst_ip", "dst_port", "reason"]].head().to_string()
    assert data["benign"]["flows"] == data["benign"]["allowed"] > 0


@pytest.mark.parametrize("name", [w.stem for w in WORKSPACES])
def test_exfiltration_stays_denied_unless_benign_work_needs_the_same_destination(suggested, cli, tmp_path, name):
    ws, flows, new, data = suggested[name]
    verdicts = _verdicts(cli, new, flows, tmp_path)
    benign = verdicts["scenario"].astype(str) == "benign"
    needed = set(_destination(verdicts[benign]))
    allowed_exfil = verdicts[~benign & (verdicts["verdict"].astype(str) == "allow")]
    assert set(_destination(allowed_exfil)) <= needed
    assert (~benign).sum() > 0  # the scenario mixes exfiltration in: the check is not empty by construction
    # residual risk lists what the suggested rules let through: exfiltration the workspace's own rules already
    # allowed (uploads to a host an existing FQDN rule names, e.g. git_push) was never denied, so is not in it
    before = _verdicts(cli, ws, flows, tmp_path, "before")["verdict"].astype(str) == "allow"
    listed = sum(g["flows"] for g in data["residual_risk"])
    assert listed == len(allowed_exfil[~before[allowed_exfil.index]])


@pytest.mark.parametrize("name", [w.stem for w in WORKSPACES])
def test_dropping_any_one_suggested_rule_denies_some_benign_flow(suggested, cli, tmp_path, name):
    ws, flows, new, data = suggested[name]
    original = {r["name"]: r for r in yaml.safe_load(ws.read_text())["managed_network"].get("outbound_rules", [])}
    document = yaml.safe_load(new.read_text())
    assert data["rules"], "suggest proposed nothing: the check below would be empty"
    for rule in data["rules"]:
        trial = json.loads(json.dumps(document))
        rules = trial["managed_network"]["outbound_rules"]
        if rule["action"] == "add":
            trial["managed_network"]["outbound_rules"] = [r for r in rules if r["name"] != rule["name"]]
        else:
            trial["managed_network"]["outbound_rules"] = [original[r["name"]] if r["name"] == rule["name"] else r
                                                          for r in rules]
        path = tmp_path / f"without-{rule['name']}.yaml"
        path.write_text(yaml.safe_dump(trial, sort_keys=False))
        verdicts = _verdicts(cli, path, flows, tmp_path, rule["name"])
        benign = verdicts["scenario"].astype(str) == "benign"
        assert (benign & (verdicts["verdict"].astype(str) != "allow")).any(), f"{rule['name']} is not needed"


@pytest.mark.parametrize("name", [w.stem for w in WORKSPACES])
def test_the_written_workspace_validates_and_keeps_every_rule_it_had(suggested, cli, name):
    ws, _, new, _ = suggested[name]
    assert cli("validate", new).exit_code == 0
    before = {r["name"] for r in yaml.safe_load(ws.read_text())["managed_network"].get("outbound_rules", [])}
    after = yaml.safe_load(new.read_text())
    assert before <= {r["name"] for r in after["managed_network"]["outbound_rules"]}
    assert after["managed_network"]["isolation_mode"] == APPROVED


def test_the_written_workspace_loads_in_azure_ai_ml(suggested):
    azure_ml = pytest.importorskip("azure.ai.ml")
    for _, _, new, data in suggested.values():
        loaded = azure_ml.load_workspace(new)
        names = {r.name for r in loaded.managed_network.outbound_rules}
        assert {r["name"] for r in data["rules"]} <= names


def test_storage_is_reached_through_a_private_endpoint_never_an_fqdn_rule(suggested):
    for _, _, _, data in suggested.values():
        for rule in data["rules"]:
            if rule["type"] == "fqdn":
                assert ".core.windows.net" not in rule["destination"]


def test_the_documented_scenario_sets_are_recognised_by_name(suggested):
    groups = {r["group"] for _, _, _, data in suggested.values() for r in data["rules"]}
    assert {"python-packages", "vscode", "huggingface"} <= groups


def test_every_rule_says_what_it_covers_and_why(suggested):
    for _, _, _, data in suggested.values():
        for rule in data["rules"]:
            assert rule["flows"] > 0 and rule["computes"] and rule["why"] and rule["destinations"]


# --- the choices on small hand-made flow tables -----------------------------------------------------------------

def _flows(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "flows.csv"
    frame = pd.DataFrame(rows)
    for column, default in (("compute_type", "compute_cluster"), ("protocol", "TCP"), ("dst_port", 443),
                            ("scenario", "benign"), ("bytes_out", 1000)):
        if column not in frame:
            frame[column] = default
    frame.to_csv(path, index=False)
    return path


def _suggest(cli, write_yaml, tmp_path, rows: list[dict]) -> dict:
    ws = write_yaml({"name": "ws", "location": "eastus",
                     "managed_network": {"isolation_mode": APPROVED, "outbound_rules": []}})
    result = cli("suggest", ws, _flows(tmp_path, rows), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_three_sibling_names_make_one_wildcard_two_stay_exact(cli, write_yaml, tmp_path):
    rows = [{"fqdn": f"{n}.models.example.com", "dst_ip": "203.0.113.5"} for n in ("a", "b", "c")]
    rows += [{"fqdn": f"{n}.tools.example.org", "dst_ip": "203.0.113.6"} for n in ("a", "b")]
    destinations = sorted(r["destination"] for r in _suggest(cli, write_yaml, tmp_path, rows)["rules"])
    assert destinations == ["*.models.example.com", "a.tools.example.org, b.tools.example.org"]


def test_a_wildcard_is_never_widened_to_a_shared_multi_tenant_suffix(cli, write_yaml, tmp_path):
    rows = [{"fqdn": f"app{n}.azurewebsites.net", "dst_ip": "20.40.1.1"} for n in range(5)]
    rules = _suggest(cli, write_yaml, tmp_path, rows)["rules"]
    assert all("*" not in r["destination"] for r in rules if r["type"] == "fqdn")


def test_a_wildcard_never_covers_a_name_that_must_stay_denied(cli, write_yaml, tmp_path):
    rows = [{"fqdn": f"{n}.cdn.example.com", "dst_ip": "203.0.113.5"} for n in ("a", "b", "c")]
    rows.append({"fqdn": "drop.cdn.example.com", "dst_ip": "203.0.113.9", "scenario": "paste_site"})
    rules = _suggest(cli, write_yaml, tmp_path, rows)["rules"]
    assert [r["destination"] for r in rules] == ["a.cdn.example.com, b.cdn.example.com, c.cdn.example.com"]


def test_unlabelled_traffic_to_a_paste_site_is_left_denied_by_its_signature(cli, write_yaml, tmp_path):
    rows = [{"fqdn": "pastebin.com", "dst_ip": "104.20.1.1", "scenario": ""},
            {"fqdn": "example.com", "dst_ip": "93.184.215.14", "scenario": ""}]
    data = _suggest(cli, write_yaml, tmp_path, rows)
    assert [r["destination"] for r in data["rules"]] == ["example.com"]
    assert data["left_denied"][0]["destination"] == "pastebin.com"
    assert "paste_or_file_sharing_site" in data["left_denied"][0]["why"]


def test_a_storage_account_gets_a_private_endpoint_rule(cli, write_yaml, tmp_path):
    rows = [{"fqdn": "teamdata.dfs.core.windows.net", "dst_ip": "20.60.1.4"}]
    rules = _suggest(cli, write_yaml, tmp_path, rows)["rules"]
    assert [(r["type"], r["destination"]["subresource_target"]) for r in rules] == [("private_endpoint", "dfs")]
    assert rules[0]["destination"]["service_resource_id"].endswith("/Microsoft.Storage/storageAccounts/teamdata")


def test_a_service_tag_rule_opens_only_the_ports_used(cli, write_yaml, tmp_path, tags):
    prefix = tags.get("DataFactory.EastUS").ipv4_prefixes[0].split("/")[0]
    rows = [{"dst_ip": prefix, "dst_port": port} for port in (8080, 8081, 8082, 9000)]
    rules = _suggest(cli, write_yaml, tmp_path, rows)["rules"]
    assert [(r["type"], r["destination"]["port_ranges"]) for r in rules] == [("service_tag", "8080-8082, 9000")]
    assert rules[0]["destination"]["service_tag"].startswith("DataFactory")


def test_an_address_outside_azure_without_a_name_is_unresolved_not_pinned(cli, write_yaml, tmp_path):
    data = _suggest(cli, write_yaml, tmp_path, [{"dst_ip": "203.0.113.7", "dst_port": 5432}])
    assert data["rules"] == [] and data["unresolved"][0]["destination"] == "203.0.113.7"
