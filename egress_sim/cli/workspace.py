"""Commands about a workspace file itself: ``validate`` and ``convert``."""

from __future__ import annotations

import json
import sys

import click

from ..base.findings import Finding, WorkspaceInvalid
from ..base.outputs import check_outputs
from .base import (EXIT_CHECK_FAILED, EXIT_OK, emit_json,
                   fail_invalid, findings_json, json_option, load_tags, location_option, say,
                   service_tags_option, warn, write_text, main)


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("--from", "previous", type=click.Path(dir_okay=False), default=None,
              help="The workspace as it is now: refuse mode changes Azure does not allow.")
@location_option
@service_tags_option
@json_option
def validate(workspace: str, previous: str | None, location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Check WORKSPACE (Azure ML YAML, or REST/ARM JSON); print the workspace as understood, every rule in
    force, and every finding. Exit 1 when the workspace is invalid."""
    from ..app.describe import describe_workspace
    from ..app.loading import read_checked
    from ..app.validate import check_transition
    from ..model import read_workspace
    from ..report.text import render_compiled, render_rules
    from ..ruletable.compile import compile_rules
    tags = load_tags(service_tags)
    try:
        loaded = read_checked(workspace, tags, location)
    except WorkspaceInvalid as exc:
        fail_invalid(exc, EXIT_CHECK_FAILED, as_json)
        return
    findings = list(loaded.findings)
    if previous is not None:
        old = read_workspace(previous).workspace
        findings += check_transition(old.managed_network.isolation_mode, loaded.workspace.managed_network.isolation_mode,
                                     workspace)
    errors = [f for f in findings if f.level == "error"]
    table = compile_rules(loaded.workspace, tags)
    understood = describe_workspace(loaded, tags, location_given=location is not None, effective=table.effective)
    summary = table.summary() if not errors else None
    if as_json:
        emit_json({"file": workspace, "valid": not errors, "workspace": understood, "findings": findings_json(findings),
                    "compiled": summary})
    else:
        for finding in findings:
            say(("error: " if finding.level == "error" else "") + str(finding), err=True)
        ws = loaded.workspace
        state = "valid" if not errors else "INVALID"
        say(f"{workspace}: {state} ({ws.name}, {ws.location or 'no location'}, "
            f"{understood['isolation_mode']}, {loaded.form.replace('_', ' ')} form)")
        say(render_rules(understood["rules"]))
        if summary is not None:
            say()
            say(render_compiled(summary))
    sys.exit(EXIT_CHECK_FAILED if errors else EXIT_OK)


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("--to", "target", type=click.Choice(["yaml", "arm"]), required=True,
              help="yaml: the Azure ML CLI/SDK form; arm: a workspace resource as an ARM template holds it.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write it.")
@location_option
@json_option
def convert(workspace: str, target: str, output: str, location: str | None, as_json: bool) -> None:
    """Write WORKSPACE (any form) in another form. The rules are kept as written, Azure's required ones
    included when the file lists them; loading the result gives the same compiled rule table."""
    from ..model import dump_workspace, read_workspace, workspace_to_rest
    from ..model.rest_io import untranslated_keys
    check_outputs([output], inputs=[workspace])
    loaded = read_workspace(workspace, location)
    ws = loaded.workspace
    notes = list(loaded.findings)
    if target == "yaml":
        text = dump_workspace(ws) or ""
    else:
        left = untranslated_keys(ws.extra)
        if left:
            notes.append(Finding("warning", "not_converted", "no ARM twin is written for: " + ", ".join(left), workspace))
        text = json.dumps(workspace_to_rest(ws, ws.extra), indent=2) + "\n"
    write_text(output, text)
    if as_json:
        emit_json({"workspace": workspace, "form": loaded.form, "to": target, "output": output,
                    "rules": len(ws.managed_network.outbound_rules), "findings": findings_json(notes)})
    else:
        warn(notes, as_json)
        say(f"{ws.name}: {loaded.form.replace('_', ' ')} form -> {target}, "
            f"{len(ws.managed_network.outbound_rules)} rules written to {output}")


