"""The ``egress-sim`` command line: each command is a thin wrapper over a library call.

Exit codes, for every command: 0 success; 1 a check the user asked for failed (an invalid workspace in
``validate``, a forbidden mode change, ``explain --expect`` not met); 2 bad input or usage.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Iterator
from typing import Any, Callable

import click

from . import __version__
from .compile import compile_rules
from .demo import DEFAULT_FLOWS, DEFAULT_SEED, run_demo
from .flows.scenario import load_scenario
from .flows.simulator import simulate as simulate_flows
from .errors import EgressSimError
from .findings import Finding, WorkspaceInvalid
from .ipnum import parse_ip
from .loading import load_checked
from .model import ComputeType, IsolationMode, Protocol, load_workspace
from .flows.formats import format_names
from .flows.inventory import load_inventory
from .outputs import check_outputs, write_text_atomic
from .pipeline import evaluate_file
from .replay import replay as replay_logs
from .replay import REPLAY_CHUNK_ROWS, check_replay_outputs, total_size
from .reference import ReferenceEvaluator
from .report.markdown import MODE_HEADERS, mode_rows
from .report.text import render_compiled, render_decision, render_evaluation, render_replay, render_simulation, table
from .servicetags import ServiceTagSet, load_service_tags
from .validate import check_transition

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_FLOWS = 10**12  # a trillion flows: far beyond any disk, small enough for every counter

COMPUTE_CHOICES = [c.yaml for c in ComputeType]
MODE_HELP = "isolation mode to simulate instead of the file's: disabled, allow_internet_outbound, allow_only_approved_outbound"


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _fail(code: int, message: str, as_json: bool, findings: list[Finding] | None = None) -> None:
    if as_json:
        _emit_json({"error": message, "findings": [f.to_dict() for f in findings or []]})
    else:
        click.echo(message, err=True)
    sys.exit(code)


def handles_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn library errors into one precise line and exit 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        as_json = bool(kwargs.get("as_json"))
        try:
            command(*args, **kwargs)
        except WorkspaceInvalid as exc:
            _fail(EXIT_BAD_INPUT, "\n".join(str(f) for f in exc.findings if f.level == "error"), as_json, exc.findings)
        except EgressSimError as exc:
            _fail(EXIT_BAD_INPUT, f"error: {exc}", as_json)

    return wrapper


def write_text(path: str, text: str) -> None:
    """A small text output, written whole or not at all (see ``egress_sim.outputs``)."""
    write_text_atomic(path, text)


def _tags(path: str | None) -> ServiceTagSet:
    return load_service_tags(path)


def _mode(value: str | None) -> IsolationMode | None:
    return None if value is None else IsolationMode.parse(value, "isolation mode")


service_tags_option = click.option(
    "--service-tags", "service_tags", type=click.Path(dir_okay=False), default=None,
    help="ServiceTags_Public_*.json to use instead of the bundled one.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
chunk_rows_option = click.option("--chunk-rows", type=click.IntRange(min=1), default=1_000_000, show_default=True,
                                 help="Flows evaluated at a time (bounds memory).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egress-sim")
def main() -> None:
    """Simulate Azure ML managed-network outbound rules: which flows are allowed, which denied, and why."""


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("--from", "previous", type=click.Path(dir_okay=False), default=None,
              help="The workspace as it is now: refuse mode changes Azure does not allow.")
@service_tags_option
@json_option
@handles_errors
def validate(workspace: str, previous: str | None, service_tags: str | None, as_json: bool) -> None:
    """Check WORKSPACE.yaml; print its errors, or a summary of the compiled rule table."""
    tags = _tags(service_tags)
    try:
        ws, findings = load_checked(workspace, tags)
    except WorkspaceInvalid as exc:
        _fail(EXIT_CHECK_FAILED, "\n".join(str(f) for f in exc.findings if f.level == "error"), as_json, exc.findings)
        return
    if previous is not None:
        old, _ = load_workspace(previous)
        findings += check_transition(old.managed_network.isolation_mode, ws.managed_network.isolation_mode, workspace)
    errors = [f for f in findings if f.level == "error"]
    summary = compile_rules(ws, tags).summary() if not errors else None
    if as_json:
        _emit_json({"file": workspace, "valid": not errors, "findings": [f.to_dict() for f in findings], "compiled": summary})
    else:
        for finding in findings:
            click.echo(str(finding), err=finding.level == "error")
        if summary is not None:
            click.echo(f"{workspace}: valid ({ws.name}, {ws.location or 'no location'})")
            click.echo(render_compiled(summary))
    sys.exit(EXIT_CHECK_FAILED if errors else EXIT_OK)


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("flows", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the flows with verdict, reason and rule (.csv or .parquet).")
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--compute", type=click.Choice(COMPUTE_CHOICES), default=None,
              help="Compute type for flows when the file has no compute_type column.")
@click.option("--verdicts-only", is_flag=True,
              help="Write only verdict, reason and rule, row for row with FLOWS (join by row number): "
                   "much smaller and faster than copying every input column.")
@chunk_rows_option
@service_tags_option
@json_option
@handles_errors
def evaluate(workspace: str, flows: str, output: str, mode: str | None, compute: str | None, verdicts_only: bool,
             chunk_rows: int, service_tags: str | None, as_json: bool) -> None:
    """Give every flow in FLOWS (CSV or Parquet) a verdict under WORKSPACE.yaml's rules."""
    check_outputs([output], inputs=[workspace, flows, service_tags])
    tags = _tags(service_tags)
    ws, _ = load_checked(workspace, tags)
    table = compile_rules(ws, tags, _mode(mode))
    summary = evaluate_file(table, flows, output, compute, chunk_rows, keep_input=not verdicts_only)
    if as_json:
        _emit_json({"workspace": workspace, "flows_file": flows, "output": output, "isolation_mode": table.mode.yaml,
                    **summary.to_dict()})
    else:
        click.echo(f"{ws.name}: {table.mode.yaml}; verdicts written to {output}\n")
        click.echo(render_evaluation(summary))


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("--dst", required=True, help="Destination host name or IP address.")
@click.option("--ip", default=None, help="The destination IP, when --dst is a host name.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Destination port (not needed for ICMP).")
@click.option("--protocol", default="TCP", show_default=True, help="TCP, UDP or ICMP.")
@click.option("--compute", type=click.Choice(COMPUTE_CHOICES), default="compute_cluster", show_default=True)
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--expect", type=click.Choice(["allow", "deny"]), default=None,
              help="Exit 1 unless the verdict is this.")
