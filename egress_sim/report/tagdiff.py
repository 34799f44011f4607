"""The text form of a service-tag diff: the two files, one line per tag that changed, biggest change first, totals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .text import table

if TYPE_CHECKING:
    from ..analysis.tagdiff import TagDiff
    from ..net.servicetags import ServiceTagSet

SHOWN_PREFIXES = 3  # per line: enough to recognise a change, short enough for one terminal line


def render_tag_diff(diff: TagDiff, scope: str | None = None) -> str:
    """``scope`` says whose tags ``diff.restricted_to`` holds (a workspace, its region and mode)."""
    lines = [_file_line("old", diff.old), _file_line("new", diff.new)]
    if diff.restricted_to is not None:
        looked = ", ".join(diff.restricted_to) if diff.restricted_to else "none"
        lines.append(f"tags looked at ({len(diff.restricted_to)}{', ' + scope if scope else ''}): {looked}")
    rows = []
    for change in diff.changed:
        shown = [*(f"+{p}" for p in (*change.ipv4.added, *change.ipv6.added)),
                 *(f"-{p}" for p in (*change.ipv4.removed, *change.ipv6.removed))]
        rows.append((change.tag, "changed", len(change.ipv4.added), len(change.ipv4.removed),
                     len(change.ipv6.added), len(change.ipv6.removed), _numbers(change.old_change_number,
                                                                               change.new_change_number),
                     _first(shown, change.size)))
    for kind, tags, sign in (("added", diff.tags_added, "+"), ("removed", diff.tags_removed, "-")):
        for tag in tags:
            counts = (len(tag.ipv4), 0, len(tag.ipv6), 0) if sign == "+" else (0, len(tag.ipv4), 0, len(tag.ipv6))
            numbers = _numbers(None, tag.change_number) if sign == "+" else _numbers(tag.change_number, None)
            rows.append((tag.tag, f"tag {kind}", *counts, numbers,
                         _first([f"{sign}{p}" for p in (*tag.ipv4, *tag.ipv6)], tag.size)))
    rows.sort(key=lambda r: (-sum(r[2:6]), r[0].lower()))
    lines.append("")
    if rows:
        lines.append(table(("tag", "what", "+v4", "-v4", "+v6", "-v6", "changeNumber", "prefixes"), rows,
                           (False, False, True, True, True, True, False, False)))
        lines.append("")
    totals = diff.totals()
    lines.append(
        f"changed: {len(diff.changed):,} tags, added: {len(diff.tags_added):,}, removed: {len(diff.tags_removed):,}, "
        f"unchanged: {diff.unchanged:,}"
    )
    lines.append(
        f"prefixes: IPv4 +{totals['ipv4']['added']:,} -{totals['ipv4']['removed']:,}, "
        f"IPv6 +{totals['ipv6']['added']:,} -{totals['ipv6']['removed']:,}"
    )
    return "\n".join(lines)


def _file_line(which: str, tags: ServiceTagSet) -> str:
    number = "no changeNumber" if tags.change_number is None else f"changeNumber {tags.change_number}"
    return f"{which}: {tags.source} ({number}, {len(tags):,} tags)"


def _numbers(old: int | None, new: int | None) -> str:
    return f"{'-' if old is None else old} -> {'-' if new is None else new}"


def _first(prefixes: list[str], total: int) -> str:
    shown = " ".join(prefixes[:SHOWN_PREFIXES])
    return shown + (f" (+{total - SHOWN_PREFIXES:,} more)" if total > SHOWN_PREFIXES else "")
