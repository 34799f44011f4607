"""Replay recorded connection logs against a rule table: read, identify the compute, evaluate, write, count.

Every record read is accounted for exactly once, and the totals are checked before returning:

    read = evaluated + skipped + rejected

``skipped`` are records deliberately not evaluated (inbound traffic, log lines that are not connections);
``rejected`` are records a reader could not understand plus flows the evaluator could not judge (a bad cell,
a source address no inventory entry owns). Logs stream through in chunks of ``chunk_rows`` flows, so memory
does not grow with the input (the Zeek reader holds a conn log's ssl/http/dns companions while reading it).
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..ruletable.compile import RuleTable
from ..base.errors import FlowInputError, OutputFileError
from ..evaluation.evaluate import Verdicts, evaluate
from ..logs.reading import FileReport, LogReading
from ..logs.registry import list_inputs
from ..logs.engine.listing import Listing
from ..logs.inventory import Inventory
from ..flows.io import FlowWriter, table_format
from ..logs.engine.ledger import RecordLedger, Sample, StrictInputError
from ..flows.sources import row_source
from ..model import ComputeType
from ..base.outputs import Outputs, check_outputs, staged
from ..evaluation.summary import EvaluationSummary
from ..flows.verdicts import Reason, Verdict
from .replay_chunks import REPLAY_COLUMNS, PreparedChunk, prepare_chunk, verdict_table

_SOURCE_AT = REPLAY_COLUMNS.index("source")
EVALUATOR_SAMPLES_PER_REASON = 20
REPLAY_CHUNK_ROWS = 250_000  # log rows carry more text (the source of each record) than flow-table rows
NAMED_LOOPS = 20  # symlink loops named one by one in the warnings; more are counted together


@dataclass
class ReplayReport:
    files: list[FileReport]
    ledger: RecordLedger
    evaluation: EvaluationSummary
    observed: Counter = field(default_factory=Counter)  # (observed_action, simulated verdict) -> flows
    evaluator_samples: list[Sample] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        verdicts = self.evaluation.by_verdict()
        return {
            "read": self.ledger.records_read,
            "evaluated": verdicts["allow"] + verdicts["deny"],
            "skipped": self.ledger.total_skipped,
            "rejected": self.ledger.total_rejected + verdicts["rejected"],
        }

    def check(self) -> None:
        t = self.totals
        if t["read"] != t["evaluated"] + t["skipped"] + t["rejected"]:  # an internal invariant, not a user error
            raise AssertionError(f"replay totals do not add up: {t}")

    def rejected_by_reason(self) -> dict[str, int]:
        out = Counter(self.ledger.rejected)
        for reason, n in self.evaluation.by_reason().items():
            if Reason[reason.upper()].verdict is Verdict.REJECTED:
                out[reason] += n
        return dict(out.most_common())

    def to_dict(self) -> dict[str, object]:
        return {
            "totals": self.totals,
            "skipped": dict(self.ledger.skipped.most_common()),
            "warnings": dict(self.ledger.notes.most_common()),
            "rejected": self.rejected_by_reason(),
            "files": [vars(f) for f in self.files],
            "observed_vs_simulated": [{"observed": o, "simulated": v, "flows": n} for (o, v), n in sorted(self.observed.items())],
            **self.evaluation.to_dict(),
        }


def replay(
    table: RuleTable,
    inputs: list[str],
    out_path: str | Path,
    inventory: Inventory | None = None,
    default_compute: ComputeType | str | None = None,
    log_format: str | None = None,
    strict: bool = False,
    chunk_rows: int = REPLAY_CHUNK_ROWS,
    rejects_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Evaluate every flow in the logs under ``table``; write verdicts to ``out_path``, rejects to ``rejects_path``.

    Both outputs are checked before any log is opened (a log named explicitly that is one of them is refused;
    one found in a replayed directory or by a pattern is passed over), and both appear only once the whole
    replay has succeeded: a failure or an interrupt leaves the files standing at those names as they were."""
    own = tuple(p for p in (out_path, rejects_path) if p is not None)
    check_replay_outputs(own, inputs)
    with Outputs(own, inputs=inputs) as outputs:
        report = _replay(table, inputs, out_path, inventory, default_compute, log_format, strict, chunk_rows, own,
                         outputs, progress)
        if rejects_path is not None:
            write_rejects(report, rejects_path, outputs)
    return report


