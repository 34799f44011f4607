"""The model: Azure spellings, port ranges, FQDN patterns, resource ids, and the YAML round trip."""

from __future__ import annotations

import pytest

from egress_sim.base.errors import ModelError
from egress_sim.model import (
    ComputeType,
    FqdnDestination,
    FqdnPattern,
    IsolationMode,
    ManagedNetwork,
    PatternKind,
    PortRanges,
    PrivateEndpointDestination,
    Protocol,
    ResourceId,
    ServiceTagDestination,
    Workspace,
    dump_workspace,
    load_workspace,
    normalize_host,
    workspace_from_dict,
)

SPEC_EXAMPLE = """\
name: unittest_test_mvnet_firewallsku
location: centraluseuap
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: microsoft
    destination: 'microsoft.com'
    type: fqdn
  - name: appGwRule
    destination:
      service_resource_id: /someappgwid
      spark_enabled: false
      subresource_target: appGwPrivateFrontendIpIPv4
    fqdns: ["contoso.com", "contoso2.com"]
    type: private_endpoint
  - name: pytorch
    destination: '*.pytorch.org'
    type: fqdn
  firewall_sku: basic
"""


@pytest.mark.parametrize("spelling", ["allow_only_approved_outbound", "AllowOnlyApprovedOutbound", "ALLOW_ONLY_APPROVED_OUTBOUND", "allowonlyapprovedoutbound"])
def test_isolation_mode_parses_yaml_rest_and_any_case(spelling):
    assert IsolationMode.parse(spelling) is IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND


def test_isolation_mode_dumps_as_yaml_snake_case():
    assert IsolationMode.ALLOW_INTERNET_OUTBOUND.yaml == "allow_internet_outbound"


def test_unknown_isolation_mode_lists_the_valid_ones():
    with pytest.raises(ModelError, match="expected one of: disabled, allow_internet_outbound, allow_only_approved_outbound"):
        IsolationMode.parse("allow_everything")


def test_kubernetes_and_attached_vms_cannot_join_a_managed_network():
    assert not ComputeType.KUBERNETES.supports_managed_network
    assert not ComputeType.ATTACHED_VM.supports_managed_network
    assert ComputeType.SERVERLESS_SPARK.supports_managed_network


def test_port_ranges_parse_singles_and_ranges_with_spaces():
    ports = PortRanges.parse("80, 8080-8089")
    assert 80 in ports and 8080 in ports and 8089 in ports
    assert 81 not in ports and 8090 not in ports
    assert ports.normalized == "80,8080-8089"
    assert ports.text == "80, 8080-8089"


def test_star_port_range_means_every_port():
    ports = PortRanges.parse("*")
    assert 0 in ports and 65535 in ports


@pytest.mark.parametrize(
    "text, message",
    [
        ("8080-80", "port range '8080-80' is reversed"),
        ("70000", "port 70000 is above 65535"),
        ("http", "'http' is not a port number"),
        ("80,,443", "has an empty entry"),
        ("", "port range is empty"),
    ],
)
def test_bad_port_ranges_name_the_bad_piece(text, message):
    with pytest.raises(ModelError, match=message):
        PortRanges.parse(text)


def test_protocol_accepts_star_for_service_tag_rules():
    assert Protocol.parse("*") is Protocol.ANY
    assert Protocol.parse("tcp") is Protocol.TCP


@pytest.mark.parametrize(
    "raw, host",
    [("Download.PyTorch.ORG", "download.pytorch.org"), ("pypi.org.", "pypi.org"), ("bücher.de", "xn--bcher-kva.de")],
)
def test_host_names_are_lowercased_stripped_of_one_trailing_dot_and_punycoded(raw, host):
    assert normalize_host(raw) == host


@pytest.mark.parametrize("raw", ["a..b", "", ".", "a b.com", "x" * 64 + ".com"])
def test_invalid_host_names_are_refused(raw):
    with pytest.raises(ModelError):
        normalize_host(raw)


@pytest.mark.parametrize(
    "pattern, host, matches",
    [
        ("*.pytorch.org", "download.pytorch.org", True),
        ("*.pytorch.org", "a.b.pytorch.org", True),  # any depth (Azure Firewall: "anything to the left")
        ("*.pytorch.org", "pytorch.org", False),  # *.x never matches x
        ("*contoso.com", "contoso.com", True),
        ("*contoso.com", "th3re4lcontoso.com", True),  # look-alike: the risk of '*x'
        ("*contoso.com", "example.anycontoso.com", True),
        ("pypi.org", "files.pypi.org", False),
        ("*", "anything.example", True),
    ],
)
def test_fqdn_patterns_follow_azure_firewall_semantics(pattern, host, matches):
    assert FqdnPattern.parse(pattern).matches(host) is matches


@pytest.mark.parametrize("pattern", ["www.contoso.*", "*.contoso.*", "a*.contoso.com", "**.x.com"])
def test_wildcard_must_be_leftmost(pattern):
    with pytest.raises(ModelError, match="only allowed as the leftmost character"):
        FqdnPattern.parse(pattern)


