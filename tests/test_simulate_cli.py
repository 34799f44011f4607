"""`egress-sim simulate` and `egress-sim demo`: what they write, what they print, and how they fail.

Exit 0 on success; exit 2 on bad input, with one line on stderr and never a traceback (the ``cli`` fixture
runs with catch_exceptions=False, so a traceback makes a test error rather than pass).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import one_error_line

from egress_sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
WORKSPACES = ROOT / "data" / "workspaces"
CONTOSO = WORKSPACES / "contoso-research.yaml"
FABRIKAM = WORKSPACES / "fabrikam-vision.yaml"
NORTHWIND = WORKSPACES / "northwind-sandbox.yaml"
MODES = ("disabled", "allow_internet_outbound", "allow_only_approved_outbound")
COLUMNS = ["ts", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn",
           "bytes_out", "bytes_in", "service", "scenario"]
DEMO_FLOWS = 20_000

SMALL_SCENARIO = {
    "window": {"start": "2026-11-16T00:00:00Z", "days": 2},
    "fleet": {"compute_cluster": {"names": ["gpu-cluster"], "nodes": 2, "share": 1, "hours": "flat",
                                  "mix": {"aml_api": 2, "pypi": 1}}},
    "exfiltration": {"dns_tunnel": 0.01},
}




def scenario_with(**changes) -> dict:
    data = json.loads(json.dumps(SMALL_SCENARIO))
    data.update(changes)
    return data


# --- simulate: output files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_simulate_writes_the_requested_number_of_flows(cli, tmp_path, ext):
    out = tmp_path / f"flows.{ext}"
    result = cli("simulate", CONTOSO, "--flows", 1500, "--seed", 3, "-o", out)
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out) if ext == "parquet" else pd.read_csv(out)
    assert len(frame) == 1500


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_simulate_output_has_the_flow_schema_and_labels(cli, tmp_path, ext):
    out = tmp_path / f"flows.{ext}"
    assert cli("simulate", CONTOSO, "--flows", 500, "-o", out).exit_code == 0
    frame = pd.read_parquet(out) if ext == "parquet" else pd.read_csv(out)
    assert list(frame.columns) == COLUMNS
    assert set(frame["scenario"].astype(str)) >= {"benign"}
    assert set(frame["protocol"].astype(str)) <= {"TCP", "UDP"}


def test_simulate_csv_and_parquet_hold_the_same_flows_for_one_seed(cli, tmp_path):
    for ext in ("parquet", "csv"):
        assert cli("simulate", CONTOSO, "--flows", 300, "--seed", 5, "-o", tmp_path / f"f.{ext}").exit_code == 0
    parquet = pd.read_parquet(tmp_path / "f.parquet")
    csv = pd.read_csv(tmp_path / "f.csv")
    assert parquet["dst_ip"].astype(str).tolist() == csv["dst_ip"].astype(str).tolist()
    assert parquet["bytes_out"].tolist() == csv["bytes_out"].tolist()


def test_simulate_prints_a_summary_naming_the_output(cli, tmp_path):
    out = tmp_path / "flows.parquet"
    result = cli("simulate", CONTOSO, "--flows", 200, "--seed", 9, "-o", out)
    assert result.exit_code == 0
    assert f"contoso-research: 200 flows written to {out} (seed 9)" in result.stdout


def test_simulate_json_reports_flows_and_scenarios(cli, tmp_path):
    result = cli("simulate", CONTOSO, "--flows", 800, "-o", tmp_path / "flows.parquet", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["flows"] == 800
    assert sum(data["by_scenario"].values()) == 800
    assert "benign" in data["by_scenario"]


def test_simulate_zero_flows_writes_a_valid_empty_parquet_file(cli, tmp_path):
    out = tmp_path / "flows.parquet"
    result = cli("simulate", CONTOSO, "--flows", 0, "-o", out)
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 0 and list(frame.columns) == COLUMNS


def test_simulate_zero_flows_writes_a_csv_with_only_the_header(cli, tmp_path):
    out = tmp_path / "flows.csv"
    assert cli("simulate", CONTOSO, "--flows", 0, "-o", out).exit_code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 0 and list(frame.columns) == COLUMNS


def test_simulate_shows_no_progress_bar_when_stderr_is_not_a_terminal(cli, tmp_path):
    result = cli("simulate", CONTOSO, "--flows", 5000, "-o", tmp_path / "flows.parquet")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "simulating" not in result.output


def test_simulate_uses_a_scenario_file(cli, tmp_path, write_yaml):
    result = cli("simulate", CONTOSO, "--flows", 400, "-o", tmp_path / "flows.parquet",
                 "--scenario", write_yaml(SMALL_SCENARIO, "scenario.yaml"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["by_compute_type"]) == {"compute_cluster"}
    assert set(data["by_scenario"]) <= {"benign", "dns_tunnel"}


# --- simulate: bad input -----------------------------------------------------------------------------------


def test_simulate_bad_scenario_file_exits_2_with_one_error_line(cli, tmp_path, write_yaml):
    data = scenario_with()
    data["fleet"]["compute_cluster"]["mix"] = {"pypy": 1}
    path = write_yaml(data, "scenario.yaml")
    out = tmp_path / "flows.parquet"
    line = one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", out, "--scenario", path),
                          "unknown service 'pypy'", "did you mean 'pypi'?")
    assert line.startswith(f"error: {path}: ")
    assert not out.exists()


def test_simulate_scenario_that_is_not_yaml_exits_2(cli, tmp_path, write_yaml):
    path = write_yaml("window: [unclosed\n", "scenario.yaml")
    line = one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", tmp_path / "f.parquet", "--scenario", path),
                          "not valid YAML at line 2")
    assert line.startswith(f"error: {path}: ")


def test_simulate_missing_scenario_file_exits_2(cli, tmp_path):
    path = tmp_path / "nope.yaml"
    one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", tmp_path / "f.parquet", "--scenario", path),
                   f"error: {path}: cannot read scenario")


def test_simulate_into_missing_directory_exits_2_naming_it(cli, tmp_path):
    out = tmp_path / "missing" / "flows.parquet"
    one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", out),
                   f"error: {out}: cannot write", f"directory {tmp_path / 'missing'} does not exist")
    assert not (tmp_path / "missing").exists()


def test_simulate_unknown_output_extension_exits_2(cli, tmp_path):
    out = tmp_path / "x.txt"
    one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", out), f"error: {out}: unknown file type", ".parquet")
    assert not out.exists()


def test_simulate_invalid_workspace_exits_2_naming_the_bad_value(cli, tmp_path, write_yaml):
    path = write_yaml("name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: sideways\n")
    line = one_error_line(cli("simulate", path, "--flows", 10, "-o", tmp_path / "f.parquet"),
                          "unknown isolation mode 'sideways'")
    assert line.startswith(f"error: {path}: ")


def test_simulate_missing_workspace_exits_2(cli, tmp_path):
    path = tmp_path / "nope.yaml"
    one_error_line(cli("simulate", path, "--flows", 10, "-o", tmp_path / "f.parquet"),
                   f"error: {path}: cannot read workspace file")


def test_simulate_negative_flow_count_is_a_usage_error(cli, tmp_path):
    result = cli("simulate", CONTOSO, "--flows", -1, "-o", tmp_path / "f.parquet")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--flows" in result.stderr


# --- demo ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """`egress-sim demo --flows 20000` on the bundled contoso workspace, run once for the tests below."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(main, ["demo", "--flows", str(DEMO_FLOWS), "--out", str(out)], catch_exceptions=False)
    return result, out


