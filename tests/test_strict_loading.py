"""A typo never turns isolation off: every workspace key is checked, and YAML that could be read two ways is refused."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.base.errors import EgressSimError, LimitExceeded, WorkspaceFileError
from egress_sim.base.findings import WorkspaceInvalid
from egress_sim.model import read_workspace, workspace_from_document

GOOD = """\
name: ws
location: eastus
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: df
    type: service_tag
    destination:
      service_tag: DataFactory
      protocol: TCP
      port_ranges: '443'
"""


def errors_of(write_yaml, text: str) -> list[str]:
    with pytest.raises(WorkspaceInvalid) as caught:
        read_workspace(write_yaml(text))
    return [f.message for f in caught.value.errors]


@pytest.mark.parametrize("typo, message", [
    ("  isolaton_mode: allow_only_approved_outbound\n",
     "managed_network.isolaton_mode: unknown key (did you mean isolation_mode?)"),
    ("managed_networks:\n  isolation_mode: allow_only_approved_outbound\n",
     "managed_networks: unknown key (did you mean managed_network?)"),
    ("  isolation_mode: allow_only_approved_outbound\n  outbound_rule: []\n",
     "managed_network.outbound_rule: unknown key (did you mean outbound_rules?)"),
])
def test_a_misspelt_key_is_an_error_naming_its_path_and_the_closest_key(write_yaml, typo, message):
    text = "name: ws\nlocation: eastus\n" + (typo if not typo.startswith("  ") else "managed_network:\n" + typo)
    assert message in errors_of(write_yaml, text)


def test_a_misspelt_destination_key_is_an_error(write_yaml):
    assert "managed_network.outbound_rules[df].destination.port_range: unknown key (did you mean port_ranges?)" in \
        errors_of(write_yaml, GOOD.replace("port_ranges", "port_range"))


def test_a_key_of_another_rule_type_is_an_error(write_yaml):
    text = GOOD.replace("    type: service_tag\n", "    type: service_tag\n    fqdns: [a.example]\n")
    assert any("outbound_rules[df].fqdns: unknown key" in m for m in errors_of(write_yaml, text))


@pytest.mark.parametrize("command", ["validate", "evaluate", "explain", "simulate", "replay"])
def test_every_command_refuses_a_typo_with_exit_2_and_one_line(cli, write_yaml, tmp_path, command):
    ws = write_yaml(GOOD.replace("isolation_mode", "isolaton_mode"))
    flows = tmp_path / "f.csv"
    flows.write_text("dst_ip,dst_port,protocol\n1.2.3.4,443,TCP\n")
    args = {"validate": [ws], "evaluate": [ws, flows, "-o", tmp_path / "o.csv", "--compute", "serverless"],
            "explain": [ws, "--dst", "pypi.org", "--port", "443"], "simulate": [ws, "-o", tmp_path / "s.parquet"],
            "replay": [ws, flows, "-o", tmp_path / "r.csv", "--compute", "serverless"]}[command]
    result = cli(command, *args)
    assert result.exit_code == (1 if command == "validate" else 2)
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {ws}: managed_network.isolaton_mode: unknown key (did you mean isolation_mode?)"]


def test_the_demo_refuses_a_typo_too(cli, write_yaml, tmp_path):
    result = cli("demo", "--workspace", write_yaml(GOOD.replace("outbound_rules", "outbound_rule")), "--out", tmp_path)
    assert result.exit_code == 2 and "did you mean outbound_rules?" in result.stderr


@pytest.mark.parametrize("key", ["category: required", "status: Active", "parent_rule_names: []"])
def test_keys_azure_writes_on_rules_are_accepted(write_yaml, key):
    read_workspace(write_yaml(GOOD.replace("    type: service_tag\n", f"    type: service_tag\n    {key}\n")))


def test_keys_azure_writes_on_the_network_are_accepted(write_yaml):
    extra = "  network_id: abc\n  status:\n    status: Active\n    spark_ready: true\n"
    read_workspace(write_yaml(GOOD.replace("  outbound_rules:", extra + "  outbound_rules:")))


def test_deprecated_destination_keys_warn(write_yaml):
    text = """\
name: ws
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: src
    type: private_endpoint
    destination:
      service_resource_id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privatelinkservices/svc
      subresource_target: default
      spark_enabled: false
      data_import_enabled: true
      pe_fqdn: test
