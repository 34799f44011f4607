"""The workspace as egress_sim understood it: what ``validate`` prints, so anyone can check it against Azure.

Every rule in force is listed (the user's, Azure's required ones, the automatic private endpoints), plus
the file's rules that are *not* in force under its isolation mode, each with where it came from.
"""

from __future__ import annotations

from typing import Any

from ..ruletable.effective import EffectiveRules, effective_rules, required_private_endpoint_rules
from ..model import (
    FqdnDestination,
    IsolationMode,
    OutboundRuleCategory,
    PrivateEndpointDestination,
    ServiceTagDestination,
    Workspace,
    WorkspaceFile,
)
from ..model.rules import AnyRule
from ..net.servicetags import ServiceTagSet

# Where a rule comes from.
FROM_FILE = "file"              # written in the workspace file (the user's, or Azure's own as `show` lists them)
ADDED_REQUIRED = "added"        # a required rule Azure adds that the file does not list
AUTOMATIC = "automatic"         # a private endpoint Azure creates to the workspace and its default resources


def rule_row(rule: AnyRule, origin: str, in_force: bool) -> dict[str, Any]:
    """One rule as a flat record: name, type, category, destination, protocol/ports, status."""
    row: dict[str, Any] = {"name": rule.name, "type": rule.type.yaml, "category": rule.category.yaml, "origin": origin}
    if isinstance(rule, FqdnDestination):
        row.update(destination=rule.destination, protocol="TCP", ports="80, 443")
    elif isinstance(rule, ServiceTagDestination):
        target = ", ".join(rule.address_prefixes) if rule.uses_address_prefixes else rule.service_tag
        row.update(destination=target, protocol=rule.protocol.value, ports=rule.port_ranges.text)
    else:
        assert isinstance(rule, PrivateEndpointDestination)
        row.update(destination=f"{rule.service_resource_id} ({rule.subresource_target})", protocol=None, ports=None,
                   spark_enabled=rule.spark_enabled)
        if rule.fqdns:
            row["fqdns"] = list(rule.fqdns)
    row["status"] = rule.status.value if rule.status is not None else None  # not reported: simulated as Active
    row["in_force"] = in_force
    return row


def rules_understood(workspace: Workspace, tags: ServiceTagSet,
                     effective: EffectiveRules | None = None) -> list[dict[str, Any]]:
    """Rules in force first (required, automatic, the file's in evaluation order), then the file's idle ones.

    ``effective``: the workspace's rules in force when the caller has them already (a compiled table's)."""
    eff = effective if effective is not None else effective_rules(workspace, tags)
    in_force = {id(rule) for rule in eff.all_rules}
    automatic_names = {r.name for r in required_private_endpoint_rules(workspace)}
    rows: list[dict[str, Any]] = []
    file_rules = {id(r) for r in workspace.managed_network.outbound_rules}
    for rule in eff.all_rules:
        if id(rule) in file_rules:
            origin = FROM_FILE
        elif isinstance(rule, PrivateEndpointDestination) and rule.name in automatic_names:
            origin = AUTOMATIC
        else:
            origin = ADDED_REQUIRED
        rows.append(rule_row(rule, origin, True))
    rows.sort(key=lambda r: (r["category"] != OutboundRuleCategory.REQUIRED.yaml, r["origin"] == FROM_FILE))
    rows += [rule_row(r, FROM_FILE, False) for r in workspace.managed_network.outbound_rules if id(r) not in in_force]
    return rows


def describe_workspace(loaded: WorkspaceFile, tags: ServiceTagSet, location_given: bool,
                       effective: EffectiveRules | None = None) -> dict[str, Any]:
    """Name, location, isolation mode, firewall SKU and every rule, as ``validate --json`` prints them."""
    ws = loaded.workspace
    network = ws.managed_network
    return {
        "name": ws.name,
        "form": loaded.form,
        "location": ws.location,
        "location_from": "--location" if location_given else ("file" if ws.location else None),
        "isolation_mode": network.isolation_mode.yaml,
        # azure-ai-ml reads an unset SKU as Standard (spec §4); "firewall" says whether one exists at all
        "firewall_sku": network.firewall_sku.yaml if network.firewall_sku is not None else "standard",
        "firewall_sku_from": "file" if network.firewall_sku is not None else "default",
        "firewall": network.isolation_mode is IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND and network.has_firewall,
        "provisioned": network.is_provisioned,
        "spark_ready": network.spark_ready,
        "rules": rules_understood(ws, tags, effective),
    }
