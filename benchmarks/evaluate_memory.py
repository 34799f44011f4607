"""Peak memory of evaluating a Parquet flow file, at several sizes: it should not grow with the file.

Usage::

    python benchmarks/evaluate_memory.py --flows 10000000 100000000     # the issue's comparison
    python benchmarks/evaluate_memory.py --flows 1000000 4000000         # quick

Each size is simulated once into ``--workdir`` (``egress-sim simulate`` with the bundled contoso workspace,
reused when present), then evaluated in a fresh process that reports its own peak RSS (``VmHWM`` of ``/proc/self/status``: Linux
carries ``ru_maxrss`` over ``exec``, so a child of a big process would report the parent's peak). Evaluation streams
in chunks of ``--chunk-rows`` rows (the CLI's default, 1,000,000).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKSPACE = REPO / "data" / "workspaces" / "contoso-research.yaml"

_CHILD = """
import json, resource, sys, time
from egress_sim.ruletable.compile import compile_rules
from egress_sim.model import load_workspace
from egress_sim.app.pipeline import evaluate_file
from egress_sim.net.servicetags import load_service_tags
workspace, flows, out, chunk_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
table = compile_rules(load_workspace(workspace)[0], load_service_tags())
start = time.perf_counter()
summary = evaluate_file(table, flows, out, chunk_rows=chunk_rows)
seconds = time.perf_counter() - start
try:  # VmHWM belongs to this program's memory map; ru_maxrss would also count the parent's before exec
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"flows": summary.total, "seconds": seconds, "peak_rss_mb": peak}))
"""


def simulated(flows: int, workdir: Path) -> Path:
    path = workdir / f"simulated-{flows}.parquet"
    if not path.exists():
        partial = path.with_suffix(".partial.parquet")
        subprocess.run([sys.executable, "-m", "egress_sim.cli", "simulate", str(WORKSPACE), "--flows", str(flows),
                        "-o", str(partial)], check=True, stdout=subprocess.DEVNULL)
        partial.rename(path)
    return path


def measure(flows: int, workdir: Path, chunk_rows: int = 1_000_000) -> dict[str, float]:
    """Evaluate a simulated file of ``flows`` flows in a fresh process: its time and peak RSS."""
    source = simulated(flows, workdir)
    out = workdir / f"verdicts-{flows}.parquet"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(WORKSPACE), str(source), str(out), str(chunk_rows)],
                          check=True, capture_output=True, text=True)
    out.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/egress-sim-bench"))
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = [measure(n, args.workdir, args.chunk_rows) for n in args.flows]
    for r in results:
        print(f"{r['flows']:>13,} flows  {r['seconds']:7.1f} s  {r['flows'] / r['seconds'] / 1e6:6.2f} M flows/s  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB")
    spread = max(r["peak_rss_mb"] for r in results) / min(r["peak_rss_mb"] for r in results) - 1
    print(f"peak RSS spread: {spread:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
