"""The REST/ARM form of a workspace's managed network (spec §11), in and out.

ARM templates (and Bicep compiled with ``az bicep build``), ``az resource show``, ``az rest`` and the
managed-network ``show`` commands write camelCase: ``properties.managedNetwork.isolationMode``, ``outboundRules``
as a mapping keyed by rule name, ``serviceResourceId``, ``portRanges``... Reading checks every key against the
ARM models (``keys``) and translates the document into the YAML form, so both forms share one builder and one
set of value checks. Writing produces a workspace resource as an ARM template holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .enums import OutboundRuleType
from .keys import (
    REST_DECISIVE_PROPERTIES,
    REST_DECISIVE_RESOURCE_KEYS,
    REST_NETWORK_KEYS,
    REST_NETWORK_STATUS_KEYS,
    REST_PRIVATE_ENDPOINT_DESTINATION_KEYS,
    REST_PRIVATE_ENDPOINT_RULE_KEYS,
    REST_RESOURCE_KEYS,
    REST_RULE_KEYS,
    REST_SERVICE_TAG_DESTINATION_KEYS,
    REST_WORKSPACE_PROPERTIES,
    check_keys,
)
from .network import Workspace
from .rules import AnyRule, FqdnDestination, ServiceTagDestination

Report = Callable[[str, str], None]

WORKSPACE_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces"
MANAGED_NETWORK_RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces/managedNetworks"
ARM_API_VERSION = "2024-10-01"  # a GA api-version with managedNetwork.firewallSku

# Workspace properties with a YAML twin: (REST name, YAML name). The others stay behind when converting.
_PROPERTY_TWINS = (
    ("storageAccount", "storage_account"), ("keyVault", "key_vault"), ("containerRegistry", "container_registry"),
    ("applicationInsights", "application_insights"), ("publicNetworkAccess", "public_network_access"),
    ("description", "description"), ("friendlyName", "display_name"), ("hbiWorkspace", "hbi_workspace"),
    ("imageBuildCompute", "image_build_compute"), ("primaryUserAssignedIdentity", "primary_user_assigned_identity"),
    ("enableDataIsolation", "enable_data_isolation"), ("systemDatastoresAuthMode", "system_datastores_auth_mode"),
    ("provisionNetworkNow", "provision_network_now"), ("allowRoleAssignmentOnRG", "allow_roleassignment_on_rg"),
    ("discoveryUrl", "discovery_url"), ("mlFlowTrackingUri", "mlflow_tracking_uri"), ("hubResourceId", "hub_id"),
)


def is_arm_expression(value: Any) -> bool:
    """``[parameters('x')]``: a value ARM computes at deployment, which nothing here can evaluate."""
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


# ----------------------------------------------------------------------------------------------- reading


def workspace_resource_to_yaml(resource: Mapping[str, Any], error: Report, warn: Report, path: str = "") -> dict[str, Any]:
    """A workspace resource (ARM template resource, ``az resource show``) as the YAML form's mapping."""
    check_keys(resource, REST_RESOURCE_KEYS, path, error, warn, open_ended=REST_DECISIVE_RESOURCE_KEYS)
    prefix = f"{path}." if path else ""
    out: dict[str, Any] = {}
    name = resource.get("name")
    if is_arm_expression(name):
        warn("arm_expression", f"{prefix}name: {name} is evaluated at deployment; the workspace is called 'workspace' here")
        name = "workspace"
    out["name"] = name
    if isinstance(resource.get("id"), str):
        out["id"] = resource["id"]
    location = resource.get("location")
    if is_arm_expression(location):
        warn("arm_expression", f"{prefix}location: {location} is evaluated at deployment; give --location REGION")
        location = None
    if location is not None:
        out["location"] = location
    if resource.get("tags") is not None:
        out["tags"] = resource["tags"]
    if resource.get("kind") is not None:
        out["kind"] = resource["kind"]
    properties = resource.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        error("bad_value", f"{prefix}properties: must be a mapping")
        return out
    check_keys(properties, REST_WORKSPACE_PROPERTIES, f"{prefix}properties", error, warn,
               open_ended=REST_DECISIVE_PROPERTIES)
    for rest, snake in _PROPERTY_TWINS:
        value = properties.get(rest)
        if value is None:
            continue
        if is_arm_expression(value):
            error("arm_expression", f"{prefix}properties.{rest}: {value} is evaluated at deployment and cannot be read here; "
                  "give the deployed workspace (az resource show) or write the value in")
            continue
        out[snake] = value
    network = properties.get("managedNetwork")
    if network is not None:
        out["managed_network"] = managed_network_to_yaml(network, error, warn, f"{prefix}properties.managedNetwork")
    return out


