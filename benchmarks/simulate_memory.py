"""Does ``egress-sim simulate`` keep memory flat? Time and peak RSS of one child process per flow count.

Usage::

    python benchmarks/simulate_memory.py                      # 2 M, 20 M flows
    python benchmarks/simulate_memory.py --flows 1000000 100000000

Each size runs ``egress-sim simulate`` on the bundled workspace and scenario into a temporary Parquet file
(deleted afterwards) in a fresh process, so each peak RSS (``ru_maxrss`` of that child) is its own.
Results go to ``reports/bench/simulate_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / "data" / "workspaces" / "contoso-research.yaml"


def measure(flows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flows.parquet"
        command = [sys.executable, "-m", "egress_sim.cli", "simulate", str(WORKSPACE), "--flows", str(flows),
                   "--seed", "1", "-o", str(out)]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)  # usage.ru_maxrss: this child's peak RSS, in KiB
        seconds = time.perf_counter() - started
        if status != 0:
            sys.exit(f"simulate --flows {flows} failed: {process.stderr.read().decode()}")
        return {"flows": flows, "seconds": round(seconds, 2), "flows_per_s": round(flows / seconds),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "parquet_mb": round(out.stat().st_size / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, nargs="+", default=[2_000_000, 20_000_000])
    args = parser.parse_args()
    rows = [measure(n) for n in args.flows]
    print(f"{'flows':>12}  {'seconds':>8}  {'flows/s':>10}  {'peak RSS MB':>11}  {'Parquet MB':>10}")
    for r in rows:
        print(f"{r['flows']:>12,}  {r['seconds']:>8}  {r['flows_per_s']:>10,}  {r['peak_rss_mb']:>11}  {r['parquet_mb']:>10}")
    out = ROOT / "reports" / "bench" / "simulate_memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