def _replay(table: RuleTable, inputs: list[str], out_path: str | Path, inventory: Inventory | None,
            default_compute: ComputeType | str | None, log_format: str | None, strict: bool, chunk_rows: int,
            own: tuple[str | Path, ...], outputs: Outputs, progress: Callable[[int], None] | None) -> ReplayReport:
    report, chunks = read_logs(inputs, inventory, default_compute, log_format, strict, chunk_rows, progress,
                               exclude=own)
    with FlowWriter(out_path, outputs) as writer:
        for prepared in chunks:
            _evaluate_chunk(table, prepared, report, writer, strict)
    report.check()
    return report


def read_logs(inputs: list[str], inventory: Inventory | None, default_compute: ComputeType | str | None,
              log_format: str | None = None, strict: bool = False, chunk_rows: int = REPLAY_CHUNK_ROWS,
              progress: Callable[[int], None] | None = None, exclude: tuple[str | Path, ...] = (),
              listing: Listing | None = None) -> tuple[ReplayReport, Iterator[PreparedChunk]]:
    """The logs' flows as prepared chunks (read lazily, as the iterator is consumed), and the report that counts
    them: the readers' ledger and files; the caller adds what its evaluation decides (``report.evaluation``).
    ``listing``: the files already listed (a part of a listing, on a Dask worker) instead of ``inputs``."""
    if listing is None:
        listing = list_inputs(inputs, exclude=exclude)  # never re-read our own output
    ledger = RecordLedger(strict=strict)
    reading = LogReading(listing, ledger, chunk_rows, log_format, progress)
    report = ReplayReport(reading.files, ledger, EvaluationSummary())

    def chunks() -> Iterator[PreparedChunk]:
        for gathered in reading.chunks():
            prepared = prepare_chunk(gathered, inventory, default_compute, report.ledger)
            if prepared is not None:
                yield prepared

    return report, chunks()


VERDICT_COLUMNS = {"verdict", "reason", "rule"}
REJECT_KEYS = {"reason", "where", "record"}
_HEAD_BYTES = 1 << 16


def check_replay_outputs(outputs: Iterable[str | Path | None], logs: Iterable[str],
                         other_inputs: Iterable[str | Path | None] = ()) -> None:
    """Before any work: ``check_outputs`` (no output is a log named explicitly, or another input), and no
    output is a log the replay would find in a directory or by a pattern."""
    outputs, logs = tuple(p for p in outputs if p is not None), list(logs)
    check_outputs(outputs, inputs=[*logs, *other_inputs])
    refuse_writing_over_a_log(outputs, logs)


def refuse_writing_over_a_log(outputs: tuple[str | Path, ...], inputs: list[str]) -> None:
    """An output standing inside a replayed directory (or matched by a replayed pattern) is passed over by the
    replay, as an earlier run's verdicts or rejects should be; but if it is not one, it is somebody's log,
    and replacing it would lose it: refuse. (A log named explicitly is refused by ``check_outputs``.)"""
    for out in map(Path, outputs):
        if not out.is_file() or _earlier_replay_output(out):
            continue
        for item in inputs:
            if _reaches(item, out):
                raise OutputFileError(
                    f"{out}: is a file the replay of {item} would read, not an earlier verdict or rejects file; "
                    f"write the output elsewhere", file=str(out))


def _reaches(item: str, out: Path) -> bool:
    """Whether expanding ``item`` (a directory or a pattern) finds ``out``."""
    path = Path(item)
    try:
        if path.is_dir():
            return Path(os.path.realpath(out)).is_relative_to(os.path.realpath(path))
        if any(ch in item for ch in "*?["):
            return any(os.path.samefile(found, out) for found in glob.glob(item, recursive=True)
                       if os.path.isfile(found))
    except (OSError, ValueError):
        return False
    return False


def _earlier_replay_output(path: Path) -> bool:
    """An empty file, a verdict file (CSV, CSV.gz or Parquet with verdict, reason and rule columns) or a
    rejects file (JSON lines of reason, where, record): what replay writes, safe to replace."""
    try:
        if path.stat().st_size == 0:
            return True
        if table_format_or_none(path) == "parquet":
            return VERDICT_COLUMNS <= set(pq.read_schema(path).names)
        with open(path, "rb") as raw:
            head = raw.read(_HEAD_BYTES)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as unzipped:
                head = unzipped.read(_HEAD_BYTES)
        first = head.split(b"\n", 1)[0].decode("utf-8").strip()
        if first.startswith("{"):
            return REJECT_KEYS <= set(json.loads(first))
        return VERDICT_COLUMNS <= {field.strip().strip('"') for field in first.split(",")}
    except (OSError, ValueError, EOFError, zlib.error, pa.ArrowException, TypeError):
        return False


