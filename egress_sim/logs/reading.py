"""The engine's reading loop: every input file, in order, through its format, into chunks of about ``chunk_rows``
flows, with every record accounted for in the ledger and per file.

What it owns, so that no format has to:

* the listing (files, directories, globs; loops and unreadable entries made visible), and format detection
  per file on its first 64 KiB (exact: a shortcut that tried the directory's last format on the first 4 KiB
  read a file whose first record looked like it, and its later records like another format, as the wrong one);
* a file that cannot be read, or whose gzip stream breaks off: what came before the break is kept, the
  unknown rest is one rejected record naming the file; a file found in a directory that is in no known
  format is passed over with a warning (one the user named is an error);
* gathering: the flows of many small files go out together, and a batched format's records are parsed a
  batch of many files at a time (``format.BatchedFormat``), so fixed costs are paid per chunk, not per blob;
* ``--strict``: each file alone and in order, every table handed out before the next problem is booked, so
  the first bad record (the reader's or, downstream, the evaluator's) is the one named.

Memory: about ``chunk_rows`` flows gathered, plus what one format holds for one file.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from ..base.errors import FlowInputError
from .engine.files import LogFile, UnreadableFileError
from .engine.format import BatchedFormat, LogFormat, Piece, book_problem
from .engine.ledger import RecordLedger, StrictInputError
from .engine.listing import Listing
from .registry import detect, reader_named

NAMED_LOOPS = 20  # symlink loops named one by one in the warnings; more are counted together


@dataclass
class FileReport:
    path: str
    format: str
    read: int = 0
    skipped: int = 0
    rejected: int = 0  # by the reader; the evaluator's rejections are counted per reason in the evaluation


@dataclass
class Chunk:
    """Flows of one or more files, in file order, and for each row: which file (``files[file_of[i]]``),
    whether its format logs host names, and whether its format carries no compute type at all."""

    parts: list[pa.Table | pd.DataFrame]
    files: list[FileReport]
    file_of: np.ndarray
    names_logged: np.ndarray
    no_compute: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.file_of)


@dataclass
class _Gather:
    """Tables waiting to go out as one chunk."""

    parts: list[pa.Table | pd.DataFrame] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)
    file_of: list[np.ndarray] = field(default_factory=list)
    names_logged: list[bool] = field(default_factory=list)
    no_compute: list[bool] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    rows: int = 0
    _position: dict[int, int] = field(default_factory=dict)

    def add(self, part: pa.Table | pd.DataFrame, file_rows: list[tuple[FileReport, int]], names_logged: bool) -> None:
        """``part``'s rows belong to these files, in order (``(file, rows)``)."""
        index = []
        for file, n in file_rows:
            if id(file) not in self._position:
                self._position[id(file)] = len(self.files)
                self.files.append(file)
            index.append(np.full(n, self._position[id(file)], dtype=np.int64))
        self.parts.append(part)
        self.file_of.extend(index)
        self.sizes.append(len(part))
        self.names_logged.append(names_logged)
        self.no_compute.append(_lacks_compute(part))
        self.rows += len(part)

    def take(self) -> Chunk:
        chunk = Chunk(self.parts, self.files,
                      np.concatenate(self.file_of) if self.file_of else np.zeros(0, dtype=np.int64),
                      np.repeat(self.names_logged, self.sizes).astype(bool),
                      np.repeat(self.no_compute, self.sizes).astype(bool))
        self.__init__()  # type: ignore[misc]
        return chunk


def _lacks_compute(part: pa.Table | pd.DataFrame) -> bool:
    """No compute type in any row: the format has none (NSG logs), unlike a table with some cells empty."""
    if isinstance(part, pa.Table):
        return "compute_type" not in part.column_names or part.column("compute_type").null_count == part.num_rows
    return "compute_type" not in part.columns or bool(part["compute_type"].isna().all())