def test_demo_exits_0(demo_run):
    result, _ = demo_run
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_demo_prints_a_table_row_per_isolation_mode(demo_run):
    result, _ = demo_run
    rows = [line.split()[0] for line in result.stdout.splitlines() if line.split()]
    for mode in MODES:
        assert mode in rows, result.stdout
    assert f"{DEMO_FLOWS:,} simulated flows" in result.stdout


def test_demo_writes_reports_flows_and_one_verdict_file_per_mode(demo_run):
    _, out = demo_run
    expected = {"report.md", "summary.json", "flows.parquet", *(f"verdicts-{mode}.parquet" for mode in MODES)}
    assert expected <= {p.name for p in out.iterdir()}
    for mode in MODES:
        assert len(pd.read_parquet(out / f"verdicts-{mode}.parquet")) == DEMO_FLOWS


def test_demo_summary_counts_every_flow_under_every_mode(demo_run):
    _, out = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["modes"]) == set(MODES)
    for mode in MODES:
        assert summary["modes"][mode]["flows"] == DEMO_FLOWS


# contoso's FQDN rules allow github.com and huggingface.co: uploads there pass (tests/test_exfil_channels.py)
THROUGH_CONTOSO_RULES = {"git_push", "model_hub_upload", "slow_drip"}


def test_demo_approved_only_allows_exfiltration_for_contoso_only_through_its_fqdn_rules(demo_run):
    _, out = demo_run
    modes = json.loads((out / "summary.json").read_text())["modes"]
    approved = modes["allow_only_approved_outbound"]
    assert sum(approved["exfiltration"].values()) > 0  # there was exfiltration to stop
    by_scenario = approved["by_scenario"]
    assert THROUGH_CONTOSO_RULES < set(by_scenario) and len(by_scenario) > len(THROUGH_CONTOSO_RULES)
    for name, counts in by_scenario.items():
        if name in THROUGH_CONTOSO_RULES:
            assert counts["allow"] > 0 and counts["deny"] == 0, name
        else:
            assert counts["allow"] == 0, name
    assert approved["exfiltration"]["allow"] == sum(by_scenario[n]["allow"] for n in THROUGH_CONTOSO_RULES)


def test_demo_disabled_mode_allows_all_exfiltration(demo_run):
    _, out = demo_run
    exfiltration = json.loads((out / "summary.json").read_text())["modes"]["disabled"]["exfiltration"]
    assert exfiltration["allow"] > 0 and exfiltration["deny"] == 0


def test_demo_markdown_report_names_every_mode(demo_run):
    _, out = demo_run
    report = (out / "report.md").read_text()
    for mode in MODES:
        assert mode in report