def table_format_or_none(path: Path) -> str | None:
    try:
        return table_format(path)
    except FlowInputError:
        return None


def total_size(inputs: list[str]) -> int:
    return sum(f.size for f in list_inputs(inputs).files)


def _evaluate_chunk(table: RuleTable, prepared: PreparedChunk, report: ReplayReport, writer: FlowWriter,
                    strict: bool) -> None:
    """Evaluate a prepared chunk, count and write."""
    verdicts = evaluate(table, prepared.batch)
    count_verdicts(prepared, verdicts, report, strict)
    writer.write(verdict_table(prepared, verdicts))


def count_verdicts(prepared: PreparedChunk, verdicts: Verdicts, report: ReplayReport, strict: bool) -> None:
    """Book a chunk's verdicts in the report: rejected rows sampled (the first stops a strict replay), verdicts
    counted, observed actions against simulated verdicts."""
    rejected = verdicts.verdict == Verdict.REJECTED
    if rejected.any():
        _sample_rejections(prepared.rows, prepared.source, verdicts.reason, rejected, report, strict)
    report.evaluation.add(prepared.batch, verdicts)
    _count_observed(prepared.rows, verdicts, report.observed)


def _count_observed(rows: pd.DataFrame | pa.Table, verdicts, observed: Counter) -> None:
    """What the real device decided, for the flows whose log says, against the simulated verdict."""
    if isinstance(rows, pa.Table):
        column = rows.column("observed_action")
        said = column.is_valid().to_numpy(zero_copy_only=False)
        if not said.any():
            return
        encoded = pc.dictionary_encode(column.filter(pa.array(said))).combine_chunks()
        codes, labels = encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()
    else:
        said = rows["observed_action"].notna().to_numpy()
        if not said.any():
            return
        codes, labels = pd.factorize(rows["observed_action"][said])
    combined = codes.astype(np.int64) * 3 + verdicts.verdict[said].astype(np.int64)
    counts = np.bincount(combined, minlength=3 * len(labels))
    for value in np.flatnonzero(counts):
        observed[(str(labels[value // 3]), Verdict(int(value % 3)).label)] += int(counts[value])


def _sample_rejections(chunk: pd.DataFrame | pa.Table, source: pa.Table | None, reasons: np.ndarray, rejected: np.ndarray,
                       report: ReplayReport, strict: bool) -> None:
    """Keep the first few rows of each rejection reason; the first rejected row stops a strict replay."""

    def describe(position: int) -> tuple[str, str]:
        values = list(chunk.slice(position, 1).to_pylist()[0].values()) if isinstance(chunk, pa.Table) else \
            chunk.iloc[position].tolist()
        if source is not None:  # the row as written: its source text in its place
            values.insert(_SOURCE_AT, row_source(source, position))
        where = str(values[_SOURCE_AT]) if values[_SOURCE_AT] is not None else "flow"
        return where, ",".join("" if pd.isna(v) else str(v) for v in values)

    if strict:
        first = int(np.flatnonzero(rejected)[0])
        where, text = describe(first)
        raise StrictInputError(f"{where}: {Reason(int(reasons[first])).code.replace('_', ' ')}: {text[:200]}")
    for code in np.unique(reasons[rejected]):
        reason = Reason(int(code)).code
        wanted = EVALUATOR_SAMPLES_PER_REASON - sum(1 for s in report.evaluator_samples if s.reason == reason)
        for position in np.flatnonzero(reasons == code)[:max(wanted, 0)]:
            where, text = describe(int(position))
            report.evaluator_samples.append(Sample(reason, where, text))


def write_rejects(report: ReplayReport, path: str | Path, outputs: Outputs | None = None) -> int:
    """Samples of every rejection reason, as JSON lines: reason, where (file:line or file@offset), record.

    Nothing rejected: an empty file, so a file standing at ``path`` from before is replaced like any output,
    never just removed, and an earlier run's samples cannot pass for this run's."""
    samples = [*report.ledger.samples, *report.evaluator_samples]
    with staged(outputs, [path]) as files:
        files.write_text(path, "".join(json.dumps(sample.to_dict()) + "\n" for sample in samples))
    return len(samples)
