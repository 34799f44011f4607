"""Read and write workspaces in the Azure ML CLI/SDK YAML form (spec §7), strictly.

Loading collects *every* problem as a ``Finding`` before failing, so a user fixes a file in one pass. Every
key is checked against azure-ai-ml's own schema (``keys``): an unknown key is an error naming its path and the
closest known key, because a misspelt ``isolation_mode`` would otherwise run the workspace as ``disabled``.
Known keys the simulator does not use (``description``, ``tags``, ...) are kept (``Workspace.extra``) and
written back, so load-then-dump keeps the file's meaning; deprecated keys (``data_import_enabled``,
``pe_fqdn``) are dropped with a warning. ``az ml workspace show -o json`` prints this same form as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import yaml

from ..base.errors import ModelError
from ..base.findings import Finding, WorkspaceInvalid
from ..base.limits import MAX_RULES_PER_WORKSPACE
from .enums import IsolationMode, OutboundRuleType
from .keys import (
    DEPRECATED_DESTINATION_KEYS,
    NETWORK_KEYS,
    NETWORK_STATUS_KEYS,
    PRIVATE_ENDPOINT_DESTINATION_KEYS,
    PRIVATE_ENDPOINT_RULE_KEYS,
    RULE_KEYS,
    SERVICE_TAG_DESTINATION_KEYS,
    WORKSPACE_KEYS,
    check_keys,
)
from .network import ManagedNetwork, ManagedNetworkProvisionStatus, Workspace
from .rules import AnyRule, FqdnDestination, PrivateEndpointDestination, ServiceTagDestination

WORKSPACE_FIELDS = ("storage_account", "key_vault", "container_registry", "application_insights", "public_network_access")


def workspace_from_dict(document: Any, source: str | None = None) -> tuple[Workspace, list[Finding]]:
    """Build a ``Workspace`` from the parsed YAML form; ``WorkspaceInvalid`` lists every error at once."""
    findings: list[Finding] = []

    def error(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("error", code, message, source, rule))

    def warn(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("warning", code, message, source, rule))

    if not isinstance(document, Mapping):
        error("not_a_mapping", "a workspace file must be a mapping with at least 'name'")
        raise WorkspaceInvalid(findings)
    check_keys(document, WORKSPACE_KEYS, "", error, warn)
    if str(document.get("kind") or "").lower() == "project" or document.get("hub_id"):
        error("project_uses_hub", "this is an AI project: its outbound traffic goes through its hub's managed network "
              "(hub_id), so simulate the hub's workspace file instead")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        error("missing_name", "workspace 'name' is missing or empty")
    location = document.get("location")
    if location is not None and not isinstance(location, str):
        error("bad_location", f"workspace 'location' {location!r} must be a region name such as 'eastus'")
        location = None

    network_doc = document.get("managed_network")
    network = None
    if network_doc is None:  # Azure's default: no managed network
        network_doc = {}
    if not isinstance(network_doc, Mapping):
        error("bad_managed_network", "'managed_network' must be a mapping")
    else:
        network = _network_from_dict(network_doc, error, warn)

    extras = {k: v for k, v in document.items()
              if k in WORKSPACE_KEYS and k not in {"name", "location", "managed_network", *WORKSPACE_FIELDS}}
    fields: dict[str, str | None] = {}
    for key in WORKSPACE_FIELDS:
        value = document.get(key)
        if value is not None and not isinstance(value, str):
            error("bad_field", f"workspace '{key}' {value!r} must be a string")
            value = None
        fields[key] = value
    if any(f.level == "error" for f in findings) or network is None:
        raise WorkspaceInvalid(findings)
    workspace = Workspace(name=name, location=location, managed_network=network, extra=extras, **fields)
    return workspace, findings


def _network_from_dict(doc: Mapping[str, Any], error, warn) -> ManagedNetwork | None:
    ok = True
    kwargs: dict[str, Any] = {}
    check_keys(doc, NETWORK_KEYS, "managed_network", error, warn)
    try:
        mode = doc.get("isolation_mode")
        if mode is None and "isolation_mode" in doc:  # written but empty: not the same as absent
            raise ModelError("managed_network.isolation_mode is empty: write disabled, allow_internet_outbound or "
                             "allow_only_approved_outbound")
        kwargs["isolation_mode"] = IsolationMode.parse("disabled" if mode is None else mode, "isolation mode")
    except ModelError as exc:
        error("unknown_mode", str(exc))
        ok = False
    for key in ("firewall_sku", "network_id"):
        if doc.get(key) is not None:
            kwargs[key] = doc[key]
    status = doc.get("status")
    if status is not None:
        try:
            if not isinstance(status, Mapping):
                raise ModelError(f"managed network status {status!r} must be a mapping with 'status' and 'spark_ready'")
            check_keys(status, NETWORK_STATUS_KEYS, "managed_network.status", error, warn)
            kwargs["status"] = ManagedNetworkProvisionStatus(status=status.get("status"), spark_ready=status.get("spark_ready"))
        except ModelError as exc:
            error("bad_status", str(exc))
            ok = False

    rules_doc = doc.get("outbound_rules")
    if rules_doc is None:
        rules_doc = []
    if isinstance(rules_doc, Mapping):  # keyed by name, as REST stores them (and Azure's own test files use)
        named = []
        for key, value in rules_doc.items():
            if not isinstance(value, Mapping):
                error("bad_rule", f"managed_network.outbound_rules.{key}: a rule must be a mapping with type and destination")
                ok = False
            elif "name" in value and value["name"] != key:
                error("bad_rule", f"managed_network.outbound_rules.{key}: its name {value['name']!r} differs from its key")
                ok = False
            else:
                named.append({"name": key, **value})
        rules_doc = named
    if not isinstance(rules_doc, list):
        error("bad_rules", "'outbound_rules' must be a list of rules")
        return None
    if len(rules_doc) > MAX_RULES_PER_WORKSPACE:  # compile checks it too, for library callers; here the file is named
        error("too_many_rules", f"managed_network.outbound_rules: {len(rules_doc):,} rules, more than the limit of "
              f"{MAX_RULES_PER_WORKSPACE:,} per workspace (see the README's Limits)")
        return None
    rules: list[AnyRule] = []
    seen: dict[str, str] = {}
    for index, rule_doc in enumerate(rules_doc, start=1):
        rule = _rule_from_dict(rule_doc, index, error, warn)
        if rule is None:
            ok = False
            continue
        folded = rule.name.lower()
        if folded in seen:
            error("duplicate_name", f"duplicate rule name (also used by rule {seen[folded]!r}; names are case-insensitive)", rule.name)
            ok = False
            continue
        seen[folded] = rule.name
        rules.append(rule)
    if not ok:
        return None
    try:
        return ManagedNetwork(outbound_rules=tuple(rules), **kwargs)
    except ModelError as exc:
        error("bad_value", str(exc))
        return None


def _rule_from_dict(doc: Any, index: int, error, warn) -> AnyRule | None:
    if not isinstance(doc, Mapping):
        error("bad_rule", f"outbound rule #{index} must be a mapping with name, type and destination")
        return None
    name = doc.get("name")
    label = name if isinstance(name, str) and name else None
    if label is None:
        error("missing_name", f"outbound rule #{index} has no 'name'")
        return None
    path = f"managed_network.outbound_rules[{label}]"
    if doc.get("type") is None:  # name the misspelt key, if that is what happened
        check_keys(doc, PRIVATE_ENDPOINT_RULE_KEYS, path, lambda code, message: error(code, message), warn)
        error("missing_type", "has no 'type' (fqdn, service_tag or private_endpoint)", label)
        return None
    try:
        kind = OutboundRuleType.parse(doc.get("type"), "rule type")
    except ModelError as exc:
        error("unknown_type", str(exc), label)
        return None
    problems: list[tuple[str, str]] = []  # key errors: the rule is not built when it has any

    def key_error(code: str, message: str) -> None:
        problems.append((code, message))
        error(code, message)

    def key_warning(code: str, message: str) -> None:
        warn(code, message)

    is_pe = kind is OutboundRuleType.PRIVATE_ENDPOINT
    check_keys(doc, PRIVATE_ENDPOINT_RULE_KEYS if is_pe else RULE_KEYS, path, key_error, key_warning)
    destination = doc.get("destination")
    if isinstance(destination, Mapping) and kind is not OutboundRuleType.FQDN:
        known = PRIVATE_ENDPOINT_DESTINATION_KEYS if is_pe else SERVICE_TAG_DESTINATION_KEYS
        check_keys(destination, known, f"{path}.destination", key_error, key_warning,
                   deprecated=DEPRECATED_DESTINATION_KEYS if is_pe else frozenset())
    if problems:
        return None
    category = doc.get("category")
    common = {"name": name, "category": "user_defined" if category is None else category, "status": doc.get("status")}
    try:
        if kind is OutboundRuleType.FQDN:
            if not isinstance(destination, str):
                raise ModelError(f"rule {name!r}: an FQDN rule's destination must be a host name string, got {destination!r}"
                                + ("; several names go in one comma-separated string: "
                                   f"{', '.join(map(str, destination))!r}" if isinstance(destination, list) else ""))
            return FqdnDestination(destination=destination, **common)
        if not isinstance(destination, Mapping):
            raise ModelError(f"rule {name!r}: a {kind.yaml} rule's destination must be a mapping, got {destination!r}")
        if kind is OutboundRuleType.SERVICE_TAG:
            for key in ("protocol", "port_ranges"):
                if destination.get(key) is None:
                    raise ModelError(f"rule {name!r}: a service tag rule needs '{key}'")
            return ServiceTagDestination(
                protocol=destination["protocol"],
                port_ranges=destination["port_ranges"],
                service_tag=destination.get("service_tag"),
                address_prefixes=destination.get("address_prefixes"),
                **common,
            )
        spark = destination.get("spark_enabled")
        return PrivateEndpointDestination(
            service_resource_id=destination.get("service_resource_id"),
            subresource_target=destination.get("subresource_target"),
            spark_enabled=False if spark is None else spark,  # azure-ai-ml's default
            fqdns=doc.get("fqdns"),
            **common,
        )
    except ModelError as exc:
        message = str(exc)
        prefix = f"rule {name!r}: "
        error(_code_for(message), message[len(prefix):] if message.startswith(prefix) else message, label)
        return None


def _code_for(message: str) -> str:
    for needle, code in (
        ("port range", "port_range"),
        ("protocol", "unknown_protocol"),
        ("wildcard", "wildcard_position"),
        ("FQDN", "bad_fqdn"),
        ("host name", "bad_fqdn"),
        ("rule name", "bad_name"),
        ("category", "bad_category"),
        ("status", "bad_status"),
        ("address prefix", "bad_prefix"),
    ):
        if needle in message:
            return code
    return "bad_value"


# ---------------------------------------------------------------------------------------------- dumping


def rule_to_dict(rule: AnyRule) -> dict[str, Any]:
    """One rule as Azure ML YAML writes it (``name``, ``type``, ``destination``, then the optional fields)."""
    out: dict[str, Any] = {"name": rule.name, "type": rule.type.yaml}
    if isinstance(rule, FqdnDestination):
        out["destination"] = rule.destination
    elif isinstance(rule, ServiceTagDestination):
        dest: dict[str, Any] = {}
        if rule.service_tag is not None:
            dest["service_tag"] = rule.service_tag
        dest["protocol"] = rule.protocol.yaml
        dest["port_ranges"] = rule.port_ranges.text
        if rule.address_prefixes is not None:
            dest["address_prefixes"] = list(rule.address_prefixes)
        out["destination"] = dest
    else:
        out["destination"] = {
            "service_resource_id": rule.service_resource_id,
            "subresource_target": rule.subresource_target,
            "spark_enabled": rule.spark_enabled,
        }
        if rule.fqdns is not None:
            out["fqdns"] = list(rule.fqdns)
    if rule.category.yaml != "user_defined":
        out["category"] = rule.category.yaml
    if rule.status is not None:
        out["status"] = rule.status.value
    return out


def workspace_to_dict(workspace: Workspace) -> dict[str, Any]:
    out: dict[str, Any] = {"name": workspace.name}
    if workspace.location is not None:
        out["location"] = workspace.location
    for key in WORKSPACE_FIELDS:
        value = getattr(workspace, key)
        if value is not None:
            out[key] = value
    network = workspace.managed_network
    net: dict[str, Any] = {"isolation_mode": network.isolation_mode.yaml}
    if network.outbound_rules:
        net["outbound_rules"] = [rule_to_dict(r) for r in network.outbound_rules]
    if network.firewall_sku is not None:
        net["firewall_sku"] = network.firewall_sku.yaml
    if network.network_id is not None:
        net["network_id"] = network.network_id
    if network.status is not None:
        net["status"] = network.status.to_dict("spark_ready")
    out["managed_network"] = net
    out.update(workspace.extra)
    return out


def dump_workspace(workspace: Workspace, stream: IO[str] | None = None) -> str | None:
    """Write Azure ML YAML to ``stream`` (or return it as a string)."""
    return yaml.safe_dump(workspace_to_dict(workspace), stream, sort_keys=False, default_flow_style=False)
