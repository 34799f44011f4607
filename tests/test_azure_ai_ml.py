"""The azure-ai-ml converter: duck-typed objects always; real SDK entities when azure-ai-ml is installed.

The SDK tests call ``pytest.importorskip`` themselves, so the rest of the file runs without azure-ai-ml.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from egress_sim.base.errors import ModelError
from egress_sim.model import (
    FirewallSku,
    FqdnDestination,
    IsolationMode,
    OutboundRuleType,
    OutboundRuleCategory,
    PrivateEndpointDestination,
    Protocol,
    RuleStatus,
    ServiceTagDestination,
    load_workspace,
)
from egress_sim.model.azure_ai_ml import from_azure_ai_ml, managed_network_from_azure_ai_ml, rule_from_azure_ai_ml

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers"
STORAGE_ID = f"{SUB}/Microsoft.Storage/storageAccounts/wsstorage"
KEY_VAULT_ID = f"{SUB}/Microsoft.KeyVault/vaults/wsvault"
REGISTRY_ID = f"{SUB}/Microsoft.ContainerRegistry/registries/wsacr"
LAKE_ID = f"{SUB}/Microsoft.Storage/storageAccounts/datalake"

# Azure ML workspace YAML (the SDK's format), with one rule of each type.
WORKSPACE_YAML = f"""\
name: sdk-ws
location: eastus
storage_account: {STORAGE_ID}
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
    - name: pypi
      type: fqdn
      destination: "*.pypi.org"
    - name: datafactory
      type: service_tag
      destination:
        service_tag: DataFactory
        protocol: TCP
        port_ranges: "80, 8080-8089"
    - name: lake-blob
      type: private_endpoint
      destination:
        service_resource_id: {LAKE_ID}
        subresource_target: blob
        spark_enabled: true
      fqdns:
        - datalake.blob.core.windows.net
