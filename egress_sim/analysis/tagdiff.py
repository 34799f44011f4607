"""What changed between two weekly ``ServiceTags_Public_*.json`` files, tag by tag.

A rule that names a service tag allows whatever prefixes this week's file lists for it, so a weekly update can
open or close destinations without anyone touching the workspace. The diff answers "which prefixes came and
went, in which tags", optionally only for the tags one workspace's rules stand on (``workspace_tag_names``).

The comparison is the plain set difference of ``(tag name, prefix)`` pairs: tag names as spelled in the files,
prefixes as written (no normalising, no merging of adjacent prefixes, duplicates in one list count once). So
``10.0.0.0/24`` split into two ``/25`` reads as one prefix removed and two added, which is what happened to the
file, even though the addresses covered are the same. Pure computation: the CLI loads both files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..base.errors import ServiceTagError
from ..model import IsolationMode, Workspace
from ..net.servicetags import ServiceTag, ServiceTagSet
from ..ruletable.effective import effective_rules


@dataclass(frozen=True, slots=True)
class FamilyChange:
    """Prefixes of one address family that a tag gained and lost, in the order the files list them."""

    added: tuple[str, ...]
    removed: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "removed": list(self.removed)}


@dataclass(frozen=True, slots=True)
class TagChange:
    """A tag in both files whose prefix set differs."""

    tag: str
    old_change_number: int | None
    new_change_number: int | None
    ipv4: FamilyChange
    ipv6: FamilyChange

    @property
    def size(self) -> int:
        """Prefixes added plus removed, both families: what the text output sorts by."""
        return sum(len(p) for p in (self.ipv4.added, self.ipv4.removed, self.ipv6.added, self.ipv6.removed))

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "change_number": {"old": self.old_change_number, "new": self.new_change_number},
                "ipv4": self.ipv4.to_dict(), "ipv6": self.ipv6.to_dict()}


@dataclass(frozen=True, slots=True)
class TagPresence:
    """A tag only one of the two files has, with every prefix it has there."""

    tag: str
    change_number: int | None
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.ipv4) + len(self.ipv6)

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "change_number": self.change_number, "ipv4": list(self.ipv4), "ipv6": list(self.ipv6)}


@dataclass(frozen=True)
class TagDiff:
    """Tags added, removed and changed from ``old`` to ``new``; ``changed`` biggest change first."""

    old: ServiceTagSet
    new: ServiceTagSet
    restricted_to: tuple[str, ...] | None
    tags_added: tuple[TagPresence, ...]
    tags_removed: tuple[TagPresence, ...]
    changed: tuple[TagChange, ...]
    unchanged: int

    def added_pairs(self) -> set[tuple[str, str]]:
        """Every ``(tag, prefix)`` in ``new`` and not in ``old`` (within the restriction)."""
        return ({(c.tag, p) for c in self.changed for p in (*c.ipv4.added, *c.ipv6.added)}
                | {(t.tag, p) for t in self.tags_added for p in (*t.ipv4, *t.ipv6)})

    def removed_pairs(self) -> set[tuple[str, str]]:
        """Every ``(tag, prefix)`` in ``old`` and not in ``new`` (within the restriction)."""
        return ({(c.tag, p) for c in self.changed for p in (*c.ipv4.removed, *c.ipv6.removed)}
                | {(t.tag, p) for t in self.tags_removed for p in (*t.ipv4, *t.ipv6)})

    def totals(self) -> dict[str, dict[str, int]]:
        """``(tag, prefix)`` pairs added and removed per family, added and removed tags included."""
        return {
            family: {
                "added": sum(len(getattr(c, family).added) for c in self.changed)
                + sum(len(getattr(t, family)) for t in self.tags_added),
                "removed": sum(len(getattr(c, family).removed) for c in self.changed)
                + sum(len(getattr(t, family)) for t in self.tags_removed),
            }
            for family in ("ipv4", "ipv6")
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape (see ``egress_sim.cli.tags``)."""
        return {
            "old": _file_dict(self.old),
            "new": _file_dict(self.new),
            "restricted_to": None if self.restricted_to is None else list(self.restricted_to),
            "tags_added": [t.to_dict() for t in self.tags_added],
            "tags_removed": [t.to_dict() for t in self.tags_removed],
            "changed": [c.to_dict() for c in self.changed],
            "unchanged": self.unchanged,
            "totals": self.totals(),
        }


