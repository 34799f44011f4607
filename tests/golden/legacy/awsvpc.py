# Frozen copy of egress_sim/logs/formats/awsvpc.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
"""AWS VPC flow logs (plain-text records, default version 2 format or a custom format with a header line).

Format (AWS documentation, read 2026):

* "Flow log records" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html): a record is
  one line of space-separated fields. The default format is the version 2 fields in this order::

      version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status

  ``protocol`` is the IANA number, ``start``/``end`` are Unix seconds, ``action`` is ``ACCEPT`` or ``REJECT``,
  ``log-status`` is ``OK``, ``NODATA`` (no traffic in the capture window) or ``SKIPDATA`` (records were
  skipped). A field that does not apply to a record is written ``-``. In a custom format ``version`` is the
  highest version among the chosen fields (so 3, 4, 5, ... are valid too), and ``flow-direction`` (version 5)
  says ``ingress`` or ``egress`` relative to the interface.
* "Flow log record examples" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html):
  the ACCEPT / REJECT / NODATA / SKIPDATA sample lines the fixtures are modelled on.
* "Flow log files" (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html): files delivered to
  S3 are gzip-compressed text whose first line names the fields (the header); records read from CloudWatch
  Logs have no header. Files exported from CloudWatch Logs to S3 ("Export log data to Amazon S3",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/S3Export.html) start each line with the event's
  timestamp; a leading ISO-8601 token before a default-format record is therefore tolerated and ignored.

How records become flows:

* With a header line, fields are found by name, so any custom format that includes ``srcaddr``, ``dstaddr``,
  ``dstport`` and ``protocol`` can be read (the other fields are used when present). A header may appear again
  later in the file (concatenated S3 objects); from there on its layout applies. Without a header, the
  default version 2 layout is assumed. Headers and blank lines are not records.
* Direction: the default format has no direction field, so the reader cannot tell outbound from inbound
  traffic. Every record is emitted as a flow from ``srcaddr`` to ``dstaddr`` (an ENI logs both the requests
  it sends and the ones it receives); the replay step, not this reader, uses the compute inventory to drop
  records whose source is not a known compute but whose destination is. Records from a well-known source port
  (< 1024) to an ephemeral one (>= 1024) are the reply halves of connections opened by the other side and are
  skipped here (``reply``). When the layout has ``flow-direction``, ``ingress`` records are skipped instead
  (``inbound``).
* ``log-status`` NODATA / SKIPDATA records carry ``-`` for the addresses: skipped (``no_data``,
  ``skip_data``).
* ``protocol`` 6 / 17 / 1 become TCP / UDP / ICMP. Any other IANA number (50 ESP, 47 GRE, 58 ICMPv6, ...) is
  rejected ``unsupported_protocol``: Azure ML outbound rules only speak TCP, UDP and ICMP, so such a record
  cannot be evaluated. A non-number is ``invalid_protocol``.
* ``start`` → ``ts`` (UTC), ``action`` → ``observed_action`` (ACCEPT allow, REJECT deny), ``bytes`` (bytes
  sent from srcaddr to dstaddr in the window) → ``bytes_out``; ``bytes_in`` is unknown (null): the reply
  direction is a separate record. ``-`` in one of these leaves the column null for that flow.

Rejections (``where`` = ``file:line``, physical line numbers counting headers and blank lines), in the order
they are checked; a record with several faults gets the first:

* the line itself: ``line_too_long`` (over 64 KiB; never buffered whole), ``invalid_utf8``,
  ``invalid_character`` (a carriage return inside the line), ``bad_field_count``, ``missing_field`` (the
  header lacks one of the four needed fields);
* then field by field: ``invalid_version`` / ``unsupported_version`` (not a number / below 2),
  ``invalid_log_status`` (NODATA / SKIPDATA skips come here), ``invalid_flow_direction`` (``inbound`` skips
  come here), protocol (``missing_field`` for ``-``, ``invalid_protocol``, ``unsupported_protocol``), srcaddr
  and dstaddr (``missing_field``, ``invalid_ip``), ``invalid_port`` (srcport or dstport not 0-65535; ``-``
  is fine for srcport and for an ICMP dstport, ``missing_field`` for a TCP/UDP dstport),
  ``invalid_timestamp`` (``start``/``end`` not Unix seconds), ``invalid_bytes``, ``invalid_action``.

Speed: the file is read (and decompressed) by a reader thread in blocks of whole lines; worker threads take a
block each. A clean block (ASCII, no blank or header line, every line with the right number of fields, none
over-long) is split by one Arrow CSV call and checked column-wise with Arrow compute kernels and numpy. A block
with anything unusual is scanned with numpy in the consumer's thread (line bounds, field counts, odd bytes)
so that each faulty line is rejected with its line number, and only the well-formed ones go through Arrow.
Only rejected records are handled one at a time. Memory: a few blocks in flight (at most 8 MiB each) plus the
flows of the chunk being filled.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from egress_sim.base.errors import FlowInputError
from .common import SAMPLES_PER_REASON, LogFile, RecordLedger, ip_cells

DEFAULT_FIELDS: tuple[str, ...] = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status",
)
REQUIRED_FIELDS: tuple[str, ...] = ("srcaddr", "dstaddr", "dstport", "protocol")
USED_FIELDS: tuple[str, ...] = (
    "version", "log-status", "flow-direction", "protocol", "srcaddr", "dstaddr", "srcport", "dstport",
    "start", "end", "bytes", "action",
)
EXPORT_TIMESTAMP = "cloudwatch-export-timestamp"  # the leading token of a CloudWatch Logs export line

MAX_LINE_BYTES = 64 * 1024  # no flow log record comes near this; a longer "line" is rejected, not buffered
_MIN_BLOCK_BYTES = 256 << 10  # bytes read at a time: about 200 bytes per chunk row, within these bounds
_MAX_BLOCK_BYTES = 8 << 20
_BOM = b"\xef\xbb\xbf"

_FIELD_NAME = re.compile(r"^[a-z]+(?:-[a-z]+)*$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\S+$")
_V2_RECORD = re.compile(r"^\d+ (?:\d{12}|unknown|-) (?:eni-[0-9a-f]+|-)(?: \S+){11}$")
_MAX_EPOCH = 9_200_000_000  # seconds; beyond this a nanosecond timestamp overflows (year 2261)

_PROTOCOLS = (("6", "TCP"), ("17", "UDP"), ("1", "ICMP"))  # IANA number → flow-schema name
_PROTOCOL_NAMES = pa.array([name for _, name in _PROTOCOLS])
_ICMP = 2
_OBSERVED = pa.array(["allow", "deny", None], pa.string())  # ACCEPT, REJECT, "-"

# Outcome codes of a record (0 = emit a flow): skip reasons, then reject reasons in the order they are checked.
_SKIPS = ("no_data", "skip_data", "inbound", "reply")
_REJECTS = (
    "invalid_version", "unsupported_version", "invalid_log_status", "invalid_flow_direction", "missing_field",
    "invalid_protocol", "unsupported_protocol", "invalid_ip", "invalid_port", "invalid_timestamp",
    "invalid_bytes", "invalid_action",
)
_OUTCOMES = ("",) + _SKIPS + _REJECTS
_CODE = {name: i for i, name in enumerate(_OUTCOMES)}


@dataclass(frozen=True)
class _Layout:
    """Where the fields this reader uses sit in a line."""

    n_fields: int
    position: dict[str, int]
    missing: tuple[str, ...]  # needed fields the layout lacks: every record is rejected missing_field
    header_first: str | None  # first name of the header that set this layout (to spot it again mid-file)


def _layout(names: tuple[str, ...] | list[str], header_first: str | None = None) -> _Layout:
    position = {name: names.index(name) for name in USED_FIELDS if name in names}
    missing = tuple(f for f in REQUIRED_FIELDS if f not in position)
    return _Layout(len(names), position, missing, header_first)


_DEFAULT_LAYOUT = _layout(DEFAULT_FIELDS)
_EXPORT_LAYOUT = _layout((EXPORT_TIMESTAMP,) + DEFAULT_FIELDS)


def _header_layout(line: str) -> _Layout | None:
    """The layout a header line names, or None when the line is not a header."""
    names = line.split()
    if len(names) < 2 or not all(_FIELD_NAME.match(n) for n in names) or len(set(names)) != len(names):
        return None
    if not set(names) & set(DEFAULT_FIELDS):
        return None
    return _layout(names, names[0])


def _first_record_layout(line: str) -> _Layout:
    tokens = line.split(" ")
    if len(tokens) == len(DEFAULT_FIELDS) + 1 and _ISO_TIME.match(tokens[0]):
        return _EXPORT_LAYOUT
    return _DEFAULT_LAYOUT


class AwsVpcFlowLogReader:
    names_logged = False  # flow records hold addresses and ports, never a host name
    name = "awsvpc"
    description = "AWS VPC flow logs: default v2 records or a custom format with header (S3 or CloudWatch export)"

    def sniff(self, head: bytes, file_name: str) -> bool:
        head = head.removeprefix(_BOM)
        for raw in head.split(b"\n"):
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace").strip()
            if not line:
                continue
            header = _header_layout(line)
            if header is not None:
                return {"srcaddr", "dstaddr"} <= set(header.position)
            first, _, rest = line.partition(" ")
            if _ISO_TIME.match(first):
                line = rest
            return bool(_V2_RECORD.match(line))
        return False

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        block_bytes = min(_MAX_BLOCK_BYTES, max(_MIN_BLOCK_BYTES, chunk_rows * 200))
        parser = _FileParser(log.name, ledger)
        pending: list[pa.Table] = []
        pending_rows = 0
        with log.open_binary() as stream, _unreadable_as_input_error(parser):
            for table in parser.tables(stream, block_bytes):
                if pending and pending[0].schema != table.schema:  # a new header changed the columns
                    yield from _frames(pending, chunk_rows)
                    pending, pending_rows = [], 0
                pending.append(table)
                pending_rows += table.num_rows
                if pending_rows >= chunk_rows:
                    whole = pa.concat_tables(pending)
                    full = (whole.num_rows // chunk_rows) * chunk_rows
                    yield from _frames([whole.slice(0, full)], chunk_rows)
                    rest = whole.slice(full)
                    pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
        if pending:
            yield from _frames(pending, chunk_rows)


READER = AwsVpcFlowLogReader()


@contextlib.contextmanager
def _unreadable_as_input_error(parser: _FileParser) -> Iterator[None]:
    """A file that cannot be read on (corrupt or truncated gzip, I/O error) stops with the file and line."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        raise FlowInputError(f"{parser.name}:{parser.next_line}: cannot read on: {exc}") from None


