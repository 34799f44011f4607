"""Markdown reports, rendered from the same dict as the JSON ones (every value escaped for table cells)."""

from __future__ import annotations

from collections.abc import Sequence

def escape(value: object) -> str:
    """A table cell: pipes, backslashes, backticks and HTML-looking text cannot break the table."""
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    for char in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[bool] | None = None) -> str:
    right = right or [False] * len(headers)
    lines = ["| " + " | ".join(escape(h) for h in headers) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def mode_rows(data: dict) -> list[list[object]]:
    """One row per isolation mode: all flows, benign flows denied, exfiltration flows let through."""
    rows = []
    for mode, result in data["modes"].items():
        exfil = result["exfiltration"]
        exfil_total = sum(exfil.values())
        benign = result["benign"]
        rows.append([
            mode,
            result["verdicts"]["allow"],
            result["verdicts"]["deny"],
            f"{benign['deny']:,} ({share(benign['deny'], sum(benign.values()))})",
            f"{exfil['allow']:,} of {exfil_total:,} ({share(exfil['allow'], exfil_total)})",
        ])
    return rows


MODE_HEADERS = ["isolation mode", "allowed", "denied", "benign flows denied", "exfiltration flows allowed"]


def render_demo_markdown(data: dict) -> str:
    ws, sim = data["workspace"], data["simulation"]
    parts = [
        f"# egress_sim demo: {escape(ws['name'])}",
        "",
        f"Workspace `{ws['file']}` ({escape(ws['location'])}, configured as {escape(ws['isolation_mode'])}); "
        f"{sim['flows']:,} simulated flows, seed {sim['seed']}, {sim['window']['days']} days from "
        f"{sim['window']['start']}; service tags {escape(data['service_tags'])}.",
        "",
        "## The same traffic under each isolation mode",
        "",
        md_table(MODE_HEADERS, mode_rows(data), [False, True, True, True, True]),
        "",
    ]
    for mode, result in data["modes"].items():
        parts += [f"## {escape(mode)}", ""]
        rows = [[name, c["allow"], c["deny"], ", ".join(f"{r} {n:,}" for r, n in c["reasons"].items())]
                for name, c in result["by_scenario"].items()]
        parts += ["Exfiltration and misconfiguration scenarios:", "",
                  md_table(["scenario", "allowed", "denied", "deciding reasons"], rows, [False, True, True, False]), ""]
        broken = result["benign_denied_by_service"]
        if broken:
            rows = [[service, sum(r.values()), ", ".join(f"{k} {n:,}" for k, n in r.items())] for service, r in broken.items()]
            parts += ["Benign traffic this mode would block, by destination service:", "",
                      md_table(["service", "denied flows", "reasons"], rows, [False, True, False]), ""]
        else:
            parts += ["No benign flow is denied.", ""]
        parts += [f"Verdicts: `{result['verdicts_file']}`", ""]
    parts += ["## What the simulation does not cover", "",
              "- DNS queries through the managed VNet's own resolver (168.63.129.16) are not governed by outbound "
              "rules and are not simulated: the dns\\_tunnel scenario sends its queries straight to public resolvers, so its "
              "result says nothing about tunnelling through Azure DNS.",
              "- Private endpoints are reached by their private address in every mode; names resolve as they "
              "would inside an approved-only managed VNet.", ""]
    if sim.get("unavailable_services"):
        parts += ["## Services left out of the simulation", ""]
        parts += [f"- {escape(name)}: {escape(why)}" for name, why in sim["unavailable_services"].items()]
        parts.append("")
    rows = [[name, n, share(n, sim["flows"])] for name, n in sim["by_service"].items()]
    parts += ["## Simulated traffic by destination service", "", md_table(["service", "flows", "share"], rows, [False, True, True]), ""]
    return "\n".join(parts)
