"""Commands about the service-tag files themselves: ``tags diff``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .base import emit_json, findings_json, json_option, load_tags, location_option, main, say, warn

if TYPE_CHECKING:
    from ..base.findings import Finding
    from ..net.servicetags import ServiceTagSet


@main.group()
def tags() -> None:
    """Microsoft's weekly "Azure IP Ranges and Service Tags" files (ServiceTags_Public_*.json)."""


@tags.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--workspace", "workspace_file", type=click.Path(dir_okay=False), default=None,
              help="Look only at the tags this workspace's service-tag rules use (Azure's required ones included).")
@click.option("--flows", "flows", type=click.Path(), default=None,
              help="Also evaluate these flows (a flow table, or logs as replay reads them) under the workspace with "
                   "OLD and with NEW, and list the flows whose verdict changes (needs --workspace).")
@click.option("--inventory", type=click.Path(dir_okay=False), default=None,
              help="Compute inventory for --flows logs (as replay's).")
@click.option("--compute", default=None, help="Compute type for --flows logs, or a flow table without compute_type.")
@click.option("--format", "log_format", default=None, help="Force the log format of --flows (as replay's).")
@location_option
@json_option
def diff(old: str, new: str, workspace_file: str | None, flows: str | None, inventory: str | None,
         compute: str | None, log_format: str | None, location: str | None, as_json: bool) -> None:
    """What changed from OLD to NEW: per tag, the IPv4 and IPv6 prefixes added and removed, and the tags added
    or removed whole. Prefixes are compared as written in the files (a prefix split in two is one removed and
    two added); tags whose prefixes did not change are only counted. Exit 0 whatever changed, 2 on bad input.

    With --workspace, only the tags the workspace's rules in force name: Azure's required rules (with
    BatchNodeManagement.<region> for its location, or --location) and its own service-tag rules, a rule with
    address_prefixes naming none; the rules as allow_only_approved_outbound puts them in force, whatever the
    file's own mode (in the other modes the tags matter once the workspace is isolated).

    --json prints {"old": {"file", "change_number", "cloud", "tags" (the file's count)}, "new": {...},
    "workspace": {"file", "name", "location", "isolation_mode"} or null, "restricted_to": [tag, ...] or null,
    "tags_added": [{"tag", "change_number", "ipv4": [prefix, ...], "ipv6": [...]}], "tags_removed": [the same,
    with OLD's prefixes], "changed": [{"tag", "change_number": {"old", "new"}, "ipv4": {"added": [...],
    "removed": [...]}, "ipv6": {...}}] (biggest change first), "unchanged": N, "totals": {"ipv4": {"added",
    "removed"}, "ipv6": {...}}, "findings": [...]}. Prefix lists keep the files' order; the totals count
    (tag, prefix) pairs, added and removed tags included. With --flows, "flows" holds what ``whatif --json``
    prints from "totals" on (the flows whose verdict changes from OLD to NEW, grouped); exit 1 then when a flow
    allowed under OLD is not under NEW."""
    from ..analysis.tagdiff import diff_service_tags
    from ..report.tagdiff import render_tag_diff

    if location is not None and workspace_file is None:
        raise click.UsageError("--location needs --workspace (it supplies the workspace's region)")
    if flows is not None and workspace_file is None:
        raise click.UsageError("--flows needs --workspace: the flows are evaluated under its rules")
    if (inventory or compute or log_format) and flows is None:
        raise click.UsageError("--inventory, --compute and --format describe --flows: give --flows too")
    before, after = load_tags(old), load_tags(new)
    restrict, described, scope, findings = None, None, None, []
    if workspace_file is not None:
        restrict, described, findings = _workspace_tags(workspace_file, location, before, after)
        where = described["location"] or "no location"
        scope = f"used by {described['name']} in {where}, {described['isolation_mode']}"
    result = diff_service_tags(before, after, restrict)
    changed = None
    if flows is not None:
        changed = _flow_changes(workspace_file, flows, inventory, compute, log_format, location, before, after)
    failed = changed is not None and changed.comparison.failed("newly-denied")
    if as_json:
        from .decide import result_dict
        out = result.to_dict()
        emit_json({"old": out.pop("old"), "new": out.pop("new"), "workspace": described, **out,
                   "flows": result_dict(changed) if changed is not None else None,
                   "findings": findings_json(findings)})
    else:
        warn(findings, as_json)
        say(render_tag_diff(result, scope))
        if changed is not None:
            from ..report.text import render_whatif
            mode = described["isolation_mode"] if described else ""
            sides = {"before": {"workspace": workspace_file, "isolation_mode": mode, "service_tags": old},
                     "after": {"workspace": workspace_file, "isolation_mode": mode, "service_tags": new}}
            say("\n" + render_whatif(sides, changed, 20))
    if failed:
        if not as_json:
            say(f"--flows: {changed.comparison.newly_denied:,} flow(s) allowed under OLD are not under NEW: exit 1",
                err=True)
        raise SystemExit(1)


def _flow_changes(workspace_file: str, flows: str, inventory: str | None, compute: str | None,
                  log_format: str | None, location: str | None, before: ServiceTagSet, after: ServiceTagSet):
    """The flows whose verdict changes when the workspace is compiled against NEW instead of OLD."""
    from ..app.flowinput import FlowInput
    from ..app.whatif import run_whatif
    from ..model import read_workspace
    from ..ruletable.compile import compile_rules
    if inventory is not None and compute is not None:
        raise click.UsageError("give --inventory or --compute, not both")
    workspace = read_workspace(workspace_file, location).workspace
    return run_whatif(compile_rules(workspace, before), compile_rules(workspace, after),
                      FlowInput((flows,), inventory, compute, log_format), before)


def _workspace_tags(path: str, location: str | None, old: ServiceTagSet, new: ServiceTagSet
                    ) -> tuple[tuple[str, ...], dict[str, Any], list[Finding]]:
    """The tags the workspace at ``path`` uses, the workspace as the output describes it, and its warnings."""
    from ..analysis.tagdiff import workspace_tag_names
    from ..base.findings import Finding
    from ..model import read_workspace

    loaded = read_workspace(path, location)
    ws = loaded.workspace
    findings = list(loaded.findings)
    used = workspace_tag_names(ws, old, new, path)
    mode = ws.managed_network.isolation_mode.yaml
    if any(name.lower() == "batchnodemanagement" for name in used):
        findings.append(Finding("warning", "no_location", "no location (give --location REGION): the global "
                                "BatchNodeManagement tag stands in for BatchNodeManagement.<region>", path))
    if mode != "allow_only_approved_outbound":
        findings.append(Finding("warning", "not_approved_only", f"isolation mode {mode}: no service-tag rule is in "
                                "force today; the tags listed are those the rules use once approved-only", path))
    return used, {"file": path, "name": ws.name, "location": ws.location, "isolation_mode": mode}, findings
