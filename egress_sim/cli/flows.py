"""Commands that give flows verdicts: ``evaluate``, ``explain``, ``simulate``, ``demo`` and ``replay``."""

from __future__ import annotations

import sys

import click

from ..base.errors import EgressSimError
from ..base.outputs import check_outputs
from .report import report_option
from .base import (check_engine, dask_session, engine_options, EXIT_CHECK_FAILED, MAX_FLOWS, MODE_HELP, DeferredOption, chunk_rows_option, emit_json,
                   findings_json, json_option, load_tags, location_option, parse_mode, progress_bar, say,
                   scenario_option, service_tags_option, warn, _compute_choice, _demo_flows, _demo_seed,
                   _format_help, _replay_chunk_rows, main)


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("flows", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Where to write the flows with verdict, reason and rule (.csv or .parquet; with --engine dask a "
                   "directory of Parquet parts).")
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--compute", cls=DeferredOption, deferred=_compute_choice, default=None,
              help="Compute type for flows when the file has no compute_type column.")
@click.option("--verdicts-only", is_flag=True,
              help="Write only verdict, reason and rule, row for row with FLOWS (join by row number): "
                   "much smaller and faster than copying every input column.")
@chunk_rows_option
@report_option
@engine_options
@location_option
@service_tags_option
@json_option
def evaluate(workspace: str, flows: str, output: str, mode: str | None, compute: str | None, verdicts_only: bool,
             chunk_rows: int, report_dir: str | None, engine: str, scheduler: str | None, workers: int | None,
             location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Give every flow in FLOWS (CSV or Parquet) a verdict under WORKSPACE's rules."""
    from ..app.loading import read_checked
    from ..app.pipeline import evaluate_file, flow_count
    from ..report.text import render_evaluation
    from ..ruletable.compile import compile_rules
    check_engine(engine, scheduler, workers)
    if verdicts_only and report_dir:
        raise click.UsageError("--report needs the flow columns: it cannot go with --verdicts-only")
    if engine == "dask" and verdicts_only:
        raise click.UsageError("--verdicts-only is for the local engine: the Dask engine writes every input column "
                               "with source_file and source_row")
    if engine == "local":
        check_outputs([output], inputs=[workspace, flows, service_tags])
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    table = compile_rules(loaded.workspace, tags, parse_mode(mode))
    if engine == "dask":
        from ..app.distributed import evaluate_dask, parquet_partitions
        parquet_partitions(flows, chunk_rows)  # a CSV is refused before a cluster starts
        with dask_session(scheduler, workers, as_json) as client:
            summary = evaluate_dask(client, table, flows, output, compute, chunk_rows)
    else:
        with progress_bar(flow_count(flows), "evaluating") as progress:
            summary = evaluate_file(table, flows, output, compute, chunk_rows, keep_input=not verdicts_only,
                                    progress=progress)
    reports = _reports(report_dir, loaded.workspace, workspace, tags, [(table.mode, output)],
                       f"{loaded.workspace.name}: evaluate {flows}") if report_dir else None
    if as_json:
        emit_json({"workspace": workspace, "flows_file": flows, "output": output, "isolation_mode": table.mode.yaml,
                   **summary.to_dict(), "reports": reports, "findings": findings_json(loaded.findings)})
    else:
        say(f"{loaded.workspace.name}: {table.mode.yaml}; verdicts written to {output}\n")
        say(render_evaluation(summary))
        if reports:
            say("\nreports: " + ", ".join(reports.values()))


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("--dst", required=True, help="Destination host name or IP address.")
@click.option("--ip", default=None, help="The destination IP, when --dst is a host name.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Destination port (not needed for ICMP).")
@click.option("--protocol", default="TCP", show_default=True, help="TCP, UDP or ICMP.")
@click.option("--compute", cls=DeferredOption, deferred=_compute_choice, default="compute_cluster", show_default=True)
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--expect", type=click.Choice(["allow", "deny"]), default=None,
              help="Exit 1 unless the verdict is this.")
