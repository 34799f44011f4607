"""The careful way through a ``{"records": [...]}`` JSON document: one element at a time with Python's decoder,
exact byte offsets, and recovery from damage.

``jsonrecords`` reads clean documents fast and hands a document over to this stream at the first element it
does not vouch for (a syntax error, bytes that are not UTF-8, a record over the size limit, a cut file). From
there this stream decides: bytes that are not UTF-8 are kept as lone surrogates (so byte offsets stay exact and
a field holding them can be rejected by its format), a record the file ends inside is ``truncated_json``, a
syntax error is ``invalid_json`` after which the stream resynchronises on the next object that looks like a
record, a record over ``limits.MAX_JSON_RECORD_BYTES`` is ``record_too_large`` (never held whole), an element
that is no object is ``invalid_record``. Memory: one block plus at most one record.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ...base import limits
from .jsondecode import raw_decode

BLOCK_CHARS = 4 * 1024 * 1024  # bytes read per refill of the decode buffer
_WS = " \t\r\n"


@dataclass
class JsonElement:
    """One element of the ``records`` array: a decoded record, or a record-level problem."""

    offset: int  # byte offset of the element in the (decompressed) file
    number: int  # 1-based position in the records array
    record: Any = None
    reason: str = ""  # set when the element could not be decoded
    text: str = ""


class Incomplete(Exception):
    pass


class TooLarge(Exception):
    """The value being decoded runs past ``limits.MAX_JSON_RECORD_BYTES``: it is not kept (nor held whole, when
    it did not fit in what was read). ``complete``: the stream stands after it, no search for the next is needed."""

    def __init__(self, text: str, complete: bool):
        super().__init__(text)
        self.text, self.complete = text, complete


class CarefulArrayStream:
    """Walks ``{"records": [...]}`` in a file, decoding one array element at a time.

    The buffer holds the undecoded rest of the current block plus, at most, the record being decoded.
    """

    _decoder = json.JSONDecoder()
    _next_object = re.compile(r"\}\s*,\s*\{")

    def __init__(self, stream: BinaryIO, max_record: int | None = None, preload: bytes = b"", base: int = 0):
        """``preload``: bytes already read from ``stream`` that come first, starting at byte offset ``base`` of the
        file (a hand-over from the fast reader: the stream goes on from where it stopped)."""
        self.stream = stream
        self.max_record = limits.MAX_JSON_RECORD_BYTES if max_record is None else max_record
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        if base == 0 and preload.startswith(codecs.BOM_UTF8):
            preload, base = preload[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
        self.buf = self.decoder.decode(preload) if preload else ""
        self.pos = 0
        self.eof = False
        self.io_error = ""
        self.buf_byte = base  # byte offset of buf[0]
        self.cur_char = 0  # a position in buf whose byte offset is known ...
        self.cur_byte = base  # ... and that byte offset
        self.first = base == 0

    # -- buffer ------------------------------------------------------------------------------------------
    def _fill(self, size: int | None = None) -> bool:
        """Read one more block (``size`` bytes, else ``BLOCK_CHARS``); False at the end of the file."""
        size = BLOCK_CHARS if size is None else size
        if self.eof:
            return False
        pieces: list[bytes] = []
        got = 0
        if not self.io_error:
            try:  # read1 pieces: what a cut gzip stream decompressed before it ended is kept
                while got < size:
                    piece = self.stream.read1(size - got)
                    if not piece:
                        break
                    pieces.append(piece)
                    got += len(piece)
            except (EOFError, OSError, zlib.error) as exc:  # a cut or corrupt gzip stream
                self.io_error = f"{type(exc).__name__}: {exc}"
        data = b"".join(pieces)
        if self.first:
            self.first = False
            if data.startswith(codecs.BOM_UTF8):
                data = data[3:]
                self.buf_byte = self.cur_byte = 3
        text = self.decoder.decode(data, final=not data)
        if not data:
            self.eof = True
        if self.pos:  # drop what is consumed
            self.cur_byte = self._byte_at(self.pos)
            self.buf_byte = self.cur_byte
            self.buf = self.buf[self.pos:]
            self.pos = self.cur_char = 0
        self.buf += text
        return bool(text) or not self.eof

    def _byte_at(self, pos: int) -> int:
        """Byte offset of ``buf[pos]`` (``pos`` at or after the last position asked for)."""
        if pos < self.cur_char:
            self.cur_char, self.cur_byte = 0, self.buf_byte
        piece = self.buf[self.cur_char:pos]
        self.cur_byte += len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogateescape"))
        self.cur_char = pos
        return self.cur_byte

    def _peek(self) -> str:
        """The next non-blank character (consuming the blanks), or '' at the end of the file."""
        while True:
            buf, pos, end = self.buf, self.pos, len(self.buf)
            while pos < end and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < end:
                return buf[pos]
            if not self._fill():
                return ""

    def _decode(self) -> Any:
        """Decode the JSON value at ``pos``, reading more of the file as needed. Raises ``Incomplete`` when
        the file ends inside the value, ``json.JSONDecodeError`` for a syntax error, ``TooLarge`` when the
        value is not complete within ``max_record`` characters (about as many bytes: JSON is mostly ASCII)."""
        while True:
            try:
                value, end = raw_decode(self._decoder, self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 8
                if not cut:
                    raise
                held = len(self.buf) - self.pos
                if held > self.max_record:
                    raise TooLarge(self._too_large_text(), complete=False) from None
                # doubling: a large record is read in a few steps, never past the limit by more than a block
                if not self._fill(min(max(BLOCK_CHARS, held), self.max_record + BLOCK_CHARS - held)):
                    raise Incomplete from None
                continue
            if not self.eof and isinstance(value, (int, float)) and _may_go_on(self.buf, end):
                self._fill()  # a bare number that ends where the block ends may go on in the next block
                continue
            if end - self.pos > self.max_record:  # whole within one block, but over the limit all the same
                text = self._too_large_text()
                self.pos = end
                raise TooLarge(text, complete=True)
            self.pos = end
            return value

    # -- structure ---------------------------------------------------------------------------------------
    def events(self) -> Iterator[JsonElement]:
        """The elements of the document's ``records`` array, and the problems met on the way."""
        if self._peek() == "":
            return  # an empty file: nothing to read
        if self.buf[self.pos] != "{":
            yield self._fatal("invalid_json", 0, "the file is not a JSON object")
            return
        self.pos += 1
        yield from self._members(seen_records=False, after_member=False)

    def resume(self, number: int) -> Iterator[JsonElement]:
        """Go on inside the ``records`` array after its element ``number`` (the fast reader's hand-over: the
        stream stands between two elements)."""
        stopped = yield from self._array(number)
        if not stopped:
            yield from self._members(seen_records=True, after_member=True)

    def after_records(self) -> Iterator[JsonElement]:
        """Go on after the ``records`` array has closed (the fast reader's hand-over at its ``]``)."""
        yield from self._members(seen_records=True, after_member=True)

    def _members(self, seen_records: bool, after_member: bool) -> Iterator[JsonElement]:
        """The members of the top-level object, from the first (or, ``after_member``, from just after one)."""
        while True:
            if after_member:
                ch = self._peek()
                if ch == ",":
                    self.pos += 1
                elif ch != "}":
                    return  # trailing damage after the records: no record is lost
            after_member = True
            ch = self._peek()
            if ch == "}":
                break
            if ch == "":
                if not seen_records:
                    yield self._fatal("truncated_json", 0, "the file ends before its records array")
                return
            start = self._byte_at(self.pos)
            try:
                key = self._decode()
                if not isinstance(key, str) or self._peek() != ":":
                    yield self._fatal("invalid_json", start, "expected a key of the top-level object")
                    return
                self.pos += 1
                if key == "records" and self._peek() == "[":
                    self.pos += 1
                    seen_records = True
                    stopped = yield from self._array(0)
                    if stopped:
                        return
                else:
                    self._peek()
                    self._decode()  # another top-level member: not ours
            except Incomplete:
                if not seen_records:
                    yield self._fatal("truncated_json", start, "the file ends before its records array")
                return
            except TooLarge as exc:
                yield self._fatal("record_too_large", start, exc.text)
                return
            except json.JSONDecodeError as exc:
                yield self._fatal("invalid_json", start, exc.msg)
                return
        if not seen_records:
            yield JsonElement(0, 0, reason="missing_field", text='the top-level object has no "records" array')

    def _fatal(self, reason: str, offset: int, what: str) -> JsonElement:
        return JsonElement(offset, 0, reason=reason, text=what + self._io_note())

    def _io_note(self) -> str:
        return f" ({self.io_error})" if self.io_error else ""

    def _next_item(self, close: str) -> str:
        """Past blanks and commas to the next item of an array or object: ``closed`` (the ``close`` character,
        consumed), ``end`` (the file ends) or ``item`` (``pos`` at its first character)."""
        while True:
            ch = self._peek()
            if ch == close:
                self.pos += 1
                return "closed"
            if ch == ",":
                self.pos += 1
                continue
            return "end" if ch == "" else "item"

    def _array(self, number: int) -> Iterator[JsonElement]:
        """The elements of the records array after element ``number``; returns True when the file cannot be
        read further."""
        while True:
            step = self._next_item("]")
            if step != "item":
                return step == "end"  # (the end: cut between two records)
            number += 1
            offset = self._byte_at(self.pos)
            try:
                record = self._decode()
            except Incomplete:  # (a failed decode leaves pos at the element's start; the buffer may have moved)
                note = f"[{self.io_error}] " if self.io_error else ""
                yield JsonElement(offset, number, reason="truncated_json", text=note + self.buf[self.pos:self.pos + 2000])
                return True
            except TooLarge as exc:
                yield JsonElement(offset, number, reason="record_too_large", text=exc.text)
                if exc.complete:
                    continue
                found = self._resync(len(self.buf) - 64)  # on from what was read of it (bounded by the limit)
                if found is None:
                    return True
                number += 1
                offset, record = found
            except json.JSONDecodeError as exc:
                into = exc.pos - self.pos
                while len(self.buf) - self.pos < max(into, 0) + 200 and self._fill():
                    pass  # the sample shows 200 characters past the error wherever the read blocks end
                start = self.pos
                text = self.buf[start:start + max(into, 0) + 200]
                yield JsonElement(offset, number, reason="invalid_json", text=f"{exc.msg} (character {into} of the record): {text}")
                found = self._resync(start + 1)
                if found is None:
                    return True
                number += 1
                offset, record = found
            if isinstance(record, dict):
                yield JsonElement(offset, number, record=record)
            else:
                yield JsonElement(offset, number, reason="invalid_record", text=json.dumps(record)[:2000])

    def _too_large_text(self) -> str:
        return f"over {self.max_record:,} bytes (limit MAX_JSON_RECORD_BYTES), not read: {self.buf[self.pos:self.pos + 200]}"

    def _resync(self, pos: int) -> tuple[int, dict] | None:
        """After a syntax error: the next object after a ``},`` (from ``pos`` on) that decodes as a record,
        with its byte offset; None when the file ends first.

        Objects nested in the broken record decode too, but lack a record's keys: the search goes on past
        them."""
        self.pos = pos
        while True:
            match = self._next_object.search(self.buf, self.pos)
            if match is None:
                self.pos = max(self.pos, len(self.buf) - 64)
                if not self._fill():
                    return None
                continue
            self.pos = match.end() - 1
            offset = self._byte_at(self.pos)
            try:
                candidate = self._decode()  # (reading on may move the buffer: pos follows)
            except Incomplete:
                return None
            except TooLarge:  # too large to be a record: search on past what was read of it
                self.pos = max(self.pos + 1, len(self.buf) - 64)
                continue
            except json.JSONDecodeError:
                self.pos += 1
                continue
            if self.looks_like_record(candidate):
                return offset, candidate

    @staticmethod
    def looks_like_record(value: Any) -> bool:
        """Whether an object found after a syntax error is a record to read on from (not an object nested in the
        broken one): NSG and VNet records have a ``time`` or ``properties`` key (v4: ``flowRecords``)."""
        return isinstance(value, dict) and ("time" in value or "properties" in value or "flowRecords" in value)


_NUMBER_CHARS = frozenset("0123456789+-.eE")


def _may_go_on(buf: str, end: int) -> bool:
    """Whether a number decoded up to ``end`` may go on past the buffer's end: only characters a number can
    hold stand between them (``3.6e`` read as ``3.6`` when the block ends before the exponent's digits)."""
    rest = buf[end:]
    return len(rest) < 32 and all(c in _NUMBER_CHARS for c in rest)


def clean_text(text: str) -> str:
    """Text of the careful stream for a message or a sample: undecodable bytes (kept as lone surrogates) shown as
    U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not text.isascii() else text