def test_demo_json_output_parses(cli, tmp_path):
    result = cli("demo", "--flows", 2000, "--out", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["workspace"]["name"] == "contoso-research"
    assert data["simulation"]["flows"] == 2000
    assert set(data["modes"]) == set(MODES)


def test_demo_on_workspace_without_user_rules_reports_user_data_unavailable(cli, tmp_path):
    out = tmp_path / "demo"
    result = cli("demo", "--workspace", NORTHWIND, "--flows", 2000, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["workspace"]["isolation_mode"] == "disabled"
    unavailable = summary["simulation"]["unavailable_services"]
    assert "user_data" in unavailable
    assert "no user private-endpoint or service-tag rule" in unavailable["user_data"]


def test_demo_on_internet_outbound_workspace_exits_0(cli, tmp_path):
    result = cli("demo", "--workspace", FABRIKAM, "--flows", 2000, "--out", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["workspace"]["isolation_mode"] == "allow_internet_outbound"


def test_demo_bad_scenario_exits_2_with_one_error_line(cli, tmp_path, write_yaml):
    path = write_yaml(scenario_with(bogus=1), "scenario.yaml")
    one_error_line(cli("demo", "--flows", 100, "--out", tmp_path / "demo", "--scenario", path),
                   f"error: {path}: unknown key(s) bogus")


def test_demo_shows_no_progress_bar_when_stderr_is_not_a_terminal(cli, tmp_path):
    result = cli("demo", "--flows", 2000, "--out", tmp_path / "demo")
    assert result.exit_code == 0
    assert result.stderr == ""


# --- inputs that once crashed: each must be refused with a clear message, or work -----------------------------


@pytest.mark.parametrize("accounts", ["x", 0])
def test_simulate_bad_foreign_storage_accounts_exits_2(cli, tmp_path, write_yaml, accounts):
    path = write_yaml(scenario_with(exfiltration={"foreign_storage": {"rate": 0.2, "accounts": accounts}}), "s.yaml")
    one_error_line(cli("simulate", CONTOSO, "--flows", 2000, "-o", tmp_path / "f.parquet", "--scenario", path),
                   "accounts")


def test_simulate_nan_share_exits_2(cli, tmp_path, write_yaml):
    path = write_yaml("window: {days: 2}\nfleet:\n  compute_cluster: {names: [c], share: .nan, mix: {pypi: 1}}\n",
                      "s.yaml")
    one_error_line(cli("simulate", CONTOSO, "--flows", 100, "-o", tmp_path / "f.parquet", "--scenario", path),
                   "share")


def test_simulate_service_with_ipv6_prefix_exits_2_or_works(cli, tmp_path, write_yaml):
    data = scenario_with(services={"v6": {"destination": {"prefixes": ["2001:db8::/32"]}, "hosts": ["v6.example"]}})
    data["fleet"]["compute_cluster"]["mix"] = {"v6": 1}
    result = cli("simulate", CONTOSO, "--flows", 100, "-o", tmp_path / "f.parquet",
                 "--scenario", write_yaml(data, "s.yaml"))
    assert result.exit_code in (0, 2) and "Traceback" not in result.output


def test_simulate_service_host_with_unbalanced_brace_exits_2(cli, tmp_path, write_yaml):
    data = scenario_with(services={"x": {"destination": {"prefixes": ["203.0.113.0/24"]},
                                         "hosts": ["{region.example.com"]}})
    data["fleet"]["compute_cluster"]["mix"] = {"x": 1}
    one_error_line(cli("simulate", CONTOSO, "--flows", 100, "-o", tmp_path / "f.parquet",
                       "--scenario", write_yaml(data, "s.yaml")), "{region.example.com")


def test_simulate_csv_gz_output_is_gzip_compressed(cli, tmp_path):
    out = tmp_path / "flows.csv.gz"
    assert cli("simulate", CONTOSO, "--flows", 100, "-o", out).exit_code == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"


def test_simulate_more_flows_than_any_counter_holds_exits_2(cli, tmp_path):
    result = cli("simulate", CONTOSO, "--flows", 10**20, "-o", tmp_path / "f.parquet")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "f.parquet").exists()


def test_demo_into_a_directory_that_cannot_be_created_exits_2(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    one_error_line(cli("demo", "--flows", 100, "--out", blocker / "demo"), "cannot create output directory")


def test_simulate_a_fleet_listing_one_compute_type_twice_exits_2(cli, tmp_path, write_yaml):
    data = scenario_with()
    data["fleet"]["ComputeCluster"] = data["fleet"]["compute_cluster"]
    path = write_yaml(data, "s.yaml")
    one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", tmp_path / "f.parquet", "--scenario", path),
                   "compute_cluster is listed 2 times")


def test_simulate_a_tunnel_domain_too_long_for_dns_exits_2(cli, tmp_path, write_yaml):
    long_domain = ".".join(["a" * 60] * 4) + ".example"
    path = write_yaml(scenario_with(exfiltration={"dns_tunnel": {"rate": 0.1, "domain": long_domain}}), "s.yaml")
    one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", tmp_path / "f.parquet", "--scenario", path),
                   "is longer than 192 characters")
