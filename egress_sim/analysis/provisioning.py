"""What Azure does on its own when a workspace definition is applied (spec §1, §2, §4, §5): the required rules it
adds, the managed firewall it creates, the private endpoints it creates, and Spark provisioning. Pure
computation over two ``Workspace`` values, for ``plan``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..base.errors import ServiceTagError
from ..model import (
    FirewallSku,
    FqdnDestination,
    IsolationMode,
    OutboundRuleCategory,
    PrivateEndpointDestination,
    ServiceTagDestination,
    Workspace,
)
from ..net.servicetags import ServiceTagSet
from ..ruletable.effective import (
    base_tag,
    required_private_endpoint_rules,
    required_service_tag_rules,
    workspace_resource_id,
)
from .rulediff import RuleDiff, endpoint_key

AOAO = IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
PROVISION_SPARK = "az ml workspace provision-network --include-spark"
APPROVER_WHY = ("the workspace's managed identity needs the Azure AI Enterprise Network Connection Approver role "
                "(or a custom role) on a target that is not one of the workspace's default resources (spec §4, "
                "since 2025-04-30)")
PE_WHEN = "Azure creates it when the first compute is created or provisioning is forced (spec §4, §5)"


@dataclass(frozen=True, slots=True)
class FirewallPlan:
    """What happens to the managed Azure Firewall: ``create``, ``change_sku`` or ``no_longer_needed``."""

    action: str
    sku: str
    old_sku: str | None
    rules: tuple[str, ...]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "sku": self.sku, "old_sku": self.old_sku, "rules": list(self.rules),
                "why": self.why}


@dataclass(frozen=True, slots=True)
class EndpointItem:
    """A private endpoint Azure will create: the user's (``origin`` user) or its own (``origin`` required)."""

    name: str
    origin: str
    resource: str
    subresource: str
    spark_enabled: bool
    approver_role: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "resource": self.resource, "subresource": self.subresource,
                "spark_enabled": self.spark_enabled, "approver_role": self.approver_role,
                "approver_why": APPROVER_WHY if self.approver_role else None, "why": self.why}


@dataclass(frozen=True, slots=True)
class SparkPlan:
    """Serverless Spark needs the network provisioned with Spark (spec §5)."""

    rules: tuple[str, ...]
    spark_ready: bool | None
    command: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"rules": list(self.rules), "spark_ready": self.spark_ready, "command": self.command, "why": self.why}


def _firewall_sku(workspace: Workspace) -> FirewallSku:
    return workspace.managed_network.firewall_sku or FirewallSku.STANDARD


def _fqdn_rules_in_force(workspace: Workspace) -> tuple[FqdnDestination, ...]:
    network = workspace.managed_network
    return network.fqdn_rules if network.isolation_mode is AOAO else ()


def firewall_change(old: Workspace, new: Workspace) -> FirewallPlan | None:
    """The firewall exists while an FQDN rule is in force (approved-only outbound, spec §4); None: nothing changes."""
    before, after = _fqdn_rules_in_force(old), _fqdn_rules_in_force(new)
    old_sku, sku = _firewall_sku(old).value, _firewall_sku(new).value
    names = tuple(r.name for r in after)
    if after and not before:
        default = " (Standard when not given)" if new.managed_network.firewall_sku is None else ""
        return FirewallPlan("create", sku, None, names, "spec §4: Azure creates the managed Azure Firewall with the "
                            "first FQDN rule; it is billed and adds about 10 minutes to provisioning; its SKU is "
                            f"NEW's firewall_sku{default}, Basic or Standard (Premium is not supported)")
    if after and old_sku != sku:
        return FirewallPlan("change_sku", sku, old_sku, names, "spec §4: the firewall SKU (Basic or Standard) can "
                            "be switched at any time")
    if before and not after:
        return FirewallPlan("no_longer_needed", old_sku, old_sku, (), "NEW has no FQDN rule in force (FQDN rules "
                            "act only in allow_only_approved_outbound), so the managed firewall is no longer needed; "
                            "whether Azure removes it (and stops billing it) is not documented (spec §4 only says "
                            "when it is created)")
    return None


def _required_keys(rule: Any) -> tuple[str, ...]:
    if isinstance(rule, ServiceTagDestination):
        return ("service_tag", base_tag(rule.service_tag or ""), rule.protocol.value)
    return ("private_endpoint", *endpoint_key(rule.service_resource_id, rule.subresource_target))


def _required(workspace: Workspace, tags: ServiceTagSet) -> list[Any]:
    """Azure's required rules under the workspace's mode: those the file lists and those Azure adds."""
    network = workspace.managed_network
    if not network.isolation_mode.is_isolated:
        return []
    listed = [r for r in network.outbound_rules if r.category is OutboundRuleCategory.REQUIRED]
    added: list[Any] = []
    if network.isolation_mode is AOAO:
        try:
            added += required_service_tag_rules(workspace, tags)
        except ServiceTagError:  # a location with no regional tag: validation says so; name the global tag
            added += required_service_tag_rules(replace(workspace, location=None), tags)
    added += required_private_endpoint_rules(workspace)
    return [*listed, *added]


