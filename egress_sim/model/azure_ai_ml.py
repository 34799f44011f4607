"""Convert azure-ai-ml SDK entities into the simulator's model.

Users who build or fetch workspaces with the Azure ML Python SDK (``azure.ai.ml.entities.Workspace``,
``ManagedNetwork``, ``FqdnDestination``, ...) can simulate them directly, without writing the YAML first.

The conversion is duck-typed on attribute names, and rule kinds are told apart by each rule's ``type``
attribute (``"FQDN"``, ``"ServiceTag"``, ``"PrivateEndpoint"`` in the SDK); nothing is imported from
``azure`` here, so this module loads without azure-ai-ml installed and also accepts look-alike objects.
SDK values are plain CamelCase strings (``"AllowOnlyApprovedOutbound"``, ``"UserDefined"``), which our
enums' ``parse`` accepts. Invalid values raise ``ModelError`` naming the rule.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..base.errors import ModelError
from .enums import IsolationMode, OutboundRuleType
from .network import ManagedNetwork, ManagedNetworkProvisionStatus, Workspace
from .rules import AnyRule, FqdnDestination, PrivateEndpointDestination, ServiceTagDestination

_WORKSPACE_FIELDS = ("storage_account", "key_vault", "container_registry", "application_insights", "public_network_access")


def from_azure_ai_ml(workspace: Any) -> Workspace:
    """Convert an ``azure.ai.ml.entities.Workspace`` (or anything with the same attributes) to our ``Workspace``."""
    name = getattr(workspace, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise ModelError(f"workspace name {name!r} is missing or not a string")
    network = getattr(workspace, "managed_network", None)
    fields = {key: _optional_str(workspace, key, "workspace") for key in _WORKSPACE_FIELDS}
    return Workspace(
        name=name,
        location=_optional_str(workspace, "location", "workspace"),
        managed_network=ManagedNetwork() if network is None else managed_network_from_azure_ai_ml(network),
        **fields,
    )


def managed_network_from_azure_ai_ml(network: Any) -> ManagedNetwork:
    """Convert an SDK ``ManagedNetwork``; rule order is kept and rule names must be unique (case-insensitively)."""
    # The SDK leaves outbound_rules None when unset, and an empty dict (not list) when read from REST with no rules.
    rules: list[AnyRule] = []
    seen: dict[str, str] = {}
    for index, sdk_rule in enumerate(getattr(network, "outbound_rules", None) or (), start=1):
        if sdk_rule is None:  # the SDK maps a REST rule of an unknown kind to None
            raise ModelError(f"outbound rule #{index} is None (the SDK could not read its type)")
        rule = rule_from_azure_ai_ml(sdk_rule)
        folded = rule.name.lower()
        if folded in seen:
            raise ModelError(
                f"rule {rule.name!r}: duplicate rule name (also used by rule {seen[folded]!r}; names are case-insensitive)"
            )
        seen[folded] = rule.name
        rules.append(rule)
    mode = getattr(network, "isolation_mode", None)
    return ManagedNetwork(
        isolation_mode=IsolationMode.DISABLED if mode is None else mode,
        outbound_rules=tuple(rules),
        firewall_sku=getattr(network, "firewall_sku", None),
        network_id=getattr(network, "network_id", None),
        status=_status_from_azure_ai_ml(getattr(network, "status", None)),
    )


def rule_from_azure_ai_ml(rule: Any) -> AnyRule:
    """Convert one SDK outbound rule, chosen by its ``type``; an unknown type raises ``ModelError``."""
    name = getattr(rule, "name", None)
    raw_type = getattr(rule, "type", None)
    try:
        kind = OutboundRuleType.parse(raw_type, "rule type")
    except ModelError as exc:
        raise ModelError(f"rule {name!r}: {exc}") from None
    common: dict[str, Any] = {"name": name, "status": getattr(rule, "status", None)}
    category = getattr(rule, "category", None)
    if category is not None:  # REST may omit it; keep our default (UserDefined)
        common["category"] = category
    if kind is OutboundRuleType.FQDN:
        return FqdnDestination(destination=getattr(rule, "destination", None), **common)
    if kind is OutboundRuleType.SERVICE_TAG:
        return ServiceTagDestination(
            protocol=getattr(rule, "protocol", None),
            port_ranges=getattr(rule, "port_ranges", None),
            service_tag=getattr(rule, "service_tag", None),
            address_prefixes=getattr(rule, "address_prefixes", None),
            **common,
        )
    spark_enabled = getattr(rule, "spark_enabled", None)
    return PrivateEndpointDestination(
        service_resource_id=getattr(rule, "service_resource_id", None),
        subresource_target=getattr(rule, "subresource_target", None),
        spark_enabled=False if spark_enabled is None else spark_enabled,  # the SDK default is False
        fqdns=getattr(rule, "fqdns", None),
        **common,
    )


def _status_from_azure_ai_ml(status: Any) -> ManagedNetworkProvisionStatus | None:
    """The SDK stores either its own entity or the REST model here; both have ``status`` and ``spark_ready``."""
    if status is None:
        return None
    return ManagedNetworkProvisionStatus(status=getattr(status, "status", None), spark_ready=getattr(status, "spark_ready", None))


def _optional_str(obj: Any, attr: str, what: str) -> str | None:
    value = getattr(obj, attr, None)
    if isinstance(value, Enum):  # e.g. an SDK str-enum for public_network_access: keep its Azure spelling
        value = value.value
    if value is not None and not isinstance(value, str):
        raise ModelError(f"{what} {attr!r} {value!r} must be a string")
    return value
