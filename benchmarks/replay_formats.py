"""Replay per log format, side by side with the parser ceiling on the same files, in one run.

Usage::

    python benchmarks/replay_formats.py                 # every format at benchmark size (~1.2 GB of logs, a few minutes)
    python benchmarks/replay_formats.py --quick         # ~10 MB per format: well under a minute once generated
    python benchmarks/replay_formats.py --case zeek --case azfw --repeat 5
    python benchmarks/replay_formats.py --no-memory     # leave out the 1x / 4x memory case

The logs come from ``make_replay_logs.py`` (generated once from simulated flows, then kept under the system
temp folder). For each format, on the same files, one thread, best of ``--repeat``:

* ``ceiling``: the fastest well-kept parser on the same bytes. JSON formats: ``orjson.loads`` of each blob
  (NSG, VNet) or each line (Azure Firewall JSON lines, which also get ``pyarrow.json.read_json`` as a second
  figure); text formats: ``pyarrow.csv.read_csv`` with ``use_threads=False`` (Zeek: tab separated, the ``#``
  meta lines skipped, ``-`` / ``(empty)`` as null; AWS: space separated with its header line). The file is
  read from disk (page cache) inside the timing, as the readers do.
* ``reader``: the format's reader alone, as ``app.replay`` drives it: ``detect`` on each file, then
  ``read_tables`` (or ``read_chunks``) with a ``RecordLedger`` and the replay's chunk size.
* ``end to end``: ``app.replay.replay`` of the directory with the contoso workspace compiled against the
  bundled service tags and the simulated fleet's inventory, verdicts to a temporary Parquet file.

Each phase runs in a fresh process (``--child``), so its peak RSS (``VmHWM``) is its own (``--quick``: one process
per format, the peak reset between phases through ``/proc/self/clear_refs``, so memory kept by the allocator from
an earlier phase counts in a later one); ``cpu s`` is the
process CPU time of the fastest run (the AWS reader runs its own worker threads, so its CPU time can exceed
its wall time). Rates: input MB/s (10^6 bytes of log files) and records/s, a record in the ledger's sense
(one NSG/VNet tuple, one firewall record, one conn.log line, one AWS line); the ceiling is given the same
record count. ``x ceiling`` = phase rate / ceiling rate. ``MB/cpu-s`` and ``x ceil cpu`` are the same per CPU
second: on a shared, loaded machine wall time includes waiting for a core, CPU time much less so.

Memory: ``nsg x1`` / ``nsg x4`` replay the NSG directory and four copies of it (copies, not links: replay
counts a file once however it is reached) end to end, each in a fresh process, and report both peaks.

Checks (exit 1 when one fails): the reader's ledger adds up (read = flows + skipped + rejected), the replay's
does (read = evaluated + skipped + rejected), and the two agree on what they read, skipped and rejected. When
``orjson`` is not installed the JSON ceilings are reported as missing (``pip install orjson``), not guessed.
Results go to ``reports/bench/replay_formats.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_replay_logs import CACHE, SIZES, cached  # noqa: E402

ROOT = HERE.parent
REPORT = ROOT / "reports" / "bench" / "replay_formats.json"
WORKSPACE = ROOT / "data" / "workspaces" / "contoso-research.yaml"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
CASES = tuple(SIZES)  # nsg, nsg-busy, vnet, azfw, zeek, awsvpc
CEILING = {"nsg": "orjson", "nsg-busy": "orjson", "vnet": "orjson", "azfw": "orjson lines", "zeek": "pyarrow csv",
           "awsvpc": "pyarrow csv"}
MEMORY_COPIES = 4


def _one_thread() -> None:
    import numba
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    numba.set_num_threads(1)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux: ``VmHWM``, which starts afresh at exec (``ru_maxrss`` keeps the parent's
    peak across fork + exec, so a child would report the generator's memory)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _best_of(repeat: int, run: Callable[[], dict]) -> dict:
    """The fastest of ``repeat`` runs (seconds, cpu seconds, its result); every run must give the same result."""
    best: dict | None = None
    for _ in range(repeat):
        cpu, started = _cpu(), time.perf_counter()
        got = run()
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        if best is not None and got != best["result"]:
            raise SystemExit(f"two runs disagree: {best['result']} vs {got}")
        if best is None or seconds < best["seconds"]:
            best = {"seconds": seconds, "cpu_seconds": cpu, "result": got}
    assert best is not None
    return best


# ---- the phases (each runs in its own process) -------------------------------------------------------------

def ceiling_json_documents(paths: list[Path]) -> dict:
    import orjson

    records = 0
    for path in paths:
        records += len(orjson.loads(path.read_bytes())["records"])
    return {"json_records": records}


def ceiling_json_lines(paths: list[Path]) -> dict:
    import orjson

    lines = 0
    for path in paths:
        for line in path.read_bytes().splitlines():
            if line:
                orjson.loads(line)
                lines += 1
    return {"lines": lines}


def ceiling_pyarrow_json(paths: list[Path]) -> dict:
    import pyarrow.json as pajson

    options = pajson.ReadOptions(use_threads=False, block_size=16 << 20)
    return {"lines": sum(pajson.read_json(path, read_options=options).num_rows for path in paths)}


def ceiling_zeek_tsv(paths: list[Path]) -> dict:
    """Zeek TSV through pyarrow's CSV reader: column names from ``#fields``, meta lines skipped."""
    import pyarrow.csv as pacsv

    rows = 0
    for path in paths:
        with open(path, "rb") as handle:
            head = [handle.readline() for _ in range(8)]
        fields = next(line for line in head if line.startswith(b"#fields\t")).rstrip(b"\n").split(b"\t")[1:]
        skip = sum(1 for line in head if line.startswith(b"#"))
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, skip_rows=skip, block_size=16 << 20,
                                           column_names=[f.decode() for f in fields]),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                             invalid_row_handler=lambda row: "skip"),  # the #close line
            convert_options=pacsv.ConvertOptions(null_values=["-", "(empty)"], strings_can_be_null=True))
        rows += table.num_rows
    return {"rows": rows}