@service_tags_option
@json_option
@handles_errors
def explain(workspace: str, dst: str, ip: str | None, port: int | None, protocol: str, compute: str,
            mode: str | None, expect: str | None, service_tags: str | None, as_json: bool) -> None:
    """Show the whole decision path for one flow: every rule tried, and why it matched or not."""
    tags = _tags(service_tags)
    ws, _ = load_checked(workspace, tags)
    table = compile_rules(ws, tags, _mode(mode))
    proto = Protocol.parse(protocol)
    if proto is Protocol.ANY:
        raise EgressSimError("a flow's protocol is TCP, UDP or ICMP, not '*'")
    if port is None and proto is not Protocol.ICMP:
        raise click.UsageError("--port is required for TCP and UDP")
    is_ip = parse_ip(dst) is not None
    row = {"compute_type": compute, "protocol": proto.value, "dst_port": port,
           "dst_ip": dst if is_ip else ip, "fqdn": None if is_ip else dst}
    decision = ReferenceEvaluator(table.effective).evaluate_row(row)
    flow_text = f"{compute} -> {dst}{f' ({ip})' if ip else ''} {proto.value}/{port if port is not None else '-'} under {table.mode.yaml}"
    if as_json:
        _emit_json({
            "flow": row, "isolation_mode": table.mode.yaml, "verdict": decision.verdict.label,
            "reason": decision.reason.code, "rule": decision.rule,
            "checks": [{"step": c.step, "rule": c.rule, "matched": c.matched, "detail": c.detail} for c in decision.checks],
        })
    else:
        click.echo(render_decision(flow_text, decision))
    if expect is not None and decision.verdict.label != expect:
        sys.exit(EXIT_CHECK_FAILED)


@contextlib.contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing at all when output goes to a file or pipe."""
    if not sys.stderr.isatty() or total == 0:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


scenario_option = click.option("--scenario", "scenario", type=click.Path(dir_okay=False), default=None,
                               help="Scenario YAML (fleet, mixes, exfiltration rates); default: the bundled one.")


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
@service_tags_option
@json_option
@handles_errors
def simulate(workspace: str, n_flows: int, seed: int, output: str, inventory_out: str | None, scenario: str | None,
             service_tags: str | None, as_json: bool) -> None:
    """Generate labelled outbound flows from WORKSPACE.yaml's compute fleet (streamed, flat memory)."""
    check_outputs([output, inventory_out], inputs=[workspace, scenario, service_tags])
    tags = _tags(service_tags)
    ws, _ = load_checked(workspace, tags)
    plan_scenario = load_scenario(scenario)
    with progress_bar(n_flows, "simulating") as progress:
        plan, summary = simulate_flows(ws, tags, plan_scenario, n_flows, seed, output, progress, inventory_out)
    if as_json:
        _emit_json({"workspace": workspace, "output": output, **plan.describe(), **summary.to_dict()})
    else:
        click.echo(f"{ws.name}: {summary.flows:,} flows written to {output} (seed {seed})\n")
        click.echo(render_simulation(plan.describe(), summary.to_dict()))


