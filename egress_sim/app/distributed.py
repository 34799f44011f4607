"""Scale-out on Dask: ``evaluate`` and ``replay`` over many partitions, the same kernel as the local engine.

* **Partitions**: a Parquet flow table by row groups (about ``chunk_rows`` rows a task); logs by files (about
  ``LOG_BYTES_PER_TASK`` bytes a task, one file at least). CSV flow tables are not split (a quoted cell may hold a
  line break, so a byte range cannot be cut safely): convert them to Parquet first, which is what the error says.
* **The rule table** is compiled once, on the client, and scattered to every worker once (``broadcast``): a task
  gets it from its worker's memory, never over the network again.
* **Each task** reads its partition, evaluates it with ``evaluation.evaluate`` (the compiled kernel: no second
  implementation of the rules), writes its verdicts as one Parquet part file named by the partition's number
  (written to a temporary name and renamed: a task run twice, after a worker died, writes the same part once)
  and returns its counts. Rows keep ``source_file`` and ``source_row`` (flow tables) or ``source`` (logs), so
  every verdict joins back to its input.
* **Counts** (verdict summaries, replay ledgers) are combined as a tree of pairwise merges on the cluster.
* **Output**: a directory of part files (a partitioned Parquet dataset), built under a hidden name beside it and
  renamed into place when every part is written: a failed run leaves no partial dataset.

Memory per worker is bounded by one partition (``chunk_rows`` rows, or one task's log files read in chunks).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..base.errors import EgressSimError, FlowInputError
from ..evaluation.evaluate import evaluate, input_renames, table_with_verdicts
from ..evaluation.summary import EvaluationSummary
from ..flows.io import table_format
from ..flows.schema import flow_batch_from_table
from ..logs.engine.ledger import SAMPLES_PER_REASON, RecordLedger
from ..logs.engine.listing import Listing
from ..ruletable.compile import RuleTable
from .pipeline import SIMULATOR_LABELS
from .replay import EVALUATOR_SAMPLES_PER_REASON, ReplayReport, count_verdicts, read_logs
from .replay_chunks import verdict_table

DASK_MISSING = ("the Dask engine needs dask and distributed: pip install 'egress_sim[dask]' (from a clone: "
                "pip install -e '.[dask]')")
LOG_BYTES_PER_TASK = 64 * 2**20
PART = "part-{:05d}.parquet"


@dataclass
class DaskRun:
    """Where a run happened: the scheduler's address, its dashboard, how many workers it had."""

    scheduler: str
    dashboard: str | None
    workers: int


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[tuple[object, DaskRun]]:
    """A Dask client: joined to ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``), else to a ``LocalCluster`` of
    ``workers`` single-threaded worker processes (the machine's cores by default)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise EgressSimError(DASK_MISSING) from None
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    cluster = None
    if address:
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise EgressSimError(f"--scheduler {address}: no Dask scheduler answered there ({exc})") from None
    else:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        info = client.scheduler_info()
        yield client, DaskRun(client.scheduler.address, client.dashboard_link, len(info.get("workers", {})))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ---------------------------------------------------------------------------------------------------- evaluate

def parquet_partitions(path: str | Path, rows_per_task: int) -> list[tuple[str, list[int], int]]:
    """(file, row groups, first row) per task: consecutive row groups of about ``rows_per_task`` rows."""
    if table_format(path) != "parquet":
        raise FlowInputError(f"{path}: the Dask engine splits Parquet flow tables by row group; a CSV cannot be "
                             "cut safely (a quoted cell may hold a line break): convert it to Parquet first, e.g. "
                             "python -c \"import pyarrow.csv as c, pyarrow.parquet as p; "
                             "p.write_table(c.read_csv('flows.csv'), 'flows.parquet')\"", file=str(path))
    meta = pq.ParquetFile(path).metadata
    parts, group, rows, first = [], [], 0, 0
    for k in range(meta.num_row_groups):
        group.append(k)
        rows += meta.row_group(k).num_rows
        if rows >= rows_per_task:
            parts.append((str(path), group, first))
            first, group, rows = first + rows, [], 0
    if group:
        parts.append((str(path), group, first))
    return parts


def evaluate_dask(client, table: RuleTable, flows_path: str | Path, out_dir: str | Path,
                  default_compute: str | None = None, rows_per_task: int = 1_000_000,
                  progress: Callable[[int], None] | None = None) -> EvaluationSummary:
    """``pipeline.evaluate_file`` on the cluster: verdicts as a Parquet dataset in ``out_dir``, the summary back."""
    parts = parquet_partitions(flows_path, rows_per_task)
    with _dataset(out_dir) as staging:
        shared = client.scatter(table, broadcast=True)
        futures = [client.submit(_evaluate_part, shared, part, str(staging), k, default_compute,
                                 key=f"egress-evaluate-{staging.name}-{k}") for k, part in enumerate(parts)]
        summary, rows = _tree(client, futures, merge_summaries, progress)
    if rows != summary.total:  # an internal invariant, not a user error
        raise AssertionError(f"row count mismatch: wrote {rows}, counted {summary.total}")
    return summary


def _evaluate_part(table: RuleTable, part: tuple[str, list[int], int], staging: str, number: int,
                   default_compute: str | None) -> tuple[EvaluationSummary, int]:
    _test_delay()
    path, groups, first = part
    data = pq.ParquetFile(path).read_row_groups(groups)
    batch = flow_batch_from_table(data, default_compute)
    verdicts = evaluate(table, batch)
    summary = EvaluationSummary()
    labels = {name: [data.column(c) for c in columns] for name, columns in SIMULATOR_LABELS.items()
              if all(c in data.column_names for c in columns)}
    summary.add(batch, verdicts, labels)
    summary.renamed_columns.update(input_renames(data.column_names))
    out = table_with_verdicts(data, verdicts)
    # (one text per task, dictionary-encoded: a path per row cost more than evaluating the row)
    out = out.append_column("source_file", pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(data.num_rows, dtype=np.int32)), pa.array([str(path)], pa.string())))
    out = out.append_column("source_row", pa.array(np.arange(first, first + data.num_rows, dtype=np.int64)))
    _write_part(out, Path(staging), number)
    return summary, data.num_rows


# ---------------------------------------------------------------------------------------------------- replay

def log_partitions(listing: Listing, bytes_per_task: int = LOG_BYTES_PER_TASK) -> list[Listing]:
    """The listing's files in groups of about ``bytes_per_task`` bytes (one file at least), in order."""
    parts: list[Listing] = []
    current: list = []
    size = 0
    for log in listing.files:
        current.append(log)
        size += log.size
        if size >= bytes_per_task:
            parts.append(Listing(files=current))
            current, size = [], 0
    if current:
        parts.append(Listing(files=current))
    return parts


