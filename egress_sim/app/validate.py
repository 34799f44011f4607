"""Semantic validation of a workspace against the spec and a service-tag file (spec §1, §4, §8).

Syntax errors (bad port range, unknown protocol, a wildcard that is not leftmost, duplicate names) are found
while loading (``model.yaml_io``). This module adds what needs context: the isolation mode, the service-tag
file, Private Link targets, and the change from a previous mode.
"""

from __future__ import annotations

from ..ruletable.compile import targets_storage
from ..ruletable.effective import REGIONAL_TAGS, REQUIRED_SERVICE_TAGS, base_tag, regional_tag_name
from ..base.errors import ModelError, ServiceTagError
from ..base.findings import Finding
from ..model import (
    FqdnDestination,
    IsolationMode,
    OutboundRuleCategory,
    PatternKind,
    PortRanges,
    PrivateEndpointDestination,
    ResourceId,
    ServiceTagDestination,
    Workspace,
)
from ..net.privatelink import find_target, known_subresources
from ..model.transitions import AOAO, DISABLED, FORBIDDEN_TRANSITIONS, mode_transition
from ..net.servicetags import ServiceTagSet

__all__ = ["FORBIDDEN_TRANSITIONS", "check_transition", "targets_storage", "validate_workspace"]


def validate_workspace(workspace: Workspace, tags: ServiceTagSet, source: str | None = None) -> list[Finding]:
    findings: list[Finding] = []

    def error(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("error", code, message, source, rule))

    def warn(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("warning", code, message, source, rule))

    network = workspace.managed_network
    mode = network.isolation_mode
    if mode is AOAO:
        for base in dict.fromkeys(base for base, _, _ in REQUIRED_SERVICE_TAGS):
            try:
                tag = regional_tag_name(base, workspace, tags) if base in REGIONAL_TAGS else base
            except ServiceTagError as exc:
                error("required_rule", str(exc))
                continue
            if tag not in tags:
                error("required_rule", f"the service-tag file {tags.source} lacks the required tag {tag!r}")
        if not workspace.region and "BatchNodeManagement" in tags:
            regions = sum(1 for t in tags.tags.values() if t.name.startswith("BatchNodeManagement."))
            warn("no_location", f"no location (Azure takes the resource group's region; give --location REGION): the "
                 f"required rule BatchNodeManagement.<region> is taken as the global BatchNodeManagement tag "
                 f"({len(tags.get('BatchNodeManagement').address_prefixes):,} prefixes in {regions} regions "
                 f"instead of one region's), so Batch node-management traffic to every region is allowed")

    built_in = {(tag, protocol): PortRanges.parse(ports) for tag, protocol, ports in REQUIRED_SERVICE_TAGS}
    for rule in network.service_tag_rules:
        ours = built_in.get((base_tag(rule.service_tag or ""), rule.protocol))
        if rule.category is OutboundRuleCategory.REQUIRED and ours is not None \
                and ours.normalized != rule.port_ranges.normalized:
            warn("required_rule_differs", f"this required rule allows ports {rule.port_ranges.text} where the spec's "
                 f"{base_tag(rule.service_tag or '')} {rule.protocol.value} rule allows {ours.text}; the file's "
                 "ports are used (as Azure reported them)", rule.name)
    for rule in network.outbound_rules:
        if mode is DISABLED:
            warn("ignored_rule", "isolation mode is disabled, so outbound rules have no effect", rule.name)
        elif (isinstance(rule, (ServiceTagDestination, FqdnDestination)) and mode is not AOAO
              and rule.category is not OutboundRuleCategory.REQUIRED):
            kind = "service tag" if isinstance(rule, ServiceTagDestination) else "FQDN"
            error(
                "rule_not_allowed_in_mode",
                f"{kind} rules are only valid with isolation_mode allow_only_approved_outbound "
                f"(this workspace is {mode.yaml}; only private endpoints can be added)",
                rule.name,
            )
        if isinstance(rule, ServiceTagDestination):
            _check_service_tag(rule, tags, error, warn)
        elif isinstance(rule, FqdnDestination):
            _check_fqdn(rule, mode, warn)
        else:
            _check_private_endpoint(rule, error, warn)
    if mode.is_isolated and not workspace.region and network.private_endpoint_rules:
        warn("no_location", "the workspace has no 'location': private endpoint host names that include the region "
             "(such as an ACR data endpoint) are unknown and will not match", None)
    seen: dict[tuple[str, str], str] = {}
    for rule in network.private_endpoint_rules:
        key = (rule.service_resource_id.lower(), rule.subresource_target.lower())
        if key in seen:
            warn("duplicate_private_endpoint", f"same resource and sub-resource as rule {seen[key]!r}", rule.name)
        seen.setdefault(key, rule.name)
    return findings


def _check_service_tag(rule: ServiceTagDestination, tags: ServiceTagSet, error, warn) -> None:
    if rule.uses_address_prefixes:
        if rule.service_tag:
            warn("service_tag_ignored", f"service tag {rule.service_tag!r} is ignored because address_prefixes are given", rule.name)
        return
    assert rule.service_tag is not None
    if rule.service_tag not in tags:
        error("unknown_service_tag", f"unknown service tag {rule.service_tag!r}{tags.suggestion(rule.service_tag)}", rule.name)


def _check_fqdn(rule: FqdnDestination, mode: IsolationMode, warn) -> None:
    for pattern in rule.patterns:
        if mode is AOAO and targets_storage(pattern):
            warn(
                "fqdn_targets_storage",
                f"{pattern.text!r} targets Azure Storage, which FQDN rules cannot reach in allow_only_approved_outbound: "
                "add a private endpoint rule instead",
                rule.name,
            )
        if pattern.kind is PatternKind.ANY:
            warn("wildcard_any", "'*' allows HTTP/HTTPS to every host name", rule.name)
        elif pattern.kind is PatternKind.SUFFIX:
            warn(
                "lookalike_wildcard",
                f"{pattern.text!r} has no dot after '*', so it also matches look-alike names such as "
                f"'evil{pattern.suffix}'",
                rule.name,
            )


def _check_private_endpoint(rule: PrivateEndpointDestination, error, warn) -> None:
    try:
        rid = ResourceId.parse(rule.service_resource_id)
    except ModelError as exc:
        if rule.fqdns:
            warn("malformed_resource_id", f"{exc}; only its fqdns can reach it", rule.name)
        else:
            error("malformed_resource_id", str(exc), rule.name)
        return
    subresources = known_subresources(rid.provider_type)
    if not subresources:
        if not rule.fqdns:
            warn(
                "unknown_private_link_target",
                f"no host names are known for {rid.provider_type!r}; list them in the rule's fqdns",
                rule.name,
            )
        return
    if find_target(rid.provider_type, rule.subresource_target) is None:
        error(
            "unknown_subresource",
            f"subresource_target {rule.subresource_target!r} is not a sub-resource of {rid.provider_type} "
            f"(expected one of: {', '.join(subresources)})",
            rule.name,
        )


def check_transition(old: IsolationMode, new: IsolationMode, source: str | None = None) -> list[Finding]:
    """Mode changes Azure refuses (spec §1), and the one the docs disagree about (``model.transitions``)."""
    change = mode_transition(old, new)
    if change.code is None:
        return []
    return [Finding("warning" if change.allowed else "error", change.code, change.message, source)]
