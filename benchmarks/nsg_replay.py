"""Replay from NSG flow logs: the reader's parse-only rate beside the end-to-end replay rate, on one directory.

Usage::

    python benchmarks/nsg_replay.py DIR            # a directory of NSG flow logs (PT1H.json blobs)
    python benchmarks/nsg_replay.py                # generates one first: 0.3 GB of logs from 2 M simulated flows
    python benchmarks/nsg_replay.py --quick        # a small generated one (10 MB of the same): well under 30 s

Without DIR the logs are made with ``egress-sim simulate`` of the contoso workspace (2 M flows) and
``make_nsg_logs.py`` (default layout: one blob per NSG, hour and NIC) in a folder under the system temp
folder, kept for the next run.

Measured in this one process (wall clock, ``time.perf_counter``, best of ``--repeat``):

* ``parse only``: ``AzureFlowLogReader.read_tables`` (the ``nsg`` reader, as replay drives it) over every
  file, with a ``RecordLedger`` and the replay's chunk size; counts tuples (the ledger's records) and flows.
* ``end to end``: ``replay.replay`` of the directory (timed alone) with the contoso workspace compiled
  against the bundled service tags and the inventory of the simulated fleet (``data/logs/contoso-fleet.yaml``,
  what ``simulate --inventory-out`` writes for that workspace), verdicts written to a temporary Parquet file.

Rates are input MB/s (10^6 bytes of log files) and tuples/s (records in the ledger's sense: one flow tuple).
Peak RSS is ``ru_maxrss`` of this process after each phase (the end-to-end figure is the peak of the whole
run). The run fails (exit 1) when the two phases disagree on what they read, or when the reader disagrees
with a plain ``json`` + ``str.split`` reference on any column of any flow of a sample of files.
Results go to ``reports/bench/nsg_replay.json``.
"""

from __future__ import annotations

import argparse
import json
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

import pandas as pd
import pyarrow as pa

from egress_sim.ruletable.compile import RuleTable, compile_rules
from egress_sim.logs.registry import expand_inputs, reader_named
from egress_sim.logs.inventory import Inventory, load_inventory
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger
from egress_sim.app.loading import load_checked
from egress_sim.app.replay import REPLAY_CHUNK_ROWS, replay
from egress_sim.net.servicetags import load_service_tags

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / "data" / "workspaces" / "contoso-research.yaml"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
REPORT = ROOT / "reports" / "bench" / "nsg_replay.json"
SIMULATED_FLOWS = 2_000_000
SIZE_GB = {"full": 0.3, "quick": 0.01}
REFERENCE_FILES = 12


def generated_logs(size_gb: float) -> Path:
    """A directory of NSG logs made from simulated flows (made once per size, then reused)."""
    root = Path(tempfile.gettempdir()) / "egress_sim_nsg_bench"
    logs = root / f"nsg-{size_gb}"
    if (root / f"nsg-{size_gb}.done").exists():
        return logs
    root.mkdir(parents=True, exist_ok=True)
    parquet = root / f"sim-{SIMULATED_FLOWS}.parquet"
    python = sys.executable
    if not parquet.exists():
        subprocess.run([python, "-m", "egress_sim.cli", "simulate", str(WORKSPACE), "--flows", str(SIMULATED_FLOWS),
                        "-o", str(parquet)], check=True, stdout=subprocess.DEVNULL)
    if logs.exists():
        shutil.rmtree(logs)  # a run stopped half way
    subprocess.run([python, str(ROOT / "benchmarks" / "make_nsg_logs.py"), str(parquet), str(logs),
                    "--size-gb", str(size_gb)], check=True, stdout=subprocess.DEVNULL)
    (root / f"nsg-{size_gb}.done").touch()
    return logs


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def parse_only(files: list[LogFile]) -> dict[str, int]:
    """The reader alone, as replay drives it (Arrow tables, no pandas frame per file)."""
    reader = reader_named("nsg")
    ledger = RecordLedger()
    flows = 0
    for log in files:
        for chunk in reader.read_tables(log, ledger, REPLAY_CHUNK_ROWS):
            flows += len(chunk)
    return {"tuples": ledger.records_read, "flows": flows, "skipped": ledger.total_skipped,
            "rejected": ledger.total_rejected}


def end_to_end(directory: Path, table: RuleTable, inventory: Inventory) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        report = replay(table, [str(directory)], Path(tmp) / "verdicts.parquet", inventory=inventory)
    totals = report.totals
    return {"tuples": totals["read"], "evaluated": totals["evaluated"], "skipped": totals["skipped"],
            "rejected": totals["rejected"], "reader_rejected": report.ledger.total_rejected}


