"""Opening a log file: gzip by its magic bytes (a cut stream ends where it breaks, and says why), bytes counted
for the progress bar, over-long lines blanked before they reach a reader, the first bytes for format detection."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from ...base import limits
from ...base.errors import FlowInputError


GZIP_MAGIC = b"\x1f\x8b"


HEAD_BYTES = 64 * 1024  # what format detection looks at (decompressed)


class UnreadableFileError(FlowInputError):
    """The file cannot be opened or read at all (permission, vanished since it was listed, I/O error)."""

    code = "unreadable_file"


LongLineHandler = Callable[[int, bytes], None]  # (line number, the line's first bytes) of a line over the limit


class _CountingFile(io.RawIOBase):
    """A raw file that adds the bytes it reads to a counter: progress through a file, compressed or not."""

    def __init__(self, path: Path, counter: list[int]):
        self._file = open(path, "rb", buffering=0)
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:  # type: ignore[override]
        n = self._file.readinto(buffer)
        self._counter[0] += n or 0
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


class _TolerantGzip(io.RawIOBase):
    """Decompressed bytes that end, instead of raising, where a cut or corrupt gzip stream breaks off.

    Bytes are handed out up to the last complete line; when the stream breaks, the incomplete line after it is
    dropped (it cannot be a whole record; unless the content has no newline at all) and the error is kept in
    ``cut`` for the replay to report. Also closes the file under it (``GzipFile(fileobj=...)`` does not)."""

    HOLD_LIMIT = 1 << 20  # a "line" longer than this (a one-line JSON document) is handed out as it comes

    def __init__(self, raw: io.BufferedReader, cut: list[str]):
        self._raw = raw
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self._cut = cut
        self._ready = b""  # complete lines not yet handed out
        self._tail = b""  # the line being completed
        self._ended = False
        self._saw_newline = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._ready and not self._ended:
            try:
                data = self._gzip.read1(1 << 20)
            except (EOFError, OSError, zlib.error) as exc:
                self._cut.append(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                # In a line format the broken-off line cannot be a whole record: drop it. Content without any
                # newline (a one-line JSON document) is handed out, and its reader finds the cut record.
                self._ready, self._tail = (b"", b"") if self._saw_newline else (self._tail, b"")
                self._ended = True
                break
            if not data:  # a clean end: the last line is complete even without a newline
                self._ready, self._tail, self._ended = self._tail, b"", True
                break
            data = self._tail + data
            end = data.rfind(b"\n") + 1
            self._saw_newline = self._saw_newline or end > 0
            if end == 0 and len(data) >= self.HOLD_LIMIT:
                end = len(data)
            self._ready, self._tail = data[:end], data[end:]
        n = min(len(buffer), len(self._ready))
        buffer[:n] = self._ready[:n]
        self._ready = self._ready[n:]
        return n

    def close(self) -> None:
        try:
            self._gzip.close()
        finally:
            self._raw.close()
            super().close()


class _LineGuard(io.RawIOBase):
    """The bytes of a line-based log with every line longer than ``limit`` bytes replaced by an empty line (its
    newline kept, so later line numbers stay right); each such line is reported to ``on_long_line`` with its
    number and first bytes. Holds at most ``limit`` bytes of an unfinished line plus one block, so a gigabyte
    "line" (a hostile or broken file) never sits in memory."""

    BLOCK = 1 << 20

    def __init__(self, inner: BinaryIO, limit: int, on_long_line: LongLineHandler):
        self._inner = inner
        self._limit = limit
        self._report = on_long_line
        self._ready = b""  # whole lines to hand out, from _at on
        self._at = 0
        self._tail = b""  # the unfinished line (at most ``limit`` bytes)
        self._line = 1  # the number of the line ``_tail`` belongs to
        self._discarding = False  # inside an over-long line: drop bytes up to its newline
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while self._at >= len(self._ready) and not self._ended:
            data = self._inner.read(self.BLOCK)
            if not data:
                self._ended = True
                self._ready, self._at, self._tail = self._tail, 0, b""  # the last line, without a newline
                break
            self._take(data)
        n = min(len(buffer), len(self._ready) - self._at)
        buffer[:n] = self._ready[self._at:self._at + n]
        self._at += n
        return n

    def _take(self, data: bytes) -> None:
        if self._discarding:
            cut = data.find(b"\n")
            if cut < 0:
                return
            data, self._discarding = data[cut:], False  # the newline stays: the long line reads as empty
            self._tail = b""
        data = self._tail + data if self._tail else data
        end = data.rfind(b"\n") + 1
        whole, self._tail = data[:end], data[end:]
        if len(whole) > self._limit:
            whole = self._blank_long_lines(whole)
        self._line += whole.count(b"\n")
        if len(self._tail) > self._limit:
            self._report(self._line, self._tail[:200])
            self._tail, self._discarding = b"", True
        self._ready, self._at = whole, 0

    def _blank_long_lines(self, whole: bytes) -> bytes:
        ends = np.flatnonzero(np.frombuffer(whole, dtype=np.uint8) == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        long = np.flatnonzero(ends - starts > self._limit)
        if not len(long):
            return whole
        pieces, kept = [], 0
        for i in long.tolist():
            self._report(self._line + i, whole[starts[i]:starts[i] + 200])
            pieces.append(whole[kept:starts[i]])
            kept = int(ends[i])  # from the newline on
        pieces.append(whole[kept:])
        return b"".join(pieces)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


@dataclass(frozen=True)
class LogFile:
    """One input file. Opens transparently through gzip (by its magic bytes, not its name).

    ``named`` says the user named this file itself (not found by walking a directory or a glob).
    ``consumed`` counts the file's bytes read so far by its reader, for a progress bar."""

    path: Path
    named: bool = True
    known_size: int | None = field(default=None, compare=False)  # from the listing's stat, when listed
    _consumed: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)
    _cut: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def size(self) -> int:
        """Bytes on disk (as listed; 0 when the file has gone since), for a progress bar."""
        if self.known_size is not None:
            return self.known_size
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    @property
    def consumed(self) -> int:
        return self._consumed[0]

    @property
    def cut(self) -> str | None:
        """Why the gzip stream broke off, when it did (everything before the break was read)."""
        return self._cut[0] if self._cut else None

    def is_gzip(self) -> bool:
        with self._open_raw([0]) as raw:
            return raw.peek(2)[:2] == GZIP_MAGIC

    def _open_raw(self, counter: list[int], buffer_size: int = 1 << 20) -> io.BufferedReader:
        try:
            raw = io.BufferedReader(_CountingFile(self.path, counter), buffer_size=buffer_size)
            raw.peek(2)
        except OSError as exc:
            raise UnreadableFileError(f"{self.name}: cannot read: {exc.strerror or exc}", file=self.name) from None
        return raw

    def open_binary(self, count: bool = True, long_lines: LongLineHandler | None = None,
                    buffer_size: int = 1 << 20) -> BinaryIO:
        """The file's content, decompressed when it is gzip; ``count`` adds the bytes read to ``consumed``.

        A line-based reader passes ``long_lines``: lines over ``limits.MAX_LINE_BYTES`` then read as empty
        lines and are reported to it (to reject them), so memory stays bounded whatever the file holds."""
        raw = self._open_raw(self._consumed if count else [0], buffer_size)
        stream: BinaryIO = raw  # type: ignore[assignment]
        if raw.peek(2)[:2] == GZIP_MAGIC:
            stream = io.BufferedReader(_TolerantGzip(raw, self._cut if count else []), buffer_size=1 << 20)  # type: ignore[assignment]
        if long_lines is not None:
            stream = io.BufferedReader(_LineGuard(stream, limits.MAX_LINE_BYTES, long_lines), buffer_size=1 << 20)  # type: ignore[assignment]
        return stream

    def open_text(self, long_lines: LongLineHandler | None = None) -> TextIO:
        """UTF-8 text (a BOM is dropped); undecodable bytes become U+FFFD, so the reader rejects that record."""
        return io.TextIOWrapper(self.open_binary(long_lines=long_lines), encoding="utf-8-sig", errors="replace",
                                newline="")

    def head(self, size: int = HEAD_BYTES) -> bytes:
        """The first ``size`` bytes of the (decompressed) content, for format detection. A cut gzip file still
        gives what it holds (its reader reports the cut)."""
        parts: list[bytes] = []
        got = 0
        try:
            with self.open_binary(count=False, buffer_size=max(size, 1 << 13)) as stream:  # read no more than asked
                while got < size:
                    part = stream.read1(size - got) if hasattr(stream, "read1") else stream.read(size - got)
                    if not part:
                        break
                    parts.append(part)
                    got += len(part)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            if not parts:
                raise FlowInputError(f"{self.name}: cannot read: not a complete gzip file", file=self.name) from None
        except OSError as exc:
            raise UnreadableFileError(f"{self.name}: cannot read: {exc.strerror or exc}", file=self.name) from None
        return b"".join(parts)
