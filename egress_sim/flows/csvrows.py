"""CSV text into rows of a known width, one block of lines at a time, with every malformed line named.

Both flow-table readers use it: ``evaluate``'s (``flows.io``), which keeps a malformed line as a rejected row
in its place, and ``replay``'s (``flows.tables``), which rejects it in its ledger. A line is malformed when it
is not exactly one row of the header's width (a trailing extra field, a missing one, a quote that never
closes, a line of blanks): pandas would shift such a row's values into the wrong columns, so here it is
never read at all.

Every cell is text, nothing is reinterpreted (``443`` stays ``443``, a host named ``NA`` stays ``NA``); only
an empty unquoted cell is missing. Empty lines are not rows. A quoted value may span lines (``records``
gathers such a record's lines by quote parity, up to ``MAX_RECORD_LINES``), so each record is one row or one
rejected row, never several: ``evaluate --verdicts-only`` stays row for row with what any CSV reader reads.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv


@dataclass(frozen=True)
class CsvBlock:
    """A block of lines parsed: the well-formed rows and where each came from, and the malformed lines."""

    table: pa.Table  # the well-formed rows, every column as text
    lines: list[int]  # the line number of each row of ``table``
    bad: list[tuple[int, str]]  # (line number, text) of each malformed line, in file order


def header_names(line: str) -> list[str]:
    """The column names of a header line (blanks around each name dropped)."""
    try:
        return [name.strip() for name in next(csv.reader([line.rstrip("\r\n")]))]
    except (csv.Error, StopIteration):
        return []


def duplicated(names: list[str]) -> list[str]:
    """Names that occur more than once, sorted (a header that names a column twice cannot be read)."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


# A quoted value spanning more lines than this is taken for a quote that never closes: its lines are then
# read one by one (each rejected as malformed) rather than gathered into one ever-growing record.
MAX_RECORD_LINES = 100


class Records:
    """The records of CSV text: a line, or the lines of one record whose quoted value spans lines, joined."""

    def __init__(self, text: Iterator[str], first_line: int) -> None:
        self._text = text
        self._pending: list[str] = []  # lines read ahead while looking for a closing quote that never came
        self.line = first_line  # the physical line the next record starts at

    def take(self, count: int) -> tuple[list[str], list[int]]:
        """Up to ``count`` records and the line each starts at."""
        records: list[str] = []
        starts: list[int] = []
        while len(records) < count:
            line = self._pending.pop(0) if self._pending else next(self._text, None)
            if line is None:
                break
            parts = [line]
            if line.count('"') % 2:  # an odd number of quotes opens a value that goes on to the next line
                while len(parts) < MAX_RECORD_LINES:
                    more = self._pending.pop(0) if self._pending else next(self._text, None)
                    if more is None:
                        break
                    parts.append(more)
                    if more.count('"') % 2:
                        break
                else:
                    self._pending = parts[1:] + self._pending
                    parts = parts[:1]
                if sum(p.count('"') for p in parts) % 2:  # never closed: each line stands alone
                    self._pending = parts[1:] + self._pending
                    parts = parts[:1]
            records.append("".join(parts))
            starts.append(self.line)
            self.line += len(parts)
        return records, starts


def parse_block(lines: list[str], first_line: int, names: list[str], starts: list[int] | None = None) -> CsvBlock:
    """Parse ``lines`` (numbered from ``first_line``, or each from ``starts`` when records span lines) as rows
    of ``names``: one Arrow call for the block; a block Arrow cannot split into rows (a quote that never
    closes, a value across lines) is redone record by record with the csv module, so line numbers stay
    exact whatever the block holds."""
    if starts is None:
        starts = list(range(first_line, first_line + len(lines)))
    if any("\n" in line.rstrip("\r\n") for line in lines):  # a value across lines: Arrow splits at it
        return _parse_lines(lines, starts, names)
    bad_texts: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_texts.append(row.text)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO("".join(lines).encode("utf-8", "surrogateescape")),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return _parse_lines(lines, starts, names)
    bad_left = list(bad_texts)
    kept: list[int] = []
    bad: list[tuple[int, str]] = []
    for offset, line in enumerate(lines):
        content = line.rstrip("\r\n")
        if not content:  # only an empty line is no row: one of blanks or control characters is a bad row
            continue
        if bad_left and content == bad_left[0]:
            bad_left.pop(0)
            bad.append((starts[offset], content))
        else:
            kept.append(starts[offset])
    if bad_left or len(kept) != table.num_rows:  # Arrow saw rows differently from lines: decide line by line
        return _parse_lines(lines, starts, names)
    return CsvBlock(table, kept, bad)


def _parse_lines(lines: list[str], starts: list[int], names: list[str]) -> CsvBlock:
    """One line at a time with the csv module (strict quoting): a line that is not one row of the header's
    width is malformed."""
    columns: list[list[str | None]] = [[] for _ in names]
    kept: list[int] = []
    bad: list[tuple[int, str]] = []
    for offset, line in enumerate(lines):
        content = line.rstrip("\r\n")
        if not content:  # only an empty line is no row: one of blanks or control characters is a bad row
            continue
        try:
            fields = next(csv.reader([content], strict=True))
        except csv.Error:
            fields = []
        if len(fields) != len(names):
            bad.append((starts[offset], content))
            continue
        for column, value in zip(columns, fields):
            column.append(value if value != "" else None)
        kept.append(starts[offset])
    table = pa.table({name: pa.array(column, pa.string()) for name, column in zip(names, columns)}) if names \
        else pa.table({})
    return CsvBlock(table, kept, bad)
