"""What every ``egress-sim`` command shares: the command group that turns every failure into one line and an exit
code, output helpers, shared options and the progress bar.

The exit codes are listed in the package's docstring (``egress_sim.cli``).
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

from .. import __version__
from ..base.errors import EgressSimError
from ..base.findings import Finding, WorkspaceInvalid
from ..base.outputs import write_text_atomic

if TYPE_CHECKING:
    from ..model import IsolationMode
    from ..net.servicetags import ServiceTagSet

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


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _json_error(code: str, message: str, file: str | None, findings: Sequence[Finding] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "file": file}, "findings": [f.to_dict() for f in findings]}


def fail_invalid(exc: WorkspaceInvalid, exit_code: int, as_json: bool) -> None:
    """Every error of an invalid workspace, one line each, naming the file (the warnings too under --json)."""
    if main.owns_process:
        _ignore_late_interrupts()
    errors = exc.errors
    if as_json:
        first = errors[0] if errors else None
        message = f"{len(errors)} error(s) in the workspace" + (f"; first: {first.message}" if first else "")
        emit_json(_json_error("invalid_workspace", message, first.source if first else None, exc.findings))
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
            emit_json(_json_error(code, message, file))
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
            fail_invalid(exc, EXIT_BAD_INPUT, as_json)
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


def load_tags(path: str | None) -> ServiceTagSet:
    """The service-tag file at ``path``, or the bundled one."""
    from ..net.servicetags import load_service_tags

    return load_service_tags(path)


def parse_mode(value: str | None, option: str = "--mode") -> IsolationMode | None:
    """An isolation mode given on the command line; a wrong one is named with its option and the closest mode."""
    import difflib

    from ..base.errors import ModelError
    from ..model import IsolationMode

    if value is None:
        return None
    try:
        return IsolationMode.parse(value, "isolation mode")
    except ModelError:
        names = [m.yaml for m in IsolationMode]
        close = difflib.get_close_matches(str(value).lower(), names, n=1, cutoff=0.3)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise EgressSimError(f"{option} {value!r} is not an isolation mode{hint}; one of: {', '.join(names)}") from None


def warn(findings: Sequence[Finding], as_json: bool) -> None:
    """Warnings go to stderr in text mode (under --json they are in the output's "findings")."""
    if not as_json:
        for finding in findings:
            if finding.level == "warning":
                say(str(finding), err=True)


def findings_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
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
    from ..model import ComputeType

    return {"type": click.Choice([c.yaml for c in ComputeType])}


def _format_help() -> dict[str, Any]:
    from ..logs.registry import format_names

    return {"help": "Force a log format instead of detecting it: " + ", ".join(format_names()) + "."}


def _replay_chunk_rows() -> dict[str, Any]:
    from ..app.replay import REPLAY_CHUNK_ROWS

    return {"default": REPLAY_CHUNK_ROWS}


def _demo_flows() -> dict[str, Any]:
    from ..app.demo import DEFAULT_FLOWS

    return {"default": DEFAULT_FLOWS}


def _demo_seed() -> dict[str, Any]:
    from ..app.demo import DEFAULT_SEED

    return {"default": DEFAULT_SEED}


service_tags_option = click.option(
    "--service-tags", "service_tags", type=click.Path(dir_okay=False), default=None,
    help="ServiceTags_Public_*.json to use instead of the bundled one.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
chunk_rows_option = click.option("--chunk-rows", type=click.IntRange(min=1), default=1_000_000, show_default=True,
                                 help="Flows evaluated at a time (bounds memory).")


engine_option = click.option(
    "--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
    help="dask: run on a Dask cluster (the dask extra); see the README, \"Scaling out on Dask\".")
scheduler_option = click.option(
    "--scheduler", default=None, metavar="tcp://HOST:PORT",
    help="With --engine dask: join this scheduler (or DASK_SCHEDULER_ADDRESS); default: a LocalCluster here.")
workers_option = click.option("--workers", type=click.IntRange(min=1), default=None,
                              help="With --engine dask: the LocalCluster's workers (default: the machine's cores).")


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine``, ``--scheduler`` and ``--workers``."""
    return engine_option(scheduler_option(workers_option(command)))


def check_engine(engine: str, scheduler: str | None, workers: int | None) -> None:
    """--scheduler and --workers say where a Dask run goes: without --engine dask they would be ignored."""
    if engine != "dask" and (scheduler is not None or workers is not None):
        raise click.UsageError("--scheduler and --workers are for --engine dask")


@contextlib.contextmanager
def dask_session(scheduler: str | None, workers: int | None, as_json: bool) -> Iterator[Any]:
    """A Dask client for one command; where it runs (and its dashboard) said on stderr."""
    from ..app.distributed import dask_client
    with dask_client(scheduler, workers) as (client, run):
        if not as_json:
            say(f"Dask: {run.workers} worker(s) at {run.scheduler}; dashboard {run.dashboard}", err=True)
        yield client


location_option = click.option(
    "--location", default=None, metavar="REGION",
    help="Azure region of the workspace (e.g. eastus), supplying or overriding the file's 'location'.",
)


@click.group(cls=EgressSimCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egress-sim")
def main() -> None:
    """Simulate Azure ML managed-network outbound rules: which flows are allowed, which denied, and why."""



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