"""
    findings = read_workspace(write_yaml(text)).findings
    assert [f.code for f in findings if f.level == "warning"].count("deprecated_key") == 2


# --- YAML read one way only ----------------------------------------------------------------------------------------

def test_a_duplicate_key_is_an_error_naming_both_lines(write_yaml):
    text = GOOD.replace("  isolation_mode: allow_only_approved_outbound\n",
                        "  isolation_mode: allow_only_approved_outbound\n  isolation_mode: disabled\n")
    with pytest.raises(WorkspaceFileError, match=r"line 5.*duplicate key 'isolation_mode' \(first at line 4\)"):
        read_workspace(write_yaml(text))


def test_a_duplicate_key_in_json_is_an_error(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text('{"isolationMode": "AllowOnlyApprovedOutbound", "isolationMode": "Disabled"}')
    with pytest.raises(WorkspaceFileError, match="duplicate key 'isolationMode'"):
        read_workspace(path)


@pytest.mark.parametrize("value", ["1:20", "0443", "1_000", "0b1"])
def test_an_unquoted_port_yaml_1_1_reads_as_another_number_is_refused(write_yaml, value):
    with pytest.raises(WorkspaceFileError, match="quote it"):
        read_workspace(write_yaml(GOOD.replace("port_ranges: '443'", f"port_ranges: {value}")))


@pytest.mark.parametrize("value", ["yes", "on", "off", "no"])
def test_yaml_1_1_booleans_are_refused(write_yaml, value):
    text = GOOD.replace("name: ws\n", f"name: ws\nhbi_workspace: {value}\n")
    with pytest.raises(WorkspaceFileError, match="quote it"):
        read_workspace(write_yaml(text))


def test_a_quoted_colon_range_is_a_port_range_error(write_yaml):
    assert any("1:20" in m for m in errors_of(write_yaml, GOOD.replace("port_ranges: '443'", "port_ranges: '1:20'")))


def test_deep_nesting_hits_the_documented_limit(write_yaml):
    with pytest.raises(LimitExceeded, match="nested deeper than 64"):
        read_workspace(write_yaml("name: ws\ntags: " + "[" * 500 + "]" * 500 + "\n"))


def test_deep_json_hits_the_documented_limit(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(LimitExceeded, match="nested deeper"):
        read_workspace(path)


def test_alias_bombs_hit_the_documented_limit(write_yaml):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(LimitExceeded, match="aliases"):
        read_workspace(write_yaml("\n".join(lines) + "\n"))


def test_a_nul_byte_is_refused(tmp_path):
    path = tmp_path / "ws.yaml"
    path.write_bytes(b"name: ws\x00\n")
    with pytest.raises(WorkspaceFileError, match="NUL"):
        read_workspace(path)


def test_a_rule_name_with_a_trailing_newline_is_refused(write_yaml):
    assert any("rule name" in m for m in errors_of(write_yaml, GOOD.replace("name: df", 'name: "df\\n"')))


# --- fuzz: any document either loads or fails with the library's own error ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(["name", "location", "managed_network", "isolation_mode", "outbound_rules", "type",
                        "destination", "service_tag", "protocol", "port_ranges", "properties", "managedNetwork",
                        "isolationMode", "outboundRules", "portRanges", "serviceTag", "category", "status", "fqdns"])
documents = st.recursive(json_values, lambda children: st.dictionaries(keys, children, max_size=5), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_loads_or_fails_with_a_library_error(document):
    try:
        workspace_from_document(document, source="fuzz.yaml")
    except EgressSimError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_file_loads_or_fails_with_a_library_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "ws.yaml"
    path.write_bytes(text.encode("utf-8", "replace"))
    try:
        read_workspace(path)
    except EgressSimError:
        pass


# --- address prefixes mean what flows mean -------------------------------------------------------------------------

def _prefix_rule(write_yaml, prefix: str):
    text = GOOD.replace("      service_tag: DataFactory\n", f"      service_tag: DataFactory\n      address_prefixes: ['{prefix}']\n")
    return read_workspace(write_yaml(text)).workspace.managed_network.outbound_rules[0]


def test_an_ipv4_mapped_prefix_is_read_as_its_ipv4_prefix(write_yaml):
    assert [str(n) for n in _prefix_rule(write_yaml, "::ffff:10.0.0.0/104").networks] == ["10.0.0.0/8"]


def test_a_prefix_with_a_zone_id_is_refused(write_yaml):
    assert any("zone id" in m for m in errors_of(write_yaml, GOOD.replace(
        "      service_tag: DataFactory\n", "      service_tag: DataFactory\n      address_prefixes: ['fe80::%eth0/64']\n")))


@pytest.mark.parametrize("value", ["2024-01-01", "2024-01-01T10:00:00Z", "2024-1-1 10:00:00"])
def test_an_unquoted_date_yaml_1_1_reads_as_a_timestamp_is_refused(write_yaml, value):
    with pytest.raises(WorkspaceFileError, match="quote it"):
        read_workspace(write_yaml(GOOD.replace("name: ws\n", f"name: ws\ndescription: {value}\n")))


def test_text_that_starts_with_a_date_is_just_text(write_yaml):
    read_workspace(write_yaml(GOOD.replace("name: ws\n", "name: ws\ndescription: 2024-01-01 migration\n")))


def test_a_misspelt_type_key_is_named_not_reported_as_type_none(write_yaml):
    messages = errors_of(write_yaml, GOOD.replace("    type: service_tag\n", "    typ: service_tag\n"))
    assert any("outbound_rules[df].typ: unknown key (did you mean type?)" in m for m in messages)
    assert not any("None" in m for m in messages)


def test_port_ranges_take_ascii_digits_only(write_yaml):
    assert any("not a port number" in m for m in errors_of(write_yaml, GOOD.replace("port_ranges: '443'", "port_ranges: '٤٤٣'")))


def test_an_empty_location_option_is_an_error(write_yaml):
    with pytest.raises(WorkspaceInvalid, match="--location is empty"):
        read_workspace(write_yaml(GOOD), location="")