def managed_network_to_yaml(network: Any, error: Report, warn: Report, path: str) -> Any:
    """A camelCase ``managedNetwork`` object as the YAML form's ``managed_network`` mapping."""
    if not isinstance(network, Mapping):
        return network  # the YAML builder names the bad type
    check_keys(network, REST_NETWORK_KEYS, path, error, warn)
    _refuse_expressions(network, path, error)
    out: dict[str, Any] = {}
    if "isolationMode" in network:  # null stays null: the YAML builder refuses it rather than read "disabled"
        out["isolation_mode"] = network["isolationMode"]
    for rest, snake in (("firewallSku", "firewall_sku"), ("networkId", "network_id")):
        if network.get(rest) is not None:
            out[snake] = network[rest]
    status = network.get("status")
    if isinstance(status, Mapping):
        check_keys(status, REST_NETWORK_STATUS_KEYS, f"{path}.status", error, warn)
        out["status"] = {snake: status[rest] for rest, snake in (("status", "status"), ("sparkReady", "spark_ready"))
                         if status.get(rest) is not None}
    elif status is not None:
        out["status"] = status
    rules = network.get("outboundRules")
    if isinstance(rules, Mapping):
        out["outbound_rules"] = [_rule_to_yaml(name, rule, error, warn, f"{path}.outboundRules.{name}")
                                 for name, rule in rules.items()]
    elif isinstance(rules, list):  # some tools write a list of {name, ...}
        out["outbound_rules"] = [
            _rule_to_yaml(rule.get("name") if isinstance(rule, Mapping) else None,
                          {k: v for k, v in rule.items() if k != "name"} if isinstance(rule, Mapping) else rule,
                          error, warn, f"{path}.outboundRules[{i}]")
            for i, rule in enumerate(rules, start=1)
        ]
    elif rules is not None:
        out["outbound_rules"] = rules
    return out


def _rule_to_yaml(name: Any, rule: Any, error: Report, warn: Report, path: str) -> Any:
    if not isinstance(rule, Mapping):
        return {"name": name, "destination": rule}
    try:
        kind = OutboundRuleType.parse(rule.get("type"), "rule type")
    except Exception:  # the YAML builder reports the unknown type with the valid ones
        kind = None
    is_pe = kind is OutboundRuleType.PRIVATE_ENDPOINT
    check_keys(rule, REST_PRIVATE_ENDPOINT_RULE_KEYS if is_pe else REST_RULE_KEYS, path, error, warn)
    out: dict[str, Any] = {"name": name, "type": rule.get("type")}
    for key in ("category", "status"):
        if rule.get(key) is not None:
            out[key] = rule[key]
    if is_pe and rule.get("fqdns") is not None:
        out["fqdns"] = rule["fqdns"]
    destination = rule.get("destination")
    if isinstance(destination, Mapping) and kind is OutboundRuleType.SERVICE_TAG:
        check_keys(destination, REST_SERVICE_TAG_DESTINATION_KEYS, f"{path}.destination", error, warn)
        action = destination.get("action")
        if action is not None and str(action).lower() != "allow":
            error("unsupported_action", f"{path}.destination.action: {action!r} rules are not simulated (only Allow); "
                  "leaving one out would over-allow")
        destination = {snake: destination[rest] for rest, snake in (
            ("serviceTag", "service_tag"), ("protocol", "protocol"), ("portRanges", "port_ranges"),
            ("addressPrefixes", "address_prefixes")) if destination.get(rest) is not None}
        if destination.get("address_prefixes") == []:  # REST writes an empty list for "none"
            del destination["address_prefixes"]
    elif isinstance(destination, Mapping) and is_pe:
        check_keys(destination, REST_PRIVATE_ENDPOINT_DESTINATION_KEYS, f"{path}.destination", error, warn)
        destination = {snake: destination[rest] for rest, snake in (
            ("serviceResourceId", "service_resource_id"), ("subresourceTarget", "subresource_target"),
            ("sparkEnabled", "spark_enabled")) if destination.get(rest) is not None}
    out["destination"] = destination
    return out


