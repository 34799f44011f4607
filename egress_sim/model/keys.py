"""The key vocabulary of each workspace form, and the one check that refuses keys outside it.

A safety tool must not read a typo as "absent": ``isolaton_mode:`` silently ignored means isolation off. So
every mapping in a workspace file is checked against the keys Azure's own schema has (azure-ai-ml's
``WorkspaceSchema``/``ManagedNetworkSchema`` for the YAML form, the ARM REST models for the JSON form).
Keys Azure writes but ignores on input (``category``, ``status``, ``network_id``, ...) are accepted;
deprecated ones warn. In the REST form Azure keeps adding properties outside the managed network, so there an
unknown key is an error only when it looks like a misspelling of a key that changes a verdict.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Report = Callable[[str, str], None]  # (code, message)

# --- YAML form (azure-ai-ml 1.x schemas; what `az ml workspace create -f` and `load_workspace` read) -------
WORKSPACE_KEYS = frozenset({
    "$schema", "name", "location", "id", "resource_group", "description", "discovery_url", "display_name",
    "hbi_workspace", "storage_account", "container_registry", "key_vault", "application_insights",
    "customer_managed_key", "tags", "mlflow_tracking_uri", "image_build_compute", "public_network_access",
    "network_acls", "system_datastores_auth_mode", "identity", "primary_user_assigned_identity", "workspace_hub",
    "managed_network", "provision_network_now", "enable_data_isolation", "allow_roleassignment_on_rg",
    "serverless_compute",
    # hubs, projects and feature stores share the workspace file
    "kind", "associated_workspaces", "default_resource_group", "hub_id", "compute_runtime",
    "materialization_identity", "offline_store", "online_store",
})
NETWORK_KEYS = frozenset({"isolation_mode", "outbound_rules", "firewall_sku", "network_id", "status"})
NETWORK_STATUS_KEYS = frozenset({"status", "spark_ready"})
RULE_KEYS = frozenset({"name", "type", "destination", "category", "status", "parent_rule_names"})
PRIVATE_ENDPOINT_RULE_KEYS = RULE_KEYS | {"fqdns"}
SERVICE_TAG_DESTINATION_KEYS = frozenset({"service_tag", "protocol", "port_ranges", "address_prefixes"})
PRIVATE_ENDPOINT_DESTINATION_KEYS = frozenset({"service_resource_id", "subresource_target", "spark_enabled"})
DEPRECATED_DESTINATION_KEYS = frozenset({"data_import_enabled", "pe_fqdn"})

# --- REST / ARM form (camelCase; ARM templates, `az resource show`, managed-network `show`) ----------------
REST_NETWORK_KEYS = frozenset({
    "isolationMode", "outboundRules", "firewallSku", "networkId", "status", "managedNetworkKind",
    "enableNetworkMonitor", "firewallPublicIpAddress", "changeableIsolationModes", "provisioningState",
})
REST_NETWORK_STATUS_KEYS = frozenset({"status", "sparkReady"})
REST_RULE_KEYS = frozenset({"type", "category", "status", "destination", "errorInformation", "parentRuleNames"})
REST_PRIVATE_ENDPOINT_RULE_KEYS = REST_RULE_KEYS | {"fqdns"}
REST_SERVICE_TAG_DESTINATION_KEYS = frozenset({"serviceTag", "protocol", "portRanges", "addressPrefixes", "action"})
REST_PRIVATE_ENDPOINT_DESTINATION_KEYS = frozenset({"serviceResourceId", "subresourceTarget", "sparkEnabled", "sparkStatus"})
# The envelope of an ARM resource (template resource or GET response); open-ended, see the module docstring.
REST_RESOURCE_KEYS = frozenset({
    "id", "name", "type", "location", "tags", "sku", "kind", "identity", "properties", "systemData", "etag",
    "apiVersion", "dependsOn", "zones", "plan", "managedBy", "scope", "condition", "copy", "comments",
})
REST_WORKSPACE_PROPERTIES = frozenset({
    "allowPublicAccessWhenBehindVnet", "applicationInsights", "associatedWorkspaces", "containerRegistry",
    "description", "discoveryUrl", "enableDataIsolation", "enableServiceSideCMKEncryption", "encryption",
    "featureStoreSettings", "friendlyName", "hbiWorkspace", "hubResourceId", "imageBuildCompute", "keyVault",
    "managedNetwork", "mlFlowTrackingUri", "notebookInfo", "primaryUserAssignedIdentity",
    "privateEndpointConnections", "privateLinkCount", "provisionNetworkNow", "provisioningState",
    "publicNetworkAccess", "serverlessComputeSettings", "serviceManagedResourcesSettings",
    "serviceProvisionedResourceGroup", "sharedPrivateLinkResources", "storageAccount", "storageHnsEnabled",
    "systemDatastoresAuthMode", "tenantId", "v1LegacyMode", "workspaceHubConfig", "workspaceId",
    "allowRoleAssignmentOnRG", "ipAllowlist", "networkAcls",
})
# Workspace properties egress_sim reads: a near miss of one of these is an error, other unknown keys warn.
REST_DECISIVE_PROPERTIES = frozenset({
    "managedNetwork", "storageAccount", "keyVault", "containerRegistry", "publicNetworkAccess",
})
REST_DECISIVE_RESOURCE_KEYS = frozenset({"properties", "location", "type", "name"})


def closest(key: str, known: Iterable[str]) -> str | None:
    """The known key a misspelt ``key`` most likely meant (case and ``_``/``-`` ignored), or None."""
    folded = {k.lower().replace("_", "").replace("-", ""): k for k in known}
    match = difflib.get_close_matches(key.lower().replace("_", "").replace("-", ""), list(folded), n=1, cutoff=0.75)
    return folded[match[0]] if match else None


def check_keys(
    mapping: Mapping[Any, Any],
    known: frozenset[str],
    path: str,
    error: Report,
    warn: Report,
    *,
    deprecated: frozenset[str] = frozenset(),
    open_ended: frozenset[str] | None = None,
) -> None:
    """Report every key of ``mapping`` outside ``known`` (``path`` locates the mapping, e.g. ``managed_network``).

    ``open_ended``: unknown keys only warn, unless they look like a misspelling of one of these keys."""
    for key in mapping:
        where = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str):
            error("unknown_key", f"{where}: a key must be text, not {type(key).__name__}")
        elif key in deprecated:
            warn("deprecated_key", f"{where}: deprecated and ignored")
        elif key not in known:
            guess = closest(key, known)
            hint = f" (did you mean {guess}?)" if guess else ""
            if open_ended is not None and (guess is None or guess not in open_ended):
                warn("ignored_key", f"{where}: not used by egress_sim, ignored{hint}")
            else:
                error("unknown_key", f"{where}: unknown key{hint}")