@main.command()
@click.option("--workspace", type=click.Path(dir_okay=False), default=None,
              help="Workspace YAML to simulate; default: the bundled contoso-research.yaml.")
@click.option("--flows", "n_flows", type=click.IntRange(min=1, max=MAX_FLOWS), default=DEFAULT_FLOWS, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/demo", show_default=True,
              help="Directory for flows, verdicts and reports.")
@scenario_option
@service_tags_option
@json_option
@handles_errors
def demo(workspace: str | None, n_flows: int, seed: int, out_dir: str, scenario: str | None,
         service_tags: str | None, as_json: bool) -> None:
    """Simulate a workspace's traffic, evaluate it under all three isolation modes, and report."""
    with progress_bar(n_flows, "simulating") as progress:
        report = run_demo(out_dir, n_flows, seed, workspace, scenario, service_tags, progress)
    if as_json:
        _emit_json(report.data)
        return
    data = report.data
    sim = data["simulation"]
    click.echo(f"{data['workspace']['name']}: {sim['flows']:,} simulated flows (seed {sim['seed']}), "
               f"evaluated under each isolation mode\n")
    click.echo(table(MODE_HEADERS, mode_rows(data), [False, True, True, True, True]))
    approved = data["modes"].get("allow_only_approved_outbound")
    if approved and approved["benign_denied_by_service"]:
        worst = list(approved["benign_denied_by_service"].items())[:5]
        click.echo("\nallow_only_approved_outbound would block these benign flows, most first:")
        click.echo(table(["service", "flows", "why"],
                         [[service, sum(r.values()), ", ".join(r)] for service, r in worst], [False, True, False]))
    click.echo(f"\nreports: {report.markdown_path}, {report.json_path}")


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("logs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write every flow with its verdict, reason and rule (.csv, .csv.gz or .parquet).")
@click.option("--inventory", type=click.Path(dir_okay=False), default=None,
              help="Compute inventory (YAML or CSV): which compute owns which source addresses.")
@click.option("--compute", type=click.Choice(COMPUTE_CHOICES), default=None,
              help="Treat every source as this compute type (instead of an inventory).")
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--format", "log_format", default=None,
              help="Force a log format instead of detecting it: " + ", ".join(format_names()) + ".")
@click.option("--strict", is_flag=True, help="Stop at the first bad record, naming its file and line or offset.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write samples of rejected records (JSON lines); default: OUTPUT.rejects.jsonl.")
@click.option("--chunk-rows", type=click.IntRange(min=1), default=REPLAY_CHUNK_ROWS, show_default=True,
              help="Flows evaluated at a time (bounds memory: log rows carry more text than flow tables).")
@service_tags_option
@json_option
@handles_errors
def replay(workspace: str, logs: tuple[str, ...], output: str, inventory: str | None, compute: str | None,
           mode: str | None, log_format: str | None, strict: bool, rejects_path: str | None, chunk_rows: int,
           service_tags: str | None, as_json: bool) -> None:
    """Replay connection logs (NSG/VNet flow logs, Azure Firewall, Zeek, AWS VPC, CSV/Parquet) against
    WORKSPACE.yaml's rules. LOGS are files, directories or glob patterns; gzip is read transparently."""
    if inventory is not None and compute is not None:
        raise click.UsageError("give --inventory or --compute, not both")
    rejects = rejects_path or f"{output}.rejects.jsonl"
    check_replay_outputs([output, rejects], logs, other_inputs=[workspace, inventory, service_tags])
    tags = _tags(service_tags)
    ws, _ = load_checked(workspace, tags)
    table = compile_rules(ws, tags, _mode(mode))
    computes = load_inventory(inventory) if inventory is not None else None
    with progress_bar(total_size(list(logs)), "replaying") as progress:
        report = replay_logs(table, list(logs), output, computes, compute, log_format, strict, chunk_rows, rejects, progress)
    if as_json:
        _emit_json({"workspace": workspace, "output": output, "rejects_file": rejects, "isolation_mode": table.mode.yaml,
                    **report.to_dict()})
    else:
        click.echo(f"{ws.name}: {table.mode.yaml}; verdicts written to {output}\n")
        click.echo(render_replay(report, rejects))


if __name__ == "__main__":  # pragma: no cover
    main()
