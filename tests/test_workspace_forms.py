"""Every form a workspace comes in (Azure ML YAML, REST/ARM JSON) compiles to the same rule table as its YAML twin.

"The same table" is checked on what determines it: the isolation mode, every rule in force in evaluation
order with all its fields, and the compiled summary (prefix and interval counts, host names).
"""

from __future__ import annotations

import json

import pytest

from egress_sim.ruletable.compile import compile_rules
from egress_sim.app.describe import rules_understood
from egress_sim.base.findings import WorkspaceInvalid
from egress_sim.model import detect_form, read_workspace
from egress_sim.app.validate import validate_workspace

SUB = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers"
LAKE = f"{SUB}/Microsoft.Storage/storageAccounts/lake"
STORAGE = f"{SUB}/Microsoft.Storage/storageAccounts/wsstore"

YAML_FORM = f"""\
name: ws
location: eastus
storage_account: {STORAGE}
managed_network:
  isolation_mode: allow_only_approved_outbound
  firewall_sku: basic
  outbound_rules:
  - name: pypi
    type: fqdn
    destination: pypi.org, *.pythonhosted.org
  - name: datafactory
    type: service_tag
    destination:
      service_tag: DataFactory
      protocol: TCP
      port_ranges: 80, 8080-8089
  - name: lake-blob
    type: private_endpoint
    destination:
      service_resource_id: {LAKE}
      subresource_target: blob
      spark_enabled: true
"""

YAML_MAPPING_FORM = f"""\
name: ws
location: eastus
storage_account: {STORAGE}
managed_network:
  isolation_mode: allow_only_approved_outbound
  firewall_sku: basic
  outbound_rules:
    pypi:
      type: fqdn
      destination: pypi.org, *.pythonhosted.org
    datafactory:
      type: service_tag
      destination: {{service_tag: DataFactory, protocol: TCP, port_ranges: '80, 8080-8089'}}
    lake-blob:
      type: private_endpoint
      destination: {{service_resource_id: '{LAKE}', subresource_target: blob, spark_enabled: true}}
"""

REST_RULES = {
    "pypi": {"type": "FQDN", "category": "UserDefined", "status": "Active", "destination": "pypi.org, *.pythonhosted.org"},
    "datafactory": {"type": "ServiceTag", "category": "UserDefined", "status": "Active",
                    "destination": {"serviceTag": "DataFactory", "protocol": "TCP", "portRanges": "80, 8080-8089",
                                    "addressPrefixes": [], "action": "Allow"}},
    "lake-blob": {"type": "PrivateEndpoint", "category": "UserDefined", "status": "Active",
                  "destination": {"serviceResourceId": LAKE, "subresourceTarget": "blob", "sparkEnabled": True,
                                  "sparkStatus": "Active"}},
}
REST_NETWORK = {"isolationMode": "AllowOnlyApprovedOutbound", "firewallSku": "Basic", "outboundRules": REST_RULES,
                "status": {"status": "Active", "sparkReady": True}, "managedNetworkKind": "V1",
                "networkId": "b1c2", "changeableIsolationModes": []}
WORKSPACE_ID = f"{SUB}/Microsoft.MachineLearningServices/workspaces/ws"

