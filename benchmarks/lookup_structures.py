"""Which IPv4 interval look-up structure should the evaluator use? Measured on real interval tables.

Usage::

    python benchmarks/lookup_structures.py              # 10,000,000 addresses per address set
    python benchmarks/lookup_structures.py --quick      # 1,000,000
    python benchmarks/lookup_structures.py --flows 5000000 --repeat 5

Every variant answers the same question the evaluator asks of each IPv4 flow: the index of the disjoint
interval ``[starts[i], starts[i+1])`` holding the address. Two tables: ``make_table()`` (the benchmark
workspace, eastus, real service tags) and a bigger one (the same workspace with a service-tag rule for every
global tag and every ``AzureCloud.<region>`` tag, ~50 k intervals). Two address sets of ``--flows``
addresses each: ``inside`` (5,000 distinct addresses drawn inside the table's prefixes, repeated: the
realistic case) and ``uniform`` (uniformly random 32-bit, nearly all distinct: the worst case for caches and
for per-unique work).

Variants (one thread: ``NUMBA_NUM_THREADS=1``, no ``parallel=True``):

* numpy ``searchsorted(starts, addrs, side="right") - 1`` with uint64 (what the batch holds today), uint32,
  and uint64 starts with uint32 addresses (numpy casts the addresses on every call);
* numba loops: plain binary search; a bucket index on the top 16 (or 24) bits (offsets of the intervals
  starting in each bucket) then a short binary search inside the bucket; a direct index on the top 24 bits
  (the interval when the /24 block lies inside one interval, else a marker that falls back to a binary
  search bounded to that block's intervals). numpy has the same direct index with a searchsorted fallback;
* DIR-24-8, the layout of the C longest-prefix-match engines (not in the issue's list, added to compare with
  them): the direct top-24 index whose split blocks point to a 256-entry second-level block, so every
  look-up is one or two loads and no search; numba and numpy;
* per unique address: ``pd.factorize`` / ``np.unique(return_inverse=True)``, searchsorted on the uniques,
  gather back (the factorize share is timed alone too);
* a per-flow Python loop over pytricia (all service-tag prefixes of the table, each holding the rules that
  cover it) on a 100,000-address subset, by string and by int; it answers the rule bitmask, checked against
  the interval's;
* the bare numpy gather ``direct24[addrs >> 8]``: one random load per flow from a 64 MB table, the ceiling
  of any direct-24 scheme (not an answer; with few distinct addresses it runs from cache, with uniform ones
  from DRAM, where a small top-16 index can beat it).

Timing is the best of ``--repeat`` (default 3) after one warm-up call; numba's first-call compile time is
reported separately. Every variant is checked against uint64 searchsorted on the same addresses; the run
exits 1 on any mismatch. Results go to ``reports/bench/lookup_structures.json``.
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported

import argparse  # noqa: E402
import copy  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytricia  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best_of  # noqa: E402
from egress_sim.ruletable.compile import RuleTable, compile_rules  # noqa: E402
from egress_sim.net.ipnum import prefix_bounds  # noqa: E402
from egress_sim.model import workspace_from_dict  # noqa: E402
from egress_sim.net.servicetags import ServiceTagSet, load_service_tags  # noqa: E402
from workload import WORKSPACE, make_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "reports" / "bench" / "lookup_structures.json"
UNIQUE_INSIDE = 5000
PYTRICIA_SUBSET = 100_000
MB = 1 << 20


# ------------------------------------------------------------------------------------------- numba kernels
@numba.njit(cache=False)
def _last_at_or_below(starts: np.ndarray, a, lo: int, hi: int) -> int:
    """Binary search in ``starts[lo:hi]``: the last index whose start is <= ``a`` (``lo - 1`` if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if starts[mid] <= a:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


@numba.njit(cache=False)
def binary_search(starts: np.ndarray, addrs: np.ndarray) -> np.ndarray:
    """Last ``i`` with ``starts[i] <= addr``, over the whole table."""
    out = np.empty(addrs.size, np.int32)
    for k in range(addrs.size):
        a = addrs[k]
        out[k] = _last_at_or_below(starts, a, 0, starts.size)
    return out


@numba.njit(cache=False)
def bucketed_search(starts: np.ndarray, offsets: np.ndarray, shift: int, addrs: np.ndarray) -> np.ndarray:
    """Binary search only among the intervals starting in the address's bucket (``addr >> shift``).

    If none of them starts at or below the address, the answer is the interval before the bucket's first
    one (``offsets[b] - 1``): ``lo`` simply stays at ``offsets[b]``."""
    out = np.empty(addrs.size, np.int32)
    for k in range(addrs.size):
        a = addrs[k]
        b = a >> shift
        out[k] = _last_at_or_below(starts, a, offsets[b], offsets[b + 1])
    return out


@numba.njit(cache=False)
def direct24_search(starts: np.ndarray, direct24: np.ndarray, addrs: np.ndarray) -> np.ndarray:
    """One load when the address's /24 lies in one interval; else (marker ``~first``) a binary search over
    the at most 257 intervals from ``first``, the interval holding the block's first address."""
    out = np.empty(addrs.size, np.int32)
    n = starts.size
    for k in range(addrs.size):
        a = addrs[k]
        v = direct24[a >> 8]
        if v < 0:
            first = ~v
            v = _last_at_or_below(starts, a, first + 1, min(n, first + 257))
        out[k] = v
    return out


@numba.njit(cache=False)
def dir24_8(dir24: np.ndarray, tbl8: np.ndarray, addrs: np.ndarray) -> np.ndarray:
    """DIR-24-8 (the C engines' layout): one load, or two when the /24 is split (marker ``~block`` of tbl8)."""
    out = np.empty(addrs.size, np.int32)
    for k in range(addrs.size):
        a = addrs[k]
        v = dir24[a >> 8]
        if v < 0:
            v = tbl8[((~v) << 8) | (a & 255)]
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------ structures
@dataclass(frozen=True)
class Structures:
    """Every look-up structure built from one interval table, with how long each took to build."""

    starts64: np.ndarray  # uint64, as the RuleTable holds them
    starts32: np.ndarray  # uint32
    offsets16: np.ndarray  # int32 (65,537): first interval starting in each /16 bucket
    offsets24: np.ndarray  # int32 (16,777,217): the same per /24 bucket
    direct24: np.ndarray  # int32 (16,777,216): interval of a /24 inside one interval, else ~first interval
    dir24: np.ndarray  # int32 (16,777,216): as direct24, but a split /24's marker is ~(its block in tbl8)
    tbl8: np.ndarray  # int32 (split blocks × 256): the interval of every address of each split /24
    build_seconds: dict[str, float]

    @property
    def split_blocks(self) -> int:
        return int(np.count_nonzero(self.direct24 < 0))


def bucket_offsets(starts32: np.ndarray, bits: int) -> np.ndarray:
    bucket_starts = np.arange((1 << bits) + 1, dtype=np.uint64) << np.uint64(32 - bits)
    return np.searchsorted(starts32.astype(np.uint64), bucket_starts, side="left").astype(np.int32)


def direct_index24(starts32: np.ndarray) -> np.ndarray:
    """Per /24 block: the interval holding it when that is one interval, else ``~`` the first one's index."""
    block_first = np.arange(1 << 24, dtype=np.uint32) << np.uint32(8)
    first = (np.searchsorted(starts32, block_first, side="right") - 1).astype(np.int32)
    last = (np.searchsorted(starts32, block_first | np.uint32(255), side="right") - 1).astype(np.int32)
    return np.where(first == last, first, ~first)


def dir24_8_tables(starts32: np.ndarray, direct24: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    split = np.flatnonzero(direct24 < 0)
    addresses = (split.astype(np.uint32)[:, None] << np.uint32(8)) | np.arange(256, dtype=np.uint32)
    tbl8 = (np.searchsorted(starts32, addresses.ravel(), side="right") - 1).astype(np.int32)
    dir24 = direct24.copy()
    dir24[split] = ~np.arange(split.size, dtype=np.int32)
    return dir24, tbl8


def build_structures(table: RuleTable) -> Structures:
    seconds: dict[str, float] = {}

    def timed(name: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        start = time.perf_counter()
        out = build()
        seconds[name] = time.perf_counter() - start
        return out

    starts64 = np.ascontiguousarray(table.ipv4.starts_lo, dtype=np.uint64)
    starts32 = starts64.astype(np.uint32)
    direct24 = timed("top-24 direct", lambda: direct_index24(starts32))
    dir24, tbl8 = timed("DIR-24-8 from top-24 direct", lambda: dir24_8_tables(starts32, direct24))
    return Structures(
        starts64=starts64,
        starts32=starts32,
        offsets16=timed("top-16 offsets", lambda: bucket_offsets(starts32, 16)),
        offsets24=timed("top-24 offsets", lambda: bucket_offsets(starts32, 24)),
        direct24=direct24,
        dir24=dir24,
        tbl8=tbl8,
        build_seconds=seconds,
    )


def ipv4_prefixes(table: RuleTable) -> list[tuple[int, str]]:
    """(tag rule position, prefix) for every IPv4 prefix of the table's service-tag rules."""
    return [
        (i, prefix)
        for i, rule in enumerate(table.effective.service_tags)
        for prefix in rule.prefixes
        if ":" not in prefix
    ]


def big_table(tags: ServiceTagSet) -> RuleTable:
    """The benchmark workspace plus one service-tag rule per global tag and per ``AzureCloud.<region>`` tag."""
    chosen = sorted(t.name for t in tags.tags.values() if not t.region or t.name.startswith("AzureCloud."))
    spec = copy.deepcopy(WORKSPACE)
    spec["managed_network"]["outbound_rules"] += [
        {"name": f"extra-tag-{i}", "type": "service_tag",
         "destination": {"service_tag": name, "protocol": "TCP", "port_ranges": "443"}}
        for i, name in enumerate(chosen)
    ]
    workspace, _ = workspace_from_dict(spec)
    return compile_rules(workspace, tags)


# --------------------------------------------------------------------------------------------- addresses
def addresses_inside(table: RuleTable, n: int, seed: int) -> np.ndarray:
    """``n`` addresses over ``UNIQUE_INSIDE`` distinct ones, each inside a uniformly chosen tag prefix."""
    rng = np.random.default_rng(seed)
    bounds = np.array([prefix_bounds(p)[1:] for _, p in ipv4_prefixes(table)], dtype=np.uint64)
    pool = np.empty(0, dtype=np.uint32)
    while pool.size < UNIQUE_INSIDE:
        chosen = bounds[rng.integers(0, len(bounds), 2 * UNIQUE_INSIDE)]
        span = chosen[:, 1] - chosen[:, 0] + np.uint64(1)
        drawn = chosen[:, 0] + (rng.random(len(chosen)) * span).astype(np.uint64)
        pool = np.unique(np.concatenate([pool, drawn.astype(np.uint32)]))
    pool = rng.permutation(pool)[:UNIQUE_INSIDE]
    return pool[rng.integers(0, UNIQUE_INSIDE, n)]


def addresses_uniform(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1 << 32, n, dtype=np.uint32)


# ------------------------------------------------------------------------------------------------- timing
def jit_compile_seconds() -> dict[str, float]:
    """First call of each numba kernel on tiny inputs of the benchmark's dtypes: the compile cost."""
    starts = np.array([0, 1 << 20], dtype=np.uint32)
    addrs = np.array([5, 1 << 21], dtype=np.uint32)
    offsets16 = bucket_offsets(starts, 16)
    direct = direct_index24(starts)
    dir24, tbl8 = dir24_8_tables(starts, direct)
    calls = {
        "binary_search": lambda: binary_search(starts, addrs),
        "bucketed_search": lambda: bucketed_search(starts, offsets16, 16, addrs),
        "direct24_search": lambda: direct24_search(starts, direct, addrs),
        "dir24_8": lambda: dir24_8(dir24, tbl8, addrs),
    }
    seconds = {}
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        seconds[name] = time.perf_counter() - start
    return seconds


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap_bytes() -> int:
    """Bytes malloc has handed out (glibc ``mallinfo2``): pytricia allocates its nodes with malloc, where
    neither tracemalloc nor an RSS delta (freed pages get reused) can see them."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


# ------------------------------------------------------------------------------------------------ pytricia
def rule_mask_ints(table: RuleTable) -> list[int]:
    """Each interval's rule bitmask as one Python int (word ``w`` holds rules ``64w .. 64w+63``)."""
    masks = table.ipv4.masks
    return [sum(int(word) << (64 * w) for w, word in enumerate(row)) for row in masks]


def build_trie(table: RuleTable) -> pytricia.PyTricia:
    """Every IPv4 tag prefix → the bitmask of all rules covering it (its own and its ancestors'), so that one
    longest-prefix ``get`` answers the same rule set as the interval's mask."""
    own: dict[str, int] = {}
    for rule, prefix in ipv4_prefixes(table):
        _, first, last = prefix_bounds(prefix)
        key = f"{_dotted(first)}/{32 - (last - first).bit_length()}"
        own[key] = own.get(key, 0) | (1 << rule)
    trie = pytricia.PyTricia(32)
    for key, mask in own.items():
        trie[key] = mask
    for key, mask in own.items():
        covering, parent = mask, trie.parent(key)
        while parent is not None:
            covering |= own[parent]
            parent = trie.parent(parent)
        trie[key] = covering
    return trie


def _dotted(value: int) -> str:
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


# ---------------------------------------------------------------------------------------------- the run
@dataclass
class Row:
    variant: str
    seconds: float
    flows: int
    memory_bytes: int | None
    correct: bool | None  # None: not an answer (the ceiling)
    note: str = ""

    @property
    def flows_per_s(self) -> float:
        return self.flows / self.seconds


def measure(label: str, s: Structures, addrs32: np.ndarray, trie: pytricia.PyTricia, trie_bytes: int,
            interval_masks: list[int], repeat: int) -> list[Row]:
    n = addrs32.size
    print(f"\n{label}: {n:,} addresses")
    addrs64 = addrs32.astype(np.uint64)
    reference = np.searchsorted(s.starts64, addrs64, side="right") - 1
    rows: list[Row] = []

    def run(variant: str, fn: Callable[[], np.ndarray], memory: int | None, note: str = "",
            check: bool = True) -> None:
        seconds, out = best_of(fn, repeat, warm_up=True)
        rows.append(Row(variant, seconds, n, memory, bool(np.array_equal(out, reference)) if check else None, note))

    s64, s32 = s.starts64.nbytes, s.starts32.nbytes
    run("numpy searchsorted uint64", lambda: np.searchsorted(s.starts64, addrs64, side="right") - 1, s64,
        "the dtype FlowBatch.dest_lo holds")
    run("numpy searchsorted uint32", lambda: np.searchsorted(s.starts32, addrs32, side="right") - 1, s32)
    run("numpy searchsorted uint64 starts, uint32 addrs",
        lambda: np.searchsorted(s.starts64, addrs32, side="right") - 1, s64, "numpy casts the addresses per call")
    run("numba binary search", lambda: binary_search(s.starts32, addrs32), s32)
    run("numba top-16 buckets + binary search", lambda: bucketed_search(s.starts32, s.offsets16, 16, addrs32),
        s32 + s.offsets16.nbytes)
    run("numba top-24 buckets + binary search", lambda: bucketed_search(s.starts32, s.offsets24, 8, addrs32),
        s32 + s.offsets24.nbytes)
    fallback = float(np.mean(s.direct24[addrs32 >> np.uint32(8)] < 0))
    run("numba top-24 direct, marker -> binary search", lambda: direct24_search(s.starts32, s.direct24, addrs32),
        s32 + s.direct24.nbytes, f"{fallback:.1%} of flows fall back")

    def numpy_direct24() -> np.ndarray:
        out = s.direct24[addrs32 >> np.uint32(8)]
        split = out < 0
        out[split] = np.searchsorted(s.starts32, addrs32[split], side="right") - 1
        return out

    run("numpy top-24 direct, marker -> searchsorted", numpy_direct24, s32 + s.direct24.nbytes)
    run("numba DIR-24-8 (top-24 direct + 256-entry blocks)", lambda: dir24_8(s.dir24, s.tbl8, addrs32),
        s.dir24.nbytes + s.tbl8.nbytes, f"{len(s.tbl8) // 256:,} second-level blocks")

    def numpy_dir24_8() -> np.ndarray:
        out = s.dir24[addrs32 >> np.uint32(8)]
        split = np.flatnonzero(out < 0)
        out[split] = s.tbl8[(~out[split]).astype(np.intp) << 8 | (addrs32[split] & np.uint32(255))]
        return out

    run("numpy DIR-24-8", numpy_dir24_8, s.dir24.nbytes + s.tbl8.nbytes)

    factorize_s, (codes, uniques) = best_of(lambda: pd.factorize(addrs32), repeat, warm_up=True)
    run("per-unique pd.factorize + searchsorted + gather",
        lambda: _per_unique(s.starts32, *pd.factorize(addrs32)), s32 + codes.nbytes + uniques.nbytes,
        f"factorize alone {factorize_s * 1e9 / n:.1f} ns/flow, {uniques.size:,} uniques")
    unique_s, (np_uniques, inverse) = best_of(lambda: np.unique(addrs32, return_inverse=True), repeat, warm_up=True)
    run("per-unique np.unique(inverse) + searchsorted + gather",
        lambda: _per_unique(s.starts32, *np.unique(addrs32, return_inverse=True)[::-1]),
        s32 + inverse.nbytes + np_uniques.nbytes, f"np.unique alone {unique_s * 1e9 / n:.1f} ns/flow")

    subset = addrs32[:PYTRICIA_SUBSET]
    as_int, as_str = subset.tolist(), [_dotted(a) for a in subset.tolist()]
    expected = [interval_masks[i] for i in reference[:PYTRICIA_SUBSET]]
    for kind, keys in (("str", as_str), ("int", as_int)):
        seconds, got = best_of(lambda keys=keys: [trie.get(k, 0) for k in keys], repeat, warm_up=True)
        rows.append(Row(f"pytricia .get({kind}) per-flow loop", seconds, len(keys), trie_bytes, got == expected,
                        f"{len(keys):,}-flow subset; answers the rule mask"))

    run("numpy gather direct24[addrs >> 8] (ceiling)", lambda: s.direct24[addrs32 >> np.uint32(8)],
        s.direct24.nbytes, "random loads from a 64 MB table; not an answer", check=False)
    print_rows(rows)
    return rows


def _per_unique(starts32: np.ndarray, codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    return (np.searchsorted(starts32, uniques, side="right") - 1)[codes]


def print_rows(rows: list[Row]) -> None:
    header = ("variant", "flows/s (M)", "ns/flow", "memory", "correct", "note")
    body = [
        (r.variant, f"{r.flows_per_s / 1e6:.1f}", f"{r.seconds * 1e9 / r.flows:.1f}",
         "-" if r.memory_bytes is None else f"{r.memory_bytes / MB:.2f} MB",
         "-" if r.correct is None else ("yes" if r.correct else "NO"), r.note)
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    left_aligned = (0, 5)  # variant and note
    for line in (header, tuple("-" * w for w in widths), *body):
        cells = (str(x).ljust(w) if i in left_aligned else str(x).rjust(w) for i, (x, w) in enumerate(zip(line, widths)))
        print("  ".join(cells).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=10_000_000, help="addresses per set (default 10,000,000)")
    parser.add_argument("--quick", action="store_true", help="1,000,000 addresses per set")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    n = 1_000_000 if args.quick else args.flows

    jit = jit_compile_seconds()
    print("numba first-call compile (not in the timings below): "
          + ", ".join(f"{name} {sec:.2f} s" for name, sec in jit.items()))
    tags = load_service_tags()
    tables = {"make_table()": make_table(), "big (global + AzureCloud.* tags)": big_table(tags)}

    results, all_correct = [], True
    for name, table in tables.items():
        structures = build_structures(table)
        before = heap_bytes()
        trie = build_trie(table)
        trie_bytes = heap_bytes() - before
        interval_masks = rule_mask_ints(table)
        n_prefixes = len(ipv4_prefixes(table))
        print(f"\n=== table {name}: {len(structures.starts32):,} IPv4 intervals from {n_prefixes:,} tag prefixes "
              f"({len(table.effective.service_tags)} tag rules); /24 blocks split across intervals: "
              f"{structures.split_blocks:,} of {1 << 24:,}; pytricia trie {trie_bytes / MB:.1f} MB of heap; "
              "build: " + ", ".join(f"{k} {v:.2f} s" for k, v in structures.build_seconds.items()))
        for set_name, addrs in (("inside", addresses_inside(table, n, args.seed)),
                                ("uniform", addresses_uniform(n, args.seed))):
            rows = measure(f"{name} / {set_name}", structures, addrs, trie, trie_bytes, interval_masks,
                           args.repeat)
            all_correct &= all(r.correct is not False for r in rows)
            results.append({
                "table": name, "address_set": set_name, "intervals": len(structures.starts32),
                "prefixes": n_prefixes, "split_24_blocks": structures.split_blocks,
                "build_seconds": structures.build_seconds, "pytricia_heap_bytes": trie_bytes,
                "rows": [{"variant": r.variant, "flows": r.flows, "seconds": r.seconds,
                          "flows_per_s": r.flows_per_s, "ns_per_flow": r.seconds * 1e9 / r.flows,
                          "memory_bytes": r.memory_bytes, "correct": r.correct, "note": r.note} for r in rows],
            })

    report = {
        "benchmark": "lookup_structures",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "flows_per_set": n, "unique_inside": UNIQUE_INSIDE, "seed": args.seed,
        "timing": f"best of {args.repeat} after a warm-up call, one thread",
        "numba": numba.__version__, "numpy": np.__version__, "pandas": pd.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
        "jit_compile_seconds": jit, "all_correct": all_correct, "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    if not all_correct:
        print("FAILED: a variant disagrees with uint64 searchsorted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
