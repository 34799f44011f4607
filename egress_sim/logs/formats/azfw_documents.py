"""Azure Firewall records that are not one per line: JSON documents and Log Analytics CSV exports, read one
record at a time and gathered into blocks for ``azfw_outcome``.

* JSON documents: ``{"records": [...]}`` (Event Hub, older storage exports, possibly several per file), a JSON array
  (Log Analytics export) or pretty-printed objects, read by the engine's JSON streams (``jsonrecords`` at orjson's
  speed for a file that starts as a wrapper, ``jsondocuments`` for the rest and for damage); a record is placed by
  its byte offset (``file@byte record N``); after a malformed record, reading resumes at the next record boundary;
  a record over ``limits.MAX_AZFW_RECORD_BYTES`` is ``record_too_large``, never held whole.
* CSV with a header (Log Analytics "Export to CSV"; a `` [UTC]`` suffix on a column name is ignored), read with
  :mod:`csv` over the engine's line blocks, so a quoted value may span lines and a line over
  ``limits.MAX_LINE_BYTES`` is rejected in its place (``line_too_long``) without being held.

Each record comes out as ``(where, raw, fields or reject reason)``; ``record_blocks`` gathers them into blocks.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ...base import limits
from .azfw_outcome import OUTCOMES
from .azfw_records import NO_FIELDS, block_fields, expand, fields_of, holds_lone_surrogate
from ..engine.blocks import LongLine, line_blocks
from ..engine.files import LogFile
from ..engine.jsoncareful import clean_text
from ..engine.jsondocuments import CarefulDocumentStream
from ..engine.jsonrecords import ElementBlock, array_blocks

Record = tuple[str, object, "tuple | str"]  # where, raw (for a reject's sample), fields or the reject reason


@dataclass
class RecordBlock:
    """Records interpreted together: where each is, its raw form (for reject samples), the field columns and
    the codes of records already rejected while reading (0 for the others)."""

    where: Sequence[str]
    raw: Sequence
    columns: list
    preset: np.ndarray

    def __len__(self) -> int:
        return len(self.preset)

    def rows(self, lo: int, hi: int) -> RecordBlock:
        return RecordBlock(self.where[lo:hi], self.raw[lo:hi], [c[lo:hi] for c in self.columns], self.preset[lo:hi])


def record_blocks(records: Iterable[Record | RecordBlock], size: int) -> Iterator[RecordBlock]:
    """``records`` in blocks of at most ``size``; a reader may hand over a whole block of records it already holds
    as columns (the plain records of a document), which is passed on in pieces of ``size``."""
    where: list[str] = []
    raw: list = []
    fields: list = []
    for record in records:
        if isinstance(record, RecordBlock):
            if where:
                yield _block(where, raw, fields)
                where, raw, fields = [], [], []
            for lo in range(0, len(record), size):
                yield record.rows(lo, lo + size)
            continue
        where.append(record[0])
        raw.append(record[1])
        fields.append(record[2])
        if len(where) >= size:
            yield _block(where, raw, fields)
            where, raw, fields = [], [], []
    if where:
        yield _block(where, raw, fields)


def _block(where: list[str], raw: list, fields: list) -> RecordBlock:
    preset = np.array([OUTCOMES[f] if f.__class__ is str else 0 for f in fields], dtype=np.int16)
    columns = [list(c) for c in zip(*[NO_FIELDS if f.__class__ is str else f for f in fields])]
    return RecordBlock(where, raw, columns, preset)


class _Spans:
    """The bytes of each element of a read block, cut out only when asked for (a reject's sample)."""

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        self.data, self.starts, self.ends = data, starts, ends

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int | slice) -> bytes | _Spans:
        if isinstance(i, slice):
            return _Spans(self.data, self.starts[i], self.ends[i])
        return self.data[int(self.starts[i]):int(self.ends[i])]


# ---------------------------------------------------------------------------------------------------- JSON documents

# Plain records of a document block are taken column by column; a test turns this off to hold that way to the
# record-by-record one.
BY_COLUMNS = True

# The engine's names for what it finds, as the firewall reader has always named them.
_FIREWALL_REASONS = {"invalid_json": "bad_json", "invalid_record": "not_an_object"}


