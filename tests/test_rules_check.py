"""``egress-sim rules``: what each rule opens, which rules no flow can ever reach (shadowed), and what each rule
decided on the flows given."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from egress_sim.analysis.rulecheck import check_rules, covers
from egress_sim.model import ManagedNetwork, ServiceTagDestination, Workspace, read_workspace
from egress_sim.model.hostnames import FqdnPattern
from egress_sim.net.servicetags import load_service_tags
from egress_sim.ruletable.compile import compile_rules

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
SPEC_EXAMPLES = ROOT / "tests" / "data" / "workspaces" / "azure"


def _workspace(rules: list[dict], write_yaml) -> Path:
    return write_yaml({"name": "ws", "location": "eastus",
                       "managed_network": {"isolation_mode": "allow_only_approved_outbound", "outbound_rules": rules}})


def _tag_rule(name: str, tag: str, ports: str, protocol: str = "TCP") -> dict:
    return {"name": name, "type": "service_tag",
            "destination": {"service_tag": tag, "protocol": protocol, "port_ranges": ports}}


def _checks(cli, path: Path) -> dict[str, dict]:
    result = cli("rules", path, "--json")
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)["rules"]}


def _prefix_rule(name: str, prefixes: list[str], ports: str, protocol: str = "TCP") -> dict:
    return {"name": name, "type": "service_tag", "destination": {
        "service_tag": "unused", "address_prefixes": prefixes, "protocol": protocol, "port_ranges": ports}}


def test_a_service_tag_rule_inside_a_broader_earlier_one_is_shadowed(cli, write_yaml):
    path = _workspace([_prefix_rule("everywhere", ["0.0.0.0/0", "::/0"], "1-65535"),
                       _tag_rule("adf", "DataFactory", "443")], write_yaml)
    rules = _checks(cli, path)
    assert rules["adf"]["shadowed_by"] == ["everywhere"]
    assert rules["everywhere"]["shadowed_by"] == []
    assert any("IPv4 addresses" in b for b in rules["everywhere"]["broad"])


def test_a_tag_is_not_shadowed_by_one_that_misses_a_few_of_its_prefixes(cli, write_yaml):
    """In the bundled file six DataFactory prefixes (13.104.248.64/27, ...) lie outside AzureCloud: an AzureCloud
    rule before a DataFactory rule leaves those to it."""
    path = _workspace([_tag_rule("all-azure", "AzureCloud", "1-65535"), _tag_rule("adf", "DataFactory", "443")],
                      write_yaml)
    assert _checks(cli, path)["adf"]["shadowed_by"] == []


def test_a_rule_opening_one_port_the_earlier_rules_do_not_is_not_shadowed(cli, write_yaml):
    path = _workspace([_tag_rule("all-azure-web", "AzureCloud", "80"), _tag_rule("adf", "DataFactory", "80, 443")],
                      write_yaml)
    assert _checks(cli, path)["adf"]["shadowed_by"] == []


def test_earlier_rules_that_cover_a_rule_only_together_shadow_it(cli, write_yaml):
    everywhere = ["0.0.0.0/0", "::/0"]
    path = _workspace([_prefix_rule("low", everywhere, "1-1000"), _prefix_rule("high", everywhere, "1001-65535"),
                       _tag_rule("adf", "DataFactory", "443, 8080")], write_yaml)
    assert _checks(cli, path)["adf"]["shadowed_by"] == ["low", "high"]


def test_a_udp_rule_is_not_shadowed_by_a_tcp_one(cli, write_yaml):
    path = _workspace([_prefix_rule("tcp", ["0.0.0.0/0", "::/0"], "1-65535"),
                       _tag_rule("udp", "DataFactory", "53", "UDP")], write_yaml)
    assert _checks(cli, path)["udp"]["shadowed_by"] == []


def test_an_fqdn_rule_subsumed_by_an_earlier_wildcard_is_shadowed(cli, write_yaml):
    path = _workspace([{"name": "pytorch", "type": "fqdn", "destination": "*.pytorch.org"},
                       {"name": "downloads", "type": "fqdn", "destination": "download.pytorch.org"},
                       {"name": "root", "type": "fqdn", "destination": "pytorch.org"}], write_yaml)
    rules = _checks(cli, path)
    assert rules["downloads"]["shadowed_by"] == ["pytorch"]
    assert rules["root"]["shadowed_by"] == []  # *.x does not match x itself (spec §8)


def test_an_fqdn_rule_for_a_private_endpoints_host_is_shadowed_by_the_endpoint(cli, tmp_path):
    ws = yaml.safe_load(CONTOSO.read_text())
    ws["managed_network"]["outbound_rules"].append(
        {"name": "lake-by-name", "type": "fqdn", "destination": "contosodatalake.dfs.core.windows.net"})
    path = tmp_path / "ws.yaml"
    path.write_text(yaml.safe_dump(ws, sort_keys=False))
    rules = _checks(cli, path)
    assert rules["lake-by-name"]["shadowed_by"] == ["datalake"]
    assert any("storage" in n for n in rules["lake-by-name"]["notes"])


def test_a_second_private_endpoint_to_the_same_sub_resource_is_shadowed(cli, tmp_path):
    ws = yaml.safe_load(CONTOSO.read_text())
    twin = dict(ws["managed_network"]["outbound_rules"][-1], name="datalake-blob-again")
    ws["managed_network"]["outbound_rules"].append(twin)
    path = tmp_path / "ws.yaml"
    path.write_text(yaml.safe_dump(ws, sort_keys=False))
    assert _checks(cli, path)["datalake-blob-again"]["shadowed_by"] == ["datalake-blob"]


@pytest.mark.parametrize("name", sorted(p.name for p in SPEC_EXAMPLES.glob("*.y*ml")))
def test_the_spec_examples_have_no_shadowed_rule(tags, name):
    loaded = read_workspace(SPEC_EXAMPLES / name, "eastus")
    checks = check_rules(compile_rules(loaded.workspace, tags))
    assert [c.name for c in checks if c.shadowed] == []


def test_the_bundled_workspaces_have_no_shadowed_rule(cli):
    for path in sorted((ROOT / "data" / "workspaces").glob("*.yaml")):
        assert json.loads(cli("rules", path, "--json").stdout)["shadowed"] == [], path


def test_hits_are_the_flows_each_rule_decided_in_a_plain_evaluate_run(cli, tmp_path):
    flows, verdicts = tmp_path / "flows.parquet", tmp_path / "verdicts.parquet"
    assert cli("simulate", CONTOSO, "--flows", "3000", "--seed", "3", "-o", flows).exit_code == 0
    assert cli("evaluate", CONTOSO, flows, "-o", verdicts).exit_code == 0
    expected = pq.read_table(verdicts).to_pandas()["rule"].astype(str).value_counts().to_dict()
    data = json.loads(cli("rules", CONTOSO, flows, "--json").stdout)
    hits = {r["name"]: r["hits"] for r in data["rules"] if r["hits"]}
    assert hits == {k: v for k, v in expected.items() if k not in ("None", "nan")}
    assert data["never_hit"] == [r["name"] for r in data["rules"] if r["hits"] == 0]
    assert data["flows"] == 3000


# --- shadowing proved from the compiled table agrees with trying every (address, protocol, port) -----------------

NETWORK = ipaddress.ip_network("10.0.0.0/27")
_TAGS = load_service_tags()
PREFIXES = st.sampled_from(["10.0.0.0/27", "10.0.0.0/28", "10.0.0.16/28", "10.0.0.8/29", "10.0.0.3/32"])
PORTS = st.sampled_from(["1-64", "1-32", "33-64", "5", "5, 7-9", "10-40"])
PROTOCOLS = st.sampled_from(["TCP", "UDP", "ICMP", "*"])
RULES = st.lists(st.tuples(st.lists(PREFIXES, min_size=1, max_size=2), PROTOCOLS, PORTS), min_size=1, max_size=5)


def _opens(rule: ServiceTagDestination, address: int, protocol: str, port: int) -> bool:
    if rule.protocol.value not in (protocol, "*"):
        return False
    if protocol != "ICMP" and port not in rule.port_ranges:
        return False
    return any(ipaddress.ip_address(address) in n for n in rule.networks)


@settings(max_examples=120, deadline=None)
@given(RULES)
def test_shadowed_service_tag_rules_are_those_no_point_reaches_first(drawn):
    tags = _TAGS
    user = tuple(ServiceTagDestination(name=f"r{k}", protocol=proto, port_ranges=ports, service_tag="x",
                                       address_prefixes=prefixes) for k, (prefixes, proto, ports) in enumerate(drawn))
    ws = Workspace(name="ws", location="eastus", managed_network=ManagedNetwork(
        isolation_mode="allow_only_approved_outbound", outbound_rules=user))
    names = {r.name for r in user}
    found = {c.name: c.shadowed for c in check_rules(compile_rules(ws, tags)) if c.name in names}
    first_hits = set()
    for address in range(int(NETWORK.network_address), int(NETWORK.broadcast_address) + 1):
        for protocol in ("TCP", "UDP", "ICMP"):
            for port in ([0] if protocol == "ICMP" else range(1, 65)):
                first = next((r.name for r in user if _opens(r, address, protocol, port)), None)
                if first is not None:
                    first_hits.add(first)
    assert found == {r.name: r.name not in first_hits for r in user}


HOSTS = ["a.x.com", "x.com", "b.a.x.com", "ax.com", "y.com", "a.y.com"]
PATTERNS = st.sampled_from(["*", "x.com", "*.x.com", "*x.com", "a.x.com", "*.a.x.com", "*a.x.com", "y.com", "*.com"])


@given(PATTERNS, PATTERNS)
def test_covers_agrees_with_matching_on_sample_names(a, b):
    """Never claims a cover that a name disproves (the sample names include look-alikes and deeper names)."""
    pa_, pb = FqdnPattern.parse(a), FqdnPattern.parse(b)
    if covers(pa_, pb):
        assert all(pa_.matches(h) for h in HOSTS + [pb.suffix, "z." + pb.suffix, "z" + pb.suffix] if pb.matches(h))
