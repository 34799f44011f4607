"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..flows.verdicts import Reason

if TYPE_CHECKING:  # types only: importing them would load pandas and numba for commands that never evaluate
    from ..evaluation.reference import Decision
    from ..evaluation.summary import EvaluationSummary


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align_right: Sequence[bool] | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    right = align_right or [False] * len(headers)
    lines = []
    for k, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if right[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def render_evaluation(summary: EvaluationSummary) -> str:
    total = summary.total
    verdicts = summary.by_verdict()
    head = f"flows: {total:,}   " + "   ".join(f"{k}: {v:,} ({_share(v, total)})" for k, v in verdicts.items())
    by_compute = summary.by_compute()
    compute_rows = [[c, v["allow"], v["deny"], v["rejected"], sum(v.values())] for c, v in by_compute.items()]
    reason_rows = []
    for reason, n in summary.by_reason().items():
        reason_rows.append([reason, Reason[reason.upper()].verdict.label, n, _share(n, total)])
    parts = [
        head,
        table(["compute_type", "allow", "deny", "rejected", "flows"], compute_rows, [False, True, True, True, True]),
        table(["reason", "verdict", "flows", "share"], reason_rows, [False, False, True, True]),
    ]
    scenarios = summary.label_verdicts("scenario")
    if scenarios:  # simulated flows carry their scenario label
        rows = [[name, c["allow"], c["deny"], c["rejected"], sum(c.values())] for name, c in scenarios.items()]
        parts.append(table(["scenario", "allow", "deny", "rejected", "flows"], rows, [False, True, True, True, True]))
    return "\n\n".join(parts)


def render_decision(flow_text: str, decision: Decision) -> str:
    lines = [f"flow: {flow_text}", f"verdict: {decision.verdict.label}   reason: {decision.reason.code}   rule: {decision.rule or '-'}", ""]
    rows = [[c.step, c.rule or "-", "yes" if c.matched else "no", c.detail] for c in decision.checks]
    lines.append(table(["step", "rule", "match", "why"], rows))
    return "\n".join(lines)


def render_compiled(summary: dict) -> str:
    rules = summary["rules"]
    rows = [
        ["isolation mode", summary["isolation_mode"]],
        ["rules", f"{rules['private_endpoint']} private endpoint, {rules['service_tag']} service tag, {rules['fqdn']} FQDN "
                  f"({rules['required']} required, {rules['inactive']} inactive)"],
        ["service-tag prefixes", f"{summary['service_tag_prefixes']['ipv4']:,} IPv4, {summary['service_tag_prefixes']['ipv6']:,} IPv6"],
        ["disjoint intervals", f"{summary['intervals']['ipv4']:,} IPv4, {summary['intervals']['ipv6']:,} IPv6"],
        ["FQDN patterns", summary["fqdn_patterns"]],
        ["private endpoint host names", summary["private_endpoint_hosts"]],
        ["managed firewall", "yes" if summary["firewall"] else "no"],
        ["provisioned", f"{'yes' if summary['provisioned'] else 'no'} (spark: {'yes' if summary['spark_ready'] else 'no'})"],
    ]
    return table(["compiled rule table", ""], rows)


def render_simulation(plan: dict, summary: dict) -> str:
    """What a simulation wrote: flows per compute type and per scenario label, and what it left out."""
    total = summary["flows"]
    parts = [
        table(["compute_type", "flows", "share"], [[k, v, _share(v, total)] for k, v in summary["by_compute_type"].items()],
              [False, True, True]),
        table(["scenario", "flows", "share"], [[k, v, _share(v, total)] for k, v in summary["by_scenario"].items()],
              [False, True, True]),
    ]
    if plan["unavailable_services"]:
        parts.append("left out (cannot exist for this workspace):\n" + "\n".join(
            f"  {name}: {why}" for name, why in plan["unavailable_services"].items()))
    return "\n\n".join(parts)


MAX_FILE_ROWS = 10


def render_replay(report, rejects_path: str) -> str:
    """Totals that add up, per-file counts, verdicts, and what was skipped or rejected and why."""
    t = report.totals
    parts = [f"read {t['read']:,} records = evaluated {t['evaluated']:,} + skipped {t['skipped']:,} + rejected {t['rejected']:,}"]
    if len(report.files) <= MAX_FILE_ROWS:
        rows = [[f.path, f.format, f.read, f.skipped, f.rejected] for f in report.files]
        parts.append(table(["file", "format", "read", "skipped", "rejected by reader"], rows, [False, False, True, True, True]))
    else:  # a directory of many blobs: one row per format (per-file counts are in --json)
        by_format: dict[str, list[int]] = {}
        for f in report.files:
            row = by_format.setdefault(f.format, [0, 0, 0, 0])
            for i, n in enumerate((1, f.read, f.skipped, f.rejected)):
                row[i] += n
        rows = [[fmt, *counts] for fmt, counts in by_format.items()]
        parts.append(table(["format", "files", "read", "skipped", "rejected by reader"], rows, [False, True, True, True, True]))
    if report.evaluation.total:
        parts.append(render_evaluation(report.evaluation))
    if report.ledger.skipped:
        parts.append(table(["skipped", "records"], list(report.ledger.skipped.most_common()), [False, True]))
    rejected = report.rejected_by_reason()
    if rejected:
        parts.append(table(["rejected", "records"], list(rejected.items()), [False, True])
                     + f"\nsamples: {rejects_path}")
    if report.ledger.notes:
        parts.append(table(["warning (not records)", "count"], list(report.ledger.notes.most_common()), [False, True]))
    if report.observed:
        rows = [[o, v, n] for (o, v), n in sorted(report.observed.items())]
        parts.append(table(["logged action", "simulated verdict", "flows"], rows, [False, False, True]))
    return "\n\n".join(parts)


def render_rules(rules: list[dict]) -> str:
    """The rules as understood (``describe.rules_understood``): one line each, rules in force first."""
    rows = [[r["name"], r["type"], r["category"], r["origin"], r["protocol"] or "", r["ports"] or "",
             _clip(str(r["destination"]), 60), r["status"] or "-", "yes" if r["in_force"] else "no"] for r in rules]
    note = "\n(status '-': not reported, simulated as Active)" if any(r["status"] is None for r in rules) else ""
    return table(["rule", "type", "category", "from", "protocol", "ports", "destination", "status", "in force"], rows) + note


def _clip(text: str, width: int) -> str:
    """Long resource ids keep their end, which names the resource."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def render_whatif(sides: dict, result, top: int) -> str:
    """A what-if run: both sides, the totals, and the largest groups of changed flows."""
    c = result.comparison
    b, a = sides["before"], sides["after"]
    lines = [
        f"before: {b['workspace']} ({b['isolation_mode']}, service tags {_file_name(b['service_tags'])})",
        f"after:  {a['workspace']} ({a['isolation_mode']}, service tags {_file_name(a['service_tags'])})",
        "",
        f"flows: {c.flows:,}   changed verdict: {c.changed:,} ({_share(c.changed, c.flows)})   "
        f"newly denied: {c.newly_denied:,}   newly allowed: {c.newly_allowed:,}",
    ]
    groups = result.groups
    if len(groups):
        rows = []
        for row in groups.head(top).to_dict("records"):
            where = row["destination"] + (" (tag)" if row["kind"] == "service_tag" else "")
            port = "" if row["dst_port"] < 0 else f"/{row['dst_port']}"
            rows.append([row["compute_type"], where, f"{row['protocol']}{port}",
                         _side_text(row, "before"), _side_text(row, "after"), int(row["flows"]),
                         int(row["bytes_out"])])
        lines += ["", table(["compute", "destination", "port", "before", "after", "flows", "bytes out"], rows,
                            [False, False, False, False, False, True, True])]
        if len(groups) > top:
            lines.append(f"... {len(groups) - top:,} more groups (--top, or --json for all)")
    if result.replay is not None:
        t = result.replay.totals
        lines += ["", f"logs: read {t['read']:,} = evaluated {t['evaluated']:,} + skipped {t['skipped']:,} "
                      f"+ rejected {t['rejected']:,}"]
    if result.output is not None:
        lines += ["", f"{result.rows_written:,} changed flows written to {result.output}"]
    return "\n".join(lines)


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _side_text(row: dict, side: str) -> str:
    rule = row[f"rule_{side}"]
    return f"{row[f'verdict_{side}']} {row[f'reason_{side}']}" + (f" ({rule})" if rule else "")


def render_rules_check(summary: dict) -> str:
    """``rules``: one line per rule, then what is shadowed, never hit, broad or ineffective."""
    rows_in = summary["rules"]
    with_flows = summary["flows"] is not None
    headers = ["#", "rule", "type", "opens"] + (["hits", "bytes out", "last hit"] if with_flows else []) + ["finding"]
    rows = []
    for r in rows_in:
        findings = ([f"shadowed by {', '.join(r['shadowed_by'])}"] if r["shadowed_by"] else []) + \
            (["never hit"] if r.get("never_hit") else []) + [f"broad: {b}" for b in r["broad"]] + r["notes"]
        row = [r["order"], r["name"], r["type"], _opens_text(r)]
        if with_flows:
            row += [r["hits"], r["bytes_out"], (r["last_hit"] or "")[:19]]
        rows.append(row + ["; ".join(findings)])
    right = [True, False, False, False] + ([True, True, False] if with_flows else []) + [False]
    lines = [f"{summary['workspace']}: {summary['isolation_mode']}, {len(rows_in)} rules in force"
             + (f", {summary['flows']:,} flows" if with_flows else ""), "", table(headers, rows, right), ""]
    lines.append(f"shadowed: {', '.join(summary['shadowed']) or 'none'}")
    if with_flows:
        lines.append(f"never hit: {', '.join(summary['never_hit']) or 'none'}")
    return "\n".join(lines)


def _opens_text(r: dict) -> str:
    opens = r["opens"]
    if r["type"] == "service_tag":
        what = opens["service_tag"] or ", ".join(opens["address_prefixes"] or [])
        return f"{what} {opens['protocol']} {opens['ports']} ({opens['ipv4_addresses']:,} IPv4)"
    if r["type"] == "fqdn":
        return ", ".join(opens["names"])
    return f"{opens['resource'].rsplit('/', 1)[-1]}/{opens['subresource']}" + (" +spark" if opens["spark_enabled"] else "")


def render_suggestion(data: dict) -> str:
    """``suggest``: the rules, each with what it covers and why; then what stays denied and why."""
    benign = data["benign"]
    lines = [f"{data['workspace']}: in allow_only_approved_outbound, {benign['allowed']:,} of {benign['flows']:,} "
             f"benign (or unlabelled) denied flows become allowed with {len(data['rules'])} rule change(s)", ""]
    for rule in data["rules"]:
        destination = rule["destination"]
        if isinstance(destination, dict):
            destination = ", ".join(f"{k}={v}" for k, v in destination.items() if v not in (None, False))
        lines.append(f"{rule['action']} {rule['type']} {rule['name']}: {destination}")
        lines.append(f"    {rule['flows']:,} flows, {rule['bytes_out']:,} bytes out, from {', '.join(rule['computes'])}")
        lines.append(f"    why: {rule['why']}")
    for title, key in (("left denied, on purpose", "left_denied"), ("no rule can allow", "unresolved"),
                       ("residual risk (exfiltration the rules let through)", "residual_risk")):
        groups = data[key]
        if not groups:
            continue
        by_why: dict[str, list[dict]] = {}
        for g in groups:
            by_why.setdefault(g["why"], []).append(g)
        rows = []
        for why, members in sorted(by_why.items(), key=lambda item: -sum(g["flows"] for g in item[1])):
            names = [n if len(n) <= 40 else n[:37] + "..." for n in dict.fromkeys(g["destination"] for g in members)]
            shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
            rows.append([why, sum(g["flows"] for g in members), shown])
        lines += ["", f"{title}:", table(["why", "flows", "destinations"], rows, [False, True, False])]
    if data["notes"]:
        lines += ["", *data["notes"]]
    if data["output"]:
        lines += ["", f"workspace with these rules written to {data['output']} "
                      "(check it with: egress-sim validate, egress-sim plan OLD NEW)"]
    return "\n".join(lines)