WORKSPACE_RESOURCE = {  # as `az resource show` prints it
    "id": WORKSPACE_ID, "name": "ws", "type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus",
    "sku": {"name": "Basic", "tier": "Basic"}, "kind": "Default", "identity": {"type": "SystemAssigned"},
    "systemData": {"createdAt": "2026-11-30T10:00:00Z"}, "tags": {},
    "properties": {"storageAccount": STORAGE, "managedNetwork": REST_NETWORK, "friendlyName": "ws",
                   "provisioningState": "Succeeded", "hbiWorkspace": False, "someFuturePropertyAzureAdds": 1},
}
ARM_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {},
    "resources": [
        {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "wsstore", "location": "eastus"},
        {"type": "Microsoft.MachineLearningServices/workspaces", "apiVersion": "2024-10-01", "name": "ws",
         "location": "eastus", "identity": {"type": "SystemAssigned"}, "dependsOn": ["wsstore"],
         "properties": {"storageAccount": STORAGE, "managedNetwork": {
             "isolationMode": "AllowOnlyApprovedOutbound", "firewallSku": "Basic", "outboundRules": REST_RULES}}},
    ],
}
MANAGED_NETWORK_RESPONSE = {  # GET .../workspaces/ws/managedNetworks/default
    "id": f"{WORKSPACE_ID}/managedNetworks/default", "name": "default",
    "type": "Microsoft.MachineLearningServices/workspaces/managedNetworks", "properties": REST_NETWORK,
}
SDK_JSON = {  # `az ml workspace show -o json`: the YAML form's keys, as JSON
    "name": "ws", "location": "eastus", "id": WORKSPACE_ID, "resource_group": "rg", "storage_account": STORAGE,
    "mlflow_tracking_uri": "azureml://eastus.api.azureml.ms/mlflow/v1.0", "discovery_url": "https://eastus.api.azureml.ms",
    "hbi_workspace": False, "tags": {}, "identity": {"type": "system_assigned"},
    "managed_network": {"isolation_mode": "allow_only_approved_outbound", "firewall_sku": "basic", "network_id": "b1c2",
                        "status": {"status": "Active", "spark_ready": True},
                        "outbound_rules": [
                            {"name": "pypi", "type": "fqdn", "category": "user_defined", "status": "Active",
                             "destination": "pypi.org, *.pythonhosted.org"},
                            {"name": "datafactory", "type": "service_tag", "category": "user_defined", "status": "Active",
                             "destination": {"service_tag": "DataFactory", "protocol": "TCP", "port_ranges": "80, 8080-8089"}},
                            {"name": "lake-blob", "type": "private_endpoint", "category": "user_defined", "status": "Active",
                             "destination": {"service_resource_id": LAKE, "subresource_target": "blob", "spark_enabled": True}}]},
}


def fingerprint(workspace, tags) -> tuple:
    """What the compiled table is made of. The automatic endpoint to the workspace itself is compared without
    its resource id, which each form knows to a different degree (``id``, ``resource_group``, or neither);
    its host names and address do not depend on it."""
    table = compile_rules(workspace, tags)
    rules = [(r["name"], r["type"], r["category"], None if r["name"] == "required-workspace" else r["destination"],
              r["protocol"], r["ports"], r.get("spark_enabled"), r["in_force"])
             for r in rules_understood(workspace, tags)]
    summary = table.summary()
    return table.mode, table.rule_names, tuple(rules), json.dumps(summary, sort_keys=True)


@pytest.fixture
def reference(write_yaml, tags):
    return fingerprint(read_workspace(write_yaml(YAML_FORM)).workspace, tags)


def write_json(tmp_path, name, document) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2))
    return str(path)


@pytest.mark.parametrize("form, document", [
    ("workspace_resource", WORKSPACE_RESOURCE),
    ("arm_template", ARM_TEMPLATE),
    ("yaml", SDK_JSON),
])
def test_a_json_form_compiles_to_the_same_table_as_its_yaml_twin(tmp_path, tags, reference, form, document):
    loaded = read_workspace(write_json(tmp_path, "ws.json", document))
    assert loaded.form == form
    assert fingerprint(loaded.workspace, tags) == reference


def test_the_yaml_mapping_form_compiles_to_the_same_table_as_the_list_form(write_yaml, tags, reference):
    assert fingerprint(read_workspace(write_yaml(YAML_MAPPING_FORM)).workspace, tags) == reference


@pytest.mark.parametrize("form, document", [
    ("managed_network_resource", MANAGED_NETWORK_RESPONSE),
    ("managed_network", REST_NETWORK),
])
def test_a_managed_network_alone_compiles_like_the_yaml_given_its_location(tmp_path, tags, write_yaml, form, document):
    """A managed network carries no location or default resources: --location supplies the one, the file the other."""
    bare_yaml = YAML_FORM.replace(f"storage_account: {STORAGE}\n", "")
    loaded = read_workspace(write_json(tmp_path, "ws.json", document), location="eastus")
    assert loaded.form == form
    expected = fingerprint(read_workspace(write_yaml(bare_yaml)).workspace, tags)
    assert fingerprint(loaded.workspace, tags)[1:] == expected[1:]


