"""The report documents: one report dict (schema ``egress-sim-report`` version 1) rendered as three files.

- ``report.json``: the dict itself, for machines and for rendering again later;
- ``report.md``: a short summary that fits a pull-request comment (``comment``);
- ``report.html``: everything, with plots, in one page that fetches nothing (``page``).

The three are rendered first, then written under temporary names and published together (``base.outputs``):
a failure leaves an earlier report in the directory exactly as it was, never a mix of two runs. The renderers
are pure functions of the dict; the dict is built elsewhere (``app``), from verdicts and the risk model.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..base.outputs import Outputs, PathLike, staged
from ..flows.io import make_output_dir
from .comment import render_markdown

SCHEMA = "egress-sim-report"
VERSION = 1
FILE_NAMES = {"json": "report.json", "markdown": "report.md", "html": "report.html"}

__all__ = ["FILE_NAMES", "SCHEMA", "VERSION", "render_html", "render_json", "render_markdown", "write_reports"]


def check_schema(report: dict) -> None:
    """Refuse a dict that is not a report this code knows how to draw (a programming error, not bad input)."""
    if report.get("schema") != SCHEMA or report.get("version") != VERSION:
        raise ValueError(f"not a {SCHEMA} version {VERSION} report: schema={report.get('schema')!r}, "
                         f"version={report.get('version')!r}")


def render_json(report: dict) -> str:
    """The dict as UTF-8 JSON; a lone surrogate (undecodable bytes kept by a reader) is written as ``\\udcxx``
    rather than making the file unwritable."""
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(report, indent=2, ensure_ascii=True) + "\n"
    return text


def render_html(report: dict) -> str:
    """The self-contained page (imports matplotlib, so only when called)."""
    from .page import render_page
    return render_page(report)


def write_reports(report: dict, out_dir: PathLike, outputs: Outputs | None = None,
                  inputs: tuple[PathLike | None, ...] = ()) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir`` (created if missing); return
    their paths by kind (``json``, ``markdown``, ``html``).

    With ``outputs`` the three are declared in the caller's ``Outputs`` and appear when the caller's block
    succeeds, with its other files; without, they appear together when this call returns. ``inputs`` are files
    none of the three may be (``check_outputs``)."""
    check_schema(report)
    texts = {"json": render_json(report), "markdown": render_markdown(report), "html": render_html(report)}
    out = make_output_dir(out_dir)
    paths = {kind: out / name for kind, name in FILE_NAMES.items()}
    with staged(outputs, paths.values(), inputs) as written:
        for kind, path in paths.items():
            written.write_text(path, texts[kind])
    return paths