class LogReading:
    """One pass over a listing: ``chunks()`` yields the flows; ``files`` and the ledger say what was read."""

    def __init__(self, listing: Listing, ledger: RecordLedger, chunk_rows: int, log_format: str | None = None,
                 progress: Callable[[int], None] | None = None):
        self.listing, self.ledger, self.chunk_rows = listing, ledger, max(1, int(chunk_rows))
        self.forced = reader_named(log_format) if log_format else None
        self.progress = progress
        self.files: list[FileReport] = []
        self._gather = _Gather()
        self._batch: list[tuple[Piece, FileReport]] = []
        self._batch_rows = 0
        self._batch_format: BatchedFormat | None = None

    # -- the pass ------------------------------------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        self._account_for_listing()
        for log in self.listing.files:
            fmt = self._format_of(log)
            if fmt is None:
                continue
            report = FileReport(log.name, fmt.name)
            self.files.append(report)
            yield from self._read_file(log, fmt, report)
        yield from self._flush_batch()
        if self._gather.rows:
            yield self._gather.take()

    def _read_file(self, log: LogFile, fmt: LogFormat, report: FileReport) -> Iterator[Chunk]:
        ledger = self.ledger
        reported = [0]
        batched = hasattr(fmt, "collect") and not ledger.strict
        if not batched:
            yield from self._flush_batch()  # the batch's files are booked before this one's window opens
        before = _totals(ledger)
        outside = [0, 0, 0]  # what the consumer booked while a chunk was out (inbound flows it skipped, say)
        try:
            if batched:
                yield from _handing_out(self._collect(log, fmt, report, reported), ledger, outside)  # type: ignore[arg-type]
            else:
                read = fmt.read_tables if hasattr(fmt, "read_tables") else fmt.read_chunks  # type: ignore[attr-defined]
                for table in read(log, ledger, self.chunk_rows):
                    if len(table):
                        self._gather.add(table, [(report, len(table))], getattr(fmt, "names_logged", True))
                    yield from _handing_out(self._chunks_ready(), ledger, outside)
                    self._progress(log, reported)
            broken = f"the gzip stream breaks off after {log.consumed:,} bytes ({log.cut})" if log.cut else None
            reason = "unreadable_rest_of_file"
        except StrictInputError:
            raise
        except UnreadableFileError as exc:  # gone or locked between listing and reading
            if log.named:
                raise
            broken, reason = str(exc), "unreadable_file"
        except (FlowInputError, OSError, EOFError, zlib.error, UnicodeError) as exc:
            if log.named and isinstance(exc, FlowInputError):
                raise  # a file the user named that cannot be read as its format (a duplicated header, ...)
            broken, reason = _first_line(exc), "unreadable_rest_of_file"
        if not batched:
            read, skipped, rejected = (now - was - away for now, was, away in zip(_totals(ledger), before, outside))
            report.read += read
            report.skipped += skipped
            report.rejected += rejected
        if broken is not None:
            # What came before the break was read; the unknown rest counts as one rejected record, and the
            # reading goes on with the next file (found in a directory, or cut off mid-stream).
            ledger.read()
            ledger.reject(reason, log.name, broken)
            report.read += 1
            report.rejected += 1
        if self.progress is not None and log.size > reported[0]:
            self.progress(log.size - reported[0])

    def _collect(self, log: LogFile, fmt: BatchedFormat, report: FileReport, reported: list[int]) -> Iterator[Chunk]:
        if self._batch_format is not None and self._batch_format is not fmt:
            yield from self._flush_batch()
        self._batch_format = fmt
        for piece in fmt.collect(log, self.chunk_rows):
            for problem in piece.problems:
                book_problem(self.ledger, problem)
                report.read += problem.n
                report.rejected += problem.n
            if piece.rows:
                self._batch.append((piece, report))
                self._batch_rows += piece.rows
            if self._batch_rows >= self.chunk_rows:
                yield from self._flush_batch()
            self._progress(log, reported)

    def _flush_batch(self) -> Iterator[Chunk]:
        """Parse the gathered pieces of the batched format in one pass; book them, per file too."""
        if not self._batch:
            return
        fmt, batch = self._batch_format, self._batch
        self._batch, self._batch_rows = [], 0
        parsed = fmt.parse([(piece, 0, piece.rows) for piece, _ in batch])  # type: ignore[union-attr]
        flows = fmt.outcomes.account(self.ledger, parsed.codes, parsed.where, parsed.text)  # type: ignore[union-attr]
        owner = np.repeat(np.arange(len(batch)), [piece.rows for piece, _ in batch])
        skips = (parsed.codes > 0) & (parsed.codes < fmt.outcomes.first_reject)  # type: ignore[union-attr]
        rejects = parsed.codes >= fmt.outcomes.first_reject  # type: ignore[union-attr]
        for counts, attr in ((np.bincount(owner, minlength=len(batch)), "read"),
                             (np.bincount(owner[skips], minlength=len(batch)), "skipped"),
                             (np.bincount(owner[rejects], minlength=len(batch)), "rejected")):
            for (_, report), n in zip(batch, counts.tolist()):
                setattr(report, attr, getattr(report, attr) + n)
        if flows.any():
            per_piece = np.bincount(owner[flows], minlength=len(batch)).tolist()
            self._gather.add(pa.table(parsed.columns), [(report, n) for (_, report), n in zip(batch, per_piece) if n],
                             getattr(fmt, "names_logged", True))
        yield from self._chunks_ready()

    def _chunks_ready(self) -> Iterator[Chunk]:
        if self._gather.rows >= self.chunk_rows or (self.ledger.strict and self._gather.rows):
            yield self._gather.take()

    def _progress(self, log: LogFile, reported: list[int]) -> None:
        if self.progress is not None and log.consumed > reported[0]:
            self.progress(log.consumed - reported[0])
            reported[0] = log.consumed

    # -- formats -------------------------------------------------------------------------------------------------
    def _format_of(self, log: LogFile) -> LogFormat | None:
        """The file's format (``--format``, or detection); None when the file is passed over (accounted for
        here)."""
        if self.forced is not None:
            return self.forced
        try:
            fmt = detect(log)
        except UnreadableFileError as exc:
            if log.named:
                raise
            self._reject_unreadable(log.name, str(exc))
            if self.progress is not None:
                self.progress(log.size)
            return None
        except FlowInputError:
            if log.named:
                raise
            self.ledger.note("files in no known log format, passed over")
            self.files.append(FileReport(log.name, "unrecognised"))
            if self.progress is not None:
                self.progress(log.size)
            return None
        return fmt

    # -- what the listing could not take -----------------------------------------------------------------------
    def _account_for_listing(self) -> None:
        """A symlink loop is a warning naming the link (its directory is read once, by its other path: no record is
        lost); an entry that could not be listed or read is one rejected record, ``unreadable_file``."""
        for number, (link, target) in enumerate(self.listing.loops):
            if number < NAMED_LOOPS:
                self.ledger.note(f"symlink loop not followed: {link} leads back to {target}")
            else:
                self.ledger.note("more symlink loops not followed (not named)")
        for path, why in self.listing.unreadable:
            self._reject_unreadable(path, f"{path}: cannot read: {why}")

    def _reject_unreadable(self, path: str, why: str) -> None:
        self.ledger.read()
        self.ledger.reject("unreadable_file", path, why)
        self.files.append(FileReport(path, "unreadable", read=1, rejected=1))


def _totals(ledger: RecordLedger) -> tuple[int, int, int]:
    return ledger.records_read, ledger.total_skipped, ledger.total_rejected


def _handing_out(chunks: Iterator[Chunk], ledger: RecordLedger, outside: list[int]) -> Iterator[Chunk]:
    """``chunks`` handed out, adding to ``outside`` what the ledger gained while each was out (the consumer's
    bookings are not the file's)."""
    for chunk in chunks:
        before = _totals(ledger)
        yield chunk
        for i, (now, was) in enumerate(zip(_totals(ledger), before)):
            outside[i] += now - was


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["Chunk", "FileReport", "LogReading"]