def test_a_managed_network_response_takes_the_workspace_name_from_its_id(tmp_path):
    assert read_workspace(write_json(tmp_path, "x.json", MANAGED_NETWORK_RESPONSE)).workspace.name == "ws"


def test_the_file_extension_does_not_decide_the_form(tmp_path, tags, reference):
    path = tmp_path / "looks-like.yaml"
    path.write_text(json.dumps(WORKSPACE_RESOURCE))
    assert fingerprint(read_workspace(path).workspace, tags) == reference


def test_detect_form_names_each_form():
    assert [detect_form(d) for d in (SDK_JSON, WORKSPACE_RESOURCE, ARM_TEMPLATE, MANAGED_NETWORK_RESPONSE, REST_NETWORK)] == [
        "yaml", "workspace_resource", "arm_template", "managed_network_resource", "managed_network"]


# --- Azure's own required rules in a file --------------------------------------------------------------------

AZURE_REQUIRED = {
    "__SYS_ST_AzureActiveDirectory_TCP": {"type": "ServiceTag", "category": "Required", "status": "Active",
                                          "destination": {"serviceTag": "AzureActiveDirectory", "protocol": "TCP",
                                                          "portRanges": "80, 443"}},
    "__SYS_ST_AzureMachineLearning_TCP": {"type": "ServiceTag", "category": "Required", "status": "Active",
                                          "destination": {"serviceTag": "AzureMachineLearning", "protocol": "TCP",
                                                          "portRanges": "80, 443"}},
}


def test_required_rules_listed_by_azure_are_taken_as_the_required_set_not_doubled(tmp_path, tags):
    network = {**REST_NETWORK, "outboundRules": {**AZURE_REQUIRED, **REST_RULES}}
    loaded = read_workspace(write_json(tmp_path, "mn.json", network), location="eastus")
    rows = [r for r in rules_understood(loaded.workspace, tags) if r["in_force"]]
    aad = [r for r in rows if r["destination"] == "AzureActiveDirectory"]
    aml_tcp = [r for r in rows if r["destination"] == "AzureMachineLearning" and r["protocol"] == "TCP"]
    assert [r["origin"] for r in aad] == ["file"]
    assert [(r["name"], r["ports"]) for r in aml_tcp] == [("__SYS_ST_AzureMachineLearning_TCP", "80, 443")]
    # the ones Azure's list lacks are still added, by Azure's names
    assert {"__SYS_ST_AzureMachineLearning_UDP", "__SYS_ST_AzureMonitor_TCP"} <= {r["name"] for r in rows}


def test_required_rules_carry_azures_names(write_yaml, tags):
    rows = rules_understood(read_workspace(write_yaml(YAML_FORM)).workspace, tags)
    names = {r["name"] for r in rows if r["origin"] == "added"}
    assert "__SYS_ST_AzureActiveDirectory_TCP" in names
    assert "__SYS_ST_BatchNodeManagement.EastUS_TCP" in names


# --- location ---------------------------------------------------------------------------------------------------

NO_LOCATION = YAML_FORM.replace("location: eastus\n", "")


def test_a_workspace_without_location_loads(write_yaml):
    assert read_workspace(write_yaml(NO_LOCATION)).workspace.location is None


