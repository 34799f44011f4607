"""The exfiltration risk model (``analysis.risk``): channel classes, flow signals and rule scores.

``assess`` works per distinct name and address and then on whole arrays; ``reference_assess`` below reads the
module's rules one flow at a time, as a person would, and the two must agree on every flow.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from egress_sim.analysis import risk
from egress_sim.analysis.risk import RiskContext, score_rules
from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.model import IsolationMode, read_workspace
from egress_sim.net.taglocator import TagLocator
from egress_sim.ruletable.compile import compile_rules, is_storage_host

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"


def reference_assess(ctx: RiskContext, row: dict) -> tuple[str, str, list[str]]:
    """One flow: (channel, kind, signals), straight from the module docstring's rules."""
    row = {k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) or v == "" else v) for k, v in row.items()}
    host = row.get("fqdn")
    dst = row.get("dst_ip")
    port = int(row["dst_port"]) if row.get("dst_port") is not None else -1
    out = float(row.get("bytes_out") or 0)
    back = float(row.get("bytes_in") or 0)
    channel = ctx.channel(str(row.get("verdict") or ""), str(row.get("reason") or ""), row.get("rule"), host)
    address = None
    if dst:
        try:
            ip = ipaddress.ip_address(dst)
            address = (ip.version, int(ip))
        except ValueError:
            pass
    kind = (ctx.host_kind(host) if host else None) or (ctx.address_kind(*address) if address else "open_internet")
    outsider = kind in ("any_tenant", "open_internet")
    upload = out >= risk.UPLOAD_BYTES_OUT and out >= risk.UPLOAD_RATIO * max(back, 1)
    ts = pd.to_datetime(row.get("ts"), utc=True, errors="coerce")
    signals = []
    if host and kind not in ("your_tenant", "platform") and risk._tunnel_name(host):
        signals.append("dns_tunnel_name")
    if port == 53 and address and ipaddress.ip_address(dst) != risk.PLATFORM_RESOLVER:
        signals.append("dns_outside_platform")
    logged = row.get("name_logged")
    if row.get("protocol") == "TCP" and port == 443 and not host and (logged is None or bool(logged)) and kind != "your_tenant":
        signals.append("https_without_sni")
    if host and ctx._lookalike(host):
        signals.append("lookalike_name")
    if host and risk.is_paste_site(host):
        signals.append("paste_site")
    if host and is_storage_host(host) and host not in ctx.own_hosts and host not in risk._DOCUMENTED_STORAGE:
        signals.append("foreign_storage_account")
    if host and outsider and row.get("protocol") == "TCP" and port not in (80, 443):
        signals.append("named_host_off_port")
    if row.get("compute_type") == "serverless_spark" and outsider:
        signals.append("spark_to_outsider")
    if outsider and upload:
        signals.append("upload_to_outsider")
    if out >= risk.BULK_BYTES_OUT and kind not in ("your_tenant", "platform"):
        signals.append("bulk_upload")
    if outsider and out >= risk.OFF_HOURS_BYTES_OUT and pd.notna(ts) and (ts.hour in risk.OFF_HOURS_UTC or ts.day_of_week >= 5):
        signals.append("off_hours_bulk")
    if not host and kind == "open_internet" and port not in (80, 443, 53) and upload:
        signals.append("raw_ip_transfer")
    return channel, kind, signals


@pytest.fixture(scope="module")
def setting(tags, tmp_path_factory):
    from click.testing import CliRunner
    from egress_sim.cli import main
    path = tmp_path_factory.mktemp("risk") / "flows.parquet"
    assert CliRunner().invoke(main, ["simulate", str(CONTOSO), "--flows", "8000", "--seed", "4", "-o", str(path)]).exit_code == 0
    workspace = read_workspace(CONTOSO).workspace
    return workspace, pq.read_table(path).to_pandas(), TagLocator(tags)