def ceiling_space_separated(paths: list[Path]) -> dict:
    import pyarrow.csv as pacsv

    rows = 0
    for path in paths:
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(use_threads=False, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False),
            convert_options=pacsv.ConvertOptions(null_values=["-"], strings_can_be_null=True))
        rows += table.num_rows
    return {"rows": rows}


def reader_alone(directory: Path) -> dict:
    """The log engine as ``app.replay`` drives it (``logs.reading.LogReading``: detection, gathering, batched
    formats parsed many files at a time), without the evaluation and the writing."""
    from egress_sim.app.replay import REPLAY_CHUNK_ROWS
    from egress_sim.logs import RecordLedger
    from egress_sim.logs.reading import LogReading
    from egress_sim.logs.registry import list_inputs

    ledger = RecordLedger()
    flows = 0
    for chunk in LogReading(list_inputs([str(directory)]), ledger, REPLAY_CHUNK_ROWS).chunks():
        flows += chunk.rows
    return {"records": ledger.records_read, "flows": flows, "skipped": ledger.total_skipped,
            "rejected": ledger.total_rejected, "skipped_by_reason": dict(sorted(ledger.skipped.items())),
            "rejected_by_reason": dict(sorted(ledger.rejected.items()))}


def _contoso():
    from egress_sim.app.loading import load_checked
    from egress_sim.logs.inventory import load_inventory
    from egress_sim.net.servicetags import load_service_tags
    from egress_sim.ruletable.compile import compile_rules

    tags = load_service_tags()
    workspace, _ = load_checked(WORKSPACE, tags)  # as the CLI loads it
    return compile_rules(workspace, tags), load_inventory(FLEET)


def end_to_end(inputs: list[str], table, inventory) -> dict:
    from egress_sim.app.replay import replay
    from egress_sim.app.replay_chunks import INBOUND_BY_INVENTORY

    with tempfile.TemporaryDirectory() as tmp:
        report = replay(table, inputs, Path(tmp) / "verdicts.parquet", inventory=inventory)
    totals = report.totals
    return {"records": totals["read"], "evaluated": totals["evaluated"], "skipped": totals["skipped"],
            "rejected": totals["rejected"], "reader_rejected": report.ledger.total_rejected,
            "inventory_skipped": report.ledger.skipped[INBOUND_BY_INVENTORY]}


