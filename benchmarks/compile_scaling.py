"""How compiling a rule table grows with the number of service-tag rules: time and peak memory.

Usage::

    python benchmarks/compile_scaling.py                      # 100, 1,000, 10,000 rules, both rule sets
    python benchmarks/compile_scaling.py --evaluate-flows 1000000 --sets azurecloud --rules 10 1000 10000
    python benchmarks/compile_scaling.py --rules 100 1000 --timeout 120 --max-gb 6   # a slow build: cap it

Two rule sets, each ``N`` user service-tag rules on top of the 8 required ones (approved-outbound-only, eastus),
compiled against the bundled ``ServiceTags_Public_*.json``:

* ``azurecloud``: every rule on ``AzureCloud`` (13,080 prefixes, the biggest tag), each with its own TCP port
  (``1024 + i``), so no two rules share a port row: the case a rule-by-rule build handles worst.
* ``mix``: rules cycle over every tag of the file in name order (3,039 tags, 93 k prefixes), ports ``443``
  or ``8000-8100``: many distinct prefix sets, each shared by a few rules.

Each (set, N) runs in a fresh process. The workspace is built from model objects (no file, so no load-time
limit applies) and compiled with ``compile_effective(..., max_rules=None)``, past ``MAX_RULES_PER_WORKSPACE``
on purpose. ``compile s`` is compile alone; ``peak`` is the process's ``VmHWM`` after compiling (imports and
the service-tag file included: ~80 MB of it is the baseline). ``tables`` is the compiled interval and port
masks. ``--evaluate-flows N`` then evaluates ``N`` TCP flows to ``N`` random IPv4 addresses (nearly all
distinct: the per-destination work at its largest) as text, in one chunk, and reports its time and the
peak after it. ``--timeout`` and ``--max-gb`` (an address-space cap on the child) stop a run that would
take the machine; such a run is reported as killed. Results go to ``reports/bench/compile_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "reports" / "bench" / "compile_scaling.json"
RULE_COUNTS = (100, 1_000, 10_000)
SETS = ("azurecloud", "mix")

_CHILD = r"""
import json, resource, sys, time
set_name, n, max_bytes, flows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if max_bytes:
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
from egress_sim.ruletable.compile import compile_effective
from egress_sim.ruletable.effective import effective_rules
from egress_sim.model import ManagedNetwork, ServiceTagDestination, Workspace
from egress_sim.net.servicetags import load_service_tags

tags = load_service_tags()
if set_name == "azurecloud":
    destinations = [("AzureCloud", str(1024 + i % 64_000)) for i in range(n)]
else:
    names = sorted(tag.name for tag in tags.tags.values())
    destinations = [(names[i % len(names)], "443" if i % 2 else "8000-8100") for i in range(n)]
start = time.perf_counter()
# model objects built directly: no file, so no load-time limit stands between the benchmark and compile
rules = tuple(ServiceTagDestination(name=f"r{i}", service_tag=tag, protocol="TCP", port_ranges=ports)
              for i, (tag, ports) in enumerate(destinations))
workspace = Workspace(name="bench", location="eastus", managed_network=ManagedNetwork(
    isolation_mode="allow_only_approved_outbound", outbound_rules=rules))
eff = effective_rules(workspace, tags)
prepared = time.perf_counter()
table = compile_effective(eff, max_rules=None)  # past MAX_RULES_PER_WORKSPACE on purpose
done = time.perf_counter()
result = {
    "set": set_name, "rules": n, "tag_rules_in_force": len(eff.service_tags),
    "prefixes": sum(len(t.prefixes) for t in eff.service_tags),
    "ipv4_intervals": len(table.ipv4), "ipv6_intervals": len(table.ipv6), "words": table.words,
    "model_seconds": prepared - start, "compile_seconds": done - prepared,
    "table_mb": (table.ipv4.masks.nbytes + table.ipv6.masks.nbytes + table.port_masks.nbytes) / 2**20,
}
result["compile_peak_rss_mb"] = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
if flows:
    import ipaddress
    import numpy as np
    import pandas as pd
    from egress_sim.evaluation.evaluate import evaluate
    from egress_sim.flows.schema import FlowBatch
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "compute_type": "compute_cluster", "protocol": "TCP", "fqdn": None,
        "dst_ip": [str(ipaddress.IPv4Address(int(a))) for a in rng.integers(0, 2**32, flows, dtype=np.uint64)],
        "dst_port": rng.integers(1024, 2048, flows)})
    start = time.perf_counter()
    evaluate(table, FlowBatch.from_frame(frame))
    result["evaluate_seconds"] = time.perf_counter() - start
result["peak_rss_mb"] = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps(result))
"""


def measure(set_name: str, rules: int, timeout: float = 600, max_gb: float = 8, flows: int = 0) -> dict[str, object]:
    """One compile (and, with ``flows``, one evaluation) in a fresh process; ``{"killed": why}`` when it hits the
    timeout or the memory cap."""
    limit = int(max_gb * 2**30) if max_gb else 0
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, set_name, str(rules), str(limit), str(flows)],
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"set": set_name, "rules": rules, "killed": f"still running after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"set": set_name, "rules": rules, "killed": f"exit {done.returncode}: {last[:120]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, nargs="+", default=list(RULE_COUNTS))
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--evaluate-flows", type=int, default=0, help="also evaluate this many flows (0: compile only)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is stopped")
    parser.add_argument("--max-gb", type=float, default=8, help="address-space cap of each run (0: none)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    header = (f"{'rule set':<11} {'rules':>7} {'rule prefixes':>14} {'intervals v4+v6':>16} {'compile s':>10} "
              f"{'peak':>9} {'tables':>8}")
    if args.evaluate_flows:
        header += f" {'evaluate s':>11} {'peak':>9}"
    print(header)
    print("-" * len(header))
    results = []
    for set_name in args.sets:
        for n in args.rules:
            r = measure(set_name, n, args.timeout, args.max_gb, args.evaluate_flows)
            results.append(r)
            print(row(r), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "benchmark": "compile_scaling", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "evaluate_flows": args.evaluate_flows, "results": results,
    }, indent=2) + "\n")
    print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    return 0


def row(r: dict) -> str:
    """One line of the table for a result of ``measure``."""
    if "killed" in r:
        return f"{r['set']:<11} {r['rules']:>7,}  killed: {r['killed']}"
    line = (f"{r['set']:<11} {r['rules']:>7,} {r['prefixes']:>14,} {r['ipv4_intervals']:>8,}+{r['ipv6_intervals']:<7,} "
            f"{r['compile_seconds']:>10.2f} {r['compile_peak_rss_mb']:>6,.0f} MB {r['table_mb']:>5,.0f} MB")
    if "evaluate_seconds" in r:
        line += f" {r['evaluate_seconds']:>11.2f} {r['peak_rss_mb']:>6,.0f} MB"
    return line


if __name__ == "__main__":
    sys.exit(main())