def document_records(log: LogFile, stream: BinaryIO) -> Iterator[Record | RecordBlock]:
    """Records of JSON documents (``{"records": [...]}`` wrappers, arrays, objects one after another), read by the
    engine (``jsonrecords`` at orjson's speed for the first wrapper, ``jsondocuments`` for the rest); a record is
    placed by its byte offset and its number in its array (``file@byte record N``)."""
    name = log.name
    with stream:
        for item in array_blocks(stream, limits.MAX_AZFW_RECORD_BYTES, careful=CarefulDocumentStream):
            if isinstance(item, ElementBlock):
                data, base, first = item.data, item.base, item.first
                plain = BY_COLUMNS and set(map(type, item.values)) == {dict}
                columns = block_fields(item.values) if plain else None
                if columns is not None:  # the usual block: plain storage records, taken column by column
                    where = [f"{name}@{base + start} record {first + j}" for j, start in enumerate(item.starts.tolist())]
                    yield RecordBlock(where, _Spans(data, item.starts, item.ends), columns,
                                      np.zeros(len(where), dtype=np.int16))
                    continue
                for j, (start, end) in enumerate(zip(item.starts.tolist(), item.ends.tolist())):
                    yield from _records(f"{name}@{base + start} record {first + j}", data[start:end], item.values[j])
                continue
            where = f"{name}@{item.offset}" + (f" record {item.number}" if item.number else "")
            if item.reason:
                text = clean_text(item.text)
                if item.reason == "truncated_json" and log.cut:
                    text = f"[{log.cut}] {text}"
                yield where, text, _FIREWALL_REASONS.get(item.reason, item.reason)
            elif holds_lone_surrogate(item.record):  # bytes that are not UTF-8, or an escaped half of a pair
                yield where, _shown(item.record), "invalid_utf8"
            else:
                yield from _records(where, item.record, item.record)


def _records(where: str, raw: object, value: object) -> Iterator[Record]:
    """The records one element holds: itself, or the elements of a wrapper inside it (``where`` + `` record k``)."""
    if isinstance(value, list):  # an array inside an array is not a record
        yield where, value, "not_an_object"
        return
    expanded = expand(value)
    for more, record in expanded:
        if isinstance(record, dict):
            yield where + more, raw if len(expanded) == 1 else record, fields_of(record)
        else:
            yield where + more, record, "not_an_object"


def _shown(record: object) -> str:
    """A record holding text no encoder can write, as a sample: the undecodable parts as U+FFFD."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        return clean_text(text)  # bytes kept as lone surrogates by the careful stream, one U+FFFD each
    except UnicodeEncodeError:  # an escaped half of a pair
        return text.encode("utf-8", "replace").decode("utf-8")


# ---------------------------------------------------------------------------------------------------- CSV

_UTC_SUFFIX = re.compile(r"\s*\[utc\]$", re.IGNORECASE)
_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")  # a line as text files end them: \n, \r\n or \r


def csv_records(log: LogFile, stream: BinaryIO) -> Iterator[Record]:
    """The records of a CSV export with a header; a row is placed by its first line (``file:line``)."""
    name = log.name
    long_lines: list[LongLine] = []
    reader = csv.reader(_text_lines(stream, long_lines))

    def too_long() -> Iterator[Record]:  # the over-long lines read so far, each one reject in its place
        while long_lines:
            item = long_lines.pop(0)
            yield (f"{name}:{item.line}", f"over {limits.MAX_LINE_BYTES:,} bytes: {item.text()}...",
                   "line_too_long")

    try:
        header = next(reader)
    except StopIteration:
        yield from too_long()
        return
    yield from too_long()
    names = [_UTC_SUFFIX.sub("", h.strip()) for h in header]
    previous = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            yield from too_long()
            return
        except csv.Error as exc:  # (a field over csv's size limit, a quote never closed): the next row goes on
            yield from too_long()
            yield f"{name}:{previous + 1}", str(exc), "bad_csv"
            previous = reader.line_num
            continue
        yield from too_long()
        where = f"{name}:{previous + 1}"
        previous = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        raw = ",".join(row)
        if len(row) != len(names):
            yield where, raw, "bad_field_count"
            continue
        if any("\ufffd" in cell for cell in row):
            yield where, raw, "invalid_utf8"
            continue
        record = {k: (v if v.strip() else None) for k, v in zip(names, row)}
        yield where, raw, fields_of(record)


def _text_lines(stream: BinaryIO, long_lines: list[LongLine]) -> Iterator[str]:
    """The stream's lines as UTF-8 text (bytes that are not UTF-8 as U+FFFD), split where a text file ends its
    lines (``\n``, ``\r\n``, a lone ``\r``), each with its end. An over-long line is put in ``long_lines`` and
    read as an empty line, so the lines after it keep their numbers."""
    for item in line_blocks(stream):
        if isinstance(item, LongLine):
            long_lines.append(item)
            yield "\n"
            continue
        text = item.data.decode("utf-8", "replace")
        if "\r" in text:
            yield from _TEXT_LINE.findall(text)
            continue
        lines = text.split("\n")
        last = lines.pop()
        yield from (line + "\n" for line in lines)
        if last:
            yield last