def _reset_peak_rss() -> None:
    """Start this process's ``VmHWM`` afresh from its current RSS (Linux; elsewhere the peak keeps running)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(case: str, phase: str, repeat: int, inputs: list[str]) -> dict:
    """One phase of one case (or ``all`` of them in turn), timed in this (fresh) process."""
    _one_thread()
    if phase == "all":
        phases = []
        for name in [*ceilings_of(case), "reader", "end to end"]:
            if name.startswith("orjson") and not orjson_available():
                continue
            _reset_peak_rss()
            phases.append(child(case, name, repeat, inputs))
        return {"phases": phases}
    baseline = _peak_rss_mb()
    directory = Path(inputs[0])
    if phase == "end to end":
        table, inventory = _contoso()
        if repeat > 1:  # an untimed first run (numba loads its kernels); the memory case runs once
            end_to_end(inputs, table, inventory)
        run = lambda: end_to_end(inputs, table, inventory)  # noqa: E731
    elif phase == "reader":
        run = lambda: reader_alone(directory)  # noqa: E731
    else:
        from egress_sim.logs.registry import expand_inputs

        paths = [f.path for f in expand_inputs([str(directory)])]
        run = {"orjson": lambda: ceiling_json_documents(paths), "orjson lines": lambda: ceiling_json_lines(paths),
               "pyarrow json": lambda: ceiling_pyarrow_json(paths), "pyarrow csv zeek": lambda: ceiling_zeek_tsv(paths),
               "pyarrow csv space": lambda: ceiling_space_separated(paths)}[phase]
    best = _best_of(repeat, run)
    return {"case": case, "phase": phase, "seconds": best["seconds"], "cpu_seconds": best["cpu_seconds"],
            "result": best["result"], "peak_rss_mb": _peak_rss_mb(), "rss_after_imports_mb": baseline}


def _in_child(case: str, phase: str, repeat: int, inputs: list[str]) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, phase, "--repeat", str(repeat),
               "--inputs", *inputs]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{case} {phase} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the run ---------------------------------------------------------------------------------------------------

def orjson_available() -> bool:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


def ceilings_of(case: str) -> list[str]:
    """The ceiling phases of a case, the first being the one ratios are taken against."""
    if case == "zeek":
        return ["pyarrow csv zeek"]
    if case == "awsvpc":
        return ["pyarrow csv space"]
    return ["orjson lines", "pyarrow json"] if case == "azfw" else ["orjson"]


def measure_case(case: str, quick: bool, repeat: int, problems: list[str]) -> dict:
    """Ceiling(s), reader and end to end of one format on its generated directory, with the ledger checks."""
    from egress_sim.logs.registry import expand_inputs

    directory = cached(case, quick)
    files = expand_inputs([str(directory)])
    size = sum(f.size for f in files)
    phases: list[dict] = []
    for phase in ceilings_of(case):
        if phase.startswith("orjson") and not orjson_available():
            problems.append(f"{case}: orjson is not installed (pip install orjson): no JSON decode ceiling")
            phases.append({"case": case, "phase": phase, "missing": "orjson not installed"})
        elif not quick:
            phases.append(_in_child(case, phase, repeat, [str(directory)]))
    if quick:  # one process for every phase of the case: start-up costs more than the phases themselves
        got = _in_child(case, "all", repeat, [str(directory)])["phases"]
        phases = [p for p in phases if "missing" in p] + got
        phases.sort(key=lambda p: 0 if p["phase"] not in ("reader", "end to end") else 1)
    else:
        phases += [_in_child(case, "reader", repeat, [str(directory)]),
                   _in_child(case, "end to end", repeat, [str(directory)])]
    reader, e2e = phases[-2], phases[-1]

    r, e = reader["result"], e2e["result"]
    if r["records"] != r["flows"] + r["skipped"] + r["rejected"]:
        problems.append(f"{case}: the reader's ledger does not add up: {r}")
    if e["records"] != e["evaluated"] + e["skipped"] + e["rejected"]:
        problems.append(f"{case}: the replay's totals do not add up: {e}")
    if (r["records"], r["skipped"], r["rejected"]) != (e["records"], e["skipped"] - e["inventory_skipped"],
                                                        e["reader_rejected"]):
        problems.append(f"{case}: the reader and the replay disagree: {r} vs {e}")

    records = r["records"]
    ceiling = phases[0] if "seconds" in phases[0] else None
    for p in phases:
        if "seconds" in p:
            p["mb_per_s"] = size / 1e6 / p["seconds"]
            p["records_per_s"] = records / p["seconds"]
            p["mb_per_cpu_s"] = size / 1e6 / p["cpu_seconds"]
            p["x_ceiling"] = ceiling["seconds"] / p["seconds"] if ceiling else None
            p["x_ceiling_cpu"] = ceiling["cpu_seconds"] / p["cpu_seconds"] if ceiling else None
    json_records = ceiling["result"].get("json_records") if ceiling else None
    return {"case": case, "directory": str(directory), "files": len(files), "bytes": size, "records": records,
            "flows": r["flows"], "skipped": r["skipped"], "rejected": r["rejected"],
            "evaluated": e["evaluated"], "json_records": json_records,
            "records_per_json_record": round(records / json_records, 1) if json_records else None,
            "ceiling": ceiling["phase"] if ceiling else None, "phases": phases}


def measure_memory(quick: bool) -> dict:
    """End-to-end replay of the NSG directory and of ``MEMORY_COPIES`` copies of it, each once in a fresh process
    (the peak is the point; the rates include numba loading its kernels)."""
    directory = cached("nsg", quick)
    copies = CACHE / f"nsg-x{MEMORY_COPIES}-{SIZES['nsg'][1 if quick else 0]}"
    if not (copies / ".done").exists():
        if copies.exists():
            shutil.rmtree(copies)
        for k in range(MEMORY_COPIES):
            shutil.copytree(directory, copies / f"copy{k}")
        (copies / ".done").touch()
    runs = []
    for label, inputs in (("nsg x1", [str(directory)]),
                          (f"nsg x{MEMORY_COPIES}", [str(copies / f"copy{k}") for k in range(MEMORY_COPIES)])):
        got = _in_child(label, "end to end", 1, inputs)
        size = sum(p.stat().st_size for i in inputs for p in Path(i).rglob("*.json"))
        got.update(bytes=size, mb_per_s=size / 1e6 / got["seconds"])
        runs.append(got)
    low, high = runs
    return {"runs": runs, "growth": high["peak_rss_mb"] / low["peak_rss_mb"] - 1}


def measure(cases: list[str], quick: bool, repeat: int, memory: bool,
            show: Callable[[str], None] = print) -> dict:
    """Every case (and the memory case), printed as it goes; the dictionary written to the report."""
    problems: list[str] = []
    show(HEADER)
    results = []
    for case in cases:
        result = measure_case(case, quick, repeat, problems)
        results.append(result)
        for line in rows_of(result):
            show(line)
    memory_result = None
    if memory:
        memory_result = measure_memory(quick)
        low, high = memory_result["runs"]
        show(f"memory: end-to-end peak RSS {low['peak_rss_mb']:,.0f} MB on {low['bytes'] / 1e6:,.0f} MB of NSG logs, "
             f"{high['peak_rss_mb']:,.0f} MB on {high['bytes'] / 1e6:,.0f} MB ({memory_result['growth']:+.1%}); "
             f"{low['mb_per_s']:.1f} and {high['mb_per_s']:.1f} MB/s")
    import pyarrow as pa

    return {
        "benchmark": "replay_formats", "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick, "repeat": repeat, "threads": 1, "cases": results, "memory": memory_result,
        "problems": problems, "orjson": _version("orjson"),
        "environment": {"python": platform.python_version(), "pyarrow": pa.__version__,
                        "platform": platform.platform(), "cpus": os.cpu_count()},
    }


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


HEADER = (f"{'format':<9} {'phase':<17} {'MB':>6} {'records':>10} {'seconds':>8} {'cpu s':>7} {'MB/s':>7} "
          f"{'records/s':>11} {'x ceiling':>9} {'MB/cpu-s':>8} {'x ceil cpu':>10} {'peak RSS MB':>11}")


def _ratio(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def rows_of(result: dict) -> list[str]:
    lines = []
    for p in result["phases"]:
        if "missing" in p:
            lines.append(f"{result['case']:<9} {p['phase']:<17} {'':>6} {'':>10} {'-':>8} -  {p['missing']}")
            continue
        ratio = _ratio(p["x_ceiling"])
        lines.append(f"{result['case']:<9} {p['phase']:<17} {result['bytes'] / 1e6:>6,.0f} {result['records']:>10,} "
                     f"{p['seconds']:>8.2f} {p['cpu_seconds']:>7.2f} {p['mb_per_s']:>7.1f} {p['records_per_s']:>11,.0f} "
                     f"{ratio:>9} {p['mb_per_cpu_s']:>8.1f} {_ratio(p['x_ceiling_cpu']):>10} {p['peak_rss_mb']:>11,.0f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~10 MB per format")
    parser.add_argument("--case", action="append", choices=CASES, help="only these formats (repeatable)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per phase, best kept (default 3, quick 2)")
    parser.add_argument("--no-memory", action="store_true", help="leave out the 1x / 4x NSG memory case")
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PHASE"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 3)
    if args.child:
        print(json.dumps(child(*args.child, repeat, args.inputs)))
        return 0
    if not orjson_available():
        print("orjson is not installed: the JSON decode ceilings are left out (pip install orjson)", file=sys.stderr)
    started = time.perf_counter()
    report = measure(args.case or list(CASES), args.quick, repeat, memory=not args.no_memory)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"total {time.perf_counter() - started:.0f} s; wrote {args.output}")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    ledger_problems = [p for p in report["problems"] if "orjson" not in p]
    return 1 if ledger_problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