def _frames(tables: list[pa.Table], chunk_rows: int) -> Iterator[pd.DataFrame]:
    whole = pa.concat_tables(tables)
    for offset in range(0, whole.num_rows, chunk_rows):
        yield whole.slice(offset, chunk_rows).to_pandas(types_mapper=_pandas_type)


def _pandas_type(arrow_type: pa.DataType):
    return pd.Int64Dtype() if pa.types.is_integer(arrow_type) else None


class _Lines:
    """Where each line of a block starts and stops (``stops`` excludes the line break, ``\r\n`` or ``\n``)."""

    def __init__(self, buf: bytes, arr: np.ndarray) -> None:
        self.buf = buf
        self.ends = np.flatnonzero(arr == 10)  # the newline closing each line
        self.starts = np.empty_like(self.ends)
        if self.ends.size:
            self.starts[0] = 0
            self.starts[1:] = self.ends[:-1] + 1
        crlf = (self.ends > self.starts) & (arr[self.ends - 1] == 13)
        self.stops = self.ends - crlf

    def text(self, i: int) -> str:
        return self.buf[self.starts[i]:self.stops[i]].decode("utf-8", errors="replace")


class _FileParser:
    """Turns one file into Arrow tables of flows, accounting for every record in the ledger."""

    def __init__(self, name: str, ledger: RecordLedger) -> None:
        self.name = name
        self.ledger = ledger
        self.layout: _Layout | None = None  # the layout in force after the blocks handed out so far
        self.next_line = 1  # number of the first line of the next block

    def tables(self, stream, block_bytes: int) -> Iterator[pa.Table]:
        """Flows block by block, in file order. A reader thread reads (and decompresses) the file, worker
        threads split and check the blocks (``_prepare``, which needs no ledger and no line numbers), and this
        thread numbers the lines, keeps the ledger and hands out the flows."""
        with _Pipeline(_raw_blocks(stream, block_bytes), lambda buf: _prepare(buf, self.layout)) as items:
            for item, prepared in items:
                if isinstance(item, _LongLine):
                    self.ledger.read()
                    self.ledger.reject("line_too_long", f"{self.name}:{self.next_line}", item.text)
                    self.next_line += 1
                    continue
                if prepared.layout != self.layout:  # prepared before an earlier block's header changed it
                    prepared = _prepare(item, self.layout)
                yield from self._hand_out(prepared)

    def _hand_out(self, prepared: _Prepared) -> list[pa.Table]:
        first_line = self.next_line
        self.next_line += prepared.n_lines
        self.layout = prepared.end_layout
        self.ledger.read(prepared.n_records)
        line_numbers = np.arange(first_line, first_line + prepared.n_lines, dtype=np.int64)
        self._account(prepared, line_numbers)
        return [_with_source(table, self.name, line_numbers[rows], keep)
                for table, rows, keep in prepared.parts if table.num_rows]

    def _account(self, prepared: _Prepared, line_numbers: np.ndarray) -> None:
        """Skips as counts; rejects one by one while the ledger still keeps samples of that reason, then in bulk."""
        ledger = self.ledger
        for reason, count in prepared.skips.items():
            ledger.skip(reason, count)
        if not prepared.rejects:
            return
        lines = prepared.lines()

        def where(i: int) -> str:
            return f"{self.name}:{int(line_numbers[i])}"

        if ledger.strict:  # the first bad record in file order stops the run
            reason, i = min(((r, int(rows.min())) for r, rows in prepared.rejects), key=lambda item: item[1])
            ledger.reject(reason, where(i), lines.text(i))
        for reason, rows in prepared.rejects:
            rows = np.sort(rows)
            have = sum(1 for s in ledger.samples if s.reason == reason)
            one_by_one = max(0, min(rows.size, SAMPLES_PER_REASON - have))
            for i in rows[:one_by_one]:
                ledger.reject(reason, where(i), lines.text(i))
            if rows.size > one_by_one:
                i = rows[one_by_one]
                ledger.reject(reason, where(i), lines.text(i), n=int(rows.size - one_by_one))