@location_option
@service_tags_option
@json_option
def explain(workspace: str, dst: str, ip: str | None, port: int | None, protocol: str, compute: str,
            mode: str | None, expect: str | None, location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Show the whole decision path for one flow: every rule tried, and why it matched or not."""
    from ..app.loading import read_checked
    from ..evaluation.reference import ReferenceEvaluator
    from ..model import Protocol, normalize_host
    from ..net.ipnum import destination_address
    from ..report.text import render_decision
    from ..ruletable.compile import compile_rules
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    table = compile_rules(loaded.workspace, tags, parse_mode(mode))
    proto = Protocol.parse(protocol)
    if proto is Protocol.ANY:
        raise EgressSimError("a flow's protocol is TCP, UDP or ICMP, not '*'")
    if port is None and proto is not Protocol.ICMP:
        raise click.UsageError("--port is required for TCP and UDP")
    is_ip = destination_address(dst, "--dst") is not None
    if not is_ip:
        normalize_host(dst)  # a ModelError names what is wrong with the host name (empty labels, length...)
    if ip is not None:
        if is_ip:
            raise click.UsageError("--ip gives the address of a host name in --dst; --dst is already an address")
        if destination_address(ip, "--ip") is None:
            raise EgressSimError(f"--ip {ip!r} is not an IPv4 or IPv6 address")
    row = {"compute_type": compute, "protocol": proto.value, "dst_port": port,
           "dst_ip": dst if is_ip else ip, "fqdn": None if is_ip else dst}
    decision = ReferenceEvaluator(table.effective).evaluate_row(row)
    flow_text = f"{compute} -> {dst}{f' ({ip})' if ip else ''} {proto.value}/{port if port is not None else '-'} under {table.mode.yaml}"
    if as_json:
        emit_json({
            "flow": row, "isolation_mode": table.mode.yaml, "verdict": decision.verdict.label,
            "reason": decision.reason.code, "rule": decision.rule,
            "checks": [{"step": c.step, "rule": c.rule, "matched": c.matched, "detail": c.detail} for c in decision.checks],
            "findings": findings_json(loaded.findings),
        })
    else:
        say(render_decision(flow_text, decision))
    if expect is not None and decision.verdict.label != expect:
        if not as_json:
            say(f"expected {expect}, got {decision.verdict.label} ({decision.reason.code})", err=True)
        sys.exit(EXIT_CHECK_FAILED)



@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("--flows", "n_flows", type=click.IntRange(min=0, max=MAX_FLOWS), default=100_000, show_default=True,
              help="How many flows to generate.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed: the same seed gives byte-identical output.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the flows (.parquet or .csv).")
@click.option("--inventory-out", type=click.Path(dir_okay=False), default=None,
              help="Also write the simulated fleet as a compute inventory (YAML), for replaying logs made from it.")
@scenario_option
@location_option
@service_tags_option
@json_option
def simulate(workspace: str, n_flows: int, seed: int, output: str, inventory_out: str | None, scenario: str | None,
             location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Generate labelled outbound flows from WORKSPACE's compute fleet (streamed, flat memory)."""
    from ..app.loading import read_checked
    from ..report.text import render_simulation
    from ..simulate.scenario import load_scenario
    from ..simulate.simulator import simulate as simulate_flows
    check_outputs([output, inventory_out], inputs=[workspace, scenario, service_tags])
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    ws = loaded.workspace
    plan_scenario = load_scenario(scenario)
    with progress_bar(n_flows, "simulating") as progress:
        plan, summary = simulate_flows(ws, tags, plan_scenario, n_flows, seed, output, progress, inventory_out)
    if as_json:
        emit_json({"workspace": workspace, "output": output, **plan.describe(), **summary.to_dict(),
                    "findings": findings_json(loaded.findings)})
    else:
        say(f"{ws.name}: {summary.flows:,} flows written to {output} (seed {seed})\n")
        say(render_simulation(plan.describe(), summary.to_dict()))


@main.command()
@click.option("--workspace", type=click.Path(dir_okay=False), default=None,
              help="Workspace YAML to simulate; default: the bundled contoso-research.yaml.")
@click.option("--flows", "n_flows", type=click.IntRange(min=1, max=MAX_FLOWS), cls=DeferredOption, deferred=_demo_flows,
              show_default=True)
@click.option("--seed", type=click.IntRange(min=0), cls=DeferredOption, deferred=_demo_seed, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/demo", show_default=True,
              help="Directory for flows, verdicts and reports.")
@scenario_option
@location_option
@service_tags_option
@json_option
def demo(workspace: str | None, n_flows: int, seed: int, out_dir: str, scenario: str | None, location: str | None,
         service_tags: str | None, as_json: bool) -> None:
    """Simulate a workspace's traffic, evaluate it under all three isolation modes, and report."""
    from ..app.demo import run_demo
    from ..report.document import write_reports
    from ..report.markdown import MODE_HEADERS, mode_rows
    from ..report.text import table
    # one bar for the whole run: the simulation, then an evaluation under each of the three modes
    with progress_bar(4 * n_flows, "simulating, then evaluating 3 modes") as progress:
        report = run_demo(out_dir, n_flows, seed, workspace, scenario, service_tags, progress, location=location,
                          evaluation_progress=progress, write_documents=write_reports)
    warn(report.findings, as_json)
    if as_json:
        emit_json(report.data)
        return
    data = report.data
    sim = data["simulation"]
    say(f"{data['workspace']['name']}: {sim['flows']:,} simulated flows (seed {sim['seed']}), "
               f"evaluated under each isolation mode\n")
    say(table(MODE_HEADERS, mode_rows(data), [False, True, True, True, True, True]))
    approved = data["modes"].get("allow_only_approved_outbound")
    if approved and approved["benign_denied_by_service"]:
        worst = list(approved["benign_denied_by_service"].items())[:5]
        say("\nallow_only_approved_outbound would block these benign flows, most first:")
        say(table(["service", "flows", "why"],
                         [[service, sum(r.values()), ", ".join(r)] for service, r in worst], [False, True, False]))
    say("\nreports: " + ", ".join(str(p) for p in [*report.documents.values(), report.json_path]))


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("logs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Where to write every flow with its verdict, reason and rule (.csv, .csv.gz or .parquet).")
@click.option("--inventory", type=click.Path(dir_okay=False), default=None,
              help="Compute inventory (YAML or CSV): which compute owns which source addresses.")
@click.option("--compute", cls=DeferredOption, deferred=_compute_choice, default=None,
              help="Treat every source as this compute type (instead of an inventory).")
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--format", "log_format", cls=DeferredOption, deferred=_format_help, default=None)
@click.option("--strict", is_flag=True, help="Stop at the first bad record, naming its file and line or offset.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write samples of rejected records (JSON lines); default: OUTPUT.rejects.jsonl.")
@click.option("--chunk-rows", type=click.IntRange(min=1), cls=DeferredOption, deferred=_replay_chunk_rows,
              show_default=True,
              help="Flows evaluated at a time (bounds memory: log rows carry more text than flow tables).")
@report_option
@engine_options
@location_option
@service_tags_option
@json_option
def replay(workspace: str, logs: tuple[str, ...], output: str, inventory: str | None, compute: str | None,
           mode: str | None, log_format: str | None, strict: bool, rejects_path: str | None, chunk_rows: int,
           report_dir: str | None, engine: str, scheduler: str | None, workers: int | None, location: str | None,
           service_tags: str | None, as_json: bool) -> None:
    """Replay connection logs (NSG/VNet flow logs, Azure Firewall, Zeek, AWS VPC, CSV/Parquet) against
    WORKSPACE's rules. LOGS are files, directories or glob patterns; gzip is read transparently."""
    from ..app.loading import read_checked
    from ..app.replay import check_replay_outputs, total_size
    from ..app.replay import replay as replay_logs
    from ..logs.inventory import load_inventory
    from ..report.text import render_replay
    from ..ruletable.compile import compile_rules
    if inventory is not None and compute is not None:
        raise click.UsageError("give --inventory or --compute, not both")
    if inventory is None and compute is None:
        raise click.UsageError("say which compute sent the logged traffic: --inventory FILE (which compute owns "
                               "which source address) or --compute TYPE (every source is that compute type)")
    check_engine(engine, scheduler, workers)
    if engine == "dask" and strict:
        raise click.UsageError("--strict stops at the first bad record, in file order: the local engine's job")
    rejects = rejects_path or f"{output.rstrip('/')}.rejects.jsonl"
    check_replay_outputs([rejects] if engine == "dask" else [output, rejects], logs,
                         other_inputs=[workspace, inventory, service_tags])
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    ws = loaded.workspace
    table = compile_rules(ws, tags, parse_mode(mode))
    computes = load_inventory(inventory) if inventory is not None else None
    if engine == "dask":
        from ..app.distributed import replay_dask
        from ..app.replay import write_rejects
        from ..logs.registry import list_inputs
        listing = list_inputs(list(logs), exclude=(rejects,))
        with dask_session(scheduler, workers, as_json) as client:
            report = replay_dask(client, table, listing, output, computes, compute, log_format, chunk_rows)
        write_rejects(report, rejects)
    else:
        with progress_bar(total_size(list(logs)), "replaying") as progress:
            report = replay_logs(table, list(logs), output, computes, compute, log_format, strict, chunk_rows,
                                 rejects, progress)
    reports = None
    if report_dir:
        from ..app.report import rejected_notes
        reports = _reports(report_dir, ws, workspace, tags, [(table.mode, output)], f"{ws.name}: replay of "
                           f"{', '.join(logs)}", notes=rejected_notes([*report.ledger.samples, *report.evaluator_samples, *report.ledger.note_samples]))
    if as_json:
        emit_json({"workspace": workspace, "output": output, "rejects_file": rejects, "isolation_mode": table.mode.yaml,
                   **report.to_dict(), "reports": reports, "findings": findings_json(loaded.findings)})
    else:
        say(f"{ws.name}: {table.mode.yaml}; verdicts written to {output}\n")
        say(render_replay(report, rejects))
        if reports:
            say("\nreports: " + ", ".join(reports.values()))


def _reports(report_dir: str, workspace, workspace_file: str, tags, runs: list, title: str,
             **sections) -> dict[str, str]:
    """Build the exfiltration-risk report of verdict files just written and write its three files."""
    from ..app.report import build_report
    from .report import write
    data = build_report(workspace, workspace_file, tags, runs, title, **sections)
    return {kind: str(path) for kind, path in write(data, report_dir).items()}
