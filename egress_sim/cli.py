"""The ``egress-sim`` command line: each command is a thin wrapper over a library call.

Exit codes, for every command: 0 success; 1 a check the user asked for failed (an invalid workspace in
``validate``, a forbidden mode change, ``explain --expect`` not met); 2 bad input or usage (one ``error:``
line naming the file, or under ``--json`` the object ``{"error": {"code", "message", "file"}, "findings"}``);
3 an internal error (a bug: one line; ``EGRESS_SIM_DEBUG=1`` shows the traceback); 130 interrupted (Ctrl-C).
Nothing a user types or feeds in ends in a Python traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Callable

import click

from . import __version__
from .base.errors import EgressSimError
from .base.findings import Finding, WorkspaceInvalid
from .base.outputs import check_outputs, write_text_atomic

if TYPE_CHECKING:
    from .model import IsolationMode
    from .net.servicetags import ServiceTagSet

# Loading this module imports click and the light ``base`` modules only: pandas, pyarrow, numpy, numba and
# PyYAML take most of a second to import, and ``egress-sim --help`` or a mistyped option should not wait for
# them. Each command imports the library layers it uses at the top of its body; an option whose choices,
# default or help text come from those layers is a ``DeferredOption``.

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
MAX_FLOWS = 10**12  # a trillion flows: far beyond any disk, small enough for every counter

MODE_HELP = "isolation mode to simulate instead of the file's: disabled, allow_internet_outbound, allow_only_approved_outbound"

# C0/C1 control characters (but newline and tab) from inputs must not reach a terminal raw: an escape
# sequence in a host name or rule name could rewrite what the user sees.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN`` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def say(text: str = "", err: bool = False) -> None:
    click.echo(clean(text), err=err)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _json_error(code: str, message: str, file: str | None, findings: Sequence[Finding] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "file": file}, "findings": [f.to_dict() for f in findings]}


def _fail_invalid(exc: WorkspaceInvalid, exit_code: int, as_json: bool) -> None:
    """Every error of an invalid workspace, one line each, naming the file (the warnings too under --json)."""
    if main.owns_process:
        _ignore_late_interrupts()
    errors = exc.errors
    if as_json:
        first = errors[0] if errors else None
        message = f"{len(errors)} error(s) in the workspace" + (f"; first: {first.message}" if first else "")
        _emit_json(_json_error("invalid_workspace", message, first.source if first else None, exc.findings))
    else:
        for finding in exc.findings:
            if finding.level == "warning":
                say(str(finding), err=True)
        for finding in errors:
            click.echo(one_line(f"error: {finding}"), err=True)
    sys.exit(exit_code)


def one_line(text: str) -> str:
    """An error line stays one line whatever it quotes (a file name may hold a newline)."""
    return clean(text).replace("\n", "\\n").replace("\r", "\\r")


def _report_error(code: str, message: str, file: str | None, exit_code: int, as_json: bool) -> None:
    if main.owns_process:
        _ignore_late_interrupts()
    try:
        if as_json:
            _emit_json(_json_error(code, message, file))
        else:
            click.echo(one_line(f"error: {message}"), err=True)
    except OSError:  # stdout itself may be what failed (a full disk, a closed pipe): say it on stderr
        _silence_stdout()
        with contextlib.suppress(OSError):
            click.echo(one_line(f"error: {message}"), err=True)
    sys.exit(exit_code)


def _silence_stdout() -> None:
    """After stdout failed, point it at the null device so the flush at exit cannot fail again."""
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until the process ends


def _ignore_late_interrupts() -> None:
    """Once the work is done (outputs renamed into place) or an error is being reported, a Ctrl-C can only
    garble the ending: let the process finish its last lines."""
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _exit_on_sigterm() -> None:
    """SIGTERM (``timeout``, ``docker stop``) unwinds like Ctrl-C, so temporaries are removed and no partial
    output is left (exit 143, as a shell reports a TERM-killed process)."""
    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # only the main thread may set handlers (tests may call from others)
        signal.signal(signal.SIGTERM, stop)


class EgressSimCli(click.Group):
    """The command group, with one place that turns every failure into one line and an exit code.

    ``owns_process`` (set by the ``egress-sim`` entry point, not by tests that call ``main`` in-process) lets it
    install signal handlers: SIGTERM unwinds like Ctrl-C, and a Ctrl-C after the work is done is ignored."""

    owns_process = False

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        if self.owns_process:
            _exit_on_sigterm()
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except WorkspaceInvalid as exc:
            _fail_invalid(exc, EXIT_BAD_INPUT, as_json)
        except EgressSimError as exc:
            _report_error(exc.code, str(exc), exc.file, EXIT_BAD_INPUT, as_json)
        except click.exceptions.NoArgsIsHelpError as exc:
            say(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(EXIT_OK)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "egress-sim"
            message = " ".join(exc.format_message().split())  # click's Choice lists span lines
            _report_error("usage", f"{message} (see '{command} --help')", None, EXIT_BAD_INPUT, as_json)
        except click.ClickException as exc:
            _report_error("bad_input", " ".join(exc.format_message().split()), getattr(exc, "filename", None),
                          EXIT_BAD_INPUT, as_json)
        except (click.Abort, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt):
                _report_error("interrupted", "interrupted; no output was left under the names asked for", None,
                              EXIT_INTERRUPTED, as_json)
            _report_error("internal", "input ended unexpectedly (EOFError)", None, EXIT_INTERNAL, as_json)
        except BrokenPipeError:  # `egress-sim ... | head`: the reader left; say nothing more
            _silence_stdout()
            sys.exit(EXIT_BAD_INPUT)
        except MemoryError:
            _report_error("out_of_memory", "out of memory (see the README's Limits section; for evaluate and "
                          "replay a smaller --chunk-rows helps)", None, EXIT_BAD_INPUT, as_json)
        except OSError as exc:  # the system refused a read or write the library did not expect to fail
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            _report_error("io_error", f"input/output error: {exc.strerror or exc}{where}",
                          getattr(exc, "filename", None), EXIT_BAD_INPUT, as_json)
        except Exception as exc:  # a bug: one line, not a traceback (EGRESS_SIM_DEBUG=1 shows it)
            if os.environ.get("EGRESS_SIM_DEBUG"):
                raise
            _report_error("internal", f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                          "please report it, with EGRESS_SIM_DEBUG=1 for the traceback", None, EXIT_INTERNAL, as_json)
        if standalone_mode:
            if self.owns_process:
                _ignore_late_interrupts()
            sys.exit(result if isinstance(result, int) else EXIT_OK)
        return result


def write_text(path: str, text: str) -> None:
    """A small text output, written whole or not at all (see ``egress_sim.base.outputs``)."""
    write_text_atomic(path, text)


def _tags(path: str | None) -> ServiceTagSet:
    from .net.servicetags import load_service_tags

    return load_service_tags(path)


def _mode(value: str | None) -> IsolationMode | None:
    from .model import IsolationMode

    return None if value is None else IsolationMode.parse(value, "isolation mode")


def _warn(findings: Sequence[Finding], as_json: bool) -> None:
    """Warnings go to stderr in text mode (under --json they are in the output's "findings")."""
    if not as_json:
        for finding in findings:
            if finding.level == "warning":
                say(str(finding), err=True)


def _findings(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in findings]


class DeferredOption(click.Option):
    """An option whose type, default or help text comes from a layer the CLI does not load up front (the model,
    the log-format registry, an app module). ``deferred`` returns those as keyword values; they are applied the
    first time the option is parsed or its help is shown, that is, only once its command runs."""

    def __init__(self, *decls: Any, deferred: Callable[[], dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*decls, **kwargs)
        self._deferred: Callable[[], dict[str, Any]] | None = deferred

    def _resolve(self) -> None:
        if self._deferred is None:
            return
        values, self._deferred = self._deferred(), None
        if "type" in values:
            self.type = click.types.convert_type(values["type"])
        if "default" in values:
            self.default = values["default"]
        if "help" in values:
            self.help = values["help"]

    def handle_parse_result(self, ctx: click.Context, opts: Any, args: list[str]) -> Any:
        self._resolve()
        return super().handle_parse_result(ctx, opts, args)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self._resolve()
        return super().get_help_record(ctx)


def _compute_choice() -> dict[str, Any]:
    from .model import ComputeType

    return {"type": click.Choice([c.yaml for c in ComputeType])}


def _format_help() -> dict[str, Any]:
    from .logs.registry import format_names

    return {"help": "Force a log format instead of detecting it: " + ", ".join(format_names()) + "."}


def _replay_chunk_rows() -> dict[str, Any]:
    from .app.replay import REPLAY_CHUNK_ROWS

    return {"default": REPLAY_CHUNK_ROWS}


def _demo_flows() -> dict[str, Any]:
    from .app.demo import DEFAULT_FLOWS

    return {"default": DEFAULT_FLOWS}


def _demo_seed() -> dict[str, Any]:
    from .app.demo import DEFAULT_SEED

    return {"default": DEFAULT_SEED}


service_tags_option = click.option(
    "--service-tags", "service_tags", type=click.Path(dir_okay=False), default=None,
    help="ServiceTags_Public_*.json to use instead of the bundled one.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
chunk_rows_option = click.option("--chunk-rows", type=click.IntRange(min=1), default=1_000_000, show_default=True,
                                 help="Flows evaluated at a time (bounds memory).")


location_option = click.option(
    "--location", default=None, metavar="REGION",
    help="Azure region of the workspace (e.g. eastus), supplying or overriding the file's 'location'.",
)


@click.group(cls=EgressSimCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egress-sim")
def main() -> None:
    """Simulate Azure ML managed-network outbound rules: which flows are allowed, which denied, and why."""


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
    from .app.describe import describe_workspace
    from .app.loading import read_checked
    from .app.validate import check_transition
    from .model import read_workspace
    from .report.text import render_compiled, render_rules
    from .ruletable.compile import compile_rules
    tags = _tags(service_tags)
    try:
        loaded = read_checked(workspace, tags, location)
    except WorkspaceInvalid as exc:
        _fail_invalid(exc, EXIT_CHECK_FAILED, as_json)
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
        _emit_json({"file": workspace, "valid": not errors, "workspace": understood, "findings": _findings(findings),
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
    from .model import dump_workspace, read_workspace, workspace_to_rest
    from .model.rest_io import untranslated_keys
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
        _emit_json({"workspace": workspace, "form": loaded.form, "to": target, "output": output,
                    "rules": len(ws.managed_network.outbound_rules), "findings": _findings(notes)})
    else:
        _warn(notes, as_json)
        say(f"{ws.name}: {loaded.form.replace('_', ' ')} form -> {target}, "
            f"{len(ws.managed_network.outbound_rules)} rules written to {output}")


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("flows", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the flows with verdict, reason and rule (.csv or .parquet).")
@click.option("--mode", default=None, help=MODE_HELP)
@click.option("--compute", cls=DeferredOption, deferred=_compute_choice, default=None,
              help="Compute type for flows when the file has no compute_type column.")
@click.option("--verdicts-only", is_flag=True,
              help="Write only verdict, reason and rule, row for row with FLOWS (join by row number): "
                   "much smaller and faster than copying every input column.")
@chunk_rows_option
@location_option
@service_tags_option
@json_option
def evaluate(workspace: str, flows: str, output: str, mode: str | None, compute: str | None, verdicts_only: bool,
             chunk_rows: int, location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Give every flow in FLOWS (CSV or Parquet) a verdict under WORKSPACE's rules."""
    from .app.loading import read_checked
    from .app.pipeline import evaluate_file, flow_count
    from .report.text import render_evaluation
    from .ruletable.compile import compile_rules
    check_outputs([output], inputs=[workspace, flows, service_tags])
    tags = _tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    _warn(loaded.findings, as_json)
    table = compile_rules(loaded.workspace, tags, _mode(mode))
    with progress_bar(flow_count(flows), "evaluating") as progress:
        summary = evaluate_file(table, flows, output, compute, chunk_rows, keep_input=not verdicts_only,
                                progress=progress)
    if as_json:
        _emit_json({"workspace": workspace, "flows_file": flows, "output": output, "isolation_mode": table.mode.yaml,
                    **summary.to_dict(), "findings": _findings(loaded.findings)})
    else:
        say(f"{loaded.workspace.name}: {table.mode.yaml}; verdicts written to {output}\n")
        say(render_evaluation(summary))


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
    from .app.loading import read_checked
    from .evaluation.reference import ReferenceEvaluator
    from .model import Protocol, normalize_host
    from .net.ipnum import destination_address
    from .report.text import render_decision
    from .ruletable.compile import compile_rules
    tags = _tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    _warn(loaded.findings, as_json)
    table = compile_rules(loaded.workspace, tags, _mode(mode))
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
        _emit_json({
            "flow": row, "isolation_mode": table.mode.yaml, "verdict": decision.verdict.label,
            "reason": decision.reason.code, "rule": decision.rule,
            "checks": [{"step": c.step, "rule": c.rule, "matched": c.matched, "detail": c.detail} for c in decision.checks],
            "findings": _findings(loaded.findings),
        })
    else:
        say(render_decision(flow_text, decision))
    if expect is not None and decision.verdict.label != expect:
        if not as_json:
            say(f"expected {expect}, got {decision.verdict.label} ({decision.reason.code})", err=True)
        sys.exit(EXIT_CHECK_FAILED)


@contextlib.contextmanager
def progress_bar(total: int | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal (a running count when the total is unknown); nothing at
    all when output goes to a file or pipe."""
    if not sys.stderr.isatty() or total == 0:
        yield None
        return
    if total is None:
        done = [0]

        def count(n: int) -> None:
            done[0] += n
            click.echo(f"\r{label}: {done[0]:,} flows", nl=False, err=True)

        yield count
        click.echo(err=True)
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
@location_option
@service_tags_option
@json_option
def simulate(workspace: str, n_flows: int, seed: int, output: str, inventory_out: str | None, scenario: str | None,
             location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Generate labelled outbound flows from WORKSPACE's compute fleet (streamed, flat memory)."""
    from .app.loading import read_checked
    from .report.text import render_simulation
    from .simulate.scenario import load_scenario
    from .simulate.simulator import simulate as simulate_flows
    check_outputs([output, inventory_out], inputs=[workspace, scenario, service_tags])
    tags = _tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    _warn(loaded.findings, as_json)
    ws = loaded.workspace
    plan_scenario = load_scenario(scenario)
    with progress_bar(n_flows, "simulating") as progress:
        plan, summary = simulate_flows(ws, tags, plan_scenario, n_flows, seed, output, progress, inventory_out)
    if as_json:
        _emit_json({"workspace": workspace, "output": output, **plan.describe(), **summary.to_dict(),
                    "findings": _findings(loaded.findings)})
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
    from .app.demo import run_demo
    from .report.markdown import MODE_HEADERS, mode_rows, render_demo_markdown
    from .report.text import table
    # one bar for the whole run: the simulation, then an evaluation under each of the three modes
    with progress_bar(4 * n_flows, "simulating, then evaluating 3 modes") as progress:
        report = run_demo(out_dir, n_flows, seed, workspace, scenario, service_tags, progress, location=location,
                          evaluation_progress=progress, render_markdown=render_demo_markdown)
    _warn(report.findings, as_json)
    if as_json:
        _emit_json(report.data)
        return
    data = report.data
    sim = data["simulation"]
    say(f"{data['workspace']['name']}: {sim['flows']:,} simulated flows (seed {sim['seed']}), "
               f"evaluated under each isolation mode\n")
    say(table(MODE_HEADERS, mode_rows(data), [False, True, True, True, True]))
    approved = data["modes"].get("allow_only_approved_outbound")
    if approved and approved["benign_denied_by_service"]:
        worst = list(approved["benign_denied_by_service"].items())[:5]
        say("\nallow_only_approved_outbound would block these benign flows, most first:")
        say(table(["service", "flows", "why"],
                         [[service, sum(r.values()), ", ".join(r)] for service, r in worst], [False, True, False]))
    say(f"\nreports: {report.markdown_path}, {report.json_path}")


@main.command()
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.argument("logs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
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
@location_option
@service_tags_option
@json_option
def replay(workspace: str, logs: tuple[str, ...], output: str, inventory: str | None, compute: str | None,
           mode: str | None, log_format: str | None, strict: bool, rejects_path: str | None, chunk_rows: int,
           location: str | None, service_tags: str | None, as_json: bool) -> None:
    """Replay connection logs (NSG/VNet flow logs, Azure Firewall, Zeek, AWS VPC, CSV/Parquet) against
    WORKSPACE's rules. LOGS are files, directories or glob patterns; gzip is read transparently."""
    from .app.loading import read_checked
    from .app.replay import check_replay_outputs, total_size
    from .app.replay import replay as replay_logs
    from .logs.inventory import load_inventory
    from .report.text import render_replay
    from .ruletable.compile import compile_rules
    if inventory is not None and compute is not None:
        raise click.UsageError("give --inventory or --compute, not both")
    if inventory is None and compute is None:
        raise click.UsageError("say which compute sent the logged traffic: --inventory FILE (which compute owns "
                               "which source address) or --compute TYPE (every source is that compute type)")
    rejects = rejects_path or f"{output}.rejects.jsonl"
    check_replay_outputs([output, rejects], logs, other_inputs=[workspace, inventory, service_tags])
    tags = _tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    _warn(loaded.findings, as_json)
    ws = loaded.workspace
    table = compile_rules(ws, tags, _mode(mode))
    computes = load_inventory(inventory) if inventory is not None else None
    with progress_bar(total_size(list(logs)), "replaying") as progress:
        report = replay_logs(table, list(logs), output, computes, compute, log_format, strict, chunk_rows, rejects, progress)
    if as_json:
        _emit_json({"workspace": workspace, "output": output, "rejects_file": rejects, "isolation_mode": table.mode.yaml,
                    **report.to_dict(), "findings": _findings(loaded.findings)})
    else:
        say(f"{ws.name}: {table.mode.yaml}; verdicts written to {output}\n")
        say(render_replay(report, rejects))


if __name__ == "__main__":  # pragma: no cover
    main()