@dataclass(frozen=True)
class _LongLine:
    """A line longer than ``MAX_LINE_BYTES``, dropped while reading (its first bytes, for the rejection)."""

    text: str


def _raw_blocks(stream, block_bytes: int) -> Iterator[bytes | _LongLine]:
    """Blocks of whole lines, each ending with a newline (one is added to an unterminated last line), in file
    order; an over-long line comes as a ``_LongLine`` in its place and is never buffered whole."""
    carry = b""
    discarding = False  # inside an over-long line: drop bytes up to its newline
    first = True
    while True:
        data = stream.read(block_bytes)
        if first:
            first = False
            data = data.removeprefix(_BOM)
        if not data:
            if carry:
                yield carry + b"\n"
            return
        if discarding:
            cut = data.find(b"\n")
            if cut < 0:
                continue
            data = data[cut + 1:]
            discarding = False
        cut = data.rfind(b"\n")
        if cut >= 0:
            block = carry + data[: cut + 1] if carry else data[: cut + 1]
            carry = data[cut + 1:]
            yield block
        else:
            carry += data
        if len(carry) > MAX_LINE_BYTES:
            yield _LongLine(carry[:200].decode("utf-8", errors="replace"))
            carry = b""
            discarding = True


class _Pipeline:
    """Reads ``source`` in a reader thread (decompression included) and runs ``work`` on its blocks in worker
    threads, a few blocks ahead; yields ``(item, result)`` in file order (``result`` None for a
    ``_LongLine``). An error of either is raised in the consumer; leaving the ``with`` block (also early)
    stops the reader, cancels the work not started and waits for the rest."""

    _END = object()

    def __init__(self, source, work) -> None:
        self.source = source
        self.work = work
        self.workers = max(1, min(4, os.cpu_count() or 1))
        self.ahead = self.workers + 1  # blocks in flight: bounds the memory
        self.read_queue: queue.Queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.reader = threading.Thread(target=self._read, name="awsvpc-reader", daemon=True)
        self.pending: collections.deque = collections.deque()
        self.pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Iterator[tuple]:
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="awsvpc")
        self.reader.start()
        return self._items()

    def __exit__(self, *exc) -> None:
        self.stop.set()
        while self.reader.is_alive():  # unblock a reader waiting for room in the queue
            try:
                self.read_queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.reader.join()
        for _, future in self.pending:
            if future is not None:
                future.cancel()
        self.pending.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _read(self) -> None:
        outcome: object = self._END
        try:
            for item in self.source:
                if not self._put(item):
                    return
        except Exception as exc:  # noqa: BLE001 - re-raised in the consumer, in its place in the file
            outcome = exc
        finally:
            self._put(outcome)  # returns at once when the consumer has stopped

    def _put(self, value) -> bool:
        while not self.stop.is_set():
            try:
                self.read_queue.put(value, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _items(self) -> Iterator[tuple]:
        exhausted = False
        while True:
            while not exhausted and len(self.pending) < self.ahead:
                # Wait for the reader only when there is nothing else to hand out.
                try:
                    item = self.read_queue.get(block=not self.pending)
                except queue.Empty:
                    break
                if item is self._END or isinstance(item, Exception):
                    exhausted = True
                    if item is self._END:
                        break
                future = None if isinstance(item, (_LongLine, Exception)) else self.pool.submit(self.work, item)
                self.pending.append((item, future))
            if not self.pending:
                return
            item, future = self.pending.popleft()
            if isinstance(item, Exception):  # a read error, after the blocks read before it
                raise item
            yield item, None if future is None else future.result()


@dataclass
class _Prepared:
    """A block taken as far as possible without the ledger or the line numbers (which depend on the blocks
    before it). Row and line indices are positions of lines within the block."""

    layout: _Layout | None  # the layout the block was read with
    end_layout: _Layout | None  # the layout in force after it (a header inside may change it)
    n_lines: int  # physical lines, headers and blank lines included
    n_records: int
    parts: list[tuple[pa.Table, np.ndarray, np.ndarray | None]]  # (flows without source, line of each row, keep)
    rejects: list[tuple[str, np.ndarray]]  # (reason, lines)
    skips: dict[str, int]
    lines: Callable[[], _Lines]  # line bounds, to quote rejected records


def _prepare(buf: bytes, layout: _Layout | None) -> _Prepared:
    """Split and check one block of whole lines, starting with ``layout``: in one Arrow call when the block is
    clean, else after a numpy scan of its lines."""
    return _prepare_clean(buf, layout) or _prepare_scanned(buf, layout)


def _prepare_clean(buf: bytes, layout: _Layout | None) -> _Prepared | None:
    """A block whose every line is a well-formed record of ``layout``, or None.

    Clean means: ASCII, no stray carriage return, no blank line, no line over ``MAX_LINE_BYTES``, every line with
    the layout's field count, no header line.
    """
    if layout is None or layout.missing or not buf.isascii():
        return None
    if b"\r" in buf and buf.count(b"\r") != buf.count(b"\r\n"):
        return None  # a stray carriage return: Arrow would see a line break where the scan does not
    arr = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    n_lines = len(ends)
    if max(int(ends[0]), int(np.diff(ends).max(initial=0)) - 1) > MAX_LINE_BYTES:
        return None
    # A line with the wrong field count stops the parse at once (the block is scanned instead).
    cols = _read_fields(buf, layout, lambda row: "error", with_first=True)
    if cols is None or len(cols[_FIRST]) != n_lines:
        return None  # wrong field counts, blank lines, ...
    first = cols.pop(_FIRST)
    for name in {"version", layout.header_first or "version"}:
        if pc.any(pc.equal(first, name)).as_py():
            return None  # a header line again (concatenated files)
    table, rejects, skips, keep = _check(cols, n_lines)
    rows = np.arange(n_lines)
    return _Prepared(layout, layout, n_lines, n_lines, [(table, rows, keep)], rejects, skips,
                     lambda: _Lines(buf, arr))


def _prepare_scanned(buf: bytes, layout: _Layout | None) -> _Prepared:
    """Any block: find each line's bounds, field count and odd bytes with numpy; reject the faulty lines, parse
    the well-formed ones in one Arrow call per layout segment (a header line starts a new segment)."""
    start_layout = layout
    arr = np.frombuffer(buf, dtype=np.uint8)
    lines = _Lines(buf, arr)
    starts, stops, ends = lines.starts, lines.stops, lines.ends
    n_lines = len(ends)
    spaces = np.flatnonzero(arr == 32)
    n_spaces = np.searchsorted(spaces, stops) - np.searchsorted(spaces, starts)
    blank = (stops - starts) == n_spaces  # empty or only spaces: not a record

    bad_utf8 = np.zeros(n_lines, dtype=bool)
    high = np.flatnonzero(arr >= 128)
    if high.size:
        for i in np.unique(np.searchsorted(ends, high)):
            try:
                buf[starts[i]:stops[i]].decode("utf-8")
            except UnicodeDecodeError:
                bad_utf8[i] = True
    stray_cr = np.zeros(n_lines, dtype=bool)
    cr = np.flatnonzero(arr == 13)
    if cr.size:
        stray_cr[np.searchsorted(ends, cr[arr[cr + 1] != 10])] = True

    # Headers: the file's first non-blank line (when no layout is known yet), and lines that start like one.
    headers: dict[int, _Layout] = {}
    if layout is None:
        nonblank = np.flatnonzero(~blank)
        if not nonblank.size:
            return _Prepared(start_layout, None, n_lines, 0, [], [], {}, lambda: lines)
        i = int(nonblank[0])
        found = None if bad_utf8[i] else _header_layout(lines.text(i))
        if found is not None:
            headers[i] = found
        else:
            layout = _first_record_layout(lines.text(i))
    firsts = {"version"} | {h.header_first for h in [layout, *headers.values()] if h is not None and h.header_first}
    for name in sorted(firsts):
        for i in _lines_starting_with(arr, starts, stops, f"{name} ".encode()):
            i = int(i)
            if i not in headers and not bad_utf8[i] and (found := _header_layout(lines.text(i))) is not None:
                headers[i] = found

    is_header = np.zeros(n_lines, dtype=bool)
    is_header[list(headers)] = True
    record = ~blank & ~is_header

    rejects: list[tuple[str, np.ndarray]] = []
    skips: dict[str, int] = {}
    parts: list[tuple[pa.Table, np.ndarray, np.ndarray | None]] = []
    cuts = sorted(headers)
    bounds = [0] + [c + 1 for c in cuts] + [n_lines]
    layouts = [layout] + [headers[c] for c in cuts]
    for lo, hi, segment_layout in zip(bounds[:-1], bounds[1:], layouts):
        if hi <= lo or segment_layout is None:
            continue
        rec = record[lo:hi]
        too_long = rec & (stops[lo:hi] - starts[lo:hi] > MAX_LINE_BYTES)
        utf8 = rec & ~too_long & bad_utf8[lo:hi]
        cr_bad = rec & ~too_long & ~utf8 & stray_cr[lo:hi]
        count_bad = rec & ~too_long & ~utf8 & ~cr_bad & (n_spaces[lo:hi] + 1 != segment_layout.n_fields)
        good = rec & ~too_long & ~utf8 & ~cr_bad & ~count_bad
        for reason, mask in (("line_too_long", too_long), ("invalid_utf8", utf8),
                             ("invalid_character", cr_bad), ("bad_field_count", count_bad)):
            if mask.any():
                rejects.append((reason, lo + np.flatnonzero(mask)))
        good_idx = lo + np.flatnonzero(good)
        if not good_idx.size:
            continue
        if segment_layout.missing:
            rejects.append(("missing_field", good_idx))
            continue
        if good_idx.size == n_lines:
            data = buf
        else:
            keep_line = np.zeros(n_lines, dtype=bool)
            keep_line[good_idx] = True
            data = arr[np.repeat(keep_line, ends - starts + 1)].tobytes()
        cols = _read_fields(data, segment_layout, None, with_first=False)
        if cols is None or any(len(c) != good_idx.size for c in cols.values()):
            cols = _split_in_python(lines, good_idx, segment_layout)
        table, row_rejects, row_skips, keep = _check(cols, good_idx.size)
        parts.append((table, good_idx, keep))
        rejects += [(reason, good_idx[rows]) for reason, rows in row_rejects]
        for reason, count in row_skips.items():
            skips[reason] = skips.get(reason, 0) + count
    return _Prepared(start_layout, layouts[-1], n_lines, int(record.sum()), parts, rejects, skips, lambda: lines)


_FIRST = "(first field)"


def _lines_starting_with(arr: np.ndarray, starts: np.ndarray, stops: np.ndarray, prefix: bytes) -> np.ndarray:
    """Indices of the lines whose bytes begin with ``prefix``."""
    long_enough = np.flatnonzero(stops - starts >= len(prefix))
    candidates = long_enough[arr[starts[long_enough]] == prefix[0]]
    if not candidates.size:
        return candidates
    window = arr[starts[candidates][:, None] + np.arange(len(prefix))]
    return candidates[(window == np.frombuffer(prefix, dtype=np.uint8)).all(axis=1)]


def _read_fields(data: bytes, layout: _Layout, on_invalid, with_first: bool) -> dict[str, pa.Array] | None:
    """The used fields of every line of ``data`` as Arrow strings, ``-`` as null (one Arrow CSV call).

    ``with_first`` adds the first field under ``_FIRST`` (to spot header lines). None if Arrow gives up.
    """
    names = [f"f{i}" for i in range(layout.n_fields)]
    wanted = {field: names[pos] for field, pos in layout.position.items()}
    if with_first:
        wanted[_FIRST] = names[0]
    columns = list(dict.fromkeys(wanted.values()))
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, double_quote=False,
                                             escape_char=False, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 include_columns=columns, null_values=["-"],
                                                 strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        return None
    return {field: table.column(col).combine_chunks() for field, col in wanted.items()}


def _split_in_python(lines: _Lines, good_idx: np.ndarray, layout: _Layout) -> dict[str, pa.Array]:
    """Fallback when Arrow does not see the same rows as the line scan (not expected): split line by line."""
    rows = [lines.text(i).split(" ") for i in good_idx]
    return {field: pa.array([None if r[pos] == "-" else r[pos] for r in rows], pa.string())
            for field, pos in layout.position.items()}


def _np(mask) -> np.ndarray:
    """An Arrow boolean result as a numpy bool array, null counted as False."""
    return mask.fill_null(False).to_numpy(zero_copy_only=False)


def _unsigned(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(is a decimal number below 10**18, its value or 0) for a column of strings."""
    decimal = _np(pc.ascii_is_decimal(col))
    if decimal.all():
        try:
            value = pc.cast(col, pa.int64()).to_numpy()
            return value < 10**18, value
        except pa.ArrowInvalid:  # more digits than int64 holds
            pass
    ok = decimal & _np(pc.less_equal(pc.utf8_length(col), 18))
    value = pc.cast(pc.if_else(pa.array(ok), col, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    return ok, value


def _equal(col: pa.Array, value: str) -> np.ndarray:
    return _np(pc.equal(col, value))


def _check(cols: dict[str, pa.Array], n: int):
    """Check every used field of ``n`` well-formed records at once (``-`` cells are null).

    Returns the table of flows (the records that pass; no ``source`` yet), ``[(reject reason, row indices)]``,
    ``{skip reason: count}`` and the row indices of the flows (None: all rows).
    """
    failures: list[tuple[np.ndarray, str]] = []  # (rows, outcome) in check order: the first that applies wins
    dash = {f: _np(pc.is_null(c)) for f, c in cols.items()}

    if "version" in cols:
        numeric, value = _unsigned(cols["version"])
        failures += [(~numeric, "invalid_version"), (numeric & (value < 2), "unsupported_version")]
    if "log-status" in cols:
        status = cols["log-status"]
        no_data, skip_data = _equal(status, "NODATA"), _equal(status, "SKIPDATA")
        failures += [(~(_equal(status, "OK") | no_data | skip_data), "invalid_log_status"),
                     (no_data, "no_data"), (skip_data, "skip_data")]
    if "flow-direction" in cols:
        direction = cols["flow-direction"]
        inbound = _equal(direction, "ingress")
        failures += [(~(_equal(direction, "egress") | inbound | dash["flow-direction"]), "invalid_flow_direction"),
                     (inbound, "inbound")]

    protocol = np.full(n, -1, dtype=np.int8)
    for code, (number, _) in enumerate(_PROTOCOLS):
        protocol[_equal(cols["protocol"], number)] = code
    failures.append((dash["protocol"], "missing_field"))
    if (protocol < 0).any():
        numeric, value = _unsigned(cols["protocol"])
        failures += [(~numeric | (value > 255), "invalid_protocol"), (protocol < 0, "unsupported_protocol")]
    for field in ("srcaddr", "dstaddr"):
        failures += [(dash[field], "missing_field"), (~ip_cells(cols[field]), "invalid_ip")]

    icmp = protocol == _ICMP
    src_port = None
    if "srcport" in cols:
        numeric, src_port = _unsigned(cols["srcport"])
        failures.append((~dash["srcport"] & ~(numeric & (src_port <= 65535)), "invalid_port"))
    numeric, dst_port = _unsigned(cols["dstport"])
    failures += [(dash["dstport"] & ~icmp, "missing_field"),
                 (~dash["dstport"] & ~(numeric & (dst_port <= 65535)), "invalid_port")]
    if src_port is not None and "flow-direction" not in cols:
        # Without a direction field, a record from a well-known port to an ephemeral one is the answer of a
        # server (the reply half of a connection the other side opened), not a connection this side opened.
        reply = ~icmp & ~dash["srcport"] & ~dash["dstport"] & (src_port < 1024) & (dst_port >= 1024)
        failures.append((reply, "reply"))

    times: dict[str, np.ndarray] = {}
    for field in ("start", "end"):
        if field in cols:
            numeric, times[field] = _unsigned(cols[field])
            failures.append((~dash[field] & ~(numeric & (times[field] <= _MAX_EPOCH)), "invalid_timestamp"))
    if "bytes" in cols:
        numeric, sent = _unsigned(cols["bytes"])
        failures.append((~dash["bytes"] & ~numeric, "invalid_bytes"))
    if "action" in cols:
        accept, reject = _equal(cols["action"], "ACCEPT"), _equal(cols["action"], "REJECT")
        failures.append((~(accept | reject | dash["action"]), "invalid_action"))

    outcome = np.zeros(n, dtype=np.uint8)
    for rows, reason in reversed(failures):
        if rows.any():
            outcome[rows] = _CODE[reason]
    rejects: list[tuple[str, np.ndarray]] = []
    skips: dict[str, int] = {}
    if outcome.any():
        present = np.bincount(outcome, minlength=len(_OUTCOMES))
        for code in np.flatnonzero(present[1:]) + 1:
            reason = _OUTCOMES[code]
            if reason in _SKIPS:
                skips[reason] = int(present[code])
            else:
                rejects.append((reason, np.flatnonzero(outcome == code)))
        keep = np.flatnonzero(outcome == 0)
        pick = lambda values: values[keep]
        take = lambda array: pc.take(array, pa.array(keep))
    else:  # every record becomes a flow: no copies
        keep = None
        pick = take = lambda values: values

    out: dict[str, pa.Array] = {}
    if "start" in cols:
        out["ts"] = _ints(pick(times["start"]) * 1_000_000_000, pick(dash["start"])).cast(pa.timestamp("ns", tz="UTC"))
    out["src_ip"] = take(cols["srcaddr"])
    out["dst_ip"] = take(cols["dstaddr"])
    out["dst_port"] = _ints(pick(dst_port), pick(dash["dstport"]))
    out["protocol"] = pc.take(_PROTOCOL_NAMES, pa.array(pick(protocol)))
    if "bytes" in cols:
        out["bytes_out"] = _ints(pick(sent), pick(dash["bytes"]))
        out["bytes_in"] = pa.nulls(len(out["bytes_out"]), pa.int64())
    if "action" in cols:
        observed = np.where(accept, 0, np.where(reject, 1, 2)).astype(np.int8)
        out["observed_action"] = pc.take(_OBSERVED, pa.array(pick(observed)))
    return pa.table(out), rejects, skips, keep


def _with_source(table: pa.Table, name: str, line_numbers: np.ndarray, keep: np.ndarray | None) -> pa.Table:
    """Add ``source`` = ``file:line`` of each flow."""
    lines = line_numbers if keep is None else line_numbers[keep]
    source = pc.binary_join_element_wise(f"{name}:", pc.cast(pa.array(lines), pa.string()), "")
    return table.append_column("source", source)


def _ints(values: np.ndarray, null: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.int64(), mask=null if null.any() else None)