def replay_dask(client, table: RuleTable, listing: Listing, out_dir: str | Path, inventory=None,
                default_compute: str | None = None, log_format: str | None = None, chunk_rows: int = 250_000,
                bytes_per_task: int = LOG_BYTES_PER_TASK,
                progress: Callable[[int], None] | None = None) -> ReplayReport:
    """``replay`` on the cluster: each task replays a group of log files; verdicts as a Parquet dataset in
    ``out_dir``; the reports (ledger, files, summary) merged. The listing's own findings (loops, unreadable
    entries) are booked once, here."""
    report, _ = read_logs([], None, default_compute, log_format, listing=Listing(loops=listing.loops,
                                                                                  unreadable=listing.unreadable))
    list(_)  # books the listing's findings in the ledger
    with _dataset(out_dir) as staging:
        shared = client.scatter(table, broadcast=True)
        places = client.scatter(inventory, broadcast=True) if inventory is not None else None
        futures = [client.submit(_replay_part, shared, part, places, default_compute, log_format, chunk_rows,
                                 str(staging), k, key=f"egress-replay-{staging.name}-{k}")
                   for k, part in enumerate(log_partitions(listing, bytes_per_task))]
        merged = _tree(client, futures, merge_reports, progress) if futures else (report, 0)
    total = merge_reports((report, 0), merged)[0]
    total.check()
    return total


def _replay_part(table: RuleTable, listing: Listing, inventory, default_compute: str | None, log_format: str | None,
                 chunk_rows: int, staging: str, number: int) -> tuple[ReplayReport, int]:
    _test_delay()
    report, chunks = read_logs([], inventory, default_compute, log_format, chunk_rows=chunk_rows, listing=listing)
    tables = []
    for prepared in chunks:
        verdicts = evaluate(table, prepared.batch)
        count_verdicts(prepared, verdicts, report, False)
        tables.append(verdict_table(prepared, verdicts))
    if tables:
        _write_part(pa.concat_tables(tables, promote_options="permissive"), Path(staging), number)
    return report, sum(t.num_rows for t in tables)


# ---------------------------------------------------------------------------------------------------- merging

def merge_summaries(a: tuple[EvaluationSummary, int], b: tuple[EvaluationSummary, int]) -> tuple[EvaluationSummary, int]:
    out = EvaluationSummary()
    for part in (a[0], b[0]):
        out.counts.update(part.counts)
        out.by_label.update(part.by_label)
        out.dropped_labels |= part.dropped_labels
        out.renamed_columns.update(part.renamed_columns)
    return out, a[1] + b[1]