def _hostile_rows(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    hosts = ["", "github.com", "th3github.com", "pastebin.com", "x" * 45 + ".evil.io", "a.b.c.d.e.f.g.example.com",
             "contosodatalake.dfs.core.windows.net", "stranger.blob.core.windows.net", "vscode.blob.core.windows.net",
             "<script>alert(1)</script>", "app.azurewebsites.net", "login.windows.net"]
    addresses = ["", "8.8.8.8", "168.63.129.16", "10.0.1.4", "20.60.1.4", "140.82.112.3", "2001:db8::1", "not-an-ip"]
    return pd.DataFrame({
        "compute_type": [rng.choice(["compute_instance", "serverless_spark", "compute_cluster"]) for _ in range(n)],
        "fqdn": [rng.choice(hosts) or None for _ in range(n)],
        "dst_ip": [rng.choice(addresses) or None for _ in range(n)],
        "dst_port": [rng.choice([443, 80, 53, 22, 8443, None]) for _ in range(n)],
        "protocol": [rng.choice(["TCP", "UDP"]) for _ in range(n)],
        "bytes_out": [rng.choice([0, 500, 2 << 20, 50 << 20, 200 << 20, None]) for _ in range(n)],
        "bytes_in": [rng.choice([0, 100, 1 << 20, None]) for _ in range(n)],
        "ts": [rng.choice(["2026-11-16T03:00:00Z", "2026-11-18T14:00:00Z", "2026-11-21T12:00:00Z", None])
               for _ in range(n)],
        "scenario": "benign",
    })


@pytest.mark.parametrize("mode", list(IsolationMode))
def test_assess_agrees_with_the_flow_by_flow_reading_of_the_rules(setting, tags, mode):
    workspace, flows, locator = setting
    table = compile_rules(workspace, tags, mode)
    ctx = RiskContext(table, locator, compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND))
    frame = pd.concat([flows, _hostile_rows(600, hash(mode.yaml) % 1000)], ignore_index=True)
    verdicts = evaluate_frame(table, frame, "compute_instance")
    fast = ctx.assess(verdicts)
    for i, row in enumerate(verdicts.to_dict("records")):
        channel, kind, signals = reference_assess(ctx, row)
        assert (fast["channel"].iat[i], fast["kind"].iat[i], fast["signals"].iat[i]) == \
            (channel, kind, ";".join(signals)), row
    assert fast["flagged"].any() and not fast["flagged"].all()


def test_channels_follow_who_can_write_there(setting, tags):
    workspace, flows, locator = setting
    approved = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    ctx = RiskContext(approved, locator, approved)
    assert ctx.channel("allow", "service_tag", "__SYS_ST_AzureActiveDirectory_TCP", None) == "platform"
    assert ctx.channel("allow", "service_tag", "datafactory", None) == "any_tenant"
    assert ctx.channel("allow", "private_endpoint", "datalake", "contosodatalake.dfs.core.windows.net") == "your_tenant"
    assert ctx.channel("allow", "fqdn", "pytorch", "download.pytorch.org") == "platform"
    assert ctx.channel("allow", "fqdn", "github", "github.com") == "any_tenant"
    assert ctx.channel("allow", "internet_outbound", None, "example.com") == "open_internet"
    assert ctx.channel("deny", "default_deny", None, "example.com") == "blocked"


def test_in_approved_only_the_bundled_workspace_flags_no_benign_flow(setting, tags):
    workspace, flows, locator = setting
    table = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    assessed = RiskContext(table, locator, table).assess(evaluate_frame(table, flows))
    benign = flows["scenario"].astype(str) == "benign"
    assert not assessed.loc[benign.to_numpy(), "flagged"].any()
    assert assessed.loc[(~benign).to_numpy(), "flagged"].mean() > 0.5


def _rule_risks(write_yaml, tags, rules: list[dict], mode: str = "allow_only_approved_outbound") -> dict[str, str]:
    path = write_yaml({"name": "ws", "location": "eastus",
                       "managed_network": {"isolation_mode": mode, "outbound_rules": rules}})
    return {r.name: r.risk for r in score_rules(compile_rules(read_workspace(path).workspace, tags))}


