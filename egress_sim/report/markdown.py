"""Markdown tables for the demo's summary (every value escaped for table cells); the reports' Markdown is
``report.comment``."""

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
    """One row per isolation mode: all flows, benign flows denied, exfiltration flows let through and flagged."""
    rows = []
    for mode, result in data["modes"].items():
        exfil = result["exfiltration"]
        exfil_total = sum(exfil.values())
        benign = result["benign"]
        risk = data.get("risk", {}).get(mode, {}).get("exfiltration") or {}
        rows.append([
            mode,
            result["verdicts"]["allow"],
            result["verdicts"]["deny"],
            f"{benign['deny']:,} ({share(benign['deny'], sum(benign.values()))})",
            f"{exfil['allow']:,} of {exfil_total:,} ({share(exfil['allow'], exfil_total)})",
            f"{risk.get('allowed_flagged', 0):,} of {exfil['allow']:,} allowed, {risk.get('flagged', 0):,} in all"
            if risk else "-",
        ])
    return rows


MODE_HEADERS = ["isolation mode", "allowed", "denied", "benign flows denied", "exfiltration flows allowed",
                "exfiltration flagged"]
