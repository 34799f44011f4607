"""The user's rules of two workspace definitions side by side: created, removed, changed (field by field).

Rules are matched by name, case-insensitively, as Azure keeps them (spec §4: names are unique per workspace).
Only the user's own rules are compared: a file printed by ``az ml workspace show`` also lists Azure's required
rules (category ``required``, ``recommended``, ``dependency``), which nobody writes and Azure keeps itself.
Fields are compared by meaning, not spelling: ``80,443`` equals ``80, 443``, FQDN names in any order, resource
ids case-insensitively; a status counts only when both files report it (it is dump-only in Azure ML YAML).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import (
    AnyRule,
    FqdnDestination,
    OutboundRuleCategory,
    PrivateEndpointDestination,
    ServiceTagDestination,
    Workspace,
)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a rule, as OLD and NEW spell it (None: not given)."""

    field: str
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class RuleDiff:
    """A user rule that is created, removed or changed (``changes`` lists the fields of a changed one)."""

    old: AnyRule | None
    new: AnyRule | None
    changes: tuple[FieldChange, ...] = ()

    @property
    def rule(self) -> AnyRule:
        rule = self.new if self.new is not None else self.old
        assert rule is not None
        return rule

    @property
    def changed_fields(self) -> set[str]:
        return {c.field for c in self.changes}


@dataclass(frozen=True, slots=True)
class RulesDiff:
    created: tuple[RuleDiff, ...]
    removed: tuple[RuleDiff, ...]
    changed: tuple[RuleDiff, ...]
    unchanged: tuple[RuleDiff, ...]


def user_rules(workspace: Workspace) -> tuple[AnyRule, ...]:
    """The rules a user writes: category ``user_defined`` (the others are Azure's, spec §5)."""
    return tuple(r for r in workspace.managed_network.outbound_rules if r.category is OutboundRuleCategory.USER_DEFINED)


def diff_rules(old: Workspace, new: Workspace) -> RulesDiff:
    """NEW's user rules against OLD's, matched by name case-insensitively; each list in its file's order."""
    before = {r.name.lower(): r for r in user_rules(old)}
    after = {r.name.lower(): r for r in user_rules(new)}
    created, changed, unchanged = [], [], []
    for key, rule in after.items():
        previous = before.get(key)
        if previous is None:
            created.append(RuleDiff(None, rule))
            continue
        changes = field_changes(previous, rule)
        (changed if changes else unchanged).append(RuleDiff(previous, rule, changes))
    removed = [RuleDiff(rule, None) for key, rule in before.items() if key not in after]
    return RulesDiff(tuple(created), tuple(removed), tuple(changed), tuple(unchanged))


def field_changes(old: AnyRule, new: AnyRule) -> tuple[FieldChange, ...]:
    """The fields that differ in meaning, each with both spellings."""
    a, b = rule_fields(old), rule_fields(new)
    changes = [FieldChange(name, a.get(name, (None, None))[1], b.get(name, (None, None))[1])
               for name in dict.fromkeys([*a, *b])
               if a.get(name, (None, None))[0] != b.get(name, (None, None))[0]]
    if old.status is not None and new.status is not None and old.status is not new.status:
        changes.append(FieldChange("status", old.status.value, new.status.value))
    return tuple(changes)


Field = tuple[object, str | None]  # (what is compared, what is shown)


def rule_fields(rule: AnyRule) -> dict[str, Field]:
    """Every field of a rule but ``status`` and ``category``: the value compared and its display."""
    fields: dict[str, Field] = {"name": (rule.name, rule.name), "type": (rule.type, rule.type.yaml)}
    if isinstance(rule, FqdnDestination):
        fields["destination"] = (tuple(sorted({p.text for p in rule.patterns})), rule.destination)
    elif isinstance(rule, ServiceTagDestination):
        fields["service_tag"] = (rule.service_tag, rule.service_tag)
        fields["protocol"] = (rule.protocol, rule.protocol.value)
        fields["port_ranges"] = (rule.port_ranges.normalized, rule.port_ranges.text)
        fields["address_prefixes"] = (
            tuple(sorted(str(n) for n in rule.networks)) if rule.uses_address_prefixes else None,
            ", ".join(rule.address_prefixes) if rule.address_prefixes is not None else None,
        )
    else:
        assert isinstance(rule, PrivateEndpointDestination)
        fields["service_resource_id"] = (rule.service_resource_id.lower(), rule.service_resource_id)
        fields["subresource_target"] = (rule.subresource_target.lower(), rule.subresource_target)
        fields["spark_enabled"] = (rule.spark_enabled, str(rule.spark_enabled).lower())
        fields["fqdns"] = (tuple(sorted(set(rule.fqdn_hosts))) or None,
                           ", ".join(rule.fqdns) if rule.fqdns else None)
    return fields


def destination_text(rule: AnyRule) -> str:
    """A rule's destination on one line: the FQDN list; tag (or prefixes), protocol and ports; resource (sub)."""
    if isinstance(rule, FqdnDestination):
        return rule.destination
    if isinstance(rule, ServiceTagDestination):
        target = ", ".join(rule.address_prefixes) if rule.address_prefixes is not None else rule.service_tag
        return f"{target} {rule.protocol.value} {rule.port_ranges.text}"
    return f"{rule.service_resource_id} ({rule.subresource_target})"


def endpoint_key(resource_id: str, subresource: str | None = None) -> tuple[str, str]:
    """A private endpoint target as provider/type/name (and sub-resource), whatever subscription and resource
    group its id spells: the same resource, as ``ruletable.effective`` compares them."""
    return resource_id.lower().rsplit("/providers/", 1)[-1], (subresource or "").lower()
