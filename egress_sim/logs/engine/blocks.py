"""Reading a line-based log as blocks of whole lines, with the carry-over between blocks done once, here.

A block is many lines in one ``bytes`` object, so a format can split and check them with vectorized kernels
(numpy, Arrow) instead of line by line in Python. Memory is one block plus the unfinished line carried into the
next; a line longer than the limit is never held whole: it comes out as a ``LongLine`` in its place (its number
and first bytes, for the reject), and the numbering of the lines after it stays right.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ...base import limits

NEWLINE = 10
BOM = b"\xef\xbb\xbf"
DEFAULT_BLOCK_BYTES = 4 << 20
LONG_LINE_HEAD = 200  # bytes of an over-long line kept for its reject sample


@dataclass
class LineBlock:
    """Lines ``first_line .. first_line + n - 1`` of a file: line ``first_line + i`` is ``span(i, i + 1)``.

    ``offset`` is the byte offset of ``data[0]`` in the (decompressed) file. Every line but possibly the file's
    last ends with ``\\n``; a ``\\r`` before it is the line's own (``raw`` drops it)."""

    data: bytes
    first_line: int
    offset: int
    n: int
    _starts: np.ndarray | None = None

    @property
    def starts(self) -> np.ndarray:
        """Byte offsets in ``data`` where each line starts, plus ``len(data)``: ``n + 1`` values."""
        if self._starts is None:
            self._starts = line_starts(self.data)
        return self._starts

    def span(self, a: int, b: int) -> bytes:
        """Lines ``a .. b - 1`` of the block, line ends included."""
        if a == 0 and b == self.n:
            return self.data
        return self.data[self.starts[a]:self.starts[b]]

    def raw(self, i: int) -> bytes:
        """Line ``i`` of the block without its line end."""
        return self.span(i, i + 1).rstrip(b"\r\n")

    def text(self, i: int) -> str:
        """Line ``i`` as text for a message or a sample (bytes that are not UTF-8 shown as U+FFFD)."""
        return self.raw(i).decode("utf-8", errors="replace")

    def line_numbers(self) -> np.ndarray:
        return np.arange(self.first_line, self.first_line + self.n, dtype=np.int64)


@dataclass(frozen=True)
class LongLine:
    """A line over the limit, dropped while reading: its number, byte offset and first bytes."""

    line: int
    offset: int
    head: bytes

    def text(self) -> str:
        return self.head.decode("utf-8", errors="replace")


def line_starts(data: bytes) -> np.ndarray:
    """Offsets where each line of ``data`` starts, plus ``len(data)`` (a last line without a newline counts)."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == NEWLINE) + 1
    if len(ends) and ends[-1] == len(data):
        ends = ends[:-1]
    starts = np.empty(len(ends) + 2, dtype=np.int64)
    starts[0] = 0
    starts[1:-1] = ends
    starts[-1] = len(data)
    return starts


def line_blocks(stream: BinaryIO, block_bytes: int = DEFAULT_BLOCK_BYTES, max_lines: int | None = None,
                max_line_bytes: int = limits.MAX_LINE_BYTES) -> Iterator[LineBlock | LongLine]:
    """The stream's lines in file order, as blocks of at most ``max_lines`` lines (about ``block_bytes`` each),
    with every line longer than ``max_line_bytes`` given as a ``LongLine`` in its place. A byte order mark at
    the start is not part of the first line."""
    reader = _Carry(stream, block_bytes, max_line_bytes)
    for item in reader.items():
        if isinstance(item, LongLine) or max_lines is None or item.n <= max_lines:
            yield item
            continue
        starts = item.starts
        for a in range(0, item.n, max_lines):
            b = min(a + max_lines, item.n)
            base = int(starts[a])
            yield LineBlock(item.data[base:starts[b]], item.first_line + a, item.offset + base, b - a,
                            starts[a:b + 1] - base)


class _Carry:
    """Reads blocks and cuts them at their last newline, carrying the unfinished line into the next read."""

    def __init__(self, stream: BinaryIO, block_bytes: int, max_line_bytes: int):
        self.stream, self.block_bytes, self.max_line_bytes = stream, block_bytes, max_line_bytes
        self.line, self.offset = 1, 0  # number and byte offset of the first line not yet handed out

    def items(self) -> Iterator[LineBlock | LongLine]:
        carry = b""
        discarding = False  # inside an over-long line: drop bytes up to its newline
        first = True
        while True:
            data = self.stream.read(self.block_bytes)
            if first:
                first = False
                while data and len(data) < len(BOM) and BOM.startswith(data):  # a tiny block: see the whole mark
                    more = self.stream.read(self.block_bytes)
                    if not more:
                        break
                    data += more
                if data.startswith(BOM):
                    data, self.offset = data[len(BOM):], len(BOM)
                    if not data:
                        continue
            if not data:
                if carry:
                    yield self._block(carry, 1)
                return
            if discarding:
                cut = data.find(b"\n")
                if cut < 0:
                    self.offset += len(data)
                    continue
                self.offset += cut + 1
                data, discarding = data[cut + 1:], False
            cut = data.rfind(b"\n") + 1
            if cut:
                whole = carry + data[:cut] if carry else data[:cut]
                carry = data[cut:]
                yield from self._split_long(whole)
            else:
                carry += data
            if len(carry) > self.max_line_bytes:
                yield LongLine(self.line, self.offset, carry[:LONG_LINE_HEAD])
                self.line += 1
                self.offset += len(carry)
                carry, discarding = b"", True

    def _block(self, data: bytes, n: int, starts: np.ndarray | None = None) -> LineBlock:
        block = LineBlock(data, self.line, self.offset, n, starts)
        self.line += n
        self.offset += len(data)
        return block

    def _split_long(self, whole: bytes) -> Iterator[LineBlock | LongLine]:
        """``whole`` (complete lines) as blocks, with its lines over the limit taken out as ``LongLine``s."""
        if len(whole) <= self.max_line_bytes or not _may_hold_long_line(whole, self.max_line_bytes):
            yield self._block(whole, whole.count(b"\n"))
            return
        starts = line_starts(whole)
        long = np.flatnonzero(np.diff(starts) - 1 > self.max_line_bytes)  # length without the newline
        kept = 0
        for i in [*long.tolist(), None]:
            end = len(starts) - 1 if i is None else i
            if end > kept:
                base = int(starts[kept])
                yield self._block(whole[base:starts[end]], end - kept, starts[kept:end + 1] - base)
            if i is None:
                return
            yield LongLine(self.line, self.offset, whole[starts[i]:starts[i] + LONG_LINE_HEAD])
            self.line += 1
            self.offset += int(starts[i + 1] - starts[i])
            kept = i + 1


def _may_hold_long_line(data: bytes, limit: int) -> bool:
    """False when no line of ``data`` runs over ``limit`` bytes, found without finding every line start: a line
    over the limit covers a whole aligned window of ``limit // 2`` bytes, which then holds no newline; each
    window's search stops at its first newline."""
    window = max(1, limit // 2)
    return any(data.find(b"\n", at, at + window) < 0 for at in range(0, len(data), window))