def merge_reports(a: tuple[ReplayReport, int], b: tuple[ReplayReport, int]) -> tuple[ReplayReport, int]:
    """Two replays' reports as one (files in order, counts added, samples kept up to each reason's cap)."""
    x, y = a[0], b[0]
    ledger = RecordLedger(records_read=x.ledger.records_read + y.ledger.records_read)
    ledger.skipped = x.ledger.skipped + y.ledger.skipped
    ledger.rejected = x.ledger.rejected + y.ledger.rejected
    ledger.notes = x.ledger.notes + y.ledger.notes
    ledger.samples = _capped([*x.ledger.samples, *y.ledger.samples], SAMPLES_PER_REASON)
    ledger.note_samples = _capped([*x.ledger.note_samples, *y.ledger.note_samples], SAMPLES_PER_REASON)
    evaluation = merge_summaries((x.evaluation, 0), (y.evaluation, 0))[0]
    report = ReplayReport([*x.files, *y.files], ledger, evaluation, x.observed + y.observed,
                          _capped([*x.evaluator_samples, *y.evaluator_samples], EVALUATOR_SAMPLES_PER_REASON))
    return report, a[1] + b[1]


def _capped(samples: list, per_reason: int) -> list:
    seen: Counter = Counter()
    out = []
    for sample in samples:
        if seen[sample.reason] < per_reason:
            seen[sample.reason] += 1
            out.append(sample)
    return out


