"""What a log format is to the engine, and the engine's driver for formats whose records are lines.

A format (one module in ``logs/``, one line in ``registry``) is an object with

* ``name`` (as given to ``--format``) and ``description``;
* ``sniff(head, file_name)``: whether the first 64 KiB of a (decompressed) file look like it;
* ``read_tables(log, ledger, chunk_rows)``: the file's flows as Arrow tables in the flow schema, at most
  ``chunk_rows`` rows each, every record booked in the ledger (a flow, a skip or a reject);
* optional ``names_logged = False``: the format never records host names, so a flow without one is "name not
  logged", not "sent without SNI" (formats whose records sometimes carry a name set a ``name_logged`` column);
* optional ``directory_format = True``: every file of a directory in this format is read as it without being
  sniffed again (a format whose files can mix with other kinds in one folder leaves it off).

A line format subclasses ``LineFormat`` and writes only what is its own: ``parse(block, state)`` turns a
block of whole lines into one outcome code per line and the columns of the lines that are flows. Opening,
gzip, blocks and carry-over, over-long lines, the ledger, strict mode and the ``source`` of each row are the
engine's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from ..base import limits
from ..flows.sources import one_head
from .blocks import DEFAULT_BLOCK_BYTES, LineBlock, LongLine, line_blocks
from .files import LogFile
from .ledger import Outcomes, RecordLedger

NOT_A_RECORD = -1  # outcome code of a line that is no record (a header, a comment): not counted at all


class LogFormat(Protocol):
    name: str
    description: str

    def sniff(self, head: bytes, file_name: str) -> bool: ...

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]: ...


LogReader = LogFormat  # the name the readers had before the engine


@dataclass
class ParsedLines:
    """A block parsed: ``codes[i]`` is line ``i``'s outcome (``Outcomes`` code, or ``NOT_A_RECORD``); ``columns``
    hold the flow-schema columns of the lines whose code is 0, in line order."""

    codes: np.ndarray
    columns: dict[str, pa.Array]


class LineFormat:
    """The engine's reading loop for a format whose records are lines (TSV, space-separated, CSV, JSON lines)."""

    name: str
    description: str
    outcomes: Outcomes
    max_line_bytes: int = limits.MAX_LINE_BYTES
    long_line_reason = "line_too_long"

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
        name = log.name
        with log.open_binary() as stream:
            for item in line_blocks(stream, block_bytes(chunk_rows), chunk_rows, self.max_line_bytes):
                if isinstance(item, LongLine):
                    ledger.read()
                    ledger.reject(self.long_line_reason, f"{name}:{item.line}",
                                  f"over {self.max_line_bytes:,} bytes: {item.text()}...")
                    continue
                parsed = self.parse(item, state)
                records = np.flatnonzero(parsed.codes != NOT_A_RECORD)
                codes = parsed.codes[records]
                flows = self.outcomes.account(
                    ledger, codes, lambda i: f"{name}:{item.first_line + int(records[i])}",
                    lambda i: item.text(int(records[i])))
                if not flows.any():
                    continue
                lines = item.first_line + records[flows]
                yield pa.table({**parsed.columns, **one_head(f"{name}:", lines)})


def block_bytes(chunk_rows: int) -> int:
    """About 256 bytes a line: a block holds about one chunk of rows, within 64 KiB .. 32 MiB."""
    return int(min(max(chunk_rows * 256, 1 << 16), DEFAULT_BLOCK_BYTES * 8))
