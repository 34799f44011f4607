# Frozen copy of egress_sim/logs/common.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
"""What every connection-log reader shares: opening files (gzip or not), counting records, keeping bad ones.

A reader (one module per format: ``azure_flowlogs``, ``azfw``, ``zeek``, ``awsvpc``, ``tables``) turns a log file into
chunks of flows in the flow schema, and accounts for every record it reads in a ``RecordLedger``:

* each record it reads:          ``ledger.read()``
* a record it deliberately drops (inbound tuple, a log line that is not a connection): ``ledger.skip(reason)``
* a record it cannot understand: ``ledger.reject(reason, where, text)`` (``where`` = ``file:line`` or
  ``file@byte``); with ``strict`` this raises ``StrictInputError`` naming the place

and emits exactly one flow for every other record. So at the end ``read = flows emitted + skipped +
rejected``, and with the evaluator's own rejections: ``read = evaluated + skipped + rejected``.

Flows come out as DataFrames with the flow-schema columns the format knows (``ts``, ``src_ip``, ``dst_ip``,
``dst_port``, ``protocol``, ``fqdn``, ``bytes_out``, ``bytes_in``; ``compute_type`` / ``compute_name`` only
when the log itself says), plus ``source`` (``file:line`` or ``file@byte`` of the record) for tracing a
verdict back to its log line.
"""

from __future__ import annotations

import gzip
import io
import json
import ipaddress
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from egress_sim.base import limits
from egress_sim.base.errors import FlowInputError
from egress_sim.net.ipnum import IPV4_PATTERN

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024  # what format detection looks at (decompressed)
SAMPLES_PER_REASON = 20


class StrictInputError(FlowInputError):
    """``--strict``: the first bad record stops the replay; the message names the file and line or offset."""


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

    def _open_raw(self, counter: list[int]) -> io.BufferedReader:
        try:
            raw = io.BufferedReader(_CountingFile(self.path, counter), buffer_size=1 << 20)
            raw.peek(2)
        except OSError as exc:
            raise UnreadableFileError(f"{self.name}: cannot read: {exc.strerror or exc}", file=self.name) from None
        return raw

    def open_binary(self, count: bool = True, long_lines: LongLineHandler | None = None) -> BinaryIO:
        """The file's content, decompressed when it is gzip; ``count`` adds the bytes read to ``consumed``.

        A line-based reader passes ``long_lines``: lines over ``limits.MAX_LINE_BYTES`` then read as empty
        lines and are reported to it (to reject them), so memory stays bounded whatever the file holds."""
        raw = self._open_raw(self._consumed if count else [0])
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
            with self.open_binary(count=False) as stream:
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


@dataclass
class Sample:
    reason: str
    where: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "where": self.where, "record": self.text}


@dataclass
class RecordLedger:
    """Counts of records read, skipped and rejected (by reason), with a few samples of each rejection."""

    strict: bool = False
    records_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)  # problems that are not records (a companion's bad line)
    _sampled: Counter = field(default_factory=Counter, repr=False)  # samples kept per reason

    def read(self, n: int = 1) -> None:
        self.records_read += n

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def reject(self, reason: str, where: str, text: str = "", n: int = 1) -> None:
        if self.strict:
            raise StrictInputError(f"{where}: {reason.replace('_', ' ')}{': ' + _clip(text) if text else ''}")
        self.rejected[reason] += n
        if self._sampled[reason] < SAMPLES_PER_REASON:
            self._sampled[reason] += 1
            self.samples.append(Sample(reason, where, _clip(text, 2000)))

    def note(self, what: str, n: int = 1) -> None:
        """Something worth telling that is not a record: it does not enter the totals."""
        self.notes[what] += n

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())


def rejects_long_lines(log: LogFile, ledger: RecordLedger) -> LongLineHandler:
    """A ``long_lines`` handler for a reader whose lines are records: each over-long line is one record, read and
    rejected as ``line_too_long`` at ``file:line``."""

    def reject(line: int, head: bytes) -> None:
        ledger.read()
        ledger.reject("line_too_long", f"{log.name}:{line}",
                      f"over {limits.MAX_LINE_BYTES:,} bytes: {head.decode('utf-8', 'replace')}...")

    return reject


def _clip(text: str, limit: int = 200) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


class LogReader(Protocol):
    """A log format: how to recognise it and how to read it."""

    name: str  # as given to --format
    description: str
    # Optional ``names_logged = False``: the format never records host names, so a flow without one is "name
    # not logged", not "sent without SNI" (readers whose records sometimes carry a name set a ``name_logged``
    # column per row instead). Optional ``read_tables``: ``read_chunks`` as Arrow tables, which replay prefers
    # (gathering many small files' tables costs less than a pandas frame per file).

    def sniff(self, head: bytes, file_name: str) -> bool:
        """Whether the first bytes of a (decompressed) file look like this format."""

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Flows in the flow schema (plus ``source``), at most ``chunk_rows`` rows per chunk."""




def is_ip_text(text: str) -> bool:
    """Whether ``text`` is exactly an IPv4 or IPv6 address (no surrounding space), by :mod:`ipaddress`."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ip_cells(column: pa.Array) -> np.ndarray:
    """Which cells of a text column are IP addresses (null: False). Dotted quads by one regex over the column;
    the rest that hold a colon (IPv6 candidates) by :mod:`ipaddress`, once per distinct value. A value without
    a colon that is no dotted quad is never an address, so it is not looked at twice."""
    quad = pc.fill_null(pc.match_substring_regex(column, IPV4_PATTERN), False).to_numpy(zero_copy_only=False)
    colon = pc.fill_null(pc.match_substring(column, ":"), False).to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~quad & colon)
    if not len(rest):
        return quad
    candidates = column.take(pa.array(rest))
    valid = [text for text in pc.unique(candidates).to_pylist() if is_ip_text(text)]
    out = quad.copy()
    if valid:
        out[rest] = pc.fill_null(pc.is_in(candidates, value_set=pa.array(valid, pa.string())), False).to_numpy(
            zero_copy_only=False)
    return out


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A reader's Arrow table as the pandas frame ``read_chunks`` yields: 64-bit integer columns as nullable
    ``Int64`` (byte counters may be missing), the rest as Arrow converts them."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, use_threads=False)


def frame(rows: dict[str, list], columns: tuple[str, ...]) -> pd.DataFrame:
    """A chunk from column lists (readers collect values per column, then build the frame once)."""
    return pd.DataFrame({c: rows[c] for c in columns})


def raw_decode(decoder: json.JSONDecoder, text: str, pos: int = 0) -> tuple[Any, int]:
    """``decoder.raw_decode`` for hostile input: a value nested too deeply for Python's decoder (a
    ``RecursionError``) is a ``json.JSONDecodeError`` like any other malformed value, so it is one reject."""
    try:
        return decoder.raw_decode(text, pos)
    except RecursionError:
        raise _too_deep(text, pos) from None


def loads(text: str | bytes) -> Any:
    """``json.loads`` with the same treatment of deep nesting as ``raw_decode``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(text, 0) from None


def _too_deep(text: str | bytes, pos: int) -> json.JSONDecodeError:
    # JSONDecodeError counts lines in its document, which must be text
    return json.JSONDecodeError("nested too deeply", text, pos) if isinstance(text, str) else \
        json.JSONDecodeError("nested too deeply", "", 0)
