"""The decision commands over a workspace's own flows: ``whatif`` (what changes), ``suggest`` (what to add) and
``rules`` (what each rule does)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from .report import report_option
from .base import (check_engine, dask_session, engine_options, EXIT_CHECK_FAILED, EXIT_OK, MODE_HELP, DeferredOption, _compute_choice, _format_help, emit_json,
                   findings_json, json_option, load_tags, location_option, parse_mode, progress_bar, say,
                   service_tags_option, warn, main)

TOP_GROUPS = 20


def flow_input_options(command: Callable[..., Any] | None = None, *, required: bool = True) -> Any:
    """FLOWS and the options that say how to read them (as ``replay``'s); ``required=False`` for a command that
    also works without flows."""
    if command is None:
        return lambda f: flow_input_options(f, required=required)
    for option in reversed([
        click.argument("flows", nargs=-1, required=required),
        click.option("--inventory", type=click.Path(dir_okay=False), default=None,
                     help="Compute inventory (YAML or CSV) for logs: which compute owns which source addresses."),
        click.option("--compute", cls=DeferredOption, deferred=_compute_choice, default=None,
                     help="Treat every flow as sent by this compute type (logs, or a flow table without "
                          "compute_type)."),
        click.option("--format", "log_format", cls=DeferredOption, deferred=_format_help, default=None),
        click.option("--chunk-rows", type=click.IntRange(min=1), default=None,
                     help="Flows read and evaluated at a time (bounds memory)."),
    ]):
        command = option(command)
    return command


def _progress_total(source) -> int | None:
    """What the progress bar counts to: a Parquet table's rows, the logs' bytes; None when unknown (a CSV)."""
    from ..app.pipeline import flow_count
    from ..app.replay import total_size

    return flow_count(source.paths[0]) if source.is_flow_table else total_size(list(source.paths))


def _flow_input(flows: tuple[str, ...], inventory: str | None, compute: str | None, log_format: str | None,
                chunk_rows: int | None):
    from ..app.flowinput import FlowInput

    if inventory is not None and compute is not None:
        raise click.UsageError("give --inventory or --compute, not both")
    return FlowInput(tuple(flows), inventory, compute, log_format, chunk_rows)


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@flow_input_options
@click.option("--to-mode", default=None, help="The isolation mode to compare with (" + MODE_HELP.split(": ")[1] + ").")
@click.option("--to-rules", type=click.Path(dir_okay=False), default=None,
              help="Another workspace file: its rules (and mode, unless --to-mode) are the other side.")
@click.option("--to-service-tags", type=click.Path(dir_okay=False), default=None,
              help="Another week's ServiceTags_Public_*.json for the other side.")
@click.option("--mode", default=None, help="Isolation mode of the first side instead of WORKSPACE's.")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Write the changed flows with both verdicts (.csv, .csv.gz or .parquet; with --engine dask a "
                   "directory of Parquet parts).")
@click.option("--fail-on", type=click.Choice(["newly-denied", "any-change"]), default="newly-denied",
              show_default=True, help="Exit 1 when a flow allowed before is not after, or when any verdict changes.")
@click.option("--top", type=click.IntRange(min=0), default=TOP_GROUPS, show_default=True,
              help="Groups shown in the text output (--json lists every group).")
@report_option
@engine_options
@location_option
@service_tags_option
@json_option
def whatif(workspace: str, flows: tuple[str, ...], inventory: str | None, compute: str | None,
           log_format: str | None, chunk_rows: int | None, to_mode: str | None, to_rules: str | None,
           to_service_tags: str | None, mode: str | None, output: str | None, fail_on: str, top: int,
           report_dir: str | None, engine: str, scheduler: str | None, workers: int | None, location: str | None,
           service_tags: str | None, as_json: bool) -> None:
    """Which of FLOWS change verdict if WORKSPACE changes (--to-mode, --to-rules, --to-service-tags; any
    combination). FLOWS are read once and evaluated under both sides. Exit 1 when --fail-on is met.

    \b
    --json: {"before": SIDE, "after": SIDE, "totals": {"flows", "changed", "newly_denied",
    "newly_allowed"}, "groups": [{"compute_type", "destination", "kind" (host, service_tag, network),
    "protocol", "dst_port",
    "before": {"verdict", "reason", "rule"}, "after": {...}, "flows", "bytes_out", "bytes_in",
    "first_seen", "last_seen"}], "fail_on", "failed", "output", "rows_written", "replay" (logs only),
    "findings"}; SIDE = {"workspace", "isolation_mode", "service_tags"}.
    """
    from ..app.loading import read_checked
    from ..app.whatif import run_whatif
    from ..report.text import render_whatif
    from ..ruletable.compile import compile_rules
    from ..ruletable.effective import endpoint_addresses
    check_engine(engine, scheduler, workers)
    if to_mode is None and to_rules is None and to_service_tags is None:
        raise click.UsageError("say what the other side is: --to-mode, --to-rules and/or --to-service-tags")
    source = _flow_input(flows, inventory, compute, log_format, chunk_rows)
    tags = load_tags(service_tags)
    new_tags = load_tags(to_service_tags) if to_service_tags is not None else tags
    loaded = read_checked(workspace, tags, location)
    other = read_checked(to_rules, new_tags, location) if to_rules is not None else loaded
    findings = [*loaded.findings, *(other.findings if other is not loaded else ())]
    warn(findings, as_json)
    before = compile_rules(loaded.workspace, tags, parse_mode(mode))
    after_mode = parse_mode(to_mode, "--to-mode") if to_mode is not None else (parse_mode(mode) if to_rules is None else None)
    # the same endpoint at the same simulated address on both sides: a flow logged by address alone keeps its place
    after = compile_rules(other.workspace, new_tags, after_mode, endpoint_addresses(before.effective))
    if engine == "dask":
        from ..app.distributed import whatif_dask
        with dask_session(scheduler, workers, as_json) as client:
            result = whatif_dask(client, before, after, source, tags, output)
    else:
        with progress_bar(_progress_total(source), "comparing") as progress:
            result = run_whatif(before, after, source, tags, output, progress)
    failed = result.comparison.failed(fail_on)
    sides = {
        "before": {"workspace": workspace, "isolation_mode": before.mode.yaml, "service_tags": tags.source},
        "after": {"workspace": to_rules or workspace, "isolation_mode": after.mode.yaml,
                  "service_tags": new_tags.source},
    }
    reports = None
    if report_dir:
        from ..app.report import build_report, whatif_from_result
        from .report import write
        section = whatif_from_result({**result_dict(result), "before_label": _side_label(sides["before"]),
                                      "after_label": _side_label(sides["after"])})
        data = build_report(loaded.workspace, workspace, tags, [], f"{loaded.workspace.name}: what-if", whatif=section)
        reports = {kind: str(path) for kind, path in write(data, report_dir).items()}
    if as_json:
        emit_json({**sides, **result_dict(result), "fail_on": fail_on, "failed": failed, "reports": reports,
                   "findings": findings_json(findings)})
    else:
        say(render_whatif(sides, result, top))
        if reports:
            say("\nreports: " + ", ".join(reports.values()))
        if failed:
            say(f"\n--fail-on {fail_on}: exit 1", err=True)
    sys.exit(EXIT_CHECK_FAILED if failed else EXIT_OK)


def _side_label(side: dict) -> str:
    return f"{side['workspace']} ({side['isolation_mode']})"


def result_dict(result) -> dict[str, Any]:
    """The what-if result in the documented ``--json`` shape."""
    c = result.comparison
    groups = []
    for row in result.groups.to_dict("records"):
        groups.append({
            "compute_type": row["compute_type"], "destination": row["destination"], "kind": row["kind"],
            "protocol": row["protocol"], "dst_port": None if row["dst_port"] < 0 else int(row["dst_port"]),
            "before": {k: row[f"{k}_before"] or None for k in ("verdict", "reason", "rule")},
            "after": {k: row[f"{k}_after"] or None for k in ("verdict", "reason", "rule")},
            "flows": int(row["flows"]), "bytes_out": int(row["bytes_out"]), "bytes_in": int(row["bytes_in"]),
            "first_seen": None if row["first_seen"] is None or str(row["first_seen"]) == "NaT" else str(row["first_seen"]),
            "last_seen": None if row["last_seen"] is None or str(row["last_seen"]) == "NaT" else str(row["last_seen"]),
        })
    out: dict[str, Any] = {
        "totals": {"flows": c.flows, "changed": c.changed, "newly_denied": c.newly_denied,
                   "newly_allowed": c.newly_allowed},
        "groups": groups, "output": result.output, "rows_written": result.rows_written,
    }
    if result.replay is not None:
        out["replay"] = {"totals": result.replay.totals, "rejected": result.replay.rejected_by_reason(),
                         "skipped": dict(result.replay.ledger.skipped.most_common())}
    return out


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@flow_input_options(required=False)
@click.option("--mode", default=None, help=MODE_HELP)
@location_option
@service_tags_option
@json_option
def rules(workspace: str, flows: tuple[str, ...], inventory: str | None, compute: str | None,
          log_format: str | None, chunk_rows: int | None, mode: str | None, location: str | None,
          service_tags: str | None, as_json: bool) -> None:
    """Every rule in force: what it opens, whether it is shadowed (no flow can ever be decided by it, proved from
    the compiled rules), broad, inactive or ineffective; with FLOWS, also its hits, bytes, computes and last hit,
    and the rules never hit.

    \b
    --json: {"workspace", "isolation_mode", "rules": [{"order", "name", "type", "category", "active",
    "opens", "broad": [...], "shadowed_by": [...], "notes": [...], and with FLOWS "hits", "bytes_out",
    "computes", "last_hit", "never_hit"}], "shadowed": [names], "never_hit": [names] | null,
    "flows": N | null, "findings"}
    """
    from ..app.loading import read_checked
    from ..app.rules import run_rules
    from ..report.text import render_rules_check
    from ..ruletable.compile import compile_rules
    source = _flow_input(flows, inventory, compute, log_format, chunk_rows) if flows else None
    if source is None and (inventory or compute or log_format):
        raise click.UsageError("--inventory, --compute and --format describe FLOWS: give FLOWS too")
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    table = compile_rules(loaded.workspace, tags, parse_mode(mode))
    with progress_bar(_progress_total(source) if source else 0, "evaluating") as progress:
        result = run_rules(table, source, progress)
    rows = result.rows()
    summary = {
        "workspace": workspace, "isolation_mode": table.mode.yaml, "rules": rows,
        "shadowed": [r["name"] for r in rows if r["shadowed_by"]],
        "never_hit": [r["name"] for r in rows if r.get("never_hit")] if result.usage is not None else None,
        "flows": result.usage.flows if result.usage is not None else None,
    }
    if as_json:
        emit_json({**summary, "findings": findings_json(loaded.findings)})
    else:
        say(render_rules_check(summary))


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@flow_input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the workspace with the suggested rules (Azure ML YAML, allow_only_approved_outbound).")
@report_option
@location_option
@service_tags_option
@json_option
def suggest(workspace: str, flows: tuple[str, ...], inventory: str | None, compute: str | None,
            log_format: str | None, chunk_rows: int | None, output: str | None, report_dir: str | None,
            location: str | None, service_tags: str | None, as_json: bool) -> None:
    """The smallest set of rules that lets FLOWS' benign traffic through in allow_only_approved_outbound: private
    endpoints for Azure PaaS, FQDN rules (spec §3 sets by name, exact names, wildcards only over several
    siblings), service tags for Azure services on the ports used. Flows labelled as exfiltration, or matching a
    risk signature, are left denied on purpose. The rule set is checked by evaluating every denied flow under it.

    \b
    --json: {"workspace", "output", "isolation_mode": "allow_only_approved_outbound", "rules": [{"action"
    (add, change), "name", "type", "destination", "group", "why", "flows", "bytes_out", "computes",
    "destinations"}], "benign": {"flows", "allowed"}, "left_denied": [GROUP], "unresolved": [GROUP],
    "residual_risk": [GROUP], "notes", "findings"}; GROUP = {"destination", "protocol", "port", "compute_types",
    "label", "flows", "bytes_out", "why"}.
    """
    from ..app.loading import read_checked
    from ..app.suggest import run_suggest
    from ..report.text import render_suggestion
    source = _flow_input(flows, inventory, compute, log_format, chunk_rows)
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    with progress_bar(_progress_total(source), "reading") as progress:
        result = run_suggest(loaded.workspace, tags, source, output, progress)
    data = suggestion_dict(workspace, result)
    if report_dir:
        from ..app.report import build_report
        from .report import write
        fixes = [{"action": r["action"], "name": r["name"], "type": r["type"], "why": r["why"], "flows": r["flows"],
                  "destination": r["destination"] if isinstance(r["destination"], str) else
                  ", ".join(f"{k}={v}" for k, v in r["destination"].items() if v not in (None, False))}
                 for r in data["rules"]]
        report = build_report(loaded.workspace, workspace, tags, [], f"{loaded.workspace.name}: suggested rules",
                              suggestions=fixes)
        data["reports"] = {kind: str(path) for kind, path in write(report, report_dir).items()}
    if as_json:
        emit_json({**data, "findings": findings_json(loaded.findings)})
    else:
        say(render_suggestion(data))
        if data.get("reports"):
            say("\nreports: " + ", ".join(data["reports"].values()))


def suggestion_dict(workspace: str, result) -> dict[str, Any]:
    s = result.suggestion
    return {
        "workspace": workspace, "output": result.output, "isolation_mode": "allow_only_approved_outbound",
        "rules": [p.to_dict() for p in s.proposals],
        "benign": {"flows": s.benign_flows, "allowed": s.benign_allowed},
        "left_denied": _flow_groups(s.left_denied), "unresolved": _flow_groups(s.unresolved),
        "residual_risk": _flow_groups(s.residual_risk), "notes": s.notes,
    }


def _flow_groups(rows) -> list[dict[str, Any]]:
    """Rows of denied flows grouped by destination, protocol, port, label and why."""
    if not len(rows):
        return []
    frame = rows.assign(destination=rows["host"].where(rows["host"] != "", rows["dst_ip"]))
    groups = frame.groupby(["destination", "protocol", "port", "label", "why"], sort=False).agg(
        flows=("flows", "sum"), bytes_out=("bytes_out", "sum"),
        compute_types=("compute_type", lambda c: sorted(set(c)))).reset_index()
    groups = groups.sort_values("flows", ascending=False, kind="stable")
    return [{"destination": g["destination"], "protocol": g["protocol"], "port": None if g["port"] < 0 else int(g["port"]),
             "compute_types": g["compute_types"], "label": g["label"] or None, "flows": int(g["flows"]),
             "bytes_out": int(g["bytes_out"]), "why": g["why"]} for g in groups.to_dict("records")]
