"""How the evaluator's cost grows: with the number of flows, and with the number of prefixes and rules.

Usage::

    python benchmarks/scaling.py                     # flows 10^4 .. 10^8, rule sweep on 10^6 flows
    python benchmarks/scaling.py --quick             # flows 10^4 .. 10^6, rule sweep on 10^5 flows
    python benchmarks/scaling.py --max-flows 10000000 --repeat 3

(a) Flows. ``make_table()`` and ``make_frame(table, n)`` (5,000 distinct destinations) for n = 10^4 .. 10^8.
    ``kernel`` is ``evaluate(table, batch)`` on a batch built beforehand; ``end to end`` is
    ``FlowBatch.from_frame(frame)`` + ``evaluate`` (in memory, frame in, verdict codes out). Sizes above
    10^7 are built and evaluated in chunks of 10^7 flows (each chunk its own seed) and the chunk times are
    summed, so memory stays near that of one 10^7 chunk; the table says how many chunks.
(b) Prefixes and rules. The benchmark workspace with its service-tag and FQDN rules replaced by 1, 2, 4, ..., 64,
    100 real global tags (smallest first, so 100 rules reach ~58 k prefixes) and 0, 10, 100, 1000 FQDN rules
    (half ``*.s<i>.x.example`` wildcards, half exact names), every combination. Reported: compile time
    (``compile_rules``), IPv4/IPv6 intervals, total tag prefixes (the required rules' tags included), and
    kernel flows/s on one fixed batch whose addresses lie inside the largest table's prefixes and whose
    host names include names the FQDN rules match.

Timing is the best of ``--repeat`` (default 5) after a warm-up evaluation, one process. Each evaluated
chunk and each compiled table is checked on a sample of flows against the per-flow reference evaluator; the
run exits 1 on a mismatch. Writes ``reports/bench/scaling.json``, ``scaling_flows.png`` (log-log seconds vs
flows, with a linear reference) and ``scaling_rules.png`` (flows/s and compile time vs prefixes and rules).
Uses only the stable API (workload, compile_rules, FlowBatch.from_frame, evaluate), so it keeps working
while the kernel changes.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_of  # noqa: E402
from egress_sim.ruletable.compile import RuleTable, compile_rules  # noqa: E402
from egress_sim.evaluation.evaluate import evaluate  # noqa: E402
from egress_sim.flows.schema import FlowBatch  # noqa: E402
from egress_sim.model import workspace_from_dict  # noqa: E402
from egress_sim.evaluation.reference import ReferenceEvaluator  # noqa: E402
from egress_sim.net.servicetags import ServiceTagSet, load_service_tags  # noqa: E402
from workload import WORKSPACE, make_frame, make_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "reports" / "bench"
CHUNK = 10_000_000
TAG_COUNTS = (1, 2, 4, 8, 16, 32, 64, 100)
FQDN_COUNTS = (0, 10, 100, 1000)
CHECK_ROWS = 1000  # flows per chunk / per table compared with the reference evaluator


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def mismatches(table: RuleTable, frame: pd.DataFrame, reason: np.ndarray, rule: np.ndarray) -> int:
    """Rows among the first ``CHECK_ROWS`` where the reference evaluator decides another reason or rule."""
    sample = frame.iloc[:CHECK_ROWS]
    decisions = ReferenceEvaluator(table.effective).evaluate_records(sample.to_dict("records"))
    names = table.rule_names
    return sum(
        int(reason[i]) != d.reason.value or (names[rule[i]] if rule[i] >= 0 else None) != d.rule
        for i, d in enumerate(decisions)
    )


# ---------------------------------------------------------------------------------------------- (a) flows
def flow_sizes(max_flows: int) -> list[int]:
    return [10**e for e in range(4, 9) if 10**e <= max_flows]


def sweep_flows(max_flows: int, repeat: int, seed: int) -> tuple[list[dict], int]:
    table = make_table()
    evaluate(table, FlowBatch.from_frame(make_frame(table, 10_000, seed)))  # warm-up (a JIT kernel compiles here)
    rows, bad = [], 0
    print(f"(a) flows: make_table(), 5,000 distinct destinations, best of {repeat}; sizes above {CHUNK:,} run in "
          f"chunks of {CHUNK:,} whose times are summed")
    header = ("flows", "chunks", "kernel s", "kernel M/s", "end-to-end s", "e2e M/s", "ns/flow e2e", "peak RSS")
    print_header(header)
    for n in flow_sizes(max_flows):
        chunk = min(n, CHUNK)
        kernel_s = e2e_s = build_s = 0.0
        for i in range(n // chunk):
            start = time.perf_counter()
            frame = make_frame(table, chunk, seed + i)
            build_s += time.perf_counter() - start
            kernel_best = e2e_best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                batch = FlowBatch.from_frame(frame)
                parsed = time.perf_counter()
                verdicts = evaluate(table, batch)
                done = time.perf_counter()
                kernel_best, e2e_best = min(kernel_best, done - parsed), min(e2e_best, done - start)
                del batch
            kernel_s += kernel_best
            e2e_s += e2e_best
            bad += mismatches(table, frame, verdicts.reason, verdicts.rule)
            del frame, verdicts
        row = {"flows": n, "chunks": n // chunk, "kernel_seconds": kernel_s, "end_to_end_seconds": e2e_s,
               "kernel_flows_per_s": n / kernel_s, "end_to_end_flows_per_s": n / e2e_s,
               "frame_build_seconds": build_s, "peak_rss_mb": peak_rss_mb()}
        rows.append(row)
        print_row(header, (f"{n:,}", row["chunks"], f"{kernel_s:.4f}", f"{n / kernel_s / 1e6:.2f}", f"{e2e_s:.4f}",
                           f"{n / e2e_s / 1e6:.2f}", f"{e2e_s * 1e9 / n:.0f}", f"{row['peak_rss_mb']:,.0f} MB"))
    return rows, bad


# ------------------------------------------------------------------------------------- (b) prefixes, rules
def sweep_tags(tags: ServiceTagSet) -> list[str]:
    """The global tags, smallest first: 100 of them reach ~58 k prefixes (all regional ``Storage.*`` and
    ``AzureCloud.*`` tags together only ~14 k), so the sweep spans a wide range of table sizes."""
    by_size = sorted((len(t.address_prefixes), t.name) for t in tags.tags.values() if not t.region)
    return [name for _, name in by_size][: max(TAG_COUNTS)]


def fqdn_target(i: int) -> str:
    return f"*.s{i}.x.example" if i % 2 == 0 else f"h{i}.x.example"


def matching_host(i: int) -> str:
    return f"api.s{i}.x.example" if i % 2 == 0 else f"h{i}.x.example"


def workspace_table(tags: ServiceTagSet, tag_names: list[str], n_fqdn: int) -> Callable[[], RuleTable]:
    """The benchmark workspace with these service-tag rules and ``n_fqdn`` FQDN rules; returns its compiler."""
    spec = copy.deepcopy(WORKSPACE)
    kept = [r for r in spec["managed_network"]["outbound_rules"] if r["type"] not in ("service_tag", "fqdn")]
    spec["managed_network"]["outbound_rules"] = kept + [
        {"name": f"tag-{i}", "type": "service_tag",
         "destination": {"service_tag": name, "protocol": "TCP", "port_ranges": "443"}}
        for i, name in enumerate(tag_names)
    ] + [{"name": f"fqdn-{i}", "type": "fqdn", "destination": fqdn_target(i)} for i in range(n_fqdn)]
    workspace, _ = workspace_from_dict(spec)
    return lambda: compile_rules(workspace, tags)


def rules_frame(table: RuleTable, n: int, seed: int) -> pd.DataFrame:
    """``make_frame`` on the largest table; half of the named flows get a name some FQDN rule of the largest
    sweep point matches (the smaller ones match fewer of them)."""
    frame = make_frame(table, n, seed)
    rng = np.random.default_rng(seed)
    hosts = frame["fqdn"].astype(object).to_numpy(copy=True)
    named = np.flatnonzero(frame["fqdn"].notna().to_numpy())
    renamed = named[rng.random(named.size) < 0.5]
    pool = np.array([matching_host(i) for i in range(max(FQDN_COUNTS))], dtype=object)
    hosts[renamed] = pool[rng.integers(0, pool.size, renamed.size)]
    frame["fqdn"] = pd.Categorical(hosts)  # categorical, like the workload's other columns
    return frame


def sweep_rules(n_flows: int, repeat: int, seed: int) -> tuple[list[dict], int]:
    tags = load_service_tags()
    names = sweep_tags(tags)
    compilers = {(t, f): workspace_table(tags, names[:t], f) for t in TAG_COUNTS for f in FQDN_COUNTS}
    largest = compilers[(max(TAG_COUNTS), max(FQDN_COUNTS))]()
    frame = rules_frame(largest, n_flows, seed)
    batch = FlowBatch.from_frame(frame)
    print(f"\n(b) prefixes and rules: kernel on one {n_flows:,}-flow batch, compile and kernel best of {repeat}")
    header = ("tag rules", "fqdn rules", "tag prefixes", "IPv4 intervals", "IPv6 intervals", "compile s",
              "kernel M/s", "ns/flow")
    print_header(header)
    rows, bad = [], 0
    for (n_tags, n_fqdn), compile_table in compilers.items():
        compile_s, table = best_of(compile_table, repeat)
        evaluate(table, batch)  # warm-up: a kernel may specialise on the table's shape
        kernel_s, verdicts = best_of(lambda table=table: evaluate(table, batch), repeat)
        bad += mismatches(table, frame, verdicts.reason, verdicts.rule)
        prefixes = sum(len(rule.prefixes) for rule in table.effective.service_tags)
        row = {"user_tag_rules": n_tags, "fqdn_rules": n_fqdn,
               "tag_rules_in_force": len(table.effective.service_tags), "tag_prefixes": prefixes,
               "ipv4_intervals": len(table.ipv4.starts_lo), "ipv6_intervals": len(table.ipv6.starts_lo),
               "compile_seconds": compile_s, "kernel_seconds": kernel_s, "kernel_flows_per_s": n_flows / kernel_s}
        rows.append(row)
        print_row(header, (n_tags, n_fqdn, f"{prefixes:,}", f"{row['ipv4_intervals']:,}", f"{row['ipv6_intervals']:,}",
                           f"{compile_s:.3f}", f"{n_flows / kernel_s / 1e6:.2f}", f"{kernel_s * 1e9 / n_flows:.0f}"))
    return rows, bad


# ------------------------------------------------------------------------------------------------ output
def print_header(header: tuple[str, ...]) -> None:
    print("  ".join(h.rjust(max(len(h), 12)) for h in header))
    print("  ".join("-" * max(len(h), 12) for h in header))


def print_row(header: tuple[str, ...], cells: tuple[object, ...]) -> None:
    print("  ".join(str(c).rjust(max(len(h), 12)) for h, c in zip(header, cells)), flush=True)


def plot_flows(rows: list[dict], path: Path) -> None:
    flows = np.array([r["flows"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 5))
    for key, label in (("kernel_seconds", "kernel: evaluate(table, batch)"),
                       ("end_to_end_seconds", "end to end: FlowBatch.from_frame + evaluate")):
        ax.loglog(flows, [r[key] for r in rows], "o-", label=label)
    anchor = rows[min(range(len(rows)), key=lambda i: abs(np.log10(flows[i]) - 6))]
    ax.loglog(flows, anchor["kernel_seconds"] * flows / anchor["flows"], "k--", lw=1,
              label=f"linear (through kernel at {anchor['flows']:,.0f})")
    chunked = [r["flows"] for r in rows if r["chunks"] > 1]
    title = "Evaluator time vs flows (one core, make_table(), 5,000 destinations)"
    if chunked:
        title += f"\nsizes ≥ {min(chunked):,.0f}: chunks of {CHUNK:,} flows, times summed"
    ax.set(xlabel="flows", ylabel="seconds (best of N)", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_rules(rows: list[dict], n_flows: int, path: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for n_fqdn in FQDN_COUNTS:
        points = [r for r in rows if r["fqdn_rules"] == n_fqdn]
        x = [r["tag_prefixes"] for r in points]
        axes[0, 0].semilogx(x, [r["kernel_flows_per_s"] / 1e6 for r in points], "o-", label=f"{n_fqdn} FQDN rules")
        axes[0, 1].semilogx(x, [r["compile_seconds"] for r in points], "o-", label=f"{n_fqdn} FQDN rules")
    for n_tags in (min(TAG_COUNTS), 8, max(TAG_COUNTS)):
        points = [r for r in rows if r["user_tag_rules"] == n_tags]
        x = [r["fqdn_rules"] for r in points]
        axes[1, 0].semilogx(x, [r["kernel_flows_per_s"] / 1e6 for r in points], "o-", label=f"{n_tags} tag rules")
        axes[1, 1].semilogx(x, [r["compile_seconds"] for r in points], "o-", label=f"{n_tags} tag rules")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"kernel M flows/s ({n_flows:,}-flow batch)")
        ax.set_ylim(bottom=0)
    for ax in axes[:, 1]:
        ax.set_ylabel("compile_rules seconds")
        ax.set_ylim(bottom=0)
    for ax in axes[0]:
        ax.set_xlabel("service-tag prefixes in force (IPv4 + IPv6; 1..100 global-tag rules + required)")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    for ax in axes[1]:
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("user FQDN rules (half wildcards)")
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Evaluator cost vs prefixes and rules (one core)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-flows", type=int, default=10**8, help="largest flow count (default 10^8)")
    parser.add_argument("--quick", action="store_true", help="flows up to 10^6, rule sweep on 10^5 flows")
    parser.add_argument("--repeat", type=int, default=5, help="best of N (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    max_flows = min(args.max_flows, 10**6) if args.quick else args.max_flows
    rules_flows = 10**5 if args.quick else 10**6

    started = time.perf_counter()
    flow_rows, flow_bad = sweep_flows(max_flows, args.repeat, args.seed)
    rule_rows, rule_bad = sweep_rules(rules_flows, args.repeat, args.seed)

    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    plot_flows(flow_rows, out / "scaling_flows.png")
    plot_rules(rule_rows, rules_flows, out / "scaling_rules.png")
    report = {
        "benchmark": "scaling",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": args.seed, "timing": f"best of {args.repeat}, one process",
        "chunk_flows": CHUNK, "chunking": f"sizes above {CHUNK:,} are built and evaluated in chunks, times summed",
        "check": f"first {CHECK_ROWS} flows of every chunk and table vs the reference evaluator",
        "mismatched_rows": flow_bad + rule_bad,
        "python": platform.python_version(), "machine": platform.machine(),
        "flows": flow_rows, "rules": {"batch_flows": rules_flows, "points": rule_rows},
        "peak_rss_mb": peak_rss_mb(), "wall_seconds": time.perf_counter() - started,
    }
    (out / "scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    shown = out.relative_to(REPO) if out.is_relative_to(REPO) else out
    print(f"\npeak RSS {peak_rss_mb():,.0f} MB, {time.perf_counter() - started:.0f} s; "
          f"results: {shown}/scaling.json, scaling_flows.png, scaling_rules.png")
    if flow_bad or rule_bad:
        print(f"FAILED: {flow_bad + rule_bad} sampled flows differ from the reference evaluator", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
