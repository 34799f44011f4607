"""Throughput of the vectorized evaluator vs the per-flow reference evaluator, on the same flows.

Usage::

    python benchmarks/run.py                 # 1,000,000 flows
    python benchmarks/run.py --quick         # 100,000 flows
    python benchmarks/run.py --flows 250000 --json

What it measures (wall clock, ``time.perf_counter``, one process, one thread):

* ``vectorized evaluate_frame``: ``egress_sim.evaluate.evaluate_frame(table, frame)``, end to end, frame in,
  frame out (best of ``--repeat``, default 3).
* ``  parse  FlowBatch.from_frame``: the parsing share of it (frame → typed arrays), best of 3.
* ``  kernel evaluate(table, batch)``: the decision share of it (typed arrays → reason/rule codes), best of 3.
  What ``evaluate_frame`` costs beyond parse + kernel is building the output frame (``Verdicts.to_frame``
  and the concat).
* ``reference evaluate_frame``: ``ReferenceEvaluator(table.effective).evaluate_frame(frame)``, once (it is
  slow: tens of thousands of flows/s).

The workload (``benchmarks/workload.py``) is built once and shared by every case. How to read the table:
``flows/s`` is flows / seconds; ``x ref`` is that throughput divided by the reference's. The run fails
(exit 1) if the vectorized and reference outputs differ on any row's verdict, reason or rule.
Results are written to ``reports/bench/evaluate.json``; ``--json`` also prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import egress_sim.evaluate  # noqa: E402
from egress_sim.flows.schema import FlowBatch  # noqa: E402
from egress_sim.reference import ReferenceEvaluator  # noqa: E402
from workload import make_workload  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "reports" / "bench" / "evaluate.json"
COLUMNS = ["verdict", "reason", "rule"]


def best_of(fn, repeat: int):
    """(best seconds, last result) over ``repeat`` calls."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[COLUMNS].astype(object)
    return out.where(out.notna(), "-").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=1_000_000, help="number of flows (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 flows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unique-destinations", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the vectorized cases")
    parser.add_argument("--json", action="store_true", help="also print the results JSON")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else args.flows

    start = time.perf_counter()
    table, frame = make_workload(n, seed=args.seed, unique_destinations=args.unique_destinations)
    build_s = time.perf_counter() - start

    vec_s, vec_out = best_of(lambda: egress_sim.evaluate.evaluate_frame(table, frame), args.repeat)
    parse_s, batch = best_of(lambda: FlowBatch.from_frame(frame), args.repeat)
    kernel_s, _ = best_of(lambda: egress_sim.evaluate.evaluate(table, batch), args.repeat)

    reference = ReferenceEvaluator(table.effective)
    start = time.perf_counter()
    ref_out = reference.evaluate_frame(frame)
    ref_s = time.perf_counter() - start

    left, right = comparable(vec_out), comparable(ref_out)
    differs = (left.to_numpy() != right.to_numpy()).any(axis=1)
    mismatches = int(differs.sum())

    ref_fps = n / ref_s
    cases = [
        ("vectorized evaluate_frame", vec_s, f"best of {args.repeat}"),
        ("  parse  FlowBatch.from_frame", parse_s, f"best of {args.repeat}"),
        ("  kernel evaluate(table, batch)", kernel_s, f"best of {args.repeat}"),
        ("reference evaluate_frame", ref_s, "once"),
    ]
    rows = [
        {"case": name.strip(), "flows": n, "seconds": s, "flows_per_s": n / s, "ratio_vs_reference": (n / s) / ref_fps, "timing": how}
        for name, s, how in cases
    ]

    width = max(len(name) for name, _, _ in cases)
    print(f"{'case':<{width}}  {'flows':>10}  {'seconds':>9}  {'flows/s':>12}  {'x ref':>8}")
    for (name, _, _), row in zip(cases, rows):
        print(f"{name:<{width}}  {row['flows']:>10,}  {row['seconds']:>9.3f}  {row['flows_per_s']:>12,.0f}  {row['ratio_vs_reference']:>8.1f}")
    print(f"workload build {build_s:.2f}s; outputs {'identical' if not mismatches else f'DIFFER on {mismatches:,} rows'} "
          f"(verdict/reason/rule, {n:,} rows)")
    if mismatches:
        first = np.flatnonzero(differs)[:5]
        print(pd.concat({"vectorized": left.iloc[first], "reference": right.iloc[first], "flow": frame.iloc[first].reset_index(drop=True)}, axis=1).to_string())

    result = {
        "benchmark": "evaluate",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "flows": n,
        "seed": args.seed,
        "unique_destinations": args.unique_destinations,
        "workload_build_seconds": build_s,
        "outputs_identical": mismatches == 0,
        "mismatched_rows": mismatches,
        "results": rows,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    if args.json:
        print(json.dumps(result, indent=2))
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
