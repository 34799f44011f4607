"""The benchmark table: every case's throughput, and its ratio against the per-flow reference evaluator and a
plain per-flow pytricia loop, both run on the same data in the same run.

Usage::

    python benchmarks/run.py              # the issue's sizes (10^7 flows per case, 10^8 for memory): ~5 min
    python benchmarks/run.py --quick      # every case on smaller data, under a minute
    python benchmarks/run.py --json       # also print the results as JSON

Cases (one thread; wall clock with ``time.perf_counter``; best of ``--repeat`` unless said):

* ``compile``: ``compile_rules`` of the benchmark workspace (required rules + 30 user rules, 10 of them
  wildcard FQDNs) against the bundled service-tag file.
* ``compile N rules``: ``N`` service-tag rules on ``AzureCloud`` (13,080 prefixes), each with its own
  port, compiled in a fresh process (``compile_scaling.py``, which also has a mix of tags); note: peak RSS.
* ``kernel ipv4`` / ``ipv6`` / ``mixed`` / ``host names``: ``evaluate(table, batch)`` on in-memory columns
  (a ``FlowBatch`` of codes per flow, distinct values once, as a Parquet dictionary column gives them), with
  5,000 distinct destinations (``host names``: 100,000 distinct names over the flows). Includes the work
  per distinct value (interval look-ups, host-name matching).
* ``parse text``: ``FlowBatch.from_frame`` on a frame of Python strings (what a CSV gives): the cost of
  getting to those columns. ``evaluate_frame``: text frame in, frame with verdicts out.
* ``parquet file``: ``pipeline.evaluate_file`` on a simulated Parquet file (read, evaluate, count, write every
  input column plus the verdicts); ``parquet verdicts only``: the same writing only verdict, reason and rule.
* ``nsg parse only`` / ``nsg replay``: NSG flow logs (``nsg_replay.py``; 0.3 GB of blobs in Network Watcher's
  layout, quick 10 MB): the reader alone, then ``replay`` with the fleet inventory; flows here are tuples.
* ``replay <format> reader`` / ``e2e``: every log format (``replay_formats.py``: NSG small and busy blobs,
  VNet, Azure Firewall, Zeek, AWS VPC; ~0.15-0.3 GB each, quick 10 MB), the reader alone and ``replay``, each
  phase in a fresh process; the note gives MB/s and the ratio to the parser ceiling (orjson / pyarrow csv) of
  the same files, measured in the same run. A ledger that does not add up fails the run.
* ``memory``: peak RSS of ``evaluate_file`` in a fresh process at two sizes (``evaluate_memory.py``); the
  comparison that matters is the full run's 10^7 against 10^8 (quick sizes only show it runs).

Ratios: ``x ref`` is the case's flows/s over the reference evaluator's (``reference.py``: a plain-Python
prefix map + fnmatch, one flow at a time) on the first ``--reference-flows`` flows of the same data;
``x trie`` over a plain per-flow pytricia loop (``baselines.py``: service-tag step only) on the first
``--trie-flows``. The run fails (exit 1) if the evaluator and the reference disagree on any compared flow's
verdict, reason or rule, or the loop and the evaluator on any flow's service-tag rule. Results go to
``reports/bench/run.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import PytriciaLoop  # noqa: E402
from compile_scaling import measure as measure_compile  # noqa: E402
from evaluate_memory import measure as measure_memory  # noqa: E402
from evaluate_memory import simulated  # noqa: E402
from nsg_replay import FLEET, SIZE_GB, end_to_end, generated_logs, parse_only  # noqa: E402
from replay_formats import CASES as REPLAY_CASES  # noqa: E402
from replay_formats import measure as measure_replay_formats  # noqa: E402
import startup  # noqa: E402
from workload import WORKSPACE, make_frame, make_host_frame, make_table  # noqa: E402

from timing import best_of  # noqa: E402
from egress_sim.ruletable.compile import RuleTable, compile_rules  # noqa: E402
from egress_sim.evaluation.evaluate import evaluate, evaluate_frame  # noqa: E402
from egress_sim.logs.registry import expand_inputs  # noqa: E402
from egress_sim.logs.inventory import load_inventory  # noqa: E402
from egress_sim.flows.schema import FlowBatch  # noqa: E402
from egress_sim.model import load_workspace, workspace_from_dict  # noqa: E402
from egress_sim.app.pipeline import evaluate_file  # noqa: E402
from egress_sim.evaluation.reference import ReferenceEvaluator  # noqa: E402
from egress_sim.net.servicetags import load_service_tags  # noqa: E402
from egress_sim.flows.verdicts import Reason  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "reports" / "bench" / "run.json"
CONTOSO = REPO / "data" / "workspaces" / "contoso-research.yaml"


@dataclass
class Result:
    case: str
    flows: int
    seconds: float
    flows_per_s: float | None
    x_reference: float | None
    x_trie: float | None
    note: str


class Baselines:
    """Reference evaluator and pytricia loop rates on the first flows of a frame, checked against the kernel."""

    def __init__(self, table: RuleTable, reference_flows: int, trie_flows: int):
        self.table, self.reference_flows, self.trie_flows = table, reference_flows, trie_flows
        self.reference = ReferenceEvaluator(table.effective)
        self.loop = PytriciaLoop(table)
        self.mismatches: list[str] = []

    def rates(self, name: str, frame: pd.DataFrame) -> tuple[float, float]:
        """(reference flows/s, loop flows/s) on ``frame``'s first rows; disagreements go to ``mismatches``."""
        head = frame.iloc[: self.reference_flows].reset_index(drop=True)
        start = time.perf_counter()
        expected = self.reference.evaluate_frame(head)
        reference_rate = len(head) / (time.perf_counter() - start)
        got = evaluate(self.table, FlowBatch.from_frame(head)).to_frame()
        for column in ("verdict", "reason", "rule"):
            left = got[column].astype(object).fillna("-").to_numpy()
            right = expected[column].astype(object).fillna("-").to_numpy()
            differs = int((left != right).sum())
            if differs:
                self.mismatches.append(f"{name}: {differs} flows differ from the reference in {column}")

        head = frame.iloc[: self.trie_flows].reset_index(drop=True)
        start = time.perf_counter()
        loop_tag = self.loop.first_active_tag(head)
        trie_rate = len(head) / (time.perf_counter() - start)
        verdicts = evaluate(self.table, FlowBatch.from_frame(head))
        by_tag = verdicts.reason == Reason.SERVICE_TAG.value
        wrong = by_tag & (loop_tag != verdicts.rule - self.table.tag_offset)
        if wrong.any():
            self.mismatches.append(f"{name}: {int(wrong.sum())} flows where the pytricia loop names another service tag")
        return reference_rate, trie_rate


