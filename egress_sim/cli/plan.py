"""``egress-sim plan OLD NEW``: what applying a new workspace definition over the current one would do in Azure."""

from __future__ import annotations

import sys

import click

from ..base.findings import WorkspaceInvalid
from .base import (EXIT_CHECK_FAILED, EXIT_OK, emit_json, fail_invalid, findings_json, json_option, load_tags,
                   location_option, main, say, service_tags_option, warn)


@main.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@location_option
@service_tags_option
@json_option
def plan(old: str, new: str, location: str | None, service_tags: str | None, as_json: bool) -> None:
    """What applying NEW over OLD (workspace files, any form) would do in Azure: whether Azure refuses it (the
    mode change, rule types the mode forbids, anything `validate` calls an error in NEW), the user rules created,
    removed and changed, the rules Azure adds, the managed firewall, the private endpoints Azure creates, the
    computes to recreate, Spark provisioning, and warnings; each with the spec fact behind it.

    --json: {"old", "new", "workspace", "accepted", "mode": {"from", "to", "changed", "allowed", "message",
    "why"}, "refused": [{"code", "rule", "message", "why"}], "rules": {"created", "removed", "changed": [{"name",
    "type", "destination", "changes"?: [{"field", "old", "new"}], "why"}]}, "required_added": [{"name", "type",
    "destination", "why"}], "firewall": {"action": create|change_sku|no_longer_needed, "sku", "old_sku", "rules",
    "why"} | null, "private_endpoints": [{"name", "origin": user|required, "resource", "subresource",
    "spark_enabled", "approver_role", "approver_why", "why"}], "recreate_computes": [{"compute", "why"}],
    "spark": {"rules", "spark_ready", "command", "why"} | null, "warnings": [{"code", "rule", "message", "why"}],
    "findings": [...]} ("findings": the files' own loading warnings).

    Exit 0 when Azure would accept the change, 1 when it would refuse it (also when NEW does not load: its
    errors as `validate` lists them), 2 when a file cannot be read (or OLD does not load).
    """
    from ..analysis.plan import plan as make_plan
    from ..app.validate import validate_workspace
    from ..model import read_workspace
    from ..report.plan import render_plan
    tags = load_tags(service_tags)
    before = read_workspace(old, location)
    try:
        after = read_workspace(new, location)
    except WorkspaceInvalid as exc:
        fail_invalid(exc, EXIT_CHECK_FAILED, as_json)
        return
    checked = validate_workspace(after.workspace, tags, source=new)
    result = make_plan(before.workspace, after.workspace, tags, old_source=old, new_source=new, findings=checked)
    loading = before.findings + after.findings
    if as_json:
        emit_json({**result.to_dict(), "findings": findings_json(loading)})
    else:
        warn(loading, as_json)
        say(render_plan(result.to_dict()))
    sys.exit(EXIT_OK if result.accepted else EXIT_CHECK_FAILED)