def _file_dict(tags: ServiceTagSet) -> dict[str, Any]:
    return {"file": tags.source, "change_number": tags.change_number, "cloud": tags.cloud, "tags": len(tags)}


def diff_service_tags(old: ServiceTagSet, new: ServiceTagSet, restrict: Iterable[str] | None = None) -> TagDiff:
    """Compare two tag files; with ``restrict``, only the tags of those names (matched case-insensitively, as
    rules name tags) are looked at, and ``restricted_to`` spells them as the files do."""
    old_tags = {t.name: t for t in old.tags.values()}
    new_tags = {t.name: t for t in new.tags.values()}
    restricted_to = None
    if restrict is not None:
        wanted = {name.strip().lower() for name in restrict}
        old_tags = {name: t for name, t in old_tags.items() if name.lower() in wanted}
        new_tags = {name: t for name, t in new_tags.items() if name.lower() in wanted}
        spelled = {name.lower(): name for name in (*old_tags, *new_tags)}  # new's spelling wins
        restricted_to = tuple(sorted(spelled.values(), key=str.lower))
    changed: list[TagChange] = []
    unchanged = 0
    for name, before in old_tags.items():
        after = new_tags.get(name)
        if after is None:
            continue
        if before.address_prefixes == after.address_prefixes:  # most tags, most weeks: no sets needed
            unchanged += 1
            continue
        was, now = set(before.address_prefixes), set(after.address_prefixes)
        if was == now:
            unchanged += 1
            continue
        added = [p for p in dict.fromkeys(after.address_prefixes) if p not in was]
        removed = [p for p in dict.fromkeys(before.address_prefixes) if p not in now]
        (added4, added6), (removed4, removed6) = _split(added), _split(removed)
        changed.append(TagChange(name, before.change_number, after.change_number,
                                 FamilyChange(added4, removed4), FamilyChange(added6, removed6)))
    changed.sort(key=lambda c: (-c.size, c.tag.lower()))
    return TagDiff(
        old=old,
        new=new,
        restricted_to=restricted_to,
        tags_added=_presence(new_tags, old_tags),
        tags_removed=_presence(old_tags, new_tags),
        changed=tuple(changed),
        unchanged=unchanged,
    )


def _split(prefixes: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(IPv4, IPv6), each in the given order. The loader accepted only CIDR text, so ':' marks IPv6."""
    v4: list[str] = []
    v6: list[str] = []
    for prefix in prefixes:
        (v6 if ":" in prefix else v4).append(prefix)
    return tuple(v4), tuple(v6)


def _presence(these: dict[str, ServiceTag], others: dict[str, ServiceTag]) -> tuple[TagPresence, ...]:
    """The tags of ``these`` that ``others`` lacks, by name, biggest first."""
    found = []
    for name, tag in these.items():
        if name not in others:
            v4, v6 = _split(dict.fromkeys(tag.address_prefixes))
            found.append(TagPresence(name, tag.change_number, v4, v6))
    found.sort(key=lambda t: (-t.size, t.tag.lower()))
    return tuple(found)


def workspace_tag_names(workspace: Workspace, old: ServiceTagSet, new: ServiceTagSet, source: str) -> tuple[str, ...]:
    """The tags whose prefixes ``workspace``'s service-tag rules allow, under either file: Azure's required rules
    (``BatchNodeManagement.<region>`` for the workspace's region) and the file's own, in evaluation order.

    The rules are taken as ``allow_only_approved_outbound`` puts them in force, whatever the file's mode: the
    question is which tags the workspace depends on once isolated (in the other modes no service-tag rule is in
    force, which would make the answer empty and the diff silent). A rule with
    ``address_prefixes`` names no tag (its ``service_tag`` is ignored, spec §4). A tag may be in one file only
    (that is a change the diff reports); a tag in neither is a ``ServiceTagError`` naming ``source``, the
    workspace file, and both tag files."""
    either = ServiceTagSet(new.change_number, new.cloud, f"{old.source} or {new.source}",
                           {**old.tags, **new.tags})
    try:
        rules = effective_rules(workspace, either, IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
    except ServiceTagError as exc:  # a tag, or the region's BatchNodeManagement.<region>, in neither file
        raise ServiceTagError(f"{source}: {exc}", file=source) from None
    names = (either.require(t.rule.service_tag).name for t in rules.service_tags
             if not t.rule.uses_address_prefixes and t.rule.service_tag is not None)
    return tuple(dict.fromkeys(names))
