"""``report.html``: the whole report as one self-contained page that fetches nothing.

Plots are PNG ``data:`` URIs (``plots``), styles and the one script are inline, and a Content-Security-Policy
meta tag forbids every fetch and every script but ours (allowed by its SHA-256 hash, so an injected
``<script>`` or ``onerror=`` would not run even if escaping failed). Every value from the report dict is
escaped with ``untrusted.h`` (``html.escape(..., quote=True)`` after control characters are written out).
The script only sorts tables when a header is clicked and records each plot's decoded size on the image
(``data-rendered``, which the browser test reads); with scripts off every section, table and plot still shows.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence

from .quantities import RISK_ORDER, count, exfiltration_phrase, human_bytes, port_text
from .untrusted import h

SECTIONS = {  # id -> heading, in page order; whatif, suggestions and notes only when the report has them
    "headline": "Headline",
    "verdicts": "Verdicts by isolation mode and compute type",
    "denied": "Top denied destinations",
    "risky": "Top risky destinations",
    "bytes-at-risk": "Bytes at risk per isolation mode",
    "heatmap": "Allowed flows by compute type and channel class",
    "rules": "Rules and their risk",
    "whatif": "What-if: the change",
    "suggestions": "Suggested fixes",
    "cannot-see": "What the model cannot see",
    "notes": "Notes",
}
TOP_DENIED_PLOTTED = 10

SCRIPT = """(function () {
  "use strict";
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0], numeric = th.classList.contains("num");
    var current = th.getAttribute("aria-sort");
    var ascending = current ? current !== "ascending" : !numeric;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    each(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  each(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    each(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, i, th); }
      });
    });
  });
  function measure() {
    each(document.querySelectorAll("img.plot"), function (img) {
      img.setAttribute("data-rendered", img.naturalWidth + "x" + img.naturalHeight);
    });
  }
  if (document.readyState === "complete") { measure(); } else { window.addEventListener("load", measure); }
  document.documentElement.setAttribute("data-script", "ran");
})();"""
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
CSP = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{SCRIPT_HASH}'"

STYLE = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; } h1 { font-size: 1.6em; margin: 0 0 4px; overflow-wrap: anywhere; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 10px 0; font-size: 0.9em; }
nav a { color: #0969da; text-decoration: none; }
section { border-top: 1px solid var(--line); padding: 8px 0 18px; }
h2 { font-size: 1.25em; margin: 10px 0; } h3 { font-size: 1.05em; margin: 16px 0 6px; }
.muted, figcaption { color: var(--muted); font-size: 0.9em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; background: var(--bg); }
.card .big { font-size: 1.5em; font-weight: 600; } .card .risk { color: #b34700; }
figure { margin: 10px 0; } img.plot { max-width: 100%; height: auto; display: block; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.88em; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td { overflow-wrap: break-word; } th { background: var(--bg); white-space: nowrap; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.sortable th[tabindex] { cursor: pointer; } table.sortable th[tabindex]:hover { background: #eaeef2; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
code { font: 0.92em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.risk-critical { color: #fff; background: #a40e26; } .risk-high { color: #fff; background: #d4580b; }
.risk-medium { background: #f5d76e; } .risk-low { background: #dcefdc; }
.pill { border-radius: 10px; padding: 0 8px; font-size: 0.85em; white-space: nowrap; }
footer { color: var(--muted); font-size: 0.85em; padding: 16px 24px 30px; }
"""

Cell = tuple[str, object]  # (kind, value): "code" / "text" are untrusted text, "int" / "bytes" numbers, "html" ours


