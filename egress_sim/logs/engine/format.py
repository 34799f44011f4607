"""What a log format is to the engine, and the engine's driver for formats whose records are lines.

A format (one module in ``logs/``, one line in ``registry``) is an object with

* ``name`` (as given to ``--format``) and ``description``;
* ``sniff(head, file_name)``: whether the first 64 KiB of a (decompressed) file look like it;
* ``read_tables(log, ledger, chunk_rows)``: the file's flows as Arrow tables in the flow schema, at most
  ``chunk_rows`` rows each, every record booked in the ledger (a flow, a skip or a reject);
* optional ``names_logged = False``: the format never records host names, so a flow without one is "name not
  logged", not "sent without SNI" (formats whose records sometimes carry a name set a ``name_logged`` column);
* optional ``collect`` and ``parse``: a batched format (below), whose records the engine parses many files at a
  time.

A line format subclasses ``LineFormat`` and writes only what is its own: ``parse(block, state)`` turns a
block of whole lines into one outcome code per line and the columns of the lines that are flows. Opening,
gzip, blocks and carry-over, over-long lines, the ledger, strict mode and the ``source`` of each row are the
engine's; so is ``read_chunks``, the same flows as pandas frames of exactly ``chunk_rows`` rows with ``source`` as
text, for callers that want frames.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from ...base import limits
from ...base.errors import FlowInputError
from ...flows.sources import one_head, with_source_text
from .blocks import DEFAULT_BLOCK_BYTES, LineBlock, LongLine, line_blocks
from .files import LogFile
from .ledger import Outcomes, RecordLedger

if TYPE_CHECKING:
    import pandas as pd

NOT_A_RECORD = -1  # outcome code of a line that is no record (a header, a comment): not counted at all


class LogFormat(Protocol):
    name: str
    description: str

    def sniff(self, head: bytes, file_name: str) -> bool: ...

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]: ...


@dataclass
class ParsedLines:
    """A block parsed: ``codes[i]`` is line ``i``'s outcome (``Outcomes`` code, or ``NOT_A_RECORD``); ``columns``
    hold the flow-schema columns of the lines whose code is 0, in line order.

    A format whose line may hold several records (a JSON line that is an array), or whose reject sample is not
    the line's text, numbers its records itself: ``codes[i]`` is then record ``i``'s outcome, ``where(i)`` and
    ``text(i)`` place and show record ``i`` for the ledger, and ``source`` holds the source columns of the flow
    rows (``flows.sources.lazy_columns``). Without them record ``i`` is line ``i`` (``file:line``, its text)."""

    codes: np.ndarray
    columns: dict[str, pa.Array]
    where: Callable[[int], str] | None = None
    text: Callable[[int], str] | None = None
    source: dict[str, pa.Array] | None = None


class LineFormat:
    """The engine's reading loop for a format whose records are lines (TSV, space-separated, CSV, JSON lines)."""

    name: str
    description: str
    outcomes: Outcomes
    max_line_bytes: int = limits.MAX_LINE_BYTES
    long_line_reason = "line_too_long"
    block_bytes: int | None = None  # bytes read at a time; None: sized from chunk_rows (tests set it small)

    def sniff(self, head: bytes, file_name: str) -> bool:
        raise NotImplementedError

    def start(self, log: LogFile) -> Any:
        """Per-file state handed to every ``parse`` of the file (a header's layout, say); None by default."""
        return None

    def parse(self, block: LineBlock, state: Any) -> ParsedLines:
        raise NotImplementedError

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        return self.read_lines(log, ledger, chunk_rows, self.start(log))

    def read_lines(self, log: LogFile, ledger: RecordLedger, chunk_rows: int, state: Any) -> Iterator[pa.Table]:
        """The reading loop with the file's state given: a format whose state needs more than the file (the
        ledger, say) overrides ``read_tables`` to make it, then reads through here."""
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        name = log.name
        size = self.block_bytes or default_block_bytes(chunk_rows)
        with log.open_binary() as stream:
            for item in _named_read_errors(line_blocks(stream, size, chunk_rows, self.max_line_bytes), name):
                if isinstance(item, LongLine):
                    ledger.read()
                    ledger.reject(self.long_line_reason, f"{name}:{item.line}",
                                  f"over {self.max_line_bytes:,} bytes: {item.text()}...")
                    continue
                parsed = self.parse(item, state)
                records = np.flatnonzero(parsed.codes != NOT_A_RECORD)
                codes = parsed.codes[records]
                where = parsed.where or (lambda r, item=item: f"{name}:{item.first_line + r}")
                text = parsed.text or item.text
                flows = self.outcomes.account(ledger, codes, lambda i: where(int(records[i])),
                                              lambda i: text(int(records[i])))
                if not flows.any():
                    continue
                source = parsed.source if parsed.source is not None else \
                    one_head(f"{name}:", item.first_line + records[flows])
                table = pa.table({**parsed.columns, **source})
                if table.num_rows <= chunk_rows:
                    yield table
                else:  # lines that hold several records
                    for start in range(0, table.num_rows, chunk_rows):
                        yield table.slice(start, chunk_rows)

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """``read_tables`` as pandas frames of exactly ``chunk_rows`` flows (the last one fewer), ``source`` as
        text: for callers that want frames (tests, a flow table written as it is read)."""
        from .cells import arrow_to_frame  # pandas only for the callers that ask for frames

        pending: list[pa.Table] = []
        rows = 0
        for table in self.read_tables(log, ledger, chunk_rows):
            pending.append(with_source_text(table))
            rows += table.num_rows
            while rows >= chunk_rows:
                whole = pa.concat_tables(pending, promote_options="permissive")
                yield arrow_to_frame(whole.slice(0, chunk_rows))
                rest = whole.slice(chunk_rows)
                pending, rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
        if rows:
            yield arrow_to_frame(pa.concat_tables(pending, promote_options="permissive"))