def test_pattern_kinds():
    assert FqdnPattern.parse("*.x.com").kind is PatternKind.SUBDOMAINS
    assert FqdnPattern.parse("*x.com").kind is PatternKind.SUFFIX
    assert FqdnPattern.parse("*").kind is PatternKind.ANY
    assert FqdnPattern.parse("X.com").text == "x.com"


def test_fqdn_rule_may_list_several_names():
    rule = FqdnDestination(name="torch", destination="pytorch.org, *.pytorch.org")
    assert [p.text for p in rule.patterns] == ["pytorch.org", "*.pytorch.org"]


def test_resource_id_parses_provider_type_and_name():
    rid = ResourceId.parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/lake")
    assert (rid.provider_type, rid.name, rid.resource_group) == ("Microsoft.Storage/storageAccounts", "lake", "rg")


@pytest.mark.parametrize("text", ["/someappgwid", "subscriptions/s/resourceGroups/rg/providers/A.B/c/d", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts"])
def test_malformed_resource_ids_are_refused(text):
    with pytest.raises(ModelError, match="is malformed"):
        ResourceId.parse(text)


def test_entities_take_azure_ai_ml_keywords_and_convert_strings():
    rule = ServiceTagDestination(name="df", service_tag="DataFactory", protocol="TCP", port_ranges="80, 8080-8089")
    assert rule.protocol is Protocol.TCP and 8085 in rule.port_ranges
    pe = PrivateEndpointDestination(name="lake", service_resource_id="/x", subresource_target="blob", fqdns=["A.com"])
    assert pe.fqdn_hosts == ("a.com",)
    network = ManagedNetwork(isolation_mode="AllowOnlyApprovedOutbound", outbound_rules=[rule, pe])
    assert network.isolation_mode is IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
    assert Workspace(name="w", managed_network=network).managed_network.outbound_rules == (rule, pe)


def test_address_prefixes_make_the_service_tag_optional():
    rule = ServiceTagDestination(name="p", protocol="TCP", port_ranges="443", address_prefixes=["168.63.129.16", "10.0.0.0/24"])
    assert rule.uses_address_prefixes and len(rule.networks) == 2


def test_spec_example_loads_with_every_rule(tmp_path):
    path = tmp_path / "ws.yaml"
    path.write_text(SPEC_EXAMPLE)
    workspace, findings = load_workspace(path)
    assert [r.name for r in workspace.managed_network.outbound_rules] == ["microsoft", "appGwRule", "pytorch"]
    assert workspace.managed_network.firewall_sku.yaml == "basic"
    assert findings == []


def test_load_then_dump_keeps_every_rule_and_field(tmp_path):
    path = tmp_path / "ws.yaml"
    path.write_text(SPEC_EXAMPLE)
    workspace, _ = load_workspace(path)
    again = tmp_path / "again.yaml"
    again.write_text(dump_workspace(workspace))
    reloaded, _ = load_workspace(again)
    assert reloaded == workspace
    assert reloaded.managed_network.outbound_rules[1].fqdns == ("contoso.com", "contoso2.com")


def test_dump_keeps_unknown_top_level_keys_and_port_text():
    workspace, _ = workspace_from_dict({
        "name": "w", "location": "eastus", "tags": {"team": "ml"}, "storage_account": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st",
        "managed_network": {"isolation_mode": "allow_only_approved_outbound", "outbound_rules": [
            {"name": "df", "type": "service_tag", "destination": {"service_tag": "DataFactory", "protocol": "TCP", "port_ranges": "80, 8080-8089"}}]},
    })
    text = dump_workspace(workspace)
    assert "team: ml" in text and "port_ranges: 80, 8080-8089" in text and "storage_account:" in text


def test_rest_style_rule_dictionary_is_accepted():
    workspace, _ = workspace_from_dict({"name": "w", "managed_network": {"isolation_mode": "AllowOnlyApprovedOutbound",
                                        "outbound_rules": {"pypi": {"type": "FQDN", "destination": "pypi.org"}}}})
    assert workspace.managed_network.outbound_rules[0].name == "pypi"


def test_deprecated_destination_keys_are_dropped_with_a_warning():
    _, findings = workspace_from_dict({"name": "w", "managed_network": {"isolation_mode": "allow_only_approved_outbound", "outbound_rules": [
        {"name": "src", "type": "private_endpoint", "destination": {"service_resource_id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/privatelinkservices/x",
                                                                   "subresource_target": "default", "spark_enabled": False, "data_import_enabled": True, "pe_fqdn": "test"}}]}})
    assert {f.code for f in findings} == {"deprecated_key"} and all(f.level == "warning" for f in findings)


def test_missing_managed_network_means_disabled():
    workspace, _ = workspace_from_dict({"name": "w"})
    assert workspace.managed_network.isolation_mode is IsolationMode.DISABLED