def _cell(kind: str, value: object) -> str:
    if kind == "int":
        return f'<td class="num" data-sort="{-1 if value is None else int(value)}">{count(value)}</td>'
    if kind == "bytes":
        return f'<td class="num" data-sort="{-1 if value is None else int(value)}">{human_bytes(value)}</td>'
    if kind == "port":
        return f'<td class="num" data-sort="{-1 if value is None else int(value)}">{port_text(value)}</td>'
    if kind == "code":
        return f"<td><code>{h(value)}</code></td>"
    if kind in ("html", "num-html"):  # markup built here from escaped parts, with its sort key
        markup, key = value
        numeric = ' class="num"' if kind == "num-html" else ""
        return f'<td{numeric} data-sort="{key}">{markup}</td>'
    return f"<td>{h(value)}</td>"


def table(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[Cell]], caption: str = "") -> str:
    """A sortable table; ``headers`` are (our own text, numeric?)."""
    numeric = ' class="num"'
    head = "".join(f'<th scope="col"{numeric if num else ""}>{h(text)}</th>' for text, num in headers)
    body = "".join("<tr>" + "".join(_cell(kind, value) for kind, value in row) + "</tr>\n" for row in rows)
    caption = f'<caption class="muted">{h(caption)}</caption>' if caption else ""
    return (f'<div class="scroll"><table class="sortable">{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>\n{body}</tbody></table></div>")


def figure(png: bytes, alt: str, caption: str = "") -> str:
    from .plots import DPI
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
    css_width, css_height = round(width * 96 / DPI), round(height * 96 / DPI)
    data = base64.b64encode(png).decode("ascii")
    caption = f"<figcaption>{h(caption)}</figcaption>" if caption else ""
    return (f'<figure><img class="plot" alt="{h(alt)}" width="{css_width}" height="{css_height}" '
            f'src="data:image/png;base64,{data}">{caption}</figure>')


def _section(sid: str, body: str) -> str:
    return f'<section id="{sid}">\n<h2>{h(SECTIONS[sid])}</h2>\n{body}\n</section>\n'


def _paragraph(text: str) -> str:
    return f'<p class="muted">{h(text)}</p>'


# ---------------------------------------------------------------------------------------------------- sections
def _headline(report: dict) -> str:
    cards = []
    for m in report["modes"]:
        cards.append(
            f'<div class="card"><div><code>{h(m["mode"])}</code></div>'
            f'<div class="big risk">{human_bytes(m["bytes_at_risk"])} at risk</div>'
            f"<div>{h(exfiltration_phrase(m))}.</div>"
            f'<div class="muted">{count(m["flows"])} flows: {count(m["allowed"])} allowed, '
            f'{count(m["denied"])} denied, {count(m["rejected"])} rejected; '
            f'{human_bytes(m["bytes_out_allowed"])} out through allowed flows.</div></div>')
    rows = []
    for m in report["modes"]:
        exfil = m.get("exfiltration") or {}
        labelled = exfil.get("labelled", 0)
        exfil_cell = (f'{count(exfil["allowed"])} of {count(labelled)}', exfil["allowed"]) if labelled else ("-", -1)
        rows.append([("code", m["mode"]), ("int", m["flows"]), ("int", m["allowed"]), ("int", m["denied"]),
                     ("int", m["rejected"]), ("bytes", m["bytes_out_allowed"]), ("bytes", m["bytes_at_risk"]),
                     ("num-html", exfil_cell), ("int", exfil.get("allowed_flagged") if labelled else None)])
    headers = [("isolation mode", False), ("flows", True), ("allowed", True), ("denied", True), ("rejected", True),
               ("bytes out allowed", True), ("at risk", True), ("exfiltration allowed", True),
               ("of those flagged", True)]
    inputs = "".join(f"<li>{h(i['kind'])}: <code>{h(i['path'])}</code> ({count(i['flows'])} flows)</li>"
                     for i in report.get("inputs", []))
    body = (f'<div class="cards">{"".join(cards)}</div>' if cards else _paragraph("No isolation mode was evaluated."))
    body += table(headers, rows) if rows else ""
    body += _paragraph("At risk: bytes out of allowed flows through a channel that reaches any Azure tenant or the "
                       "open internet. Exfiltration: flows the input labels as such; flagged: those a risk signal "
                       "marks.")
    return body + (f"<h3>Inputs</h3><ul>{inputs}</ul>" if inputs else "")


def _verdicts(report: dict, plots) -> str:
    modes = report["modes"]
    rows = [[("code", m["mode"]), ("code", c["compute_type"]), ("int", c["allowed"]), ("int", c["denied"]),
             ("int", c["rejected"])] for m in modes for c in m["by_compute"]]
    if not rows:
        return _paragraph("No flow was evaluated.")
    return (figure(plots.verdicts_by_compute(modes), "Grouped bars: allowed, denied and rejected flows per compute "
                   "type, one panel per isolation mode")
            + table([("isolation mode", False), ("compute type", False), ("allowed", True), ("denied", True),
                     ("rejected", True)], rows))


def _denied(report: dict, plots) -> str:
    parts = []
    for m in report["modes"]:
        parts.append(f"<h3><code>{h(m['mode'])}</code></h3>")
        if not m["top_denied"]:
            parts.append(_paragraph("No flow was denied."))
            continue
        parts.append(figure(plots.top_denied(m, TOP_DENIED_PLOTTED), f"Bar chart: the most denied destinations "
                            f"under {m['mode']}"))
        rows = [[("code", r["destination"]), ("port", r["port"]), ("code", r["protocol"]), ("int", r["flows"]),
                 ("bytes", r["bytes_out"]), ("text", r["reason"])] for r in m["top_denied"]]
        parts.append(table([("destination", False), ("port", True), ("protocol", False), ("flows", True),
                            ("bytes out", True), ("reason", False)], rows))
    return "\n".join(parts)


def _risky(report: dict, _plots) -> str:
    parts = [_paragraph("Destinations whose flows a risk signal marks, with the verdict they got.")]
    for m in report["modes"]:
        parts.append(f"<h3><code>{h(m['mode'])}</code></h3>")
        if not m["top_risky"]:
            parts.append(_paragraph("No flow goes to a risky destination."))
            continue
        rows = [[("code", r["destination"]), ("port", r["port"]), ("code", r["protocol"]), ("code", r["channel"]),
                 ("html", ("<br>".join(f"<code>{h(s)}</code>" for s in r["signals"]) or "-", len(r["signals"]))),
                 ("code", r["verdict"]), ("int", r["flows"]), ("bytes", r["bytes_out"])] for r in m["top_risky"]]
        parts.append(table([("destination", False), ("port", True), ("protocol", False), ("channel", False),
                            ("signals", False), ("verdict", False), ("flows", True), ("bytes out", True)], rows))
    return "\n".join(parts)


def _bytes(report: dict, plots) -> str:
    modes = report["modes"]
    if not modes:
        return _paragraph("No isolation mode was evaluated.")
    rows = [[("code", m["mode"]), ("code", c["channel"]), ("int", c["flows"]), ("bytes", c["bytes_out"])]
            for m in modes for c in m["by_channel"]]
    return (figure(plots.bytes_at_risk(modes), "Bar chart: bytes out of allowed flows and bytes at risk per mode")
            + table([("isolation mode", False), ("channel", False), ("flows", True), ("bytes out", True)], rows,
                    caption="Flows and bytes out per channel class"))


def _heatmap(report: dict, plots) -> str:
    modes = report["modes"]
    if not modes:
        return _paragraph("No isolation mode was evaluated.")
    return (figure(plots.heatmap(modes), "Heat map: allowed flows per compute type and channel class, one panel "
                   "per isolation mode, counts in the cells")
            + _paragraph("Channel classes, from least to most exposed: platform (Azure's own services), "
                         "your_tenant (your resources), any_tenant (a service any Azure customer can own), "
                         "open_internet. Colour is on a log scale; the numbers are flows."))


def _rules(report: dict, _plots) -> str:
    rules = sorted(report["rules"], key=lambda r: RISK_ORDER.get(r["risk"], len(RISK_ORDER)))
    if not rules:
        return _paragraph("The workspace has no outbound rules.")
    rows = [[("code", r["name"]), ("code", r["type"]), ("code", r["channel"]),
             ("html", (f'<span class="pill risk-{h(r["risk"])}">{h(r["risk"])}</span>',
                       RISK_ORDER.get(r["risk"], len(RISK_ORDER)))),
             ("html", ("<br>".join(h(w) for w in r["why"]), len(r["why"]))), ("int", r["hits"]),
             ("bytes", r["bytes_out"])] for r in rules]
    return table([("rule", False), ("type", False), ("channel", False), ("risk", False), ("why", False),
                  ("hits", True), ("bytes out", True)], rows)


def _whatif(report: dict, _plots) -> str:
    w = report["whatif"]
    lead = (f"<p><code>{h(w['before'])}</code> → <code>{h(w['after'])}</code>: {count(w['changed'])} flows change "
            f"verdict; {count(w['newly_denied'])} newly denied, {count(w['newly_allowed'])} newly allowed.</p>")
    rows = [[("code", g["compute_type"]), ("code", g["destination"]), ("port", g["port"]), ("code", g["before"]),
             ("code", g["after"]), ("int", g["flows"])] for g in w["groups"]]
    return lead + (table([("compute type", False), ("destination", False), ("port", True), ("before", False),
                          ("after", False), ("flows", True)], rows) if rows else "")


def _suggestions(report: dict, _plots) -> str:
    rows = [[("code", s["action"]), ("code", s["name"]), ("code", s["type"]), ("code", s["destination"]),
             ("text", s["why"]), ("int", s["flows"])] for s in report["suggestions"]]
    if not rows:
        return _paragraph("Nothing to suggest: no denied flow that a rule could allow.")
    return table([("action", False), ("rule", False), ("type", False), ("destination", False), ("why", False),
                  ("flows", True)], rows)


def _items(lines: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{h(line)}</li>" for line in lines) + "</ul>"


BUILDERS: dict[str, Callable] = {
    "headline": lambda r, _p: _headline(r), "verdicts": _verdicts, "denied": _denied, "risky": _risky,
    "bytes-at-risk": _bytes, "heatmap": _heatmap, "rules": _rules, "whatif": _whatif, "suggestions": _suggestions,
    "cannot-see": lambda r, _p: _items(r["cannot_see"]), "notes": lambda r, _p: _items(r["notes"]),
}


def present_sections(report: dict) -> list[str]:
    """The ids of the sections this report's page has, in order."""
    absent = {"whatif"} if report.get("whatif") is None else set()
    absent |= {"suggestions"} if report.get("suggestions") is None else set()
    absent |= set() if report.get("notes") else {"notes"}
    return [sid for sid in SECTIONS if sid not in absent]


def render_page(report: dict) -> str:
    """The whole ``report.html`` for one report dict."""
    from . import plots  # matplotlib: loaded only when a page is drawn

    report = {**report, "modes": report.get("modes") or [], "rules": report.get("rules") or []}
    sections = present_sections(report)
    ws = report["workspace"]
    nav = "".join(f'<a href="#{sid}">{h(SECTIONS[sid])}</a>' for sid in sections)
    where = ", ".join(h(x) for x in (ws.get("location"), f"configured as {ws['isolation_mode']}") if x)
    body = "".join(_section(sid, BUILDERS[sid](report, plots)) for sid in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>egress_sim report: {h(report['title'])}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{h(report['title'])}</h1>\n"
        f'<p class="muted">Workspace <code>{h(ws["name"])}</code> from <code>{h(ws["file"])}</code> ({where}).</p>\n'
        f"<nav>{nav}</nav></header>\n<main>\n{body}</main>\n"
        f"<footer>{h(report.get('generated_by', 'egress-sim'))}; report schema {h(report['schema'])} version "
        f"{h(report['version'])}. This page fetches nothing and runs no script but its own.</footer>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