def best_of(repeat: int, run: Callable[[], dict[str, int]]) -> tuple[float, dict[str, int]]:
    """(seconds of the fastest run, its result); every run must give the same result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        got = run()
        best = min(best, time.perf_counter() - started)
        if result is not None and got != result:
            sys.exit(f"two runs disagree: {result} vs {got}")
        result = got
    return best, result


def reference_frame(path: Path) -> pd.DataFrame:
    """The outbound flows of a well-formed NSG file, one tuple at a time with ``json`` and ``str.split``."""
    text = path.read_bytes().decode("utf-8")
    if not text.isascii():
        sys.exit(f"{path}: the reference handles ASCII files only")
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    rows = []
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "]":
            break
        record, end = decoder.raw_decode(text, pos)
        props = record["properties"]
        tuples = [t for group in props["flows"] for holder in group["flows"] for t in holder["flowTuples"]]
        for k, item in enumerate(tuples, 1):
            f = item.split(",")
            if f[6] != "O":
                continue
            stats = props["Version"] == 2 and f[8] != "B"
            rows.append({
                "ts": pd.Timestamp(int(f[0]) * 1000, unit="ms", tz="UTC"), "src_ip": f[1], "dst_ip": f[2],
                "dst_port": int(f[4]), "protocol": {"T": "TCP", "U": "UDP"}[f[5]],
                "bytes_out": int(f[10]) if stats else None, "bytes_in": int(f[12]) if stats else None,
                "observed_action": {"A": "allow", "D": "deny"}[f[7]], "source": f"{path}@{pos} tuple {k}",
            })
        pos = end
    return pd.DataFrame(rows)


def _plain(frame: pd.DataFrame) -> dict[str, list]:
    """Column values as Python objects, missing ones as None, whatever the dtypes."""
    return frame.astype(object).where(frame.notna(), None).to_dict("list")


def check_against_reference(files: list[LogFile]) -> int:
    """Compare the reader with ``reference_frame`` on a spread of files; returns the flows compared."""
    reader = reader_named("nsg")
    step = max(1, len(files) // REFERENCE_FILES)
    compared = 0
    for log in files[::step][:REFERENCE_FILES]:
        ledger = RecordLedger()
        chunks = list(reader.read_chunks(log, ledger, REPLAY_CHUNK_ROWS))
        got = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
        want = reference_frame(log.path)
        if ledger.total_rejected or _plain(got[list(want.columns)]) != _plain(want):
            sys.exit(f"{log.name}: the reader and the reference disagree")
        compared += len(want)
    return compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", type=Path, help="NSG flow logs (generated when not given)")
    parser.add_argument("--quick", action="store_true", help="a small generated directory")
    parser.add_argument("--inventory", type=Path, default=FLEET, help="compute inventory for the end-to-end replay")
    parser.add_argument("--repeat", type=int, default=None, help="runs per phase, best kept (default 3, quick 2)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 3)
    directory = args.directory or generated_logs(SIZE_GB["quick" if args.quick else "full"])

    started = time.perf_counter()
    files = expand_inputs([str(directory)])
    listing = time.perf_counter() - started
    size = sum(f.size for f in files)
    compared = check_against_reference(files)

    parse_s, parsed = best_of(repeat, lambda: parse_only(files))
    parse_rss = peak_rss_mb()
    tags = load_service_tags()
    workspace, _ = load_checked(WORKSPACE, tags)  # as the CLI loads it
    table, inventory = compile_rules(workspace, tags), load_inventory(args.inventory)
    e2e_s, replayed = best_of(repeat, lambda: end_to_end(directory, table, inventory))
    e2e_rss = peak_rss_mb()

    agree = (parsed["tuples"] == replayed["tuples"] and parsed["skipped"] == replayed["skipped"]
             and parsed["rejected"] == replayed["reader_rejected"]
             and parsed["flows"] == replayed["evaluated"] + replayed["rejected"] - replayed["reader_rejected"])
    if not agree:
        sys.exit(f"parse only and end to end disagree: {parsed} vs {replayed}")

    rows = [
        ("parse only", parse_s, parsed["tuples"], parse_rss),
        ("end to end", e2e_s, replayed["tuples"], e2e_rss),
    ]
    print(f"{directory}: {len(files):,} files, {size / 1e6:,.1f} MB, {parsed['tuples']:,} tuples "
          f"({parsed['flows']:,} outbound flows, {parsed['skipped']:,} inbound skipped); listing {listing:.2f} s; "
          f"{compared:,} flows checked against the reference")
    print(f"{'case':<12} {'seconds':>8} {'MB/s':>8} {'tuples/s':>12} {'peak RSS MB':>12}")
    for name, seconds, tuples, rss in rows:
        print(f"{name:<12} {seconds:>8.2f} {size / 1e6 / seconds:>8.1f} {tuples / seconds:>12,.0f} {rss:>12.1f}")

    result = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "directory": str(directory), "quick": args.quick, "files": len(files), "bytes": size,
        "tuples": parsed["tuples"], "flows": parsed["flows"], "skipped": parsed["skipped"],
        "evaluated": replayed["evaluated"], "rejected": replayed["rejected"], "listing_seconds": round(listing, 3),
        "reference_flows_checked": compared, "repeat": repeat,
        "cases": [{"case": name, "seconds": round(seconds, 3), "mb_per_s": round(size / 1e6 / seconds, 2),
                   "tuples_per_s": round(tuples / seconds), "peak_rss_mb": rss} for name, seconds, tuples, rss in rows],
        "python": platform.python_version(), "pyarrow": pa.__version__, "pandas": pd.__version__,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
