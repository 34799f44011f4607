"""Read and write workspaces in the Azure ML CLI/SDK YAML format (spec §7).

Loading collects *every* problem as a ``Finding`` before failing, so a user fixes a file in one pass.
Keys the simulator does not use are kept (``Workspace.extra``) and written back, so load-then-dump keeps
the file's meaning; deprecated rule keys (``data_import_enabled``, ``pe_fqdn``) are dropped with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from ..errors import ModelError, WorkspaceFileError
from ..findings import Finding, WorkspaceInvalid
from ..yamlfile import read_yaml
from .enums import IsolationMode, OutboundRuleType
from .network import ManagedNetwork, ManagedNetworkProvisionStatus, Workspace
from .rules import AnyRule, FqdnDestination, PrivateEndpointDestination, ServiceTagDestination

_WORKSPACE_FIELDS = ("storage_account", "key_vault", "container_registry", "application_insights", "public_network_access")
_DEPRECATED_DESTINATION_KEYS = ("data_import_enabled", "pe_fqdn")
_RULE_KEYS = {"name", "type", "destination", "category", "status", "fqdns", "parent_rule_names"}
_NETWORK_KEYS = {"isolation_mode", "outbound_rules", "firewall_sku", "network_id", "status"}


def load_workspace(path: str | Path) -> tuple[Workspace, list[Finding]]:
    """Load a workspace YAML file; return it with its warnings, or raise ``WorkspaceInvalid`` listing every error."""
    source = str(path)
    document = read_yaml(path, "workspace file", WorkspaceFileError)
    return workspace_from_dict(document, source=source)


def workspace_from_dict(document: Any, source: str | None = None) -> tuple[Workspace, list[Finding]]:
    """Build a ``Workspace`` from parsed YAML (or an equivalent dict)."""
    findings: list[Finding] = []

    def error(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("error", code, message, source, rule))

    def warn(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("warning", code, message, source, rule))

    if not isinstance(document, Mapping):
        error("not_a_mapping", "a workspace file must be a YAML mapping with at least 'name'")
        raise WorkspaceInvalid(findings)
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        error("missing_name", "workspace 'name' is missing or empty")
    location = document.get("location")
    if location is not None and not isinstance(location, str):
        error("bad_location", f"workspace 'location' {location!r} must be a region name such as 'eastus'")
        location = None

    network_doc = document.get("managed_network") or {}
    network = None
    if not isinstance(network_doc, Mapping):
        error("bad_managed_network", "'managed_network' must be a mapping")
    else:
        network = _network_from_dict(network_doc, error, warn)

    extras = {k: v for k, v in document.items() if k not in {"name", "location", "managed_network", *_WORKSPACE_FIELDS}}
    fields: dict[str, str | None] = {}
    for key in _WORKSPACE_FIELDS:
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
    for key in doc:
        if key not in _NETWORK_KEYS:
            warn("unknown_key", f"managed_network key {key!r} is not used by the simulator and was dropped")
    try:
        kwargs["isolation_mode"] = IsolationMode.parse(doc.get("isolation_mode", "disabled"), "isolation mode")
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
            kwargs["status"] = ManagedNetworkProvisionStatus(status=status.get("status"), spark_ready=status.get("spark_ready"))
        except ModelError as exc:
            error("bad_status", str(exc))
            ok = False

    rules_doc = doc.get("outbound_rules") or []
    if isinstance(rules_doc, Mapping):  # REST style: {name: rule}
        rules_doc = [{"name": k, **(v if isinstance(v, Mapping) else {"destination": v})} for k, v in rules_doc.items()]
    if not isinstance(rules_doc, list):
        error("bad_rules", "'outbound_rules' must be a list of rules")
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
    for key in doc:
        if key not in _RULE_KEYS:
            warn("unknown_key", f"key {key!r} is not an outbound-rule field and was dropped", label)
    try:
        kind = OutboundRuleType.parse(doc.get("type"), "rule type")
    except ModelError as exc:
        error("unknown_type", str(exc), label)
        return None
    common = {"name": name, "category": doc.get("category", "user_defined"), "status": doc.get("status")}
    destination = doc.get("destination")
    try:
        if kind is OutboundRuleType.FQDN:
            if not isinstance(destination, str):
                raise ModelError(f"rule {name!r}: an FQDN rule's destination must be a host name string, got {destination!r}")
            return FqdnDestination(destination=destination, **common)
        if not isinstance(destination, Mapping):
            raise ModelError(f"rule {name!r}: a {kind.yaml} rule's destination must be a mapping, got {destination!r}")
        for key in _DEPRECATED_DESTINATION_KEYS:
            if key in destination:
                warn("deprecated_key", f"destination key {key!r} is deprecated and ignored", label)
        if kind is OutboundRuleType.SERVICE_TAG:
            allowed = {"service_tag", "protocol", "port_ranges", "address_prefixes"}
            _warn_unknown(destination, allowed, label, warn)
            for key in ("protocol", "port_ranges"):
                if key not in destination:
                    raise ModelError(f"rule {name!r}: a service tag rule needs '{key}'")
            return ServiceTagDestination(
                protocol=destination["protocol"],
                port_ranges=destination["port_ranges"],
                service_tag=destination.get("service_tag"),
                address_prefixes=destination.get("address_prefixes"),
                **common,
            )
        allowed = {"service_resource_id", "subresource_target", "spark_enabled", *_DEPRECATED_DESTINATION_KEYS}
        _warn_unknown(destination, allowed, label, warn)
        return PrivateEndpointDestination(
            service_resource_id=destination.get("service_resource_id"),
            subresource_target=destination.get("subresource_target"),
            spark_enabled=destination.get("spark_enabled", False),
            fqdns=doc.get("fqdns"),
            **common,
        )
    except ModelError as exc:
        message = str(exc)
        prefix = f"rule {name!r}: "
        error(_code_for(message), message[len(prefix):] if message.startswith(prefix) else message, label)
        return None


def _warn_unknown(destination: Mapping[str, Any], allowed: set[str], rule: str, warn) -> None:
    for key in destination:
        if key not in allowed and key not in _DEPRECATED_DESTINATION_KEYS:
            warn("unknown_key", f"destination key {key!r} is not used by this rule type and was dropped", rule)


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
    for key in _WORKSPACE_FIELDS:
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
        status: dict[str, Any] = {}
        if network.status.status is not None:
            status["status"] = network.status.status.value
        if network.status.spark_ready is not None:
            status["spark_ready"] = network.status.spark_ready
        net["status"] = status
    out["managed_network"] = net
    out.update(workspace.extra)
    return out


def dump_workspace(workspace: Workspace, stream: IO[str] | None = None) -> str | None:
    """Write Azure ML YAML to ``stream`` (or return it as a string)."""
    return yaml.safe_dump(workspace_to_dict(workspace), stream, sort_keys=False, default_flow_style=False)
