"""Azure Firewall records that are not one per line: JSON documents and Log Analytics CSV exports, read one
record at a time and gathered into blocks for ``azfw_outcome``.

* JSON documents: ``{"records": [...]}`` (Event Hub, older storage exports, possibly several per file), a JSON array
  (Log Analytics export) or pretty-printed objects, decoded one record at a time from a rolling window of text
  (``json.JSONDecoder.raw_decode``); a record is placed by its byte offset (``file@byte record N``); after a
  malformed record, reading resumes at the next record boundary; a record must fit in
  ``limits.MAX_AZFW_RECORD_BYTES`` of text.
* CSV with a header (Log Analytics "Export to CSV"; a `` [UTC]`` suffix on a column name is ignored), read with
  :mod:`csv` over the engine's line blocks, so a quoted value may span lines and a line over
  ``limits.MAX_LINE_BYTES`` is rejected in its place (``line_too_long``) without being held.

Each record comes out as ``(where, raw, fields or reject reason)``; ``record_blocks`` gathers them into blocks.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ...base import limits
from .azfw_outcome import OUTCOMES
from .azfw_records import NO_FIELDS, expand, fields_of, is_truncation
from ..engine.blocks import LongLine, line_blocks
from ..engine.files import LogFile
from ..engine.jsondecode import raw_decode

Record = tuple[str, object, "tuple | str"]  # where, raw (for a reject's sample), fields or the reject reason


@dataclass
class RecordBlock:
    """Records interpreted together: where each is, its raw form (for reject samples), the field columns and
    the codes of records already rejected while reading (0 for the others)."""

    where: list[str]
    raw: list
    columns: list
    preset: np.ndarray


def record_blocks(records: Iterable[Record], size: int) -> Iterator[RecordBlock]:
    """``records`` in blocks of ``size`` (the last one smaller)."""
    where: list[str] = []
    raw: list = []
    fields: list = []
    for record in records:
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


# ---------------------------------------------------------------------------------------------------- JSON documents

_READ_BYTES = 1 << 20
_LOOKAHEAD = limits.MAX_AZFW_RECORD_BYTES  # a record must fit in this much text
_TRIM_AT = 4 << 20
_WS = re.compile(r"[ \t\r\n]*")
_WRAPPER = re.compile(r'\{\s*"records"\s*:\s*\[')
_RESYNC = re.compile(r"\}\s*,\s*(\{)|\n[ \t]*(\{)")


class _TextWindow:
    """A rolling window of decoded text over a binary stream, with the byte offset of any position in it."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.base = 0  # byte offset of buf[0]
        self._mark_pos = 0  # byte_at() bookkeeping: buf[:_mark_pos] is _mark_bytes bytes long
        self._mark_bytes = 0
        self.replaced = False  # undecodable bytes seen in the window (then records are checked for U+FFFD)
        self._started = False

    def fill(self, need: int = _LOOKAHEAD) -> None:
        while not self.eof and len(self.buf) - self.pos < need:
            data = self.stream.read(_READ_BYTES)
            text = self.decoder.decode(data, final=not data)
            if not data:
                self.eof = True
            if not self._started and (text or self.eof):
                self._started = True
                if text.startswith("\ufeff"):
                    text = text[1:]
                    self.base += 3
            if "\ufffd" in text:
                self.replaced = True
            if self.pos > _TRIM_AT:
                self.base = self.byte_at(self.pos)
                self.buf = self.buf[self.pos:]
                self.pos = self._mark_pos = self._mark_bytes = 0
            self.buf += text

    def byte_at(self, p: int) -> int:
        """Byte offset of ``buf[p]``; positions asked for never go backwards."""
        piece = self.buf[self._mark_pos:p]
        self._mark_bytes += len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))
        self._mark_pos = p
        return self.base + self._mark_bytes

    def skip_ws(self) -> bool:
        """Move past white space; False at the end of the stream."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return True
            if self.eof:
                return False
            self.fill()


_DECODER = json.JSONDecoder()


def document_records(log: LogFile, stream: BinaryIO) -> Iterator[tuple[str, object, tuple | str]]:
    """Records of JSON documents (``{"records": [...]}``, arrays, concatenated objects), one at a time."""
    name = log.name
    with stream:
        win = _TextWindow(stream)
        win.fill()

        def value_at(suffix: str) -> Iterator[tuple[str, object, tuple | str]]:
            """Decode the value at ``win.pos`` and move past it (or past the damage)."""
            win.fill()
            start = win.pos
            where = f"{name}@{win.byte_at(start)}{suffix}"
            try:
                value, end = raw_decode(_DECODER, win.buf, start)
            except json.JSONDecodeError as exc:
                snippet = win.buf[start:start + 2000]
                match = _RESYNC.search(win.buf, start + 1)
                if win.eof and match is None and (log.cut or is_truncation(win.buf, exc)):
                    yield where, f"[{log.cut}] {snippet}" if log.cut else snippet, "truncated_json"
                    win.pos = len(win.buf)
                    return
                yield where, snippet, "bad_json"
                win.pos = (match.start(1) if match.group(1) else match.start(2)) if match else len(win.buf)
                return
            win.pos = end
            if win.replaced and "\ufffd" in win.buf[start:end]:
                yield where, win.buf[start:end], "invalid_utf8"
                return
            # an array inside an array is not a record; a wrapper object met here is opened
            expanded = expand(value) if not isinstance(value, list) else [("", value)]
            for more, record in expanded:
                if isinstance(record, dict):  # keep the record's text (smaller than the decoded dict) for samples
                    yield where + more, win.buf[start:end] if len(expanded) == 1 else record, fields_of(record)
                else:
                    yield where + more, record, "not_an_object"

        def array() -> Iterator[tuple[str, object, tuple | str]]:
            number = 0
            while win.skip_ws():
                char = win.buf[win.pos]
                if char == "]":
                    win.pos += 1
                    return
                if char == ",":
                    win.pos += 1
                    continue
                number += 1
                yield from value_at(f" record {number}")
            # the stream ended inside the array: records already read were complete, nothing else to count

        while win.skip_ws():
            char = win.buf[win.pos]
            if char == "[":
                win.pos += 1
                yield from array()
            elif char == "{" and _WRAPPER.match(win.buf, win.pos):
                win.pos = _WRAPPER.match(win.buf, win.pos).end()
                yield from array()
                _close_wrapper(win)
            elif char == ",":
                win.pos += 1
            else:
                yield from value_at("")


def _close_wrapper(win: _TextWindow) -> None:
    """Move past the rest of ``{"records": [...] ...}``: other members (ignored) and the closing brace."""
    while win.skip_ws():
        char = win.buf[win.pos]
        if char == "}":
            win.pos += 1
            return
        if char == ",":
            win.pos += 1
            continue
        win.fill()
        try:  # "key": value
            _, end = raw_decode(_DECODER, win.buf, win.pos)
            colon = _WS.match(win.buf, end).end()
            if win.buf[colon:colon + 1] != ":":
                raise ValueError
            _, end = raw_decode(_DECODER, win.buf, _WS.match(win.buf, colon + 1).end())
            win.pos = end
        except ValueError:
            newline = win.buf.find("\n", win.pos)
            win.pos = newline + 1 if newline >= 0 else len(win.buf)
            return



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
