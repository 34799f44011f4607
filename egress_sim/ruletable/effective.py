"""The rules in force for a workspace: the required ones Azure adds, then the user's (spec §1, §2).

Both evaluators start here, so "which rules exist, in which order" has one definition:
service-tag rules are tried required-first then in the user's order; private endpoints likewise; FQDN rules
in the user's order. Private endpoints are resolved to the host names that reach them (Azure's private DNS
zones, plus the rule's own ``fqdns``) and to a simulated private IP in the managed VNet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from ..base.errors import ModelError, ServiceTagError
from ..model import (
    FqdnDestination,
    FqdnPattern,
    IsolationMode,
    OutboundRuleCategory,
    PrivateEndpointDestination,
    Protocol,
    ResourceId,
    ServiceTagDestination,
    Workspace,
)
from ..net.privatelink import host_patterns
from ..net.servicetags import ServiceTagSet

# The managed VNet's address space as the simulator models it (the VirtualNetwork tag is empty in the
# public service-tag file). Every private endpoint has the same address in every isolation mode, so one set of
# flows means the same thing under each: the required endpoints have fixed slots from 10.0.1.4 (workspace,
# storage blob, storage file, key vault, registry), user endpoints follow from 10.0.1.16 in rule order.
PE_SUBNET_START = ipaddress.ip_address("10.0.1.4")
USER_PE_START = ipaddress.ip_address("10.0.1.16")
REQUIRED_PE_SLOTS = ("required-workspace", "required-storage-blob", "required-storage-file", "required-keyvault",
                     "required-registry")
UNKNOWN_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"

# spec §2: (tag, protocol, ports). "BatchNodeManagement" is regional: the workspace's location is appended.
REQUIRED_SERVICE_TAGS: tuple[tuple[str, Protocol, str], ...] = (
    ("AzureActiveDirectory", Protocol.TCP, "80, 443"),
    ("AzureMachineLearning", Protocol.TCP, "443, 8787, 18881"),
    ("AzureMachineLearning", Protocol.UDP, "5831"),
    ("BatchNodeManagement", Protocol.TCP, "443"),
    ("AzureResourceManager", Protocol.TCP, "443"),
    ("AzureFrontDoor.FirstParty", Protocol.TCP, "443"),
    ("MicrosoftContainerRegistry", Protocol.TCP, "443"),
    ("AzureMonitor", Protocol.TCP, "443"),
)
REGIONAL_TAGS = {"BatchNodeManagement"}
STORAGE_PROVIDER = "Microsoft.Storage/storageAccounts"


@dataclass(frozen=True, slots=True)
class PrivateEndpoint:
    """A private-endpoint rule with what it resolves: host patterns and a simulated private address."""

    rule: PrivateEndpointDestination
    patterns: tuple[FqdnPattern, ...]
    private_ip: ipaddress.IPv4Address
    is_storage: bool

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass(frozen=True, slots=True)
class TagRule:
    """A service-tag rule with the prefixes it stands for (the tag's, or its ``address_prefixes``)."""

    rule: ServiceTagDestination
    prefixes: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass(frozen=True)
class EffectiveRules:
    workspace: Workspace
    mode: IsolationMode
    provisioned: bool
    spark_ready: bool
    has_firewall: bool
    service_tags: tuple[TagRule, ...]
    private_endpoints: tuple[PrivateEndpoint, ...]
    fqdns: tuple[FqdnDestination, ...]

    def allows_host(self, host: str) -> bool:
        """Whether an active FQDN rule matches ``host`` (spec §8; ports and compute type aside)."""
        return fqdn_rules_allow(self.fqdns, host)

    @property
    def all_rules(self) -> tuple[FqdnDestination | ServiceTagDestination | PrivateEndpointDestination, ...]:
        return (*(p.rule for p in self.private_endpoints), *(t.rule for t in self.service_tags), *self.fqdns)


def fqdn_rules_allow(rules: tuple[FqdnDestination, ...], host: str) -> bool:
    """Whether an active rule among ``rules`` matches the normalized ``host``."""
    return any(rule.is_active and any(p.matches(host) for p in rule.patterns) for rule in rules)


def required_rule_name(tag: str, protocol: Protocol) -> str:
    """Azure's own name for a required service-tag rule (spec §11): ``__SYS_ST_AzureActiveDirectory_TCP``."""
    return f"__SYS_ST_{tag}_{protocol.value}"


def base_tag(tag: str) -> str:
    """``BatchNodeManagement.EastUS`` → ``BatchNodeManagement``: how a required rule is matched across regions."""
    base = tag.split(".", 1)[0]
    return base if base in REGIONAL_TAGS else tag


def required_service_tag_rules(workspace: Workspace, tags: ServiceTagSet) -> tuple[ServiceTagDestination, ...]:
    """The service-tag rules Azure adds in ``allow_only_approved_outbound`` (spec §2), by Azure's names.

    A file that already lists Azure's required rules (``category: Required``, as ``show`` commands print them)
    keeps its own: ours are added only for a (tag, protocol) it lacks, so nothing is doubled.

    ``VirtualNetwork`` is left out on purpose: the public tag is empty, and traffic inside the managed VNet
    is what private endpoints model (each with its own address), so a blanket 10.0.0.0/16 rule would let
    Spark reach endpoints that are not ``spark_enabled``.
    """
    given = {(base_tag(r.service_tag or ""), r.protocol) for r in workspace.managed_network.service_tag_rules
             if r.category is OutboundRuleCategory.REQUIRED}
    rules: list[ServiceTagDestination] = []
    for tag, protocol, ports in REQUIRED_SERVICE_TAGS:
        if (tag, protocol) in given:
            continue
        if tag in REGIONAL_TAGS:
            tag = regional_tag_name(tag, workspace, tags)
        rules.append(
            ServiceTagDestination(
                name=required_rule_name(tag, protocol),
                category=OutboundRuleCategory.REQUIRED,
                service_tag=tag,
                protocol=protocol,
                port_ranges=ports,
            )
        )
    return tuple(rules)


def regional_tag_name(base: str, workspace: Workspace, tags: ServiceTagSet) -> str:
    """``BatchNodeManagement`` in ``eastus`` → ``BatchNodeManagement.EastUS``, as spelled in the tag file.

    Without a location (optional in Azure, which then uses the resource group's region) the global tag stands
    in: wider than Azure's rule, and ``validate`` says so."""
    if not workspace.region:
        return base
    tag = tags.regional(base, workspace.region)
    if tag is None:
        raise ServiceTagError(
            f"location {workspace.location!r}: no service tag {base}.<region> for it in {tags.source} (is the location a real Azure region?)"
        )
    return tag.name


def workspace_resource_id(workspace: Workspace) -> str:
    """The workspace's own ARM id: as the file gives it (``id``), else built from its resource group and name."""
    given = workspace.extra.get("id")
    if isinstance(given, str) and "/workspaces/" in given.lower():
        return given
    group = workspace.extra.get("resource_group") or "unknown"
    return (
        f"/subscriptions/{UNKNOWN_SUBSCRIPTION}/resourceGroups/{group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{workspace.name}"
    )


def required_private_endpoint_rules(workspace: Workspace) -> tuple[PrivateEndpointDestination, ...]:
    """Private endpoints Azure creates to the workspace and its default resources (spec §1, §10).

    ``allow_only_approved_outbound``: always, for each resource whose id the workspace names.
    ``allow_internet_outbound``: only for resources with public network access disabled; the workspace YAML
    records that for the workspace alone, so only the workspace's own endpoint can appear there.
    """
    mode = workspace.managed_network.isolation_mode
    if not mode.is_isolated:
        return ()
    approved = mode is IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
    targets: list[tuple[str, str, str]] = []
    if approved or workspace.public_network_access_disabled:
        targets.append(("required-workspace", workspace_resource_id(workspace), "amlworkspace"))
    if approved:
        if workspace.storage_account:
            targets.append(("required-storage-blob", workspace.storage_account, "blob"))
            targets.append(("required-storage-file", workspace.storage_account, "file"))
        if workspace.key_vault:
            targets.append(("required-keyvault", workspace.key_vault, "vault"))
        if workspace.container_registry:
            targets.append(("required-registry", workspace.container_registry, "registry"))
    given = {_endpoint_key(r.service_resource_id, r.subresource_target)
             for r in workspace.managed_network.private_endpoint_rules if r.category is OutboundRuleCategory.REQUIRED}
    targets = [t for t in targets if _endpoint_key(t[1], t[2]) not in given]
    return tuple(
        PrivateEndpointDestination(
            name=name,
            category=OutboundRuleCategory.REQUIRED,
            service_resource_id=resource,
            subresource_target=sub,
            spark_enabled=True,
        )
        for name, resource, sub in targets
    )


def _endpoint_key(resource_id: str, subresource: str) -> tuple[str, str]:
    """A private endpoint's target as provider/type/name and sub-resource: the same resource whatever the
    subscription and resource group its id spells (a file may know them when egress_sim has to guess)."""
    return resource_id.lower().rsplit("/providers/", 1)[-1], subresource.lower()


def private_endpoint_patterns(rule: PrivateEndpointDestination, region: str | None) -> tuple[FqdnPattern, ...]:
    """Host names that resolve to the endpoint: the private DNS zone names of its target, then ``fqdns``."""
    names: list[str] = []
    try:
        rid = ResourceId.parse(rule.service_resource_id)
    except ModelError:  # malformed ids are a validation finding; the rule's fqdns still apply
        rid = None
    if rid is not None:
        # without a location, the region-bound names (ACR data endpoint, workspace API) cannot be known
        names.extend(host_patterns(rid.provider_type, rid.name, rule.subresource_target, region or "", skip_regional=True))
    names.extend(rule.fqdn_hosts)
    seen: dict[str, FqdnPattern] = {}
    for name in names:
        pattern = FqdnPattern.parse(name)
        seen.setdefault(pattern.text, pattern)
    return tuple(seen.values())


def is_storage_target(rule: PrivateEndpointDestination) -> bool:
    try:
        rid = ResourceId.parse(rule.service_resource_id)
    except ModelError:
        return False
    return rid.provider_type.lower() == STORAGE_PROVIDER.lower()


def effective_rules(workspace: Workspace, tags: ServiceTagSet, mode: IsolationMode | str | None = None,
                    addresses: EndpointAddresses | None = None) -> EffectiveRules:
    """Every rule in force, in evaluation order. ``mode`` overrides the workspace's isolation mode (what-if);
    ``addresses`` keeps endpoints at another rule set's addresses (``private_endpoints``)."""
    if mode is not None:
        mode = IsolationMode.parse(mode, "isolation mode")
        if mode is not workspace.managed_network.isolation_mode:
            workspace = replace(workspace, managed_network=replace(workspace.managed_network, isolation_mode=mode))
    network = workspace.managed_network
    mode = network.isolation_mode
    approved = mode is IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND

    tag_rules: list[TagRule] = []
    if approved:
        file_rules = sorted(network.service_tag_rules, key=lambda r: r.category is not OutboundRuleCategory.REQUIRED)
        for rule in (*required_service_tag_rules(workspace, tags), *file_rules):
            tag_rules.append(TagRule(rule, _prefixes_of(rule, tags)))

    endpoints = private_endpoints(workspace, addresses) if mode.is_isolated else ()
    return EffectiveRules(
        workspace=workspace,
        mode=mode,
        provisioned=network.is_provisioned,
        spark_ready=network.spark_ready,
        has_firewall=approved and network.has_firewall,
        service_tags=tuple(tag_rules),
        private_endpoints=endpoints,
        fqdns=network.fqdn_rules if approved else (),
    )


EndpointAddresses = dict[tuple[str, str], ipaddress.IPv4Address]


def private_endpoints(workspace: Workspace, addresses: EndpointAddresses | None = None) -> tuple[PrivateEndpoint, ...]:
    """The private endpoints in force under the workspace's mode (required first), each with its hosts and address.

    A user endpoint's simulated address follows its place among the rules, unless ``addresses`` (another
    workspace's, ``endpoint_addresses``) already gives its resource and sub-resource one: a what-if between two
    rule sets then keeps every endpoint both have at the same address, and a new one takes a free address, so a
    flow logged by address alone reaches the same endpoint on both sides.

    Needs no service tags, so the simulator can place traffic on endpoints for any workspace."""
    required = required_private_endpoint_rules(workspace)
    user = workspace.managed_network.private_endpoint_rules
    given = addresses or {}
    taken = set(given.values())
    placed: list[tuple[PrivateEndpointDestination, ipaddress.IPv4Address]] = []
    free = USER_PE_START
    for rule in user:
        key = _endpoint_key(rule.service_resource_id, rule.subresource_target)
        ip = given.get(key)
        if ip is None:
            while free in taken:
                free += 1
            ip = free
            taken.add(ip)
        placed.append((rule, ip))
    return tuple(
        PrivateEndpoint(
            rule=rule,
            patterns=private_endpoint_patterns(rule, workspace.region),
            private_ip=ip,
            is_storage=is_storage_target(rule),
        )
        for rule, ip in (*((r, PE_SUBNET_START + REQUIRED_PE_SLOTS.index(r.name)) for r in required), *placed)
    )


def endpoint_addresses(rules: "EffectiveRules") -> EndpointAddresses:
    """The simulated address of each user endpoint in force, by resource and sub-resource."""
    return {_endpoint_key(p.rule.service_resource_id, p.rule.subresource_target): p.private_ip
            for p in rules.private_endpoints if p.rule.category is not OutboundRuleCategory.REQUIRED}


def _prefixes_of(rule: ServiceTagDestination, tags: ServiceTagSet) -> tuple[str, ...]:
    if rule.uses_address_prefixes:
        return tuple(str(n) for n in rule.networks)
    assert rule.service_tag is not None
    tag = tags.get(rule.service_tag)
    if tag is None:
        raise ServiceTagError(
            f"rule {rule.name!r}: unknown service tag {rule.service_tag!r}{tags.suggestion(rule.service_tag)} in {tags.source}"
        )
    return tag.address_prefixes