def kernel_case(name: str, table: RuleTable, frame: pd.DataFrame, baselines: Baselines, repeat: int, note: str) -> Result:
    batch = FlowBatch.from_frame(frame)
    evaluate(table, batch)  # numba loads (or compiles) the kernel on the first call
    seconds, _ = best_of(lambda: evaluate(table, batch), 2 * repeat)  # cheap: more runs, less noise
    reference_rate, trie_rate = baselines.rates(name, frame)
    rate = len(frame) / seconds
    return Result(name, len(frame), seconds, rate, rate / reference_rate, rate / trie_rate, note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data: every case in under a minute")
    parser.add_argument("--flows", type=int, help="flows per in-memory case (default 10^7, quick 10^6)")
    parser.add_argument("--repeat", type=int, default=5, help="best of N for every timed case (file cases: N - 2)")
    parser.add_argument("--reference-flows", type=int, help="flows given to the reference (default 20,000, quick 4,000)")
    parser.add_argument("--trie-flows", type=int, help="flows given to the pytricia loop (default 200,000, quick 50,000)")
    parser.add_argument("--memory-flows", type=int, nargs=2, help="the two memory sizes (default 10^7 10^8; quick 3x10^6 6x10^6, a smoke test: small runs stop before the allocator's high-water mark settles)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "egress-sim-bench",
                        help="where simulated Parquet files are kept between runs")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    n = args.flows or (1_000_000 if args.quick else 10_000_000)
    reference_flows = args.reference_flows or (4_000 if args.quick else 20_000)
    trie_flows = args.trie_flows or (50_000 if args.quick else 200_000)
    memory_sizes = args.memory_flows or ((3_000_000, 6_000_000) if args.quick else (10_000_000, 100_000_000))
    unique_hosts = 10_000 if args.quick else 100_000
    args.workdir.mkdir(parents=True, exist_ok=True)
    numba.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    started = time.perf_counter()

    results: list[Result] = []

    def show(result: Result) -> None:
        results.append(result)
        print(_row(result), flush=True)

    print(_header(), flush=True)
    workspace, _ = workspace_from_dict(WORKSPACE)
    tags = load_service_tags()
    compile_s, table = best_of(lambda: compile_rules(workspace, tags), max(args.repeat, 5))
    summary = table.summary()
    show(Result("compile", 0, compile_s, None, None, None,
                f"{summary['service_tag_prefixes']['ipv4'] + summary['service_tag_prefixes']['ipv6']:,} prefixes -> "
                f"{summary['intervals']['ipv4']:,} + {summary['intervals']['ipv6']:,} intervals, "
                f"{len(table.rule_names)} rules"))
    for rules in (100, 1_000) if args.quick else (100, 1_000, 10_000):
        scaled = measure_compile("azurecloud", rules)
        if "killed" in scaled:
            show(Result(f"compile {rules:,} rules", 0, float("nan"), None, None, None, f"killed: {scaled['killed']}"))
            continue
        show(Result(f"compile {rules:,} rules", 0, scaled["compile_seconds"], None, None, None,
                    f"service-tag rules on AzureCloud, one port each: peak RSS {scaled['compile_peak_rss_mb']:,.0f} MB, "
                    f"tables {scaled['table_mb']:,.0f} MB"))
    table = make_table()
    baselines = Baselines(table, reference_flows, trie_flows)
    for family in ("ipv4", "ipv6", "mixed"):
        frame = make_frame(table, n, family=family)
        show(kernel_case(f"kernel {family}", table, frame, baselines, args.repeat, "in-memory columns, 5,000 destinations"))
    frame = make_host_frame(table, n, unique_hosts=unique_hosts)
    show(kernel_case("kernel host names", table, frame, baselines, args.repeat, f"{unique_hosts:,} distinct names"))

    text = make_frame(table, n // 5, family="mixed").astype(object)
    reference_rate, trie_rate = baselines.rates("text", text)
    seconds, _ = best_of(lambda: FlowBatch.from_frame(text), args.repeat)
    show(Result("parse text", len(text), seconds, len(text) / seconds, len(text) / seconds / reference_rate,
                len(text) / seconds / trie_rate, "FlowBatch.from_frame on Python strings"))
    seconds, _ = best_of(lambda: evaluate_frame(table, text), args.repeat)
    show(Result("evaluate_frame", len(text), seconds, len(text) / seconds, len(text) / seconds / reference_rate,
                len(text) / seconds / trie_rate, "text frame in, frame with verdicts out"))

    contoso = compile_rules(load_workspace(CONTOSO)[0], tags)
    source = simulated(n, args.workdir)
    contoso_baselines = Baselines(contoso, reference_flows, trie_flows)
    sample = pd.read_parquet(source).iloc[: max(reference_flows, trie_flows)]
    reference_rate, trie_rate = contoso_baselines.rates("parquet", sample)
    baselines.mismatches += contoso_baselines.mismatches
    out = args.workdir / "verdicts.parquet"
    for name, keep in (("parquet file", True), ("parquet verdicts only", False)):
        evaluate_file(contoso, source, out, keep_input=keep)
        seconds, _ = best_of(lambda: evaluate_file(contoso, source, out, keep_input=keep), max(1, args.repeat - 2))
        written = out.stat().st_size / 1e6
        show(Result(name, n, seconds, n / seconds, n / seconds / reference_rate, n / seconds / trie_rate,
                    f"simulated contoso flows, {source.stat().st_size / 1e6:,.0f} MB in, {written:,.0f} MB out"))
    out.unlink(missing_ok=True)

    logs = generated_logs(SIZE_GB["quick" if args.quick else "full"])
    files = expand_inputs([str(logs)])
    size_mb = sum(f.size for f in files) / 1e6
    seconds, parsed = best_of(lambda: parse_only(files), max(1, args.repeat - 2))
    show(Result("nsg parse only", parsed["tuples"], seconds, parsed["tuples"] / seconds, None, None,
                f"{len(files):,} NSG blobs, {size_mb:,.0f} MB: {size_mb / seconds:,.1f} MB/s"))
    inventory = load_inventory(FLEET)
    seconds, replayed = best_of(lambda: end_to_end(logs, contoso, inventory), max(1, args.repeat - 2))
    show(Result("nsg replay", replayed["tuples"], seconds, replayed["tuples"] / seconds, None, None,
                f"read, identify computes, evaluate, write: {size_mb / seconds:,.1f} MB/s"))

    formats = measure_replay_formats(list(REPLAY_CASES), args.quick, max(1, args.repeat - 2), memory=False,
                                     show=lambda line: None)
    baselines.mismatches += [p for p in formats["problems"] if "orjson" not in p]
    for fmt in formats["cases"]:
        ceiling = fmt["phases"][0]
        for phase, label in ((fmt["phases"][-2], "reader"), (fmt["phases"][-1], "e2e")):
            against = (f"{phase['x_ceiling']:.3f} of {fmt['ceiling']} ({ceiling['mb_per_s']:,.1f} MB/s)"
                       if phase["x_ceiling"] is not None else "no ceiling (orjson missing)")
            show(Result(f"replay {fmt['case']} {label}", fmt["records"], phase["seconds"], phase["records_per_s"],
                        None, None, f"{fmt['bytes'] / 1e6:,.0f} MB: {phase['mb_per_s']:,.1f} MB/s, x {against}"))

    memory = [measure_memory(size, args.workdir) for size in memory_sizes]
    low, high = memory
    show(Result("memory", high["flows"], high["seconds"], high["flows"] / high["seconds"], None, None,
                f"peak RSS {low['peak_rss_mb']:,.0f} MB at {low['flows']:,} flows, {high['peak_rss_mb']:,.0f} MB at "
                f"{high['flows']:,} ({high['peak_rss_mb'] / low['peak_rss_mb'] - 1:+.1%})"))

    startup_times = startup.measure(3 if args.quick else 10)  # the CLI's fixed cost: fresh processes, median
    print(startup.render(startup_times))
    print(f"total {time.perf_counter() - started:.0f} s; "
          + ("evaluator, reference and pytricia loop agree on every compared flow" if not baselines.mismatches
             else "DISAGREEMENTS: " + "; ".join(baselines.mismatches)))
    report = {
        "benchmark": "run",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "flows_per_case": n,
        "reference_flows": reference_flows,
        "trie_flows": trie_flows,
        "mismatches": baselines.mismatches,
        "results": [asdict(r) for r in results],
        "memory": memory,
        "replay_formats": formats,
        "startup": startup_times,
        "environment": {
            "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
            "pyarrow": pa.__version__, "numba": numba.__version__, "platform": platform.platform(),
            "cpus": os.cpu_count(), "threads": 1,
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if baselines.mismatches else 0


def _header() -> str:
    return f"{'case':<22} {'flows':>12} {'seconds':>9} {'M flows/s':>10} {'x ref':>9} {'x trie':>7}  note"


def _row(r: Result) -> str:
    def number(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else "-"
    flows = f"{r.flows:,}" if r.flows else "-"
    return (f"{r.case:<22} {flows:>12} {r.seconds:>9.3f} {number(r.flows_per_s and r.flows_per_s / 1e6, '>10.2f')} "
            f"{number(r.x_reference, '>9,.0f')} {number(r.x_trie, '>7.1f')}  {r.note}")


if __name__ == "__main__":
    sys.exit(main())
