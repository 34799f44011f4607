"""``report.md``: the report short enough for a pull-request comment (well under 60 lines).

It holds the headline per isolation mode, the per-mode numbers, the five riskiest destinations of the mode the
workspace is configured with, the rules rated critical or high, and what the model cannot see; the plots and the
full tables are in ``report.html``. Every value from a log or YAML file goes through ``untrusted``: identifiers
as code spans, prose escaped, so none becomes a table column, HTML, a link or a mention.
"""

from __future__ import annotations

from collections.abc import Sequence

from .quantities import (
    RISK_ORDER,
    count,
    exfiltration_phrase,
    focus_mode,
    human_bytes,
    port_text,
    share,
)
from .untrusted import md_code, md_text

TOP_RISKY = 5
TOP_RULES = 10
TOP_NOTES = 3


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """A GFM table of cells already escaped by the caller."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _header(report: dict) -> list[str]:
    ws = report["workspace"]
    where = [md_code(ws["file"], in_table=False)]
    if ws.get("location"):
        where.append(md_text(ws["location"]))
    where.append("configured as " + md_code(ws["isolation_mode"], in_table=False))
    inputs = "; ".join(f"{md_text(i['kind'])} {md_code(i['path'], in_table=False)} ({count(i['flows'])} flows)"
                       for i in report.get("inputs", []))
    lines = [f"## egress\\_sim report: {md_text(report['title'])}", "",
             f"Workspace {md_code(ws['name'], in_table=False)} ({', '.join(where)})."]
    if inputs:
        lines[-1] += f" Input: {inputs}."
    return lines + [""]


def _headline(modes: list[dict]) -> list[str]:
    if not modes:
        return ["No isolation mode was evaluated.", ""]
    lines = ["**Per isolation mode** (at risk: bytes out of allowed flows to any tenant or the open internet):"]
    for mode in modes:
        lines.append(f"- {md_code(mode['mode'], in_table=False)}: **{human_bytes(mode['bytes_at_risk'])} at risk**; "
                     f"{exfiltration_phrase(mode)}.")
    return lines + [""]


def _mode_table(modes: list[dict]) -> list[str]:
    rows = []
    for m in modes:
        exfil = m.get("exfiltration") or {}
        labelled = exfil.get("labelled", 0)
        rows.append([md_code(m["mode"]), count(m["flows"]), count(m["allowed"]), count(m["denied"]),
                     count(m["rejected"]), human_bytes(m["bytes_out_allowed"]), human_bytes(m["bytes_at_risk"]),
                     f"{count(exfil['allowed'])} of {count(labelled)} ({share(exfil['allowed'], labelled)})"
                     if labelled else "-",
                     count(exfil["allowed_flagged"]) if labelled else "-"])
    headers = ["isolation mode", "flows", "allowed", "denied", "rejected", "bytes out allowed", "bytes at risk",
               "exfiltration allowed", "of those flagged"]
    return _table(headers, rows, [False, *[True] * 8]) + [""]


def _risky(mode: dict) -> list[str]:
    lines = [f"### Top risky destinations ({md_code(mode['mode'], in_table=False)})", ""]
    top = mode["top_risky"][:TOP_RISKY]
    if not top:
        return lines + ["No allowed flow goes to a risky destination.", ""]
    rows = [[md_code(r["destination"]), port_text(r["port"]), md_code(r["channel"]),
             ", ".join(md_code(s) for s in r["signals"]) or "-", md_code(r["verdict"]), count(r["flows"]),
             human_bytes(r["bytes_out"])] for r in top]
    return lines + _table(["destination", "port", "channel", "signals", "verdict", "flows", "bytes out"], rows,
                          [False, True, False, False, False, True, True]) + [""]


def _rules(rules: list[dict]) -> list[str]:
    serious = sorted((r for r in rules if r["risk"] in ("critical", "high")), key=lambda r: RISK_ORDER[r["risk"]])
    lines = ["### Rules rated critical or high", ""]
    if not serious:
        return lines + ["None.", ""]
    rows = [[md_code(r["name"]), md_code(r["type"]), md_code(r["channel"]), f"**{md_text(r['risk'])}**",
             md_text("; ".join(r["why"])), count(r["hits"])] for r in serious[:TOP_RULES]]
    lines += _table(["rule", "type", "channel", "risk", "why", "hits"], rows,
                    [False, False, False, False, False, True])
    if len(serious) > TOP_RULES:
        lines += ["", f"… and {len(serious) - TOP_RULES} more in report.html."]
    return lines + [""]


def _decisions(report: dict) -> list[str]:
    lines = []
    whatif = report.get("whatif")
    if whatif is not None:
        lines.append(f"**What-if** {md_code(whatif['before'], False)} → {md_code(whatif['after'], False)}: "
                     f"{count(whatif['changed'])} flows change verdict, {count(whatif['newly_denied'])} newly "
                     f"denied, {count(whatif['newly_allowed'])} newly allowed.")
    suggestions = report.get("suggestions")
    if suggestions is not None:
        names = ", ".join(md_code(s["name"], False) for s in suggestions[:3])
        more = f" and {len(suggestions) - 3} more" if len(suggestions) > 3 else ""
        lines.append(f"**Suggested fixes:** {len(suggestions)}" + (f" ({names}{more})." if names else "."))
    return [part for line in lines for part in (line, "")]


def render_markdown(report: dict) -> str:
    """The pull-request comment (``report.md``) for one report dict (schema in ``document``)."""
    modes = report.get("modes") or []
    parts = _header(report) + _headline(modes)
    if modes:
        parts += _mode_table(modes)
    focus = focus_mode(report)
    if focus is not None:
        parts += _risky(focus)
    parts += _rules(report.get("rules") or []) + _decisions(report)
    parts += ["### What the model cannot see", ""] + [f"- {md_text(line)}" for line in report["cannot_see"]] + [""]
    notes = report.get("notes") or []
    if notes:
        parts += ["**Notes:**"] + [f"- {md_text(note)}" for note in notes[:TOP_NOTES]]
        if len(notes) > TOP_NOTES:
            parts.append(f"- … and {len(notes) - TOP_NOTES} more notes in report.html.")
        parts.append("")
    parts += [f"<sub>{md_text(report.get('generated_by', 'egress-sim'))}; plots and full tables: "
              "report.html</sub>", ""]
    return "\n".join(parts)