def _tree(client, futures: list, merge, progress: Callable[[int], None] | None):
    """Pairwise merges on the cluster until one result is left (a tree reduction, ``log2(tasks)`` deep)."""
    from distributed import as_completed
    if progress is not None:
        for done in as_completed(futures):
            progress(done.result()[1])
    level = list(futures)
    while len(level) > 1:
        nxt = [client.submit(merge, level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].result()


# ---------------------------------------------------------------------------------------------------- the dataset

@contextlib.contextmanager
def _dataset(out_dir: str | Path) -> Iterator[Path]:
    """A hidden staging directory beside ``out_dir``, renamed onto it when the block succeeds (an existing
    ``out_dir`` must be an empty directory or an earlier dataset of ours: only part files); removed on failure."""
    target = Path(out_dir)
    if target.exists() and (not target.is_dir() or any(not p.name.startswith("part-") for p in target.iterdir())):
        raise FlowInputError(f"{target}: the Dask engine writes a directory of part files; this exists and is not "
                             "one (give a new directory)", file=str(target))
    if not target.parent.is_dir():
        raise FlowInputError(f"{target}: directory {target.parent} does not exist", file=str(target))
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _test_delay() -> None:
    """The fault-tolerance test slows each task (``EGRESS_SIM_DASK_TASK_DELAY`` seconds, set before the cluster
    starts) so that it can kill a worker while tasks are still running."""
    delay = float(os.environ.get("EGRESS_SIM_DASK_TASK_DELAY", "0") or 0)
    if delay > 0:
        import time
        time.sleep(delay)


def _write_part(table: pa.Table, staging: Path, number: int) -> None:
    final = staging / PART.format(number)
    temp = staging / f".{final.name}.{secrets.token_hex(4)}"
    pq.write_table(table, temp)
    os.replace(temp, final)  # a retried task writes the same part again, whole: never two copies


# ---------------------------------------------------------------------------------------------------- report

def report_assessor(client, rows_per_task: int = 1_000_000) -> Callable:
    """``build_report``'s ``assess`` on the cluster: each task assesses a run of row groups of a Parquet verdict
    file (or of one part of a dataset); the counts and the aggregate signals' trackers are merged as a tree; the
    slow drips and tunnel shapes are then decided over the whole input."""
    from .report import _ModeCounts

    def assess(path, mode_name: str, ctx) -> _ModeCounts:
        files = sorted(Path(path).glob("part-*.parquet")) if Path(path).is_dir() else [Path(path)]
        parts = [part for file in files for part in parquet_partitions(file, rows_per_task)]
        shared = client.scatter(ctx, broadcast=True)
        futures = [client.submit(_assess_part, shared, mode_name, part, pure=False) for part in parts]
        if not futures:
            return _ModeCounts(mode_name)
        counts, trackers, _ = _tree(client, futures, _merge_assessed, None)
        counts.settle(trackers)
        return counts

    return assess


def _assess_part(ctx, mode_name: str, part: tuple[str, list[int], int]):
    from ..analysis.risk import aggregate_signals
    from .report import _ModeCounts, assess_frame
    path, groups, first = part
    counts, trackers = _ModeCounts(mode_name), aggregate_signals()
    frame = pq.ParquetFile(path).read_row_groups(groups).to_pandas()
    assess_frame(frame, ctx, counts, trackers, (path, first))
    return counts, trackers, len(frame)


def _merge_assessed(a, b):
    counts = a[0].merge(b[0])
    for mine, other in zip(a[1], b[1]):
        mine.merge(other)
    return counts, a[1], a[2] + b[2]


# ---------------------------------------------------------------------------------------------------- what-if

def whatif_dask(client, before: RuleTable, after: RuleTable, flows, tags, output: str | Path | None = None,
                rows_per_task: int = 1_000_000, bytes_per_task: int = LOG_BYTES_PER_TASK):
    """``whatif`` on the cluster: each task evaluates its partition under both tables and counts the changes
    (``analysis.whatif.Comparison``); with ``output``, the changed rows go to a dataset of part files."""
    from ..analysis.whatif import Comparison
    from ..logs.inventory import load_inventory
    from ..logs.registry import list_inputs
    from ..net.taglocator import TagLocator
    from .whatif import WhatIfResult
    if flows.is_flow_table:
        parts = [("table", part) for part in parquet_partitions(flows.paths[0], flows.chunk_rows or rows_per_task)]
        inventory, report = None, None
    else:
        if flows.inventory is None and flows.compute is None:
            raise FlowInputError("these flows are logs: say which compute sent the logged traffic with --inventory "
                                 "FILE or --compute TYPE")
        listing = list_inputs(list(flows.paths))
        parts = [("logs", part) for part in log_partitions(listing, bytes_per_task)]
        inventory = load_inventory(flows.inventory) if flows.inventory else None
        report, empty = read_logs([], None, flows.compute, flows.log_format,
                                  listing=Listing(loops=listing.loops, unreadable=listing.unreadable))
        list(empty)  # books the listing's findings
    context = contextlib.nullcontext(None) if output is None else _dataset(output)
    with context as staging:
        shared = client.scatter((before, after, TagLocator(tags), inventory), broadcast=True)
        futures = [client.submit(_whatif_part, shared, kind, part, flows.compute, flows.log_format,
                                 flows.chunk_rows or 250_000, None if staging is None else str(staging), k,
                                 key=f"egress-whatif-{k}-{secrets.token_hex(4)}")
                   for k, (kind, part) in enumerate(parts)]
        comparison, written, replayed = _tree(client, futures, _merge_compared, None) if futures else \
            (Comparison(), 0, None)
    if replayed is not None and report is not None:
        report = merge_reports((report, 0), (replayed, 0))[0]
        report.check()
    return WhatIfResult(comparison, comparison.groups(), report, None if output is None else str(output), written)


def _whatif_part(shared, kind: str, part, default_compute, log_format, chunk_rows, staging, number):
    from ..analysis.whatif import Comparison
    from .whatif import _changed_rows
    _test_delay()
    before, after, locator, inventory = shared
    comparison = Comparison(locator)
    tables, report = [], None
    if kind == "table":
        path, groups, first = part
        data = pq.ParquetFile(path).read_row_groups(groups)
        chunks = [(data, flow_batch_from_table(data, default_compute), None)]
    else:
        report, prepared = read_logs([], inventory, default_compute, log_format, chunk_rows=chunk_rows, listing=part)
        chunks = ((verdict_table(p, None), p.batch, p) for p in prepared)
    for table, batch, prepared in chunks:
        was, now = evaluate(before, batch), evaluate(after, batch)
        if prepared is not None:
            count_verdicts(prepared, was, report, False)
        changed = comparison.add(table, batch, was, now)
        if staging is not None and changed.any():
            tables.append(_changed_rows(table, was, now, changed))
    comparison.locator = None  # (the worker's copy: not sent back)
    comparison._fold()
    if tables:
        _write_part(pa.concat_tables(tables, promote_options="permissive"), Path(staging), number)
    return comparison, sum(t.num_rows for t in tables), report


def _merge_compared(a, b):
    x, y = a[0], b[0]
    x.flows += y.flows
    x.changed += y.changed
    x.newly_denied += y.newly_denied
    x.newly_allowed += y.newly_allowed
    x._parts += [g for g in (y._groups,) if g is not None] + y._parts
    x._fold()
    report = a[2] if b[2] is None else b[2] if a[2] is None else merge_reports((a[2], 0), (b[2], 0))[0]
    return x, a[1] + b[1], report