def _named_read_errors(items: Iterator[LineBlock | LongLine], name: str) -> Iterator[LineBlock | LongLine]:
    """The blocks of ``items``; a file that cannot be read on (an I/O error, a gzip stream that is not one)
    stops with a ``FlowInputError`` naming the file and the line where reading broke off."""
    line = 1
    try:
        for item in items:
            line = item.line + 1 if isinstance(item, LongLine) else item.first_line + item.n
            yield item
    except (OSError, EOFError, zlib.error) as exc:
        raise FlowInputError(f"{name}:{line}: cannot read on: {exc}", file=name) from None


def default_block_bytes(chunk_rows: int) -> int:
    """About 256 bytes a line: a block holds about one chunk of rows, within 64 KiB .. 32 MiB."""
    return int(min(max(chunk_rows * 256, 1 << 16), DEFAULT_BLOCK_BYTES * 8))


# ----------------------------------------------------------------------------------------------------------------
# Formats whose files are many and small (Network Watcher writes one blob per NSG, NIC and hour): their records are
# collected file by file, and parsed with vectorized kernels a batch of many files at a time, since the fixed cost
# of one kernel pass (tens of calls into numpy and Arrow) would otherwise be paid for every blob of a few hundred
# records.


@dataclass
class Problem:
    """A record-level problem met while collecting, in its place: ``at`` records of its piece come before it."""

    at: int
    reason: str
    where: str
    text: str
    n: int = 1  # records it stands for (a damaged record's tuples)


@dataclass
class Piece:
    """Records of one file awaiting the batch parse (at most about ``chunk_rows``), and the problems met among
    them. ``payload`` is the format's own (its raw records, and where each came from)."""

    log: LogFile
    rows: int
    problems: list[Problem]
    payload: Any


@dataclass
class ParsedBatch:
    """Records of a batch parsed: one outcome code each (the format's ``outcomes``), the flow-schema columns of
    the flows among them in record order (with the lazy ``source`` columns), and where/text of any record, for
    reject samples."""

    codes: np.ndarray
    columns: dict[str, pa.Array]
    where: Callable[[int], str]
    text: Callable[[int], str]


class BatchedFormat(Protocol):
    name: str
    description: str
    outcomes: Outcomes

    def sniff(self, head: bytes, file_name: str) -> bool: ...

    def collect(self, log: LogFile, chunk_rows: int) -> Iterator[Piece]: ...

    def parse(self, parts: list[tuple[Piece, int, int]]) -> ParsedBatch: ...


def book_problem(ledger: RecordLedger, problem: Problem) -> None:
    ledger.read(problem.n)
    ledger.reject(problem.reason, problem.where, problem.text, n=problem.n)


def batched_read_tables(fmt: BatchedFormat, log: LogFile, ledger: RecordLedger,
                        chunk_rows: int) -> Iterator[pa.Table]:
    """One file of a batched format read on its own. Under ``--strict`` every record is booked in file order: the
    records before a record-level problem are parsed (and their table handed out) before the problem is booked,
    so the first bad record in the file is the one named, and the flows before it were seen first. Otherwise a
    piece's problems are booked as they were met, then its records parsed in one pass."""
    for piece in fmt.collect(log, chunk_rows):
        if not ledger.strict:
            for problem in piece.problems:
                book_problem(ledger, problem)
            table = parse_and_book(fmt, [(piece, 0, piece.rows)], ledger) if piece.rows else None
            if table is not None:
                yield table
            continue
        done = 0
        for problem in piece.problems:
            if problem.at > done:
                table = parse_and_book(fmt, [(piece, done, problem.at)], ledger)
                done = problem.at
                if table is not None:
                    yield table
            book_problem(ledger, problem)
        if piece.rows > done:
            table = parse_and_book(fmt, [(piece, done, piece.rows)], ledger)
            if table is not None:
                yield table


def parse_and_book(fmt: BatchedFormat, parts: list[tuple[Piece, int, int]], ledger: RecordLedger) -> pa.Table | None:
    """Parse a batch, book its records, and give the table of its flows (None when it holds none)."""
    parsed = fmt.parse(parts)
    flows = fmt.outcomes.account(ledger, parsed.codes, parsed.where, parsed.text)
    if not flows.any():
        return None
    return pa.table(parsed.columns)
