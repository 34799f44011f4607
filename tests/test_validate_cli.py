"""`egress-sim validate`: accepts the spec's Azure ML examples; each invalid case fails with one precise line."""

from __future__ import annotations

import json

import pytest

from test_model import SPEC_EXAMPLE

SPEC_MVNET = """\
name: e2etest_test_mvnet
location: centraluseuap
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: my-service
    destination:
      port_ranges: 80, 8080-8089
      protocol: TCP
      service_tag: DataFactory
    type: service_tag
  - name: my-storage
    destination:
      service_resource_id: /subscriptions/0caf7ec9-615a-4491-bad8-64ce023324e1/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/mvnetteststorage
      spark_enabled: false
      subresource_target: blob
    type: private_endpoint
  - name: pytorch
    destination: '*.pytorch.org'
    type: fqdn
tags: {}
"""

SPEC_MANY_RULES = """\
name: unittest_test_mvnet
location: centraluseuap
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: microsoft
    destination: 'microsoft.com'
    type: fqdn
  - name: servicetag-w-prefixes
    destination:
      port_ranges: 80, 8080-8089
      protocol: TCP
      service_tag: sometag
      address_prefixes: ["168.63.129.16","10.0.0.0/24"]
    type: service_tag
"""


def workspace(mode: str, *rules: str, location: str = "eastus") -> str:
    body = "".join(rules)
    return f"name: ws\nlocation: {location}\nmanaged_network:\n  isolation_mode: {mode}\n  outbound_rules:\n{body}"


def fqdn(name: str, dest: str) -> str:
    return f"  - name: {name}\n    type: fqdn\n    destination: '{dest}'\n"


def tag(name: str, service_tag: str = "DataFactory", protocol: str = "TCP", ports: str = "443") -> str:
    return (f"  - name: {name}\n    type: service_tag\n    destination:\n      service_tag: {service_tag}\n"
            f"      protocol: '{protocol}'\n      port_ranges: '{ports}'\n")


def pe(name: str, resource: str, sub: str = "blob") -> str:
    return (f"  - name: {name}\n    type: private_endpoint\n    destination:\n      service_resource_id: '{resource}'\n"
            f"      subresource_target: {sub}\n      spark_enabled: false\n")


LAKE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/lake"
AOAO = "allow_only_approved_outbound"


@pytest.mark.parametrize("example", [SPEC_EXAMPLE, SPEC_MVNET, SPEC_MANY_RULES], ids=["firewallsku", "mvnet", "many_ob_rules"])
def test_spec_examples_are_valid(cli, write_yaml, example):
    result = cli("validate", write_yaml(example))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "compiled rule table" in result.output


def test_summary_counts_the_compiled_table(cli, write_yaml):
    result = cli("validate", write_yaml(SPEC_MVNET), "--json")
    compiled = json.loads(result.stdout)["compiled"]
    assert compiled["rules"]["fqdn"] == 1
    assert compiled["rules"]["service_tag"] == 8 + 1  # 8 required (AML twice: TCP and UDP) + DataFactory
    assert compiled["service_tag_prefixes"]["ipv4"] > 1000 and compiled["intervals"]["ipv6"] > 0


INVALID_CASES = {
    "unknown mode": (workspace("allow_everything", fqdn("a", "a.com")),
                     "unknown isolation mode 'allow_everything'"),
    "unknown type": (workspace(AOAO, "  - name: x\n    type: firewall\n    destination: a.com\n"),
                     "rule 'x': unknown rule type 'firewall' (expected one of: fqdn, private_endpoint, service_tag)"),
    "unknown protocol": (workspace(AOAO, tag("t", protocol="SCTP")), "rule 't': unknown protocol 'SCTP'"),
    "reversed port range": (workspace(AOAO, tag("pytorch", ports="8080-80")), "rule 'pytorch': port range '8080-80' is reversed"),
    "port above 65535": (workspace(AOAO, tag("t", ports="70000")), "rule 't': port range '70000': port 70000 is above 65535"),
    "port not a number": (workspace(AOAO, tag("t", ports="https")), "rule 't': port range 'https': 'https' is not a port number"),
    "duplicate names": (workspace(AOAO, fqdn("PyPI", "pypi.org"), fqdn("pypi", "files.pythonhosted.org")),
                        "rule 'pypi': duplicate rule name (also used by rule 'PyPI'; names are case-insensitive)"),
    "wildcard not leftmost": (workspace(AOAO, fqdn("c", "www.contoso.*")),
                              "rule 'c': FQDN 'www.contoso.*': a wildcard is only allowed as the leftmost character"),
    "service tag in internet mode": (workspace("allow_internet_outbound", tag("df")),
                                     "rule 'df': service tag rules are only valid with isolation_mode allow_only_approved_outbound"),
    "fqdn in internet mode": (workspace("allow_internet_outbound", fqdn("pypi", "pypi.org")),
                              "rule 'pypi': FQDN rules are only valid with isolation_mode allow_only_approved_outbound"),
    "unknown service tag": (workspace(AOAO, tag("df", service_tag="DataFactry")),
                            "rule 'df': unknown service tag 'DataFactry' (did you mean 'DataFactory'?)"),
    "malformed resource id": (workspace(AOAO, pe("lake", "/subscriptions/s/storageAccounts/lake")),
                              "rule 'lake': resource id '/subscriptions/s/storageAccounts/lake' is malformed"),
    "unknown subresource": (workspace(AOAO, pe("lake", LAKE, sub="blobb")),
                            "rule 'lake': subresource_target 'blobb' is not a sub-resource of Microsoft.Storage/storageAccounts"),
    "unknown location": (workspace(AOAO, fqdn("a", "a.com"), location="atlantis"),
                         "location 'atlantis': no service tag BatchNodeManagement.<region>"),
}