def test_rules_are_scored_by_what_they_open(write_yaml, tags):
    tag = lambda name, t: {"name": name, "type": "service_tag",  # noqa: E731
                           "destination": {"service_tag": t, "protocol": "TCP", "port_ranges": "443"}}
    risks = _rule_risks(write_yaml, tags, [
        {"name": "everything", "type": "fqdn", "destination": "*"},
        {"name": "lookalikes", "type": "fqdn", "destination": "*contoso.com"},
        {"name": "hub", "type": "fqdn", "destination": "github.com"},
        {"name": "vendor", "type": "fqdn", "destination": "download.pytorch.org"},
        tag("cloud", "AzureCloud"), tag("storage", "Storage.EastUS"), tag("adf", "DataFactory"),
    ])
    assert risks == {**{k: v for k, v in risks.items() if k.startswith(("__SYS_ST_", "required-"))},
                     "everything": "critical", "lookalikes": "high", "hub": "medium", "vendor": "low",
                     "cloud": "critical", "storage": "high", "adf": "medium"}
    assert {v for k, v in risks.items() if k.startswith(("__SYS_ST_", "required-"))} == {"low"}


def test_internet_outbound_itself_is_critical(write_yaml, tags):
    assert _rule_risks(write_yaml, tags, [], "allow_internet_outbound")["(mode allow_internet_outbound)"] == "critical"


def test_the_model_says_what_it_cannot_see():
    assert any("168.63.129.16" in line for line in risk.CANNOT_SEE)
    assert len(risk.CANNOT_SEE) >= 3


def _dns_rows(names: list[str], seconds_apart: float) -> pd.DataFrame:
    start = pd.Timestamp("2026-11-17T10:00:00Z")
    return pd.DataFrame({
        "compute_type": "compute_instance", "compute_name": "ci-ana", "fqdn": names,
        "dst_ip": "168.63.129.16", "dst_port": 53, "protocol": "UDP", "bytes_out": 80, "bytes_in": 120,
        "ts": [start + pd.Timedelta(seconds=seconds_apart * k) for k in range(len(names))],
        "verdict": "allow", "reason": "service_tag", "rule": "", "name_logged": True})


@pytest.mark.parametrize(("count", "apart", "flagged"), [
    (60, 30.0, True),  # 60 distinct short names under one domain over half an hour: more than 50
    (40, 30.0, False),  # 40 distinct names, slowly: neither threshold
    (150, 0.2, True),  # 150 queries within a minute (names repeat): over 100 a minute
])
def test_dns_tunnel_shape_counts_names_and_rate_from_one_source_even_through_the_platform_resolver(
        setting, tags, count, apart, flagged):
    workspace, _, locator = setting
    table = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    ctx = RiskContext(table, locator, table)
    names = [f"q{k % (count if apart > 1 else 20)}.sync.example.net" for k in range(count)]
    frame = _dns_rows(names, apart)
    assessed = ctx.assess(frame)
    assert not assessed["flagged"].any()  # no single flow shows it: short names, the platform resolver
    for tracker in risk.aggregate_signals():
        tracker.add(frame, assessed)
        tracker.mark(frame, assessed)
    assert assessed["signals"].str.contains("dns_tunnel_shape").all() == flagged


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize(("apart", "flagged"), [(0.2, True), (40.0, False)])
def test_the_query_rate_is_counted_per_minute_whatever_the_unit_of_the_time_stamps(setting, tags, unit, apart, flagged):
    """150 queries for 20 names under one domain: within half a minute, over 100 a minute; 40 s apart, about 1.5 a
    minute, never a tunnel, whether the time stamps arrive in s, ms, us (a verdict file read back) or ns."""
    workspace, _, locator = setting
    table = compile_rules(workspace, tags, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    frame = _dns_rows([f"q{k % 20}.sync.example.net" for k in range(150)], apart)
    frame["ts"] = frame["ts"].astype(f"datetime64[{unit}, UTC]")
    assessed = RiskContext(table, locator, table).assess(frame)
    for tracker in risk.aggregate_signals():
        tracker.add(frame, assessed)
        tracker.mark(frame, assessed)
    assert assessed["signals"].str.contains("dns_tunnel_shape").all() == flagged