def _refuse_expressions(value: Any, path: str, error: Report) -> None:
    """ARM expressions anywhere in a managed network would be read as literal text: refuse them."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item, start=1))
        elif is_arm_expression(item):
            error("arm_expression", f"{where}: {item} is evaluated at deployment and cannot be read here; "
                  "give the deployed workspace (az resource show) or write the value in")


# ----------------------------------------------------------------------------------------------- writing


def rule_to_rest(rule: AnyRule) -> dict[str, Any]:
    """One rule as the REST API writes it (the mapping's key is the rule name, so it is not repeated)."""
    out: dict[str, Any] = {"type": rule.type.value, "category": rule.category.value}
    if rule.status is not None:
        out["status"] = rule.status.value
    if isinstance(rule, FqdnDestination):
        out["destination"] = rule.destination
    elif isinstance(rule, ServiceTagDestination):
        dest: dict[str, Any] = {"protocol": rule.protocol.value, "portRanges": rule.port_ranges.text}
        if rule.service_tag is not None:
            dest["serviceTag"] = rule.service_tag
        if rule.address_prefixes is not None:
            dest["addressPrefixes"] = list(rule.address_prefixes)
        out["destination"] = dest
    else:
        out["destination"] = {"serviceResourceId": rule.service_resource_id,
                              "subresourceTarget": rule.subresource_target, "sparkEnabled": rule.spark_enabled}
        if rule.fqdns is not None:
            out["fqdns"] = list(rule.fqdns)
    return out


def workspace_to_rest(workspace: Workspace, yaml_extra: Mapping[str, Any]) -> dict[str, Any]:
    """The workspace as an ARM template resource (``az deployment group create`` takes it inside a template).

    ``yaml_extra`` are the YAML-form keys the model does not interpret; those with a REST twin are kept."""
    network = workspace.managed_network
    managed: dict[str, Any] = {"isolationMode": network.isolation_mode.value}
    if network.firewall_sku is not None:
        managed["firewallSku"] = network.firewall_sku.value
    if network.outbound_rules:
        managed["outboundRules"] = {rule.name: rule_to_rest(rule) for rule in network.outbound_rules}
    if network.network_id is not None:
        managed["networkId"] = network.network_id
    if network.status is not None:
        managed["status"] = network.status.to_dict("sparkReady")
    snake_values = {**yaml_extra, **{k: getattr(workspace, k) for k in (
        "storage_account", "key_vault", "container_registry", "application_insights", "public_network_access")}}
    properties = {rest: snake_values[snake] for rest, snake in _PROPERTY_TWINS if snake_values.get(snake) is not None}
    properties["managedNetwork"] = managed
    resource: dict[str, Any] = {"type": WORKSPACE_RESOURCE_TYPE, "apiVersion": ARM_API_VERSION, "name": workspace.name}
    if isinstance(yaml_extra.get("id"), str):  # the deployed workspace's id, which its own endpoint rule names
        resource["id"] = yaml_extra["id"]
    if yaml_extra.get("kind") is not None:
        resource["kind"] = yaml_extra["kind"]
    if workspace.location is not None:
        resource["location"] = workspace.location
    if yaml_extra.get("tags") is not None:
        resource["tags"] = yaml_extra["tags"]
    resource["properties"] = properties
    return resource


def untranslated_keys(yaml_extra: Mapping[str, Any]) -> list[str]:
    """YAML keys with no REST twin in ``workspace_to_rest`` (identity, customer_managed_key, ...)."""
    twins = {snake for _, snake in _PROPERTY_TWINS} | {"tags", "kind"}
    return sorted(k for k in yaml_extra if k not in twins and k not in ("$schema", "id"))
