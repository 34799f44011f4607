"""`egress-sim explain`: one flow, every rule considered, with the real service-tag file."""

from __future__ import annotations

import json

import pytest

PYTORCH_WORKSPACE = """\
name: research
location: eastus
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: pytorch
    type: fqdn
    destination: '*.pytorch.org'
"""


@pytest.fixture
def ws(write_yaml):
    return write_yaml(PYTORCH_WORKSPACE)


def explain(cli, ws, *args):
    result = cli("explain", ws, *args, "--json")
    return result, json.loads(result.stdout)


def test_subdomain_allowed_by_the_wildcard_rule(cli, ws):
    result, data = explain(cli, ws, "--dst", "download.pytorch.org", "--port", "443")
    assert result.exit_code == 0
    assert (data["verdict"], data["reason"], data["rule"]) == ("allow", "fqdn", "pytorch")


def test_apex_denied_by_default(cli, ws):
    _, data = explain(cli, ws, "--dst", "pytorch.org", "--port", "443")
    assert (data["verdict"], data["reason"], data["rule"]) == ("deny", "default_deny", None)


def test_fqdn_rule_does_not_open_port_22(cli, ws):
    _, data = explain(cli, ws, "--dst", "download.pytorch.org", "--port", "22")
    assert data["verdict"] == "deny"
    assert any(c["step"] == "fqdn" and "80/443 only" in c["detail"] for c in data["checks"])


def test_ip_in_azure_active_directory_allowed_by_the_required_rule(cli, ws, tags):
    ip = tags.get("AzureActiveDirectory").ipv4_prefixes[0].split("/")[0]
    _, data = explain(cli, ws, "--dst", ip, "--port", "443")
    assert (data["verdict"], data["reason"], data["rule"]) == ("allow", "service_tag", "__SYS_ST_AzureActiveDirectory_TCP")


def test_the_decision_path_lists_every_rule_tried_before_the_match(cli, ws):
    _, data = explain(cli, ws, "--dst", "download.pytorch.org", "--port", "443")
    steps = [c["step"] for c in data["checks"]]
    assert steps.index("private_endpoint") < steps.index("service_tag") < steps.index("fqdn")
    assert sum(1 for c in data["checks"] if c["step"] == "service_tag") == 8  # the required rules (spec §2)
    assert data["checks"][-1] == {"step": "fqdn", "rule": "pytorch", "matched": True, "detail": "download.pytorch.org matches *.pytorch.org"}


def test_text_output_shows_verdict_and_table(cli, ws):
    result = cli("explain", ws, "--dst", "download.pytorch.org", "--port", "443")
    assert "verdict: allow   reason: fqdn   rule: pytorch" in result.output
    assert "__SYS_ST_AzureActiveDirectory_TCP" in result.output


def test_expect_turns_the_verdict_into_a_check(cli, ws):
    assert cli("explain", ws, "--dst", "pytorch.org", "--port", "443", "--expect", "deny").exit_code == 0
    assert cli("explain", ws, "--dst", "pytorch.org", "--port", "443", "--expect", "allow").exit_code == 1


def test_mode_override_simulates_another_isolation_mode(cli, ws):
    _, data = explain(cli, ws, "--dst", "pytorch.org", "--port", "443", "--mode", "AllowInternetOutbound")
    assert (data["verdict"], data["reason"]) == ("allow", "internet_outbound")


def test_bad_mode_is_bad_input(cli, ws):
    result = cli("explain", ws, "--dst", "pytorch.org", "--port", "443", "--mode", "open")
    assert result.exit_code == 2 and "--mode 'open' is not an isolation mode" in result.stderr


def test_port_is_required_for_tcp(cli, ws):
    result = cli("explain", ws, "--dst", "pytorch.org")
    assert result.exit_code == 2 and "--port is required" in result.output