"""


# ------------------------------------------------------------------------------- without the SDK


def _fake_workspace(**network: object) -> SimpleNamespace:
    rules = [
        SimpleNamespace(name="pypi", type="FQDN", destination="*.pypi.org", category="UserDefined", status="Active"),
        SimpleNamespace(
            name="df", type="ServiceTag", service_tag="DataFactory", protocol="*", port_ranges="443",
            address_prefixes=None, category="UserDefined", status=None,
        ),
        SimpleNamespace(
            name="lake", type="PrivateEndpoint", service_resource_id=LAKE_ID, subresource_target="dfs",
            spark_enabled=None, fqdns=None, category="Required", status="Inactive",
        ),
    ]
    managed = SimpleNamespace(
        isolation_mode="AllowInternetOutbound", outbound_rules=rules, firewall_sku="Basic", network_id="net-1",
        status=SimpleNamespace(status="Active", spark_ready=False),
    )
    vars(managed).update(network)
    return SimpleNamespace(
        name="fake", location="westeurope", managed_network=managed, storage_account=STORAGE_ID, key_vault=None,
        container_registry=None, application_insights=None, public_network_access="Disabled",
    )


def test_converter_accepts_duck_typed_objects_without_the_sdk():
    workspace = from_azure_ai_ml(_fake_workspace())
    network = workspace.managed_network
    assert workspace.name == "fake" and workspace.region == "westeurope" and workspace.public_network_access_disabled
    assert network.isolation_mode is IsolationMode.ALLOW_INTERNET_OUTBOUND
    assert network.firewall_sku is FirewallSku.BASIC and network.network_id == "net-1"
    assert network.is_provisioned and network.spark_ready is False
    pypi, df, lake = network.outbound_rules
    assert isinstance(pypi, FqdnDestination) and pypi.status is RuleStatus.ACTIVE
    assert isinstance(df, ServiceTagDestination) and df.protocol is Protocol.ANY and 443 in df.port_ranges
    assert isinstance(lake, PrivateEndpointDestination) and lake.spark_enabled is False and lake.fqdns is None
    assert lake.category is OutboundRuleCategory.REQUIRED and not lake.is_active


def test_missing_managed_network_converts_to_disabled_with_no_rules():
    workspace = from_azure_ai_ml(SimpleNamespace(name="bare", managed_network=None))
    assert workspace.managed_network.isolation_mode is IsolationMode.DISABLED
    assert workspace.managed_network.outbound_rules == () and workspace.location is None


def test_empty_rule_dict_from_rest_converts_to_no_rules():
    network = managed_network_from_azure_ai_ml(SimpleNamespace(isolation_mode="Disabled", outbound_rules={}))
    assert network.outbound_rules == () and network.status is None


def test_unknown_rule_type_raises_model_error_naming_the_rule():
    with pytest.raises(ModelError, match=r"rule 'weird'.*unknown rule type 'Gateway'"):
        rule_from_azure_ai_ml(SimpleNamespace(name="weird", type="Gateway"))


def test_rule_without_type_raises_model_error_naming_the_rule():
    with pytest.raises(ModelError, match=r"rule 'untyped'"):
        rule_from_azure_ai_ml(SimpleNamespace(name="untyped", destination="example.com"))


def test_bad_port_range_raises_model_error_naming_the_rule():
    rule = SimpleNamespace(name="ports", type="ServiceTag", service_tag="AzureCloud", protocol="TCP", port_ranges="80-")
    with pytest.raises(ModelError, match=r"rule 'ports'.*port range"):
        rule_from_azure_ai_ml(rule)


def test_duplicate_rule_names_raise_model_error():
    rules = [SimpleNamespace(name=n, type="FQDN", destination="a.com") for n in ("same", "SAME")]
    with pytest.raises(ModelError, match="duplicate rule name"):
        managed_network_from_azure_ai_ml(SimpleNamespace(isolation_mode="AllowOnlyApprovedOutbound", outbound_rules=rules))


def test_none_rule_from_sdk_raises_model_error():
    with pytest.raises(ModelError, match="outbound rule #1"):
        managed_network_from_azure_ai_ml(SimpleNamespace(isolation_mode="AllowOnlyApprovedOutbound", outbound_rules=[None]))


# ---------------------------------------------------------------------------------- with the SDK


@pytest.mark.azure_ai_ml
def test_sdk_workspace_with_all_three_rule_types_converts_every_field():
    entities = pytest.importorskip("azure.ai.ml.entities")

    sdk_workspace = entities.Workspace(
        name="sdk-ws",
        location="eastus",
        storage_account=STORAGE_ID,
        key_vault=KEY_VAULT_ID,
        container_registry=REGISTRY_ID,
        managed_network=entities.ManagedNetwork(
            isolation_mode=entities.IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND,
            outbound_rules=[
                entities.FqdnDestination(name="pypi", destination="*.pypi.org"),
                entities.ServiceTagDestination(
                    name="datafactory", service_tag="DataFactory", protocol="TCP", port_ranges="80, 8080-8089"
                ),
                entities.PrivateEndpointDestination(
                    name="lake-blob", service_resource_id=LAKE_ID, subresource_target="blob", spark_enabled=True,
                    fqdns=["datalake.blob.core.windows.net"],
                ),
            ],
        ),
    )
    workspace = from_azure_ai_ml(sdk_workspace)

    assert workspace.name == "sdk-ws" and workspace.location == "eastus"
    assert workspace.storage_account == STORAGE_ID
    assert workspace.key_vault == KEY_VAULT_ID
    assert workspace.container_registry == REGISTRY_ID
    assert workspace.application_insights is None and workspace.public_network_access is None
    network = workspace.managed_network
    assert network.isolation_mode is IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
    assert [r.name for r in network.outbound_rules] == ["pypi", "datafactory", "lake-blob"]
    pypi, datafactory, lake = network.outbound_rules
    assert isinstance(pypi, FqdnDestination) and pypi.destination == "*.pypi.org"
    assert isinstance(datafactory, ServiceTagDestination)
    assert datafactory.service_tag == "DataFactory" and datafactory.protocol is Protocol.TCP
    assert datafactory.port_ranges.normalized == "80,8080-8089"
    assert 8085 in datafactory.port_ranges and 8090 not in datafactory.port_ranges
    assert datafactory.address_prefixes is None
    assert isinstance(lake, PrivateEndpointDestination)
    assert lake.service_resource_id == LAKE_ID and lake.subresource_target == "blob"
    assert lake.spark_enabled is True and lake.fqdns == ("datalake.blob.core.windows.net",)
    assert all(r.category is OutboundRuleCategory.USER_DEFINED and r.status is None for r in network.outbound_rules)


@pytest.mark.azure_ai_ml
def test_sdk_workspace_with_disabled_network_converts():
    entities = pytest.importorskip("azure.ai.ml.entities")

    disabled = from_azure_ai_ml(
        entities.Workspace(name="open-ws", location="westus2", managed_network=entities.ManagedNetwork(isolation_mode=entities.IsolationMode.DISABLED))
    )
    assert disabled.managed_network.isolation_mode is IsolationMode.DISABLED
    assert disabled.managed_network.outbound_rules == ()
    unset = from_azure_ai_ml(entities.Workspace(name="plain-ws"))  # the SDK leaves managed_network None
    assert unset.managed_network.isolation_mode is IsolationMode.DISABLED


@pytest.mark.azure_ai_ml
def test_sdk_loaded_yaml_converts_to_the_same_rules_as_our_loader(tmp_path):
    azure_ml = pytest.importorskip("azure.ai.ml")
    path = tmp_path / "workspace.yaml"
    path.write_text(textwrap.dedent(WORKSPACE_YAML))

    converted = from_azure_ai_ml(azure_ml.load_workspace(path))
    ours, findings = load_workspace(path)

    assert findings == []
    assert converted.name == ours.name and converted.location == ours.location
    assert converted.storage_account == ours.storage_account
    assert converted.managed_network.isolation_mode is ours.managed_network.isolation_mode
    sdk_rules, our_rules = converted.managed_network.outbound_rules, ours.managed_network.outbound_rules
    assert [(r.name, r.type) for r in sdk_rules] == [(r.name, r.type) for r in our_rules]
    for sdk_rule, our_rule in zip(sdk_rules, our_rules):
        assert sdk_rule == our_rule  # dataclass equality: destination fields, category, status
    fqdn, tag, pe = sdk_rules
    assert fqdn.destination == "*.pypi.org"
    assert (tag.service_tag, tag.protocol, tag.port_ranges.text) == ("DataFactory", Protocol.TCP, "80, 8080-8089")
    assert (pe.service_resource_id, pe.subresource_target, pe.spark_enabled, pe.fqdns) == (
        LAKE_ID, "blob", True, ("datalake.blob.core.windows.net",)
    )


# --- real Azure files: we read every one, and read it as azure-ai-ml does --------------------------------------

AZURE_FILES = sorted((Path(__file__).parent / "data" / "workspaces" / "azure").glob("*.y*ml"))


@pytest.mark.parametrize("path", AZURE_FILES, ids=[p.name for p in AZURE_FILES])
def test_every_real_azure_workspace_file_loads(path):
    workspace, findings = load_workspace(path)
    assert not [f for f in findings if f.level == "error"]


@pytest.mark.azure_ai_ml
@pytest.mark.parametrize("path", AZURE_FILES, ids=[p.name for p in AZURE_FILES])
def test_we_read_each_real_file_as_azure_ai_ml_does(path, cli):
    """Mode, firewall SKU and each rule's name and type, against azure-ai-ml's own load_workspace, on the
    workspace as `validate --json` prints it."""
    azure_ml = pytest.importorskip("azure.ai.ml")
    try:
        sdk = azure_ml.load_workspace(path)
    except Exception as exc:  # a file azure-ai-ml refuses is not compared
        pytest.skip(f"azure-ai-ml refuses {path.name}: {type(exc).__name__}")
    result = cli("validate", path, "--json", "--location", sdk.location or "eastus")
    ours = json.loads(result.stdout)["workspace"]
    network = sdk.managed_network
    assert ours["isolation_mode"] == IsolationMode.parse(network.isolation_mode).yaml
    sdk_sku = getattr(network, "firewall_sku", None)
    assert ours["firewall_sku"] == (FirewallSku.parse(sdk_sku).yaml if sdk_sku else "standard")
    file_rules = [(r["name"], r["type"]) for r in ours["rules"] if r["origin"] == "file"]
    sdk_rules = [(r.name, OutboundRuleType.parse(r.type).yaml) for r in network.outbound_rules or []]
    assert sorted(file_rules) == sorted(sdk_rules)
