"""The careful way through a file of several JSON documents: ``{"records": [...]}`` wrappers one after another (an
Event Hub capture), a top-level array (a Log Analytics export), or records written one after another, pretty-printed
or not.

``CarefulArrayStream`` reads the one ``{"records": [...]}`` object an NSG or VNet blob is; this stream reads on
after it, value after value, until the file ends. What it yields, as ``JsonElement``s:

* each element of a ``records`` array or of a top-level array, numbered from 1 within its array, at its own byte
  offset;
* each other top-level value as one element numbered 0 (a format may open it further, for instance a wrapper
  whose ``records`` key is not its first);
* the problems, as the array stream names them (``truncated_json``, ``invalid_json``, ``record_too_large``,
  ``invalid_record``), numbered 0 outside an array. After a syntax error the stream goes on at the next object
  that starts a line or follows ``},``; damage after a wrapper's array is one ``invalid_json``, never skipped
  silently.

``jsonrecords.array_blocks(stream, careful=CarefulDocumentStream)`` reads the first wrapper at orjson's speed and
hands the rest over to this stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from typing import Any

from .jsoncareful import CarefulArrayStream, JsonElement, Incomplete, TooLarge

_WRAPPER = re.compile(r'\{\s*"records"\s*:\s*\[')
_WRAPPER_LOOKAHEAD = 256  # characters a wrapper's head may take ({, blanks, "records", :, [)


class CarefulDocumentStream(CarefulArrayStream):
    """A file of JSON documents, one value after another; see the module docstring."""

    _next_object = re.compile(r"\}\s*,\s*\{|\n[ \t]*\{")

    @staticmethod
    def looks_like_record(value: Any) -> bool:
        """Any object found after a syntax error is read on from: documents hold records of many shapes."""
        return isinstance(value, dict)

    def events(self) -> Iterator[JsonElement]:
        yield from self._documents()

    def resume(self, number: int) -> Iterator[JsonElement]:
        stopped = yield from self._array(number)
        if not stopped:
            yield from self._after_array()

    def after_records(self) -> Iterator[JsonElement]:
        yield from self._after_array()

    def _after_array(self) -> Iterator[JsonElement]:
        """The rest of the wrapper whose ``records`` array just closed, then the documents after it."""
        if not (yield from self._rest_of_wrapper()):
            yield from self._documents()

    def _documents(self) -> Generator[JsonElement, None, None]:
        while True:
            ch = self._peek()
            if ch == "":
                return
            if ch == ",":  # documents written as an array's elements without the brackets
                self.pos += 1
                continue
            if ch == "[":
                self.pos += 1
                if (yield from self._array(0)):
                    return
                continue
            if ch == "{" and self._at_wrapper():
                self.pos = _WRAPPER.match(self.buf, self.pos).end()  # type: ignore[union-attr]
                if (yield from self._array(0)) or (yield from self._rest_of_wrapper()):
                    return
                continue
            offset = self._byte_at(self.pos)
            try:
                value = self._decode()
            except (Incomplete, TooLarge, json.JSONDecodeError) as exc:
                if (yield from self._damage(offset, exc)):
                    return
                continue
            if isinstance(value, dict):
                yield JsonElement(offset, 0, record=value)
            else:
                yield JsonElement(offset, 0, reason="invalid_record", text=json.dumps(value)[:2000])

    def _at_wrapper(self) -> bool:
        while len(self.buf) - self.pos < _WRAPPER_LOOKAHEAD and self._fill():
            pass  # (a fill may move the buffer: pos still names the brace)
        return _WRAPPER.match(self.buf, self.pos) is not None

    def _rest_of_wrapper(self) -> Generator[JsonElement, None, bool]:
        """Past the wrapper's other members (not read) and its closing brace; True when the file cannot be read
        further."""
        while True:
            step = self._next_item("}")
            if step != "item":
                return step == "end"
            offset = self._byte_at(self.pos)
            try:
                key = self._decode()
                if not isinstance(key, str) or self._peek() != ":":
                    raise json.JSONDecodeError("expected a member of the wrapper object", self.buf, self.pos)
                self.pos += 1
                self._peek()
                self._decode()
            except (Incomplete, TooLarge, json.JSONDecodeError) as exc:
                return (yield from self._damage(offset, exc))

    def _damage(self, offset: int, exc: Exception) -> Generator[JsonElement, None, bool]:
        """One problem outside any array, then on to the next object; True when the file cannot be read further."""
        if isinstance(exc, Incomplete):
            note = f"[{self.io_error}] " if self.io_error else ""
            yield JsonElement(offset, 0, reason="truncated_json", text=note + self.buf[self.pos:self.pos + 2000])
            return True
        if isinstance(exc, TooLarge):
            yield JsonElement(offset, 0, reason="record_too_large", text=exc.text)
            return not exc.complete and not self._skip_to_object(max(self.pos, len(self.buf) - 64))
        assert isinstance(exc, json.JSONDecodeError)
        while len(self.buf) - self.pos < 200 and self._fill():
            pass  # the sample shows 200 characters wherever the read blocks end
        yield JsonElement(offset, 0, reason="invalid_json", text=f"{exc.msg}: {self.buf[self.pos:self.pos + 200]}")
        return not self._skip_to_object(self.pos + 1)

    def _skip_to_object(self, pos: int) -> bool:
        """Move to the next object that starts a line or follows ``},`` from ``pos`` on; False when the file ends
        first."""
        self.pos = pos
        while True:
            match = self._next_object.search(self.buf, self.pos)
            if match is not None:
                self.pos = match.end() - 1
                return True
            self.pos = max(self.pos, len(self.buf) - 64)
            if not self._fill():
                self.pos = len(self.buf)
                return False