def required_added(old: Workspace, new: Workspace, tags: ServiceTagSet) -> list[tuple[Any, str]]:
    """Required rules NEW brings that OLD had not, each with why Azure adds it (spec §1, §2)."""
    had = {_required_keys(r) for r in _required(old, tags)}
    mode = new.managed_network.isolation_mode
    out = []
    for rule in _required(new, tags):
        if _required_keys(rule) in had:
            continue
        if isinstance(rule, ServiceTagDestination):
            why = "spec §2: Azure adds the required service-tag rules in allow_only_approved_outbound"
        elif mode is AOAO:
            why = ("spec §1: in allow_only_approved_outbound Azure creates private endpoints to the workspace and its "
                   "default resources regardless of public network access")
        else:
            why = ("spec §1: in allow_internet_outbound Azure creates private endpoints to the workspace's resources "
                   "with public network access disabled")
        out.append((rule, why))
    return out


def _default_targets(workspace: Workspace) -> set[str]:
    ids = (workspace_resource_id(workspace), workspace.storage_account, workspace.key_vault,
           workspace.container_registry)
    return {endpoint_key(i)[0] for i in ids if i}


def endpoints_to_create(old: Workspace, new: Workspace, touched: tuple[RuleDiff, ...],
                        required: list[tuple[Any, str]]) -> tuple[EndpointItem, ...]:
    """Private endpoints Azure will create: NEW's user endpoints not in force before, then the required ones."""
    if not new.managed_network.isolation_mode.is_isolated:
        return ()
    was_isolated = old.managed_network.isolation_mode.is_isolated
    touched_by_name = {d.rule.name.lower(): d for d in touched}
    defaults = _default_targets(new)
    out: list[EndpointItem] = []
    for rule in new.managed_network.private_endpoint_rules:
        if rule.category is not OutboundRuleCategory.USER_DEFINED:
            continue
        diff = touched_by_name.get(rule.name.lower())
        if not was_isolated:
            why = f"the managed network turns on, so the rule's endpoint is created; {PE_WHEN}"
        elif diff is not None and diff.old is None:
            why = f"a new private endpoint rule; {PE_WHEN}"
        elif diff is not None and ({"service_resource_id", "subresource_target"} & diff.changed_fields
                                   or not isinstance(diff.old, PrivateEndpointDestination)):
            why = f"the rule's target changed; {PE_WHEN}"
        else:
            continue
        approver = endpoint_key(rule.service_resource_id)[0] not in defaults
        out.append(EndpointItem(rule.name, "user", rule.service_resource_id, rule.subresource_target,
                                rule.spark_enabled, approver, why))
    for rule, why in required:
        if isinstance(rule, PrivateEndpointDestination):
            out.append(EndpointItem(rule.name, "required", rule.service_resource_id, rule.subresource_target,
                                    rule.spark_enabled, False, f"{why}; {PE_WHEN}"))
    return tuple(out)


def _spark_rules(workspace: Workspace) -> tuple[PrivateEndpointDestination, ...]:
    network = workspace.managed_network
    if not network.isolation_mode.is_isolated:
        return ()
    return tuple(r for r in network.private_endpoint_rules
                 if r.spark_enabled and r.category is OutboundRuleCategory.USER_DEFINED)


def spark_provisioning(old: Workspace, new: Workspace) -> SparkPlan | None:
    """Provisioning with Spark is needed when NEW has a Spark-enabled endpoint and OLD's network is not Spark-ready
    with one already (spec §5). A network that reports no status counts as provisioned as planned, Spark
    included, as everywhere in the simulator (``ManagedNetwork.spark_ready``)."""
    wanted = _spark_rules(new)
    if not wanted:
        return None
    had = {r.name.lower() for r in _spark_rules(old)}
    network = old.managed_network
    ready = network.isolation_mode.is_isolated and network.spark_ready
    if ready and had:
        return None
    if not network.isolation_mode.is_isolated:
        state = "OLD has no managed network"
    elif not ready:
        state = "OLD's network is not Spark-ready (spark_ready: false)" if network.is_provisioned \
            else "OLD's network is not provisioned"
    else:
        state = "OLD has no Spark-enabled private endpoint"
    fresh = tuple(r.name for r in wanted if r.name.lower() not in had) or tuple(r.name for r in wanted)
    reported = network.status.spark_ready if network.status is not None else None
    return SparkPlan(fresh, reported, PROVISION_SPARK,
                     f"{state}; spec §5: serverless Spark needs the network provisioned with --include-spark "
                     "(spark_ready) and a private endpoint with spark_enabled: true")