@pytest.mark.parametrize("case", INVALID_CASES, ids=list(INVALID_CASES))
def test_invalid_workspace_fails_with_one_precise_line(cli, write_yaml, case):
    text, expected = INVALID_CASES[case]
    path = write_yaml(text)
    result = cli("validate", path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_all_errors_are_reported_in_one_pass(cli, write_yaml):
    result = cli("validate", write_yaml(workspace(AOAO, tag("a", ports="9-1"), fqdn("b", "x.*"))))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 2


def test_fqdn_rule_to_storage_is_a_warning_not_an_error(cli, write_yaml):
    result = cli("validate", write_yaml(workspace(AOAO, fqdn("vscode", "vscode.blob.core.windows.net"))))
    assert result.exit_code == 0
    assert "warning: rule 'vscode': 'vscode.blob.core.windows.net' targets Azure Storage" in result.output


def test_lookalike_wildcard_is_flagged(cli, write_yaml):
    result = cli("validate", write_yaml(workspace(AOAO, fqdn("c", "*contoso.com"))))
    assert result.exit_code == 0 and "also matches look-alike names such as 'evilcontoso.com'" in result.output


def test_unreadable_file_is_bad_input(cli, tmp_path):
    result = cli("evaluate", tmp_path / "nope.yaml", tmp_path / "f.csv", "-o", tmp_path / "o.csv")
    assert result.exit_code == 2 and "cannot read workspace file" in result.stderr


def test_yaml_syntax_error_names_the_line(cli, write_yaml):
    result = cli("validate", write_yaml("name: ws\nmanaged_network: [unclosed\n"))
    assert result.exit_code != 0 and "not valid YAML at line" in result.stderr and "Traceback" not in result.output


def test_json_output_lists_findings(cli, write_yaml):
    result = cli("validate", write_yaml(workspace(AOAO, tag("df", service_tag="DataFactry"))), "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["findings"][0]["code"] == "unknown_service_tag" and data["findings"][0]["rule"] == "df"


@pytest.mark.parametrize(
    "old, new",
    [("allow_internet_outbound", "disabled"), ("allow_only_approved_outbound", "disabled"),
     ("allow_only_approved_outbound", "allow_internet_outbound")],
)
def test_forbidden_mode_changes_are_refused(cli, write_yaml, old, new):
    before = write_yaml(f"name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: {old}\n", "old.yaml")
    after = write_yaml(f"name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: {new}\n", "new.yaml")
    result = cli("validate", after, "--from", before)
    assert result.exit_code == 1
    assert f"isolation mode cannot change from {old} to {new}" in result.stderr


@pytest.mark.parametrize("old, new", [("disabled", "allow_internet_outbound"), ("disabled", "allow_only_approved_outbound")])
def test_allowed_mode_changes_pass(cli, write_yaml, old, new):
    before = write_yaml(f"name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: {old}\n", "old.yaml")
    after = write_yaml(f"name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: {new}\n", "new.yaml")
    assert cli("validate", after, "--from", before).exit_code == 0


def test_internet_to_approved_passes_with_the_doc_conflict_noted(cli, write_yaml):
    before = write_yaml("name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: allow_internet_outbound\n", "old.yaml")
    after = write_yaml("name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: allow_only_approved_outbound\n", "new.yaml")
    result = cli("validate", after, "--from", before)
    assert result.exit_code == 0 and "serverless Spark docs say it is not" in result.output


def test_a_workspace_without_location_warns_that_regional_endpoint_names_are_unknown(cli, write_yaml):
    path = write_yaml("""\
        name: noloc
        managed_network:
          isolation_mode: allow_internet_outbound
          outbound_rules:
          - name: acr
            type: private_endpoint
            destination:
              service_resource_id: /subscriptions/0/resourceGroups/x/providers/Microsoft.ContainerRegistry/registries/myacr
              subresource_target: registry
              spark_enabled: false
        """)
    result = cli("validate", path)
    assert result.exit_code == 0
    assert "warning: the workspace has no 'location'" in result.output
