"""Peak memory of evaluating a flow file against the number of distinct host names it holds.

Usage::

    python benchmarks/hostname_memory.py --flows 10000000 --names 1000 1000000
    python benchmarks/hostname_memory.py --flows 2000000 --names 1000 1000000    # quick
    python benchmarks/hostname_memory.py --verdicts-only                          # without copying the input

For each name count, a Parquet file of ``--flows`` flows (compute_cluster, TCP/443, 5,000 destination
addresses, host names drawn uniformly from ``--names`` distinct ones, row groups of 1,000,000 rows, text
dictionary-encoded as Parquet stores it) is written once into ``--workdir`` (reused when present), then
evaluated against the bundled contoso workspace in a fresh process that reports its own peak RSS (``VmHWM``;
see ``evaluate_memory.py``). Evaluation streams in chunks of ``--chunk-rows`` rows (the CLI's default).
``--verdicts-only`` writes only the verdict columns, as ``evaluate --verdicts-only`` does: what is left is
reading and evaluating, without the Parquet writer's cost of writing the input's host-name column back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from evaluate_memory import _CHILD, WORKSPACE

_VERDICTS_ONLY_CHILD = _CHILD.replace("chunk_rows=chunk_rows)", "chunk_rows=chunk_rows, keep_input=False)")
assert _VERDICTS_ONLY_CHILD != _CHILD

ROW_GROUP_ROWS = 1_000_000


def flows_file(flows: int, names: int, workdir: Path, seed: int = 0) -> Path:
    """A Parquet flow file of ``flows`` rows over ``names`` distinct host names (written once)."""
    path = workdir / f"hostnames-{flows}-{names}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    name_values = pa.array([f"h{i}.svc{i % 997}.example.com" for i in range(names)], pa.string())
    address_values = pa.array([f"52.{(i >> 8) & 255}.{i & 255}.{(i * 7) & 255}" for i in range(5_000)], pa.string())
    partial = path.with_suffix(".partial.parquet")
    schema = pa.schema([("compute_type", pa.string()), ("dst_ip", pa.dictionary(pa.int32(), pa.string())),
                        ("dst_port", pa.int32()), ("protocol", pa.string()),
                        ("fqdn", pa.dictionary(pa.int32(), pa.string()))])
    with pq.ParquetWriter(partial, schema) as writer:
        for start in range(0, flows, ROW_GROUP_ROWS):
            n = min(ROW_GROUP_ROWS, flows - start)
            writer.write_table(pa.table({
                "compute_type": pa.array(["compute_cluster"] * n, pa.string()),
                "dst_ip": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 5_000, n, dtype=np.int32)), address_values),
                "dst_port": pa.array(np.full(n, 443, dtype=np.int32)),
                "protocol": pa.array(["TCP"] * n, pa.string()),
                "fqdn": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, names, n, dtype=np.int32)), name_values),
            }, schema=schema))
    partial.rename(path)
    return path


def measure(flows: int, names: int, workdir: Path, chunk_rows: int, verdicts_only: bool = False) -> dict[str, float]:
    """Evaluate the file in a fresh process: its time and peak RSS."""
    source = flows_file(flows, names, workdir)
    out = workdir / f"verdicts-hostnames-{flows}-{names}.parquet"
    child = _VERDICTS_ONLY_CHILD if verdicts_only else _CHILD
    done = subprocess.run([sys.executable, "-c", child, str(WORKSPACE), str(source), str(out), str(chunk_rows)],
                          check=True, capture_output=True, text=True)
    out.unlink(missing_ok=True)
    return {"names": names, **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=10_000_000)
    parser.add_argument("--names", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/egress-sim-bench"))
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--verdicts-only", action="store_true", help="write only the verdict columns")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for names in args.names:
        r = measure(args.flows, names, args.workdir, args.chunk_rows, args.verdicts_only)
        print(f"{r['flows']:>13,} flows  {r['names']:>10,} distinct names  {r['seconds']:7.1f} s  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
