"""What applying a new workspace definition over the current one would do in Azure, before anyone touches Azure.

``plan(old, new, tags)`` compares two ``Workspace`` values and answers, item by item with the spec fact behind
each: does Azure accept the change (the mode change, rule types the mode forbids, and whatever validation finds
wrong in NEW), which of the user's rules are created, removed or changed, which rules Azure adds itself, what
happens to the managed Azure Firewall, which private endpoints Azure will create, which computes must be
recreated, whether Spark needs provisioning, and what to watch out for. Pure computation: the caller loads the
files (and runs validation on NEW when it wants those errors among the refusals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..base.findings import Finding
from ..model import ComputeType, FqdnDestination, IsolationMode, RuleStatus, ServiceTagDestination, Workspace
from ..model.transitions import ModeTransition, mode_transition
from ..net.servicetags import ServiceTagSet
from ..ruletable.compile import targets_storage
from .provisioning import (
    EndpointItem,
    FirewallPlan,
    SparkPlan,
    endpoints_to_create,
    firewall_change,
    required_added,
    spark_provisioning,
)
from .rulediff import RuleDiff, destination_text, diff_rules, user_rules

AOAO = IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
AIO = IsolationMode.ALLOW_INTERNET_OUTBOUND

# spec §1: compute that exists when the managed network is turned on must be deleted and recreated.
RECREATED_COMPUTES = (ComputeType.COMPUTE_INSTANCE, ComputeType.COMPUTE_CLUSTER, ComputeType.MANAGED_ONLINE_ENDPOINT)
RECREATE_WHY = ("spec §1: compute instances, compute clusters and managed online endpoints that exist when the "
                "managed network is turned on must be deleted and recreated; there is no migration path")


@dataclass(frozen=True, slots=True)
class Note:
    """A refusal or a warning: a stable code, what it says, the rule it is about, and the spec fact behind it."""

    code: str
    message: str
    why: str
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "rule": self.rule, "message": self.message, "why": self.why}


@dataclass(frozen=True, slots=True)
class RuleItem:
    """A user rule created, removed or changed; or a rule Azure adds (``changes`` only for a changed one)."""

    name: str
    type: str
    destination: str
    why: str
    changes: tuple[dict[str, str | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "destination": self.destination}
        if self.changes:
            out["changes"] = list(self.changes)
        out["why"] = self.why
        return out


@dataclass(frozen=True)
class Plan:
    """Everything applying NEW over OLD would do. ``refused`` non-empty: Azure would refuse the change."""

    old_source: str | None
    new_source: str | None
    workspace: str
    mode: ModeTransition
    refused: tuple[Note, ...]
    created: tuple[RuleItem, ...]
    removed: tuple[RuleItem, ...]
    changed: tuple[RuleItem, ...]
    required_added: tuple[RuleItem, ...]
    firewall: FirewallPlan | None
    private_endpoints: tuple[EndpointItem, ...]
    recreate_computes: tuple[str, ...]
    spark: SparkPlan | None
    warnings: tuple[Note, ...]

    @property
    def accepted(self) -> bool:
        return not self.refused

    def to_dict(self) -> dict[str, Any]:
        """The ``plan --json`` shape (documented in the command's help and the README)."""
        return {
            "old": self.old_source, "new": self.new_source, "workspace": self.workspace, "accepted": self.accepted,
            "mode": {"from": self.mode.old.yaml, "to": self.mode.new.yaml, "changed": self.mode.changed,
                     "allowed": self.mode.allowed, "message": self.mode.message, "why": self.mode.why},
            "refused": [n.to_dict() for n in self.refused],
            "rules": {"created": [r.to_dict() for r in self.created], "removed": [r.to_dict() for r in self.removed],
                      "changed": [r.to_dict() for r in self.changed]},
            "required_added": [r.to_dict() for r in self.required_added],
            "firewall": self.firewall.to_dict() if self.firewall else None,
            "private_endpoints": [e.to_dict() for e in self.private_endpoints],
            "recreate_computes": [{"compute": c, "why": RECREATE_WHY} for c in self.recreate_computes],
            "spark": self.spark.to_dict() if self.spark else None,
            "warnings": [n.to_dict() for n in self.warnings],
        }


def plan(old: Workspace, new: Workspace, tags: ServiceTagSet, *, old_source: str | None = None,
         new_source: str | None = None, findings: Sequence[Finding] = ()) -> Plan:
    """What applying ``new`` over ``old`` does. ``findings``: NEW's validation findings (errors become refusals,
    warnings join the plan's own; one the plan already says itself, same code and rule, is not repeated)."""
    mode = mode_transition(old.managed_network.isolation_mode, new.managed_network.isolation_mode)
    rules = diff_rules(old, new)
    refused = _refusals(mode, new)
    spark = spark_provisioning(old, new)
    warnings = _warnings(mode, old, new, rules.created + rules.changed, spark)
    firewall = firewall_change(old, new)
    _merge(refused, [f for f in findings if f.level == "error"])
    _merge(warnings, [f for f in findings if f.level == "warning"])
    required = required_added(old, new, tags)
    return Plan(
        old_source=old_source, new_source=new_source, workspace=new.name, mode=mode, refused=tuple(refused),
        created=tuple(_item(d.rule, "not in OLD (rule names are compared case-insensitively, spec §4)")
                      for d in rules.created),
        removed=tuple(_item(d.rule, "not in NEW (rule names are compared case-insensitively, spec §4)")
                      for d in rules.removed),
        changed=tuple(_item(d.rule, "NEW's rule of the same name (compared case-insensitively, spec §4) replaces "
                            "OLD's", tuple(c.to_dict() for c in d.changes)) for d in rules.changed),
        required_added=tuple(_item(rule, why) for rule, why in required),
        firewall=firewall,
        private_endpoints=endpoints_to_create(old, new, rules.created + rules.changed, required),
        recreate_computes=tuple(c.yaml for c in RECREATED_COMPUTES) if mode.turns_isolation_on else (),
        spark=spark,
        warnings=tuple(warnings),
    )


def _item(rule: Any, why: str, changes: tuple[dict[str, str | None], ...] = ()) -> RuleItem:
    return RuleItem(rule.name, rule.type.yaml, destination_text(rule), why, changes)


def _refusals(mode: ModeTransition, new: Workspace) -> list[Note]:
    refused = [] if mode.allowed else [Note("mode_transition", mode.message, mode.why)]
    if new.managed_network.isolation_mode is AIO:
        for rule in user_rules(new):
            if isinstance(rule, (ServiceTagDestination, FqdnDestination)):
                kind = "service tag" if isinstance(rule, ServiceTagDestination) else "FQDN"
                refused.append(Note(
                    "rule_not_allowed_in_mode",
                    f"{kind} rules are only valid with isolation_mode allow_only_approved_outbound (NEW is "
                    "allow_internet_outbound; only private endpoints can be added)",
                    "spec §1: in allow_internet_outbound a private endpoint is the only destination type; service "
                    "tag and FQDN rules are valid only in allow_only_approved_outbound", rule.name))
    return refused


def _merge(notes: list[Note], findings: Sequence[Finding]) -> None:
    """Validation findings as plan notes, except those the plan already gives (same code and rule)."""
    seen = {(n.code, (n.rule or "").lower()) for n in notes}
    for f in findings:
        if (f.code, (f.rule or "").lower()) not in seen:
            notes.append(Note(f.code, f.message, "egress-sim validate on NEW" + (" (an error)" if f.level == "error"
                                                                                  else ""), f.rule))


def _warnings(mode: ModeTransition, old: Workspace, new: Workspace, touched: tuple[RuleDiff, ...],
              spark: SparkPlan | None) -> list[Note]:
    """What does not stop Azure but the user should know before applying."""
    notes: list[Note] = []
    network = new.managed_network
    if mode.code == "doc_conflict":
        notes.append(Note("doc_conflict", mode.message, mode.why))
    if network.isolation_mode is AOAO and old.managed_network.isolation_mode is not AOAO:
        notes.append(Note("default_deny", "outbound traffic no rule allows is denied from now on (egress-sim replay "
                          "--mode allow_only_approved_outbound shows which of today's flows would be)",
                          "spec §1: allow_only_approved_outbound denies by default; only required and user rules "
                          "allow traffic"))
    if mode.turns_isolation_on and mode.allowed:
        notes.append(Note("network_provisioning", "the managed network is provisioned when the first compute "
                          "instance or cluster is created (about 30 minutes) or with 'az ml workspace "
                          "provision-network'; an online deployment needs it provisioned first",
                          "spec §5: provisioning happens on the first compute creation or when forced"))
        if not new.public_network_access_disabled:
            notes.append(Note("public_network_access", "NEW does not disable public network access: disable it "
                              "before the network is provisioned, or the workspace's private endpoints may not be "
                              "created automatically", "spec §5: public network access on the workspace must be "
                              "disabled before provisioning"))
    if network.isolation_mode is AOAO:
        for rule in network.fqdn_rules:
            for pattern in rule.patterns:
                if targets_storage(pattern):
                    notes.append(Note("fqdn_targets_storage", f"{pattern.text!r} targets Azure Storage, which an FQDN "
                                      "rule cannot reach in allow_only_approved_outbound: add a private endpoint rule "
                                      "instead", "spec §4: approved-only outbound cannot use an FQDN rule to reach "
                                      "Azure Storage accounts; a private endpoint is required", rule.name))
    for diff in touched:
        status = diff.rule.status
        was = diff.old.status if diff.old is not None else None
        if status is not None and status is not RuleStatus.ACTIVE and status is not was:
            notes.append(Note("rule_inactive", f"status {status.value}: the rule allows nothing until it is Active",
                              "spec §5: only Active rules match a flow", diff.rule.name))
    if spark is not None and network.isolation_mode is AOAO and network.fqdn_rules:
        notes.append(Note("fqdn_not_for_spark", "FQDN rules do not apply to serverless Spark: it reaches only "
                          "private endpoints with spark_enabled", "spec §4: FQDN rules are not propagated to "
                          "serverless Spark"))
    if network.firewall_sku is not None and not (network.isolation_mode is AOAO and network.fqdn_rules):
        notes.append(Note("firewall_sku_unused", f"firewall_sku {network.firewall_sku.value} is set, but NEW has no "
                          "FQDN rule in allow_only_approved_outbound, so there is no firewall to size",
                          "spec §4: the managed firewall is created only with the first FQDN rule"))
    return notes

