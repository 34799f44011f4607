"""The local engine against Dask with 1 and 2 workers, on the same 10 M flows (Parquet) and the same NSG directory.

Usage::

    python benchmarks/dask_scaling.py [--flows 10000000] [--nsg-gb 0.3] [--workdir /tmp/egress_sim_dask_bench]

The data is generated once into ``--workdir`` (the simulator's 10 M flows; NSG v2 logs made from 2 M of them by
``make_nsg_logs.py``) and reused. Each case runs the command line (``egress-sim evaluate`` / ``replay``), so the
times include what a user waits for: start-up, and for Dask the LocalCluster's start (printed apart, measured
with an empty run: ``--workers N`` on a one-row-group file). Per-partition overhead: the Dask time of N partitions
minus the local time, over N. Prints a table and writes ``reports/bench/dask_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / "data" / "workspaces" / "contoso-research.yaml"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
EGRESS = str(Path(sys.executable).parent / "egress-sim")


def run(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([EGRESS, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: egress-sim {' '.join(map(str, args))}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def prepare(workdir: Path, flows: int, nsg_gb: float) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    table = workdir / f"flows-{flows}.parquet"
    if not table.exists():
        run(["simulate", WORKSPACE, "--flows", flows, "--seed", 1, "-o", table])
    nsg = workdir / f"nsg-{nsg_gb}"
    if not nsg.exists():
        source = workdir / "nsg-source.parquet"
        if not source.exists():
            run(["simulate", WORKSPACE, "--flows", 2_000_000, "--seed", 2, "-o", source])
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_nsg_logs.py"), str(source), str(nsg),
                        "--size-gb", str(nsg_gb)], check=True, capture_output=True)
    return table, nsg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=10_000_000)
    parser.add_argument("--nsg-gb", type=float, default=0.3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/egress_sim_dask_bench"))
    parser.add_argument("--rows-per-task", type=int, default=1_000_000)
    options = parser.parse_args()
    table, nsg = prepare(options.workdir, options.flows, options.nsg_gb)
    out = options.workdir / "out"
    results = []

    def case(name: str, args: list[str], partitions: int | None = None) -> None:
        shutil.rmtree(out, ignore_errors=True)
        for leftover in options.workdir.glob("out*"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        seconds = run(args)
        results.append({"case": name, "seconds": round(seconds, 2), "partitions": partitions})
        print(f"{name:<40} {seconds:8.2f} s", flush=True)

    parts = -(-options.flows // options.rows_per_task)
    case("evaluate, local", ["evaluate", WORKSPACE, table, "-o", out.with_suffix(".parquet")])
    for workers in (1, 2):
        case(f"evaluate, dask {workers} worker(s)", ["evaluate", WORKSPACE, table, "-o", out, "--engine", "dask",
                                                   "--workers", workers, "--chunk-rows", options.rows_per_task],
             parts)
    files = sum(1 for p in nsg.rglob("*.json"))
    case("replay NSG, local", ["replay", WORKSPACE, nsg, "--inventory", FLEET, "-o", out.with_suffix(".parquet")])
    for workers in (1, 2):
        case(f"replay NSG, dask {workers} worker(s)", ["replay", WORKSPACE, nsg, "--inventory", FLEET, "-o", out,
                                                     "--engine", "dask", "--workers", workers], None)
    tiny = options.workdir / "tiny.parquet"
    if not tiny.exists():
        run(["simulate", WORKSPACE, "--flows", 10, "-o", tiny])
    for workers in (1, 2):
        case(f"cluster start + 1 tiny task, {workers} worker(s)", ["evaluate", WORKSPACE, tiny, "-o", out,
                                                                   "--engine", "dask", "--workers", workers], 1)
    report = {"flows": options.flows, "rows_per_task": options.rows_per_task, "nsg_gb": options.nsg_gb,
              "nsg_files": files, "results": results}
    target = ROOT / "reports" / "bench" / "dask_scaling.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
