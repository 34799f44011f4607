"""``egress-sim report``: the exfiltration-risk reports (JSON, Markdown, HTML) over the outputs of the other
commands; and the ``--report DIR`` they share."""

from __future__ import annotations

from typing import Any

import click

from .base import (check_engine, dask_session, emit_json, engine_options, findings_json, json_option, load_tags,
                   location_option, main, parse_mode, say, service_tags_option, warn)

report_option = click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
                             help="Also write report.json, report.md and report.html (exfiltration risk) here.")


@main.command()
@click.argument("results", nargs=-1, required=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for report.json, report.md and report.html.")
@click.option("--workspace", required=True, type=click.Path(dir_okay=False),
              help="The workspace the results were evaluated under (its rules decide each flow's channel).")
@click.option("--mode", default=None, help="Isolation mode the verdict files were evaluated in (default: the "
              "workspace's; a demo directory says its own).")
@engine_options
@location_option
@service_tags_option
@json_option
def report(results: tuple[str, ...], out_dir: str, workspace: str, mode: str | None, engine: str,
           scheduler: str | None, workers: int | None, location: str | None, service_tags: str | None,
           as_json: bool) -> None:
    """Write the exfiltration-risk reports for RESULTS: verdict files of evaluate or replay, a demo directory,
    whatif -o files. Each flow gets its channel class and risk signals; the reports rank the denied and risky
    destinations and score the rules.

    \b
    --json: {"report_dir", "files": {"json", "markdown", "html"}, "modes": [{"mode", "flows", "allowed",
    "bytes_at_risk", "exfiltration"}], "findings"}; the report itself is report.json (schema
    egress-sim-report, version 1; see the README).
    """
    from ..app.loading import read_checked
    from ..app.report import build_report, results_runs, whatif_section
    check_engine(engine, scheduler, workers)
    tags = load_tags(service_tags)
    loaded = read_checked(workspace, tags, location)
    warn(loaded.findings, as_json)
    runs, whatifs = results_runs(list(results), parse_mode(mode), loaded.workspace)
    title = f"{loaded.workspace.name}: {len(runs)} verdict file(s)" + (", a what-if" if whatifs else "")
    section = whatif_section(whatifs[0]["path"]) if whatifs else None
    if engine == "dask":
        from ..app.distributed import report_assessor
        with dask_session(scheduler, workers, as_json) as client:
            data = build_report(loaded.workspace, workspace, tags, runs, title, whatif=section,
                                assess=report_assessor(client))
    else:
        data = build_report(loaded.workspace, workspace, tags, runs, title, whatif=section)
    written = write(data, out_dir)
    summary = {"report_dir": out_dir, "files": {k: str(v) for k, v in written.items()},
               "modes": [{k: m[k] for k in ("mode", "flows", "allowed", "bytes_at_risk", "exfiltration")}
                         for m in data["modes"]]}
    if as_json:
        emit_json({**summary, "findings": findings_json(loaded.findings)})
    else:
        say(render_summary(data, written))


def write(data: dict, out_dir: str, outputs: Any = None) -> dict:
    """The three report files written (atomically, together) into ``out_dir``."""
    from ..report.document import write_reports
    return write_reports(data, out_dir, outputs=outputs) if outputs is not None else write_reports(data, out_dir)


def render_summary(data: dict, written: dict) -> str:
    lines = []
    for m in data["modes"]:
        exfil = m.get("exfiltration")
        text = f"{m['mode']}: {m['flows']:,} flows, {m['allowed']:,} allowed, {m['bytes_at_risk']:,} bytes at risk"
        if exfil:
            text += (f"; labelled exfiltration: {exfil['allowed']:,} of {exfil['labelled']:,} allowed "
                     f"({exfil['allowed_flagged']:,} of those flagged), {exfil['flagged']:,} flagged in all")
        lines.append(text)
    if data.get("whatif"):
        w = data["whatif"]
        lines.append(f"what-if: {w['changed']:,} flows change verdict ({w['newly_denied']:,} newly denied, "
                     f"{w['newly_allowed']:,} newly allowed)")
    lines.append("reports: " + ", ".join(str(p) for p in written.values()))
    return "\n".join(lines)
