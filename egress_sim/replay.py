"""Replay recorded connection logs against a rule table: read, identify the compute, evaluate, write, count.

Every record read is accounted for exactly once, and the totals are checked before returning:

    read = evaluated + skipped + rejected

``skipped`` are records deliberately not evaluated (inbound traffic, log lines that are not connections);
``rejected`` are records a reader could not understand plus flows the evaluator could not judge (a bad cell,
a source address no inventory entry owns). Logs stream through in chunks of ``chunk_rows`` flows, so memory
does not grow with the input (the Zeek reader holds a conn log's ssl/http/dns companions while reading it).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .compile import RuleTable
from .errors import FlowInputError
from .evaluate import evaluate, with_verdicts
from .flows.formats import detect, expand_inputs, reader_named
from .flows.inventory import Inventory
from .flows.io import FlowWriter
from .flows.logs import RecordLedger, Sample, StrictInputError
from .flows.schema import FlowBatch
from .model import ComputeType
from .summary import EvaluationSummary
from .verdicts import Reason, Verdict

# The verdict file's columns, whatever the log format (a format that lacks one leaves it empty).
REPLAY_COLUMNS: tuple[str, ...] = (
    "ts", "source", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn",
    "bytes_out", "bytes_in", "observed_action", "name_logged",
)
EVALUATOR_SAMPLES_PER_REASON = 20
REPLAY_CHUNK_ROWS = 250_000  # log rows carry more text (the source of each record) than flow-table rows


@dataclass
class FileReport:
    path: str
    format: str
    read: int = 0
    skipped: int = 0
    rejected: int = 0  # by the reader; the evaluator's rejections are counted per reason in the evaluation


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
    """Evaluate every flow in the logs under ``table``; write verdicts to ``out_path``, rejects to ``rejects_path``."""
    own = {Path(p).resolve() for p in (out_path, rejects_path) if p is not None}
    files = [f for f in expand_inputs(inputs) if f.path.resolve() not in own]  # never re-read our own output
    forced = reader_named(log_format) if log_format else None
    ledger = RecordLedger(strict=strict)
    report = ReplayReport([], ledger, EvaluationSummary())
    with FlowWriter(out_path) as writer:
        for log in files:
            try:
                reader = forced or detect(log)
            except FlowInputError:
                if log.named:
                    raise
                ledger.note("files in no known log format, passed over")
                report.files.append(FileReport(log.name, "unrecognised"))
                if progress is not None:
                    progress(log.size)
                continue
            before = (ledger.records_read, ledger.total_skipped, ledger.total_rejected)
            reported = 0
            try:
                for chunk in reader.read_chunks(log, ledger, chunk_rows):
                    if len(chunk):
                        _evaluate_chunk(table, chunk, inventory, default_compute, report, writer, strict,
                                        getattr(reader, "names_logged", True))
                    if progress is not None and log.consumed > reported:
                        progress(log.consumed - reported)
                        reported = log.consumed
                broken = f"the gzip stream breaks off after {log.consumed:,} bytes ({log.cut})" if log.cut else None
            except StrictInputError:
                raise
            except (FlowInputError, EOFError, gzip.BadGzipFile, zlib.error, UnicodeError) as exc:
                if log.named and isinstance(exc, FlowInputError):
                    raise  # a file the user named that cannot be read as its format (a duplicated header, ...)
                broken = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if broken is not None:
                # What came before the break was replayed; the unknown rest counts as one rejected record, and
                # the replay goes on with the next file (found in a directory, or cut off mid-stream).
                ledger.read()
                ledger.reject("unreadable_rest_of_file", log.name, broken)
            report.files.append(FileReport(
                log.name, reader.name, ledger.records_read - before[0], ledger.total_skipped - before[1],
                ledger.total_rejected - before[2],
            ))
            if progress is not None and log.size > reported:
                progress(log.size - reported)
    report.check()
    if rejects_path is not None:
        write_rejects(report, rejects_path)
    return report


def total_size(inputs: list[str]) -> int:
    return sum(f.size for f in expand_inputs(inputs))


def _evaluate_chunk(table: RuleTable, chunk: pd.DataFrame, inventory: Inventory | None,
                    default_compute: ComputeType | str | None, report: ReplayReport, writer: FlowWriter,
                    strict: bool, names_logged: bool) -> None:
    chunk = _normalized(chunk)
    unknown = None
    if inventory is not None:
        chunk, unknown = _identify_computes(chunk, inventory, report.ledger)
        if not len(chunk):
            return
    if chunk["compute_type"].isna().all():
        if default_compute is not None:
            chunk = chunk.assign(compute_type=ComputeType.parse(default_compute).yaml)
        elif unknown is None:
            unknown = np.ones(len(chunk), dtype=bool)  # nothing says which compute sent these flows: never guessed
    batch = FlowBatch.from_frame(chunk, None, unknown, names_logged)
    verdicts = evaluate(table, batch)
    rejected = verdicts.verdict == Verdict.REJECTED
    if rejected.any():
        _sample_rejections(chunk, verdicts.reason, rejected, report, strict)
    report.evaluation.add(batch, verdicts)
    _count_observed(chunk, verdicts, report.observed)
    out = chunk.assign(dst_port=pd.to_numeric(chunk["dst_port"], errors="coerce").astype("Int64"),
                       name_logged=batch.name_logged)
    writer.write(with_verdicts(out, verdicts.to_frame()))


def _count_observed(chunk: pd.DataFrame, verdicts, observed: Counter) -> None:
    """What the real device decided (when the log says) against the simulated verdict."""
    if not chunk["observed_action"].notna().any():
        return
    codes, labels = pd.factorize(chunk["observed_action"].fillna("unknown"))
    combined = codes.astype(np.int64) * 3 + verdicts.verdict.astype(np.int64)
    counts = np.bincount(combined, minlength=3 * len(labels))
    for value in np.flatnonzero(counts):
        observed[(str(labels[value // 3]), Verdict(int(value % 3)).label)] += int(counts[value])


def _normalized(chunk: pd.DataFrame) -> pd.DataFrame:
    """The fixed replay columns with fixed types, so every chunk of every format writes the same schema.

    ``dst_port`` keeps what the log said until the evaluator has judged it (a bad port is named precisely)."""
    out = {}
    for column in REPLAY_COLUMNS:
        values = chunk[column] if column in chunk.columns else pd.Series(None, index=chunk.index, dtype=object)
        if column == "ts":
            out[column] = values if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(
                values, utc=True, errors="coerce")
        elif column in ("bytes_out", "bytes_in"):
            out[column] = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif column == "dst_port":
            out[column] = values
        elif isinstance(values.dtype, (pd.CategoricalDtype, pd.StringDtype)):
            out[column] = values  # already text with proper missing cells: converting costs ~40% of a replay
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(out).reset_index(drop=True)


def _identify_computes(chunk: pd.DataFrame, inventory: Inventory, ledger: RecordLedger) -> tuple[pd.DataFrame, np.ndarray]:
    """Fill compute type and name from the inventory; drop flows coming *into* a known compute from outside."""
    types, names, known = inventory.lookup(chunk["src_ip"])
    _, _, dst_known = inventory.lookup(chunk["dst_ip"])
    inbound = ~known & dst_known
    if inbound.any():
        ledger.skip("inbound_by_inventory", int(inbound.sum()))
    has_type = chunk["compute_type"].notna().to_numpy()
    chunk = chunk.assign(
        compute_type=np.where(has_type, chunk["compute_type"].to_numpy(dtype=object), types),
        compute_name=np.where(chunk["compute_name"].notna().to_numpy(), chunk["compute_name"].to_numpy(dtype=object), names),
    )
    keep = ~inbound
    unknown = ~known & ~has_type
    return chunk.loc[keep].reset_index(drop=True), unknown[keep]


def _sample_rejections(chunk: pd.DataFrame, reasons: np.ndarray, rejected: np.ndarray, report: ReplayReport,
                       strict: bool) -> None:
    """Keep the first few rows of each rejection reason; the first rejected row stops a strict replay."""

    def describe(position: int) -> tuple[str, str]:
        row = chunk.iloc[position]
        where = str(row["source"]) if row["source"] is not None else "flow"
        return where, ",".join("" if pd.isna(v) else str(v) for v in row.tolist())

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


def write_rejects(report: ReplayReport, path: str | Path) -> int:
    """Samples of every rejection reason, as JSON lines: reason, where (file:line or file@offset), record."""
    samples = [*report.ledger.samples, *report.evaluator_samples]
    if not samples:  # nothing rejected: no file (and none left over from an earlier run)
        Path(path).unlink(missing_ok=True)
        return 0
    with open(path, "w", encoding="utf-8") as out:
        for sample in samples:
            out.write(json.dumps(sample.to_dict()) + "\n")
    return len(samples)
