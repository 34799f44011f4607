"""How the report documents write numbers and sentences they share, so the Markdown and the HTML say the same."""

from __future__ import annotations

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_bytes(n: int | None) -> str:
    """Decimal units (1 kB = 1,000 bytes), as network traffic is counted: ``1.2 GB``."""
    if n is None:
        return "-"
    value, unit = float(n), 0
    while abs(value) >= 1000 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def port_text(port: int | None) -> str:
    return "any" if port is None else str(port)


def exfiltration_phrase(mode: dict) -> str:
    """What a mode did to the labelled exfiltration flows, in words (numbers only: no untrusted text)."""
    exfil = mode.get("exfiltration")
    if exfil is None:
        return "no flow is labelled as exfiltration"
    labelled, allowed = exfil["labelled"], exfil["allowed"]
    if not labelled:
        return "no flow is labelled as exfiltration"
    return (f"exfiltration allowed for {allowed:,} of {labelled:,} labelled flows ({share(allowed, labelled)}), "
            f"{exfil['allowed_flagged']:,} of those flagged by a risk signal")


def focus_mode(report: dict) -> dict | None:
    """The mode whose details a short report shows: the workspace's configured mode when it was evaluated, else
    the first one."""
    modes = report.get("modes") or []
    configured = (report.get("workspace") or {}).get("isolation_mode")
    return next((m for m in modes if m["mode"] == configured), modes[0] if modes else None)


RISK_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
