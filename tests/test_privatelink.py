"""Tests for egress_sim.net.privatelink: the Private Link target table and host-name derivation."""

from __future__ import annotations

import re

import pytest

from egress_sim.net.privatelink import ANY_SUBRESOURCE, TARGETS, find_target, host_patterns, known_subresources

STORAGE = "Microsoft.Storage/storageAccounts"
_LABEL = re.compile(r"^[a-z0-9_-]+$")


def _is_valid_pattern(pattern: str) -> bool:
    """Lowercase host name, optionally with one leftmost '*.' wildcard, no empty or malformed labels."""
    if pattern != pattern.lower() or pattern.endswith("."):
        return False
    body = pattern[2:] if pattern.startswith("*.") else pattern
    if "*" in body:
        return False
    labels = body.split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) and len(label) <= 63 for label in labels)


def test_storage_blob_gives_public_and_privatelink_hosts() -> None:
    assert host_patterns(STORAGE, "mydatalake", "blob", "eastus") == (
        "mydatalake.blob.core.windows.net",
        "mydatalake.privatelink.blob.core.windows.net",
    )


def test_storage_file_and_dfs_use_their_own_zones() -> None:
    assert "mydatalake.file.core.windows.net" in host_patterns(STORAGE, "mydatalake", "file", "eastus")
    assert "mydatalake.privatelink.file.core.windows.net" in host_patterns(STORAGE, "mydatalake", "file", "eastus")
    assert host_patterns(STORAGE, "mydatalake", "dfs", "eastus") == (
        "mydatalake.dfs.core.windows.net",
        "mydatalake.privatelink.dfs.core.windows.net",
    )


def test_storage_secondary_subresource_uses_secondary_host() -> None:
    hosts = host_patterns(STORAGE, "mydatalake", "blob_secondary", "eastus")
    assert "mydatalake-secondary.blob.core.windows.net" in hosts


def test_storage_targets_are_flagged_as_storage_and_others_are_not() -> None:
    assert all(t.is_storage == (t.provider_type == STORAGE) for t in TARGETS)
    assert find_target(STORAGE, "blob").is_storage


def test_known_subresources_for_storage_lists_all_storage_services() -> None:
    assert set(known_subresources(STORAGE)) == {
        "blob", "blob_secondary", "file", "queue", "queue_secondary", "table", "table_secondary",
        "dfs", "dfs_secondary", "web", "web_secondary",
    }


def test_key_vault_public_name_maps_to_vaultcore_privatelink_zone() -> None:
    assert host_patterns("Microsoft.KeyVault/vaults", "kv-prod", "vault", "eastus") == (
        "kv-prod.vault.azure.net",
        "kv-prod.privatelink.vaultcore.azure.net",
    )


def test_acr_includes_regional_data_endpoint() -> None:
    hosts = host_patterns("Microsoft.ContainerRegistry/registries", "myacr", "registry", "westeurope")
    assert "myacr.azurecr.io" in hosts
    assert "myacr.privatelink.azurecr.io" in hosts
    assert "myacr.westeurope.data.azurecr.io" in hosts
    assert "myacr.westeurope.data.privatelink.azurecr.io" in hosts


def test_lookup_is_case_insensitive_and_returns_canonical_names() -> None:
    target = find_target("MICROSOFT.STORAGE/STORAGEACCOUNTS", "BLOB")
    assert target is not None
    assert (target.provider_type, target.subresource) == (STORAGE, "blob")
    assert find_target("microsoft.apimanagement/service", "gateway").subresource == "Gateway"
    assert known_subresources("microsoft.keyvault/VAULTS") == ("vault",)


def test_resource_name_and_region_are_lowercased() -> None:
    assert host_patterns("microsoft.keyvault/vaults", "KV-Prod", "VAULT", "EastUS")[0] == "kv-prod.vault.azure.net"
    assert "myacr.eastus.data.azurecr.io" in host_patterns(
        "Microsoft.ContainerRegistry/registries", "MyAcr", "registry", "East US"
    )


def test_unknown_pair_gives_none_and_no_hosts() -> None:
    assert find_target(STORAGE, "nosuchservice") is None
    assert find_target("Microsoft.Nope/things", "blob") is None
    assert host_patterns(STORAGE, "x", "nosuchservice", "eastus") == ()
    assert host_patterns("Microsoft.Nope/things", "x", "blob", "eastus") == ()
    assert known_subresources("Microsoft.Nope/things") == ()


def test_application_gateway_accepts_any_subresource_and_derives_no_hosts() -> None:
    target = find_target("Microsoft.Network/applicationGateways", "appGwPrivateFrontendIp")
    assert target is not None
    assert target.subresource == ANY_SUBRESOURCE
    assert target.host_templates == ()
    assert host_patterns("microsoft.network/applicationgateways", "agw", "whatever", "eastus") == ()
    assert known_subresources("Microsoft.Network/applicationGateways") == (ANY_SUBRESOURCE,)


def test_amlworkspace_uses_the_region_in_wildcard_hosts() -> None:
    hosts = host_patterns("Microsoft.MachineLearningServices/workspaces", "ws1", "amlworkspace", "northeurope")
    assert "*.workspace.northeurope.api.azureml.ms" in hosts
    assert "*.workspace.northeurope.cert.api.azureml.ms" in hosts
    assert "*.northeurope.notebooks.azure.net" in hosts
    assert "*.northeurope.inference.ml.azure.com" in hosts
    assert all("northeurope" in h for h in hosts)


def test_cognitive_services_account_covers_openai_and_ai_services_hosts() -> None:
    hosts = host_patterns("Microsoft.CognitiveServices/accounts", "myai", "account", "eastus")
    assert {"myai.cognitiveservices.azure.com", "myai.openai.azure.com", "myai.services.ai.azure.com"} <= set(hosts)


def test_databricks_is_over_approximated_by_a_wildcard() -> None:
    hosts = host_patterns("Microsoft.Databricks/workspaces", "dbw", "databricks_ui_api", "eastus")
    assert "*.azuredatabricks.net" in hosts


def test_a_template_needing_a_region_rejects_a_blank_region() -> None:
    with pytest.raises(ValueError, match="region"):
        host_patterns("Microsoft.ContainerRegistry/registries", "myacr", "registry", " ")


def test_every_template_in_targets_is_a_valid_pattern() -> None:
    for target in TARGETS:
        assert target.subresource and target.provider_type.count("/") == 1
        for template in target.host_templates:
            filled = template.format(name="res-name1", region="eastus")
            assert template == template.lower(), template
            assert _is_valid_pattern(filled), f"{target.provider_type}/{target.subresource}: {template!r}"
        for host in host_patterns(target.provider_type, "Res-Name1", target.subresource, "EastUS"):
            assert _is_valid_pattern(host), host


def test_targets_have_no_duplicate_pairs_and_no_duplicate_templates() -> None:
    pairs = [(t.provider_type.lower(), t.subresource.lower()) for t in TARGETS]
    assert len(pairs) == len(set(pairs))
    for target in TARGETS:
        assert len(target.host_templates) == len(set(target.host_templates)), target
