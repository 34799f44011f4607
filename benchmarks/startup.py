"""The command line's fixed start-up cost: wall clock of whole ``egress-sim`` processes doing almost no work.

Usage::

    python benchmarks/startup.py              # 10 runs of each command: median and best wall clock, median CPU
    python benchmarks/startup.py --runs 20 --json

Each case starts a fresh process (the installed ``egress-sim`` script next to this Python, else
``python -m egress_sim``), so the time is what a user waits for: interpreter start, imports, loading the
numba kernels from their on-disk cache, reading the service-tag file, the command's own work and exit.
One untimed run first warms the disk cache and numba's kernel cache. ``PYTHONDONTWRITEBYTECODE`` is dropped
from the children's environment: with it set, every egress_sim module is compiled from source at every start
(~0.3 s here), which an installed package never does. Results go to ``reports/bench/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "reports" / "bench" / "startup.json"
WORKSPACE = REPO / "data" / "workspaces" / "contoso-research.yaml"
SAMPLE_FLOWS = REPO / "data" / "flows" / "sample_flows.csv"
EVALUATE_ROWS = 10


def command() -> list[str]:
    """How to start ``egress-sim`` with the Python running this script."""
    script = Path(sys.executable).parent / "egress-sim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "egress_sim"]


def cases(workdir: Path) -> dict[str, list[str]]:
    """Each case's arguments; the evaluate case reads the first ``EVALUATE_ROWS`` rows of the sample flows."""
    flows = workdir / "flows10.csv"
    with SAMPLE_FLOWS.open() as source:
        flows.write_text("".join(line for _, line in zip(range(EVALUATE_ROWS + 1), source)))
    ws = str(WORKSPACE)
    return {
        "--help": ["--help"],
        "--version": ["--version"],
        "validate": ["validate", ws],
        "explain": ["explain", ws, "--dst", "pypi.org", "--port", "443"],
        f"evaluate {EVALUATE_ROWS} rows": ["evaluate", ws, str(flows), "-o", str(workdir / "out.csv")],
    }


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_case(argv: list[str], runs: int, workdir: Path) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of ``runs`` fresh processes (after one untimed warm-up); fails on a non-zero
    exit. CPU time (user + system) varies less than wall time on a busy machine."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    walls, cpus = [], []
    for i in range(runs + 1):
        for leftover in workdir.glob("out.csv*"):
            leftover.unlink()
        cpu = _cpu_of_children()
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
        if i:
            walls.append(elapsed)
            cpus.append(_cpu_of_children() - cpu)
    return walls, cpus


def measure(runs: int) -> dict[str, dict[str, float]]:
    """Median and best wall-clock seconds, and median CPU seconds, per case."""
    workdir = Path(tempfile.mkdtemp(prefix="egress-sim-startup-"))
    try:
        base = command()
        results = {}
        for name, args in cases(workdir).items():
            walls, cpus = time_case(base + args, runs, workdir)
            results[name] = {"median_s": statistics.median(walls), "best_s": min(walls),
                             "median_cpu_s": statistics.median(cpus), "runs": runs}
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def render(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'command':<22}{'median s':>10}{'best s':>10}{'median cpu s':>14}"]
    lines += [f"{name:<22}{r['median_s']:>10.3f}{r['best_s']:>10.3f}{r['median_cpu_s']:>14.3f}"
              for name, r in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (after one warm-up)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    results = measure(args.runs)
    print(f"egress-sim start-up, {args.runs} fresh processes per command (os.cpu_count()={os.cpu_count()})")
    print(render(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