def test_without_location_the_global_batch_tag_stands_in_with_a_warning(cli, write_yaml):
    result = cli("validate", write_yaml(NO_LOCATION), "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0
    batch = [r for r in data["workspace"]["rules"] if r["destination"].startswith("BatchNodeManagement")]
    assert [r["destination"] for r in batch] == ["BatchNodeManagement"]
    warning = [f for f in data["findings"] if f["code"] == "no_location"]
    assert warning and "every region" in warning[0]["message"]


def test_location_option_supplies_the_region(write_yaml, tags, reference):
    assert fingerprint(read_workspace(write_yaml(NO_LOCATION), location="eastus").workspace, tags) == reference


def test_location_option_overrides_the_files_region_with_a_warning(write_yaml):
    loaded = read_workspace(write_yaml(YAML_FORM), location="westeurope")
    assert loaded.workspace.location == "westeurope"
    assert any(f.code == "location_override" for f in loaded.findings)


def test_an_unknown_location_is_an_error_naming_it(cli, write_yaml):
    result = cli("validate", write_yaml(YAML_FORM), "--location", "atlantis")
    assert result.exit_code == 1 and "'atlantis'" in result.stderr


# --- convert ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["yaml", "rest"])
@pytest.mark.parametrize("target", ["yaml", "arm"])
def test_convert_then_load_gives_the_same_compiled_table(cli, tmp_path, write_yaml, tags, source, target):
    original = write_yaml(YAML_FORM) if source == "yaml" else write_json(tmp_path, "ws.json", WORKSPACE_RESOURCE)
    out = tmp_path / f"out.{target}"
    result = cli("convert", original, "--to", target, "-o", out)
    assert result.exit_code == 0, result.output
    before = fingerprint(read_workspace(original).workspace, tags)
    assert fingerprint(read_workspace(out).workspace, tags) == before


def test_convert_keeps_azures_required_rules_so_the_table_is_unchanged(cli, tmp_path, tags):
    network = {**REST_NETWORK, "outboundRules": {**AZURE_REQUIRED, **REST_RULES}}
    original = write_json(tmp_path, "mn.json", network)
    out = tmp_path / "out.yaml"
    assert cli("convert", original, "--to", "yaml", "-o", out, "--location", "eastus").exit_code == 0
    assert fingerprint(read_workspace(out).workspace, tags) == fingerprint(read_workspace(original, "eastus").workspace, tags)


# --- what the REST form refuses -----------------------------------------------------------------------------------

def rest_error(tmp_path, document) -> str:
    with pytest.raises(WorkspaceInvalid) as caught:
        read_workspace(write_json(tmp_path, "bad.json", document))
    return "\n".join(f.message for f in caught.value.errors)


def test_a_misspelt_managed_network_in_a_resource_is_an_error(tmp_path):
    bad = {**WORKSPACE_RESOURCE, "properties": {"managedNetwrok": REST_NETWORK}}
    assert "properties.managedNetwrok: unknown key (did you mean managedNetwork?)" in rest_error(tmp_path, bad)


def test_a_misspelt_rest_destination_key_is_an_error(tmp_path):
    rules = {"df": {"type": "ServiceTag", "destination": {"serviceTag": "DataFactory", "protocol": "TCP", "portRange": "443"}}}
    message = rest_error(tmp_path, {"isolationMode": "AllowOnlyApprovedOutbound", "outboundRules": rules})
    assert "outboundRules.df.destination.portRange: unknown key (did you mean portRanges?)" in message


def test_a_deny_action_is_refused_rather_than_read_as_allow(tmp_path):
    rules = {"df": {"type": "ServiceTag", "destination": {"serviceTag": "DataFactory", "protocol": "TCP",
                                                          "portRanges": "443", "action": "Deny"}}}
    assert "only Allow" in rest_error(tmp_path, {"isolationMode": "AllowOnlyApprovedOutbound", "outboundRules": rules})


def test_an_arm_expression_in_a_rule_is_refused(tmp_path):
    template = json.loads(json.dumps(ARM_TEMPLATE))
    template["resources"][1]["properties"]["managedNetwork"]["outboundRules"]["pypi"]["destination"] = "[parameters('host')]"
    assert "evaluated at deployment" in rest_error(tmp_path, template)


def test_a_template_with_two_workspaces_is_refused(tmp_path):
    template = json.loads(json.dumps(ARM_TEMPLATE))
    template["resources"].append(template["resources"][1])
    assert "exactly one" in rest_error(tmp_path, template)


def test_unknown_workspace_properties_outside_the_network_only_warn(tmp_path):
    loaded = read_workspace(write_json(tmp_path, "ws.json", WORKSPACE_RESOURCE))
    assert any(f.code == "ignored_key" and "someFuturePropertyAzureAdds" in f.message for f in loaded.findings)


# --- from the review of this change --------------------------------------------------------------------------

def test_a_template_with_child_resources_of_the_workspace_is_refused(tmp_path):
    template = json.loads(json.dumps(ARM_TEMPLATE))
    template["resources"][1]["resources"] = [{"type": "outboundRules", "name": "all",
                                              "properties": {"type": "FQDN", "destination": "*"}}]
    assert "child resources of the workspace" in rest_error(tmp_path, template)


def test_a_template_with_a_managed_network_sibling_resource_is_refused(tmp_path):
    template = json.loads(json.dumps(ARM_TEMPLATE))
    template["resources"].append({"type": "Microsoft.MachineLearningServices/workspaces/managedNetworks",
                                  "name": "ws/default", "properties": {"isolationMode": "AllowInternetOutbound"}})
    assert "child resources of the workspace" in rest_error(tmp_path, template)


@pytest.mark.parametrize("document", [
    {"name": "proj", "kind": "project", "hub_id": f"{SUB}/Microsoft.MachineLearningServices/workspaces/hub"},
    {**WORKSPACE_RESOURCE, "kind": "Project", "properties": {"hubResourceId": f"{SUB}/x/workspaces/hub"}},
])
def test_a_project_is_refused_because_its_hub_decides_its_outbound_traffic(tmp_path, document):
    assert "hub's managed network" in rest_error(tmp_path, document)


@pytest.mark.parametrize("document", [
    {"name": "ws", "managed_network": {"isolation_mode": None}},
    {"isolationMode": None, "outboundRules": {}},
])
def test_an_empty_isolation_mode_is_an_error_not_disabled(tmp_path, document):
    assert "isolation_mode is empty" in rest_error(tmp_path, document)


def test_azures_own_workspace_endpoint_in_a_managed_network_response_is_not_doubled(tmp_path, tags):
    own = {"__SYS_PE_ws_amlworkspace": {
        "type": "PrivateEndpoint", "category": "Required", "status": "Active",
        "destination": {"serviceResourceId": WORKSPACE_ID, "subresourceTarget": "amlworkspace", "sparkEnabled": False}}}
    response = {**MANAGED_NETWORK_RESPONSE, "properties": {**REST_NETWORK, "outboundRules": {**own, **REST_RULES}}}
    loaded = read_workspace(write_json(tmp_path, "mn.json", response), location="eastus")
    endpoints = [r["name"] for r in rules_understood(loaded.workspace, tags)
                 if r["in_force"] and r["destination"].endswith("(amlworkspace)")]
    assert endpoints == ["__SYS_PE_ws_amlworkspace"]


def test_yaml_merge_keys_are_read(write_yaml):
    text = YAML_FORM.replace(
        "      service_tag: DataFactory\n      protocol: TCP\n      port_ranges: 80, 8080-8089\n",
        "      <<: {protocol: TCP, port_ranges: '80, 8080-8089'}\n      service_tag: DataFactory\n")
    rule = read_workspace(write_yaml(text)).workspace.managed_network.outbound_rules[1]
    assert (rule.protocol.value, rule.port_ranges.text) == ("TCP", "80, 8080-8089")


def test_a_yaml_flow_mapping_is_read_though_it_starts_like_json(tmp_path):
    path = tmp_path / "ws.yaml"
    path.write_text("{name: ws, managed_network: {isolation_mode: allow_internet_outbound}}\n")
    assert read_workspace(path).workspace.managed_network.isolation_mode.yaml == "allow_internet_outbound"


def test_a_required_rule_azure_lists_with_other_ports_than_the_spec_is_used_with_a_warning(tmp_path, tags):
    network = {**REST_NETWORK, "outboundRules": {**AZURE_REQUIRED, **REST_RULES}}
    loaded = read_workspace(write_json(tmp_path, "mn.json", network), location="eastus")
    findings = validate_workspace(loaded.workspace, tags)
    differs = [f for f in findings if f.code == "required_rule_differs"]
    assert [f.rule for f in differs] == ["__SYS_ST_AzureMachineLearning_TCP"]
