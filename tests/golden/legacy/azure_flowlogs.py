# Frozen copy of egress_sim/logs/formats/azure_flowlogs.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
"""Readers for Azure Network Watcher flow logs: NSG flow logs (``nsg``) and virtual network flow logs (``vnet``).

Format facts relied on (Microsoft Learn; source text in the MicrosoftDocs/azure-docs repository):

* NSG flow logs, https://learn.microsoft.com/azure/network-watcher/nsg-flow-logs-overview
  (``articles/network-watcher/nsg-flow-logs-overview.md``): a blob ``PT1H.json`` per NSG, hour and NIC MAC
  holds ``{"records": [...]}``; a record has ``properties.Version`` (1 or 2) and ``properties.flows``, a list
  per rule of ``{"rule", "flows": [{"mac", "flowTuples": [...]}]}``. A tuple is comma separated:
  version 1 ``epoch seconds, src IP, dst IP, src port, dst port, protocol (T/U), direction (I/O),
  decision (A/D)``; version 2 adds ``flow state (B/C/E), packets src→dst, bytes src→dst, packets dst→src,
  bytes dst→src``. A ``B`` (begin) tuple carries no statistics: its four counters are empty
  (``...,T,O,A,B,,,,``); ``C`` and ``E`` carry counts since the previous tuple of the flow. (The page's
  version 1 sample nests a second ``{"records": ...}`` object inside the array, an editing slip: such an
  element has no ``properties`` and is rejected as ``missing_field``.)
* Virtual network flow logs, https://learn.microsoft.com/azure/network-watcher/vnet-flow-logs-overview
  (``articles/network-watcher/vnet-flow-logs-overview.md``): records have ``flowLogVersion`` (4),
  ``category: FlowLogFlowEvent`` and ``flowRecords.flows``, a list per ACL of ``{"aclID", "flowGroups":
  [{"rule", "flowTuples": [...]}]}``. A tuple is ``time stamp, src IP, dst IP, src port, dst port,
  protocol (IANA number), direction (I/O), flow state (B/C/E, D = denied), encryption (X, NX, NX_...),
  packets src→dst, bytes src→dst, packets dst→src, bytes dst→src``. The sample log's time stamps are epoch
  *milliseconds* (``1663146003599``) while the page's bandwidth example uses seconds (``1493763938``), and
  its ``B`` tuples carry ``0,0,0,0`` in the sample but empty counters in the example; both are accepted.
  The encryption states ``NX_SW_NOT_READY``, ``NX_NOT_ACCEPTED`` and ``NX_NOT_SUPPORTED`` drop the packet.

What a reader does with them:

* A *record* in the ledger sense is one flow tuple. Outbound tuples (``O``) become flows; inbound ones are
  skipped as ``inbound``. A JSON record without tuples counts nothing.
* ``observed_action``: NSG decision ``A`` → allow, ``D`` → deny; VNet state ``D`` (or a dropping
  encryption state) → deny, otherwise allow. ``bytes_out`` / ``bytes_in`` are the src→dst / dst→src byte
  counters (the source of an outbound tuple is the local NIC); they are empty for version 1 tuples and for
  ``B`` tuples, which carry no statistics (VNet logs write zeros there).
* Time stamps: a value below 10^11 is read as epoch seconds, below 10^14 as epoch milliseconds; anything
  else is ``invalid_timestamp``.
* VNet protocols: 6 → TCP, 17 → UDP, 1 and 58 (ICMPv6) → ICMP. Another IANA number (0-255) is a well-formed
  tuple of a protocol the simulator cannot evaluate: rejected as ``unsupported_protocol`` so it is visible.
* ``source`` / ``where`` of a tuple: ``<file>@<byte offset of its JSON record> tuple <k>`` (k from 1); of a
  JSON record (record-level rejects): ``<file>@<byte offset> record <n>`` (n from 1).
* Damage at the JSON level concerns a whole JSON record, whose tuples are then unknown: it counts as *one*
  rejected record (``truncated_json`` when the file ends inside it, ``invalid_json`` for a syntax error,
  ``record_too_large`` past ``limits.MAX_JSON_RECORD_BYTES``, after which reading resumes at the next record,
  ``invalid_record`` when an element of ``records`` is not an object, ``missing_field`` for a record or a
  rule group without its tuple list; ``unsupported_version`` counts the tuples it holds). After a syntax
  error the reader resynchronises on the next object that looks like a record; when there is none, or the
  file does not start as ``{"records": [``, the file stops there. A file cut *between* two records loses
  no known record and is not reported.
* Tuple-level rejects, in check order (the first failing check names the reason): ``invalid_tuple`` (not a
  string, or holding a line break), ``invalid_utf8``, ``bad_tuple_field_count`` (8 fields for NSG version
  1, 13 otherwise), ``invalid_timestamp``, ``invalid_ip`` (source or destination), ``invalid_port`` (source
  or destination; 1-5 ASCII digits, at most 65535), ``unknown_protocol``, ``unsupported_protocol``,
  ``unknown_direction``, ``unknown_decision``, ``unknown_flow_state``, ``invalid_counter`` (empty or 1-18
  digits). Every field is checked whatever the direction: a malformed inbound tuple is rejected, not
  skipped.

Streaming: the file is decoded block by block (bytes that are not UTF-8 are kept as lone surrogates, so
byte offsets stay exact and a tuple holding them is rejected as ``invalid_utf8``), and one JSON record at
a time is decoded with ``json.JSONDecoder.raw_decode``; memory is bounded by one block, the record limit
and ``chunk_rows`` tuples. The tuples of a chunk are cut at their commas with numpy and validated column
by column, never tuple by tuple in Python (see "Parsing the tuples of a chunk" below).
"""

from __future__ import annotations

import codecs
import functools
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from egress_sim.base import limits
from .common import LogFile, RecordLedger, arrow_to_frame, ip_cells, raw_decode

BLOCK_CHARS = 4 * 1024 * 1024  # bytes read per refill of the decode buffer
N_FIELDS = 13  # a tuple once normalised (NSG version 1 tuples are padded with five empty fields)

# Reason codes of tuple-level rejects, in check order (0 = valid).
_TUPLE_REASONS = (
    "", "bad_tuple_field_count", "invalid_tuple", "invalid_utf8", "invalid_timestamp", "invalid_ip",
    "invalid_port", "unknown_protocol", "unsupported_protocol", "unknown_direction", "unknown_decision",
    "unknown_flow_state", "invalid_counter",
)
_CODE = {name: i for i, name in enumerate(_TUPLE_REASONS)}
_PROTOCOL_NAMES = pa.array(["TCP", "UDP", "ICMP"])
_ACTIONS = pa.array(["allow", "deny"])
_SURROGATE = re.compile("[\udc80-\udcff]")
_WS = " \t\r\n"


# --------------------------------------------------------------------------------------------------------
# Streaming the JSON document: {"records": [ {...}, {...} ]}
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Event:
    """One element of the ``records`` array: a decoded record, or a record-level problem."""

    offset: int  # byte offset of the element in the (decompressed) file
    number: int  # 1-based position in the records array
    record: Any = None
    reason: str = ""  # set when the element could not be decoded
    text: str = ""


class _Incomplete(Exception):
    pass


class _TooLarge(Exception):
    """The value being decoded runs past ``limits.MAX_JSON_RECORD_BYTES``: it is not kept (nor held whole, when
    it did not fit in what was read). ``complete``: the stream stands after it, no search for the next is needed."""

    def __init__(self, text: str, complete: bool):
        super().__init__(text)
        self.text, self.complete = text, complete


class _JsonRecordStream:
    """Walks ``{"records": [...]}`` in a file, decoding one array element at a time.

    The buffer holds the undecoded rest of the current block plus, at most, the record being decoded.
    """

    _decoder = json.JSONDecoder()
    _next_object = re.compile(r"\}\s*,\s*\{")

    def __init__(self, stream: BinaryIO, max_record: int | None = None):
        self.stream = stream
        self.max_record = limits.MAX_JSON_RECORD_BYTES if max_record is None else max_record
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.io_error = ""
        self.buf_byte = 0  # byte offset of buf[0]
        self.cur_char = 0  # a position in buf whose byte offset is known ...
        self.cur_byte = 0  # ... and that byte offset
        self.first = True

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
        """Decode the JSON value at ``pos``, reading more of the file as needed. Raises ``_Incomplete`` when
        the file ends inside the value, ``json.JSONDecodeError`` for a syntax error, ``_TooLarge`` when the
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
                    raise _TooLarge(self._too_large_text(), complete=False) from None
                # doubling: a large record is read in a few steps, never past the limit by more than a block
                if not self._fill(min(max(BLOCK_CHARS, held), self.max_record + BLOCK_CHARS - held)):
                    raise _Incomplete from None
                continue
            if end - self.pos > self.max_record:  # whole within one block, but over the limit all the same
                text = self._too_large_text()
                self.pos = end
                raise _TooLarge(text, complete=True)
            self.pos = end
            return value

    # -- structure ---------------------------------------------------------------------------------------
    def events(self) -> Iterator[_Event]:
        if self._peek() == "":
            return  # an empty file: nothing to read
        if self.buf[self.pos] != "{":
            yield self._fatal("invalid_json", 0, "the file is not a JSON object")
            return
        self.pos += 1
        seen_records = False
        while True:
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
                    stopped = yield from self._array()
                    if stopped:
                        return
                else:
                    self._peek()
                    self._decode()  # another top-level member: not ours
            except _Incomplete:
                if not seen_records:
                    yield self._fatal("truncated_json", start, "the file ends before its records array")
                return
            except _TooLarge as exc:
                yield self._fatal("record_too_large", start, exc.text)
                return
            except json.JSONDecodeError as exc:
                yield self._fatal("invalid_json", start, exc.msg)
                return
            ch = self._peek()
            if ch == ",":
                self.pos += 1
            elif ch != "}":
                return  # trailing damage after the records: no record is lost
        if not seen_records:
            yield _Event(0, 0, reason="missing_field", text='the top-level object has no "records" array')

    def _fatal(self, reason: str, offset: int, what: str) -> _Event:
        return _Event(offset, 0, reason=reason, text=what + self._io_note())

    def _io_note(self) -> str:
        return f" ({self.io_error})" if self.io_error else ""

    def _array(self) -> Iterator[_Event]:
        """The elements of the records array; returns True when the file cannot be read further."""
        number = 0
        while True:
            ch = self._peek()
            if ch == "]":
                self.pos += 1
                return False
            if ch == ",":
                self.pos += 1
                continue
            if ch == "":
                return True  # cut between two records
            number += 1
            offset = self._byte_at(self.pos)
            try:
                record = self._decode()
            except _Incomplete:  # (a failed decode leaves pos at the element's start; the buffer may have moved)
                note = f"[{self.io_error}] " if self.io_error else ""
                yield _Event(offset, number, reason="truncated_json", text=note + self.buf[self.pos:self.pos + 2000])
                return True
            except _TooLarge as exc:
                yield _Event(offset, number, reason="record_too_large", text=exc.text)
                if exc.complete:
                    continue
                found = self._resync(len(self.buf) - 64)  # on from what was read of it (bounded by the limit)
                if found is None:
                    return True
                number += 1
                offset, record = found
            except json.JSONDecodeError as exc:
                start = self.pos
                text = self.buf[start:max(exc.pos, start) + 200]
                yield _Event(offset, number, reason="invalid_json", text=f"{exc.msg} (character {exc.pos - start} of the record): {text}")
                found = self._resync(start + 1)
                if found is None:
                    return True
                number += 1
                offset, record = found
            if isinstance(record, dict):
                yield _Event(offset, number, record=record)
            else:
                yield _Event(offset, number, reason="invalid_record", text=json.dumps(record)[:2000])

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
            except _Incomplete:
                return None
            except _TooLarge:  # too large to be a record: search on past what was read of it
                self.pos = max(self.pos + 1, len(self.buf) - 64)
                continue
            except json.JSONDecodeError:
                self.pos += 1
                continue
            if isinstance(candidate, dict) and ("time" in candidate or "properties" in candidate or "flowRecords" in candidate):
                return offset, candidate


# --------------------------------------------------------------------------------------------------------
# The two dialects
# --------------------------------------------------------------------------------------------------------


class _RecordProblem(Exception):
    def __init__(self, reason: str, detail: str, n: int = 1):
        super().__init__(detail)
        self.reason, self.detail, self.n = reason, detail, n


@dataclass(frozen=True)
class _Dialect:
    name: str
    description: str
    extract: Callable[[dict, list], tuple[list, int]]  # (record, problems found) → (tuples, field count)
    sniff_markers: tuple[re.Pattern, ...]
    sniff_excludes: tuple[re.Pattern, ...]


def _tuple_lists(groups: Any, inner_key: str, problems: list, where: str) -> list:
    """Concatenate the ``flowTuples`` lists of a record's rule groups; a damaged group is reported."""
    if not isinstance(groups, list):
        raise _RecordProblem("missing_field", f"{where} is not a list")
    tuples: list = []
    for group in groups:
        holders = group.get(inner_key) if isinstance(group, dict) else None
        if not isinstance(holders, list):
            problems.append(("missing_field", f"{where}[].{inner_key} missing in {json.dumps(group)[:300]}", 1))
            continue
        for holder in holders:
            found = holder.get("flowTuples") if isinstance(holder, dict) else None
            if not isinstance(found, list):
                problems.append(("missing_field", f"flowTuples missing in {json.dumps(holder)[:300]}", 1))
                continue
            tuples.extend(found)
    return tuples


def _nsg_extract(record: dict, problems: list) -> tuple[list, int]:
    props = record.get("properties")
    if not isinstance(props, dict):
        raise _RecordProblem("missing_field", 'the record has no "properties" object')
    tuples = _tuple_lists(props.get("flows"), "flows", problems, "properties.flows")
    version = props.get("Version")
    if version not in (1, 2) or isinstance(version, bool):
        if "Version" not in props:
            raise _RecordProblem("missing_field", 'the record has no "properties.Version"', max(1, len(tuples)))
        raise _RecordProblem("unsupported_version", f"NSG flow log version {version!r} (known: 1, 2)", max(1, len(tuples)))
    return tuples, 8 if version == 1 else 13


def _vnet_extract(record: dict, problems: list) -> tuple[list, int]:
    flow_records = record.get("flowRecords")
    if not isinstance(flow_records, dict):
        raise _RecordProblem("missing_field", 'the record has no "flowRecords" object')
    tuples = _tuple_lists(flow_records.get("flows"), "flowGroups", problems, "flowRecords.flows")
    version = record.get("flowLogVersion")
    if version not in (4, "4") or isinstance(version, bool):
        if "flowLogVersion" not in record:
            raise _RecordProblem("missing_field", 'the record has no "flowLogVersion"', max(1, len(tuples)))
        raise _RecordProblem("unsupported_version", f"VNet flow log version {version!r} (known: 4)", max(1, len(tuples)))
    return tuples, 13


# --------------------------------------------------------------------------------------------------------
# Parsing the tuples of a chunk
# --------------------------------------------------------------------------------------------------------
#
# The tuples become one Arrow string array, which is cut into fields with numpy on its data buffer: the
# commas and line breaks of all tuples are found at once, and a tuple with the expected number of commas
# and no line break is cut at its commas. The fields stay where they are: numbers (1..n ASCII digits) are
# read from the buffer by a small numba loop, one-letter fields byte by byte with numpy (letters come from
# a fixed set), and an Arrow string array laid over the same buffer, with offsets that alternate field and
# comma, lets one ``take`` gather the addresses, which are validated once per distinct value. Slices of
# SLICE_ROWS tuples keep the temporary arrays small.

SLICE_ROWS = 1 << 18
_COLUMNS = [f"f{j}" for j in range(N_FIELDS)]
_IANA = np.full(256, -1, dtype=np.int8)
_IANA[[6, 17, 1, 58]] = [0, 1, 2, 2]  # TCP, UDP, ICMP, ICMPv6 (as ICMP)
_VNET_DROPPING = pa.array(["NX_SW_NOT_READY", "NX_NOT_ACCEPTED", "NX_NOT_SUPPORTED"])


@dataclass
class _Fields:
    """The fields of the tuples of a slice that split, located in the slice's data buffer (not copied)."""

    rows: np.ndarray  # positions in the slice of the tuples that split
    edges: np.ndarray  # (len(rows), 2 * N_FIELDS) int32: field j of row i is data[edges[i, 2j]:edges[i, 2j + 1]]
    data: pa.Buffer

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        """Byte length of every field, shape (N_FIELDS, rows)."""
        return (self.edges[:, 1::2] - self.edges[:, 0::2]).T.copy()

    def text(self, columns: tuple[int, ...]) -> pa.StringArray:
        """The fields of these columns as one array, column after column."""
        return self._take(self._index(columns))

    def _index(self, columns: tuple[int, ...]) -> np.ndarray:
        """Where the fields of these columns are among the pieces ``_take`` reads, shape (len(columns), rows)."""
        row_starts = 2 * N_FIELDS * np.arange(len(self.rows), dtype=np.int32)
        return (2 * np.asarray(columns, dtype=np.int32))[:, None] + row_starts[None, :]

    def _take(self, index: np.ndarray) -> pa.StringArray:
        if not index.size:
            return pa.array([], pa.string())
        # The buffer read as strings cut at every edge: fields, and the commas (or gaps) between them.
        pieces = pa.StringArray.from_buffers(self.edges.size - 1, pa.py_buffer(self.edges), self.data)
        return pieces.take(pa.array(index.ravel()))

    def numbers(self, columns: tuple[int, ...], max_digits: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """(value, is 1..max_digits ASCII digits, is empty) of these columns, each of shape (len(columns), rows);
        the value is 0 where the field is not such a number."""
        shape = (len(columns), len(self.rows))
        value, ok, empty = np.zeros(shape, np.int64), np.zeros(shape, np.bool_), np.zeros(shape, np.bool_)
        if len(self.rows):
            _read_numbers(np.frombuffer(self.data, dtype=np.uint8), self.edges, np.asarray(columns, np.int64),
                          np.asarray(max_digits, np.int64), value, ok, empty)
        return value, ok, empty

    def codes(self, columns: tuple[int, ...], value_sets: tuple[tuple[str, ...], ...]) -> np.ndarray:
        """Index of each field of column ``columns[i]`` in ``value_sets[i]`` (strings of at most one ASCII
        character), -1 when absent; shape (len(columns), rows)."""
        start = self.edges[:, 2 * np.asarray(columns)].T
        length = self.lengths[list(columns)]
        data = np.frombuffer(self.data, dtype=np.uint8)
        key = data[np.minimum(start, len(data) - 1)].astype(np.int16) if len(data) else np.zeros(start.shape, np.int16)
        key[length == 0] = 256
        key[length > 1] = 257
        lookup = np.full((len(columns), 258), -1, dtype=np.int8)  # by byte; 256: the empty field, 257: longer
        for i, values in enumerate(value_sets):
            for k, value in enumerate(values):
                lookup[i, ord(value) if value else 256] = k
        return np.take_along_axis(lookup, key, axis=1)


@numba.njit(cache=True, nogil=True)
def _read_numbers(data, edges, columns, max_digits, value, ok, empty):
    """Decimal fields of these columns, digit by digit (one pass over their bytes, no copies)."""
    for c in range(len(columns)):
        first, limit = 2 * columns[c], max_digits[c]
        for i in range(edges.shape[0]):
            start, end = edges[i, first], edges[i, first + 1]
            if end == start:
                empty[c, i] = True
                continue
            if end - start > limit:
                continue
            number = 0
            for at in range(start, end):
                digit = np.int64(data[at]) - 48
                if digit < 0 or digit > 9:
                    break
                number = number * 10 + digit
            else:
                value[c, i] = number
                ok[c, i] = True


def _cut(arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> _Fields:
    """The tuples that split into the expected number of fields (12 commas, or 7 for NSG version 1, whose five
    missing fields are then empty). The other tuples get their reason here: ``invalid_tuple`` when they hold
    a line break, else ``bad_tuple_field_count``."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    data_buffer = arr.buffers()[2] if arr.buffers()[2] is not None else pa.py_buffer(b"")
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buffer, dtype=np.uint8)[lo:hi]
    starts, ends = offsets[:-1], offsets[1:]
    control = np.flatnonzero(data < 14)  # few: line breaks are among them
    breaks = control[(data[control] == 10) | (data[control] == 13)] + lo
    if len(breaks):
        reason[(reason == 0) & (np.diff(np.searchsorted(breaks, offsets)) > 0)] = _CODE["invalid_tuple"]
    comma_at = (np.flatnonzero(data == 44) + lo).astype(np.int32)
    regular = len(comma_at) == 12 * n and ((comma_at[0::12] >= starts) & (comma_at[11::12] < ends)).all()
    if regular:  # the usual case: twelve commas in every tuple
        count = np.full(n, 12)
    else:
        first = np.searchsorted(comma_at, offsets)
        count = np.diff(first)
    reason[(reason == 0) & (count != commas)] = _CODE["bad_tuple_field_count"]
    good = np.flatnonzero(reason == 0)
    edges = np.empty((len(good), 2 * N_FIELDS), dtype=np.int32)
    edges[:, 0] = starts[good]
    edges[:, -1] = ends[good]
    if regular:
        at = comma_at.reshape(n, 12)
        at = at if len(good) == n else at[good]
        edges[:, 1:24:2] = at
        edges[:, 2:25:2] = at + 1
    else:
        for width in (12, 7):
            within = np.flatnonzero(count[good] == width)
            if len(within):
                at = comma_at[first[good[within]][:, None] + np.arange(width)]
                edges[within, 1:2 * width:2] = at
                edges[within, 2:2 * width + 1:2] = at + 1
                edges[within, 2 * width + 1:] = ends[good[within]][:, None]  # the empty fields of a version 1 tuple
    return _Fields(good, edges, data_buffer)


def _split(arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> tuple[np.ndarray, pa.Table]:
    """``_cut`` with all 13 fields as string columns: the form in which the tests compare it with
    ``_split_checked``."""
    fields = _cut(arr, commas, reason)
    text, m = fields.text(tuple(range(N_FIELDS))), len(fields.rows)
    return fields.rows, pa.table({c: text.slice(j * m, m) for j, c in enumerate(_COLUMNS)})


def _split_checked(arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> tuple[np.ndarray, pa.Table]:
    """``_split`` tuple by tuple with ``str.split``: the plain statement of what it computes, which the tests
    hold it to."""
    good: list[int] = []
    columns: list[list[str]] = [[] for _ in range(N_FIELDS)]
    for i, text in enumerate(arr.to_pylist()):
        if reason[i]:
            continue
        if "\n" in text or "\r" in text:
            reason[i] = _CODE["invalid_tuple"]
        elif text.count(",") != commas[i]:
            reason[i] = _CODE["bad_tuple_field_count"]
        else:
            good.append(i)
            for column, value in zip(columns, text.split(",") + [""] * (N_FIELDS - 1 - int(commas[i]))):
                column.append(value)
    return np.asarray(good, dtype=np.int64), pa.table({c: pa.array(v, pa.string()) for c, v in zip(_COLUMNS, columns)})


def _valid_ips(text: pa.StringArray, columns: int) -> np.ndarray:
    """Whether every address of a row is IPv4 or IPv6 text (``columns`` columns stacked in ``text``): each
    distinct address is checked once."""
    encoded = pc.dictionary_encode(text)
    ok = ip_cells(encoded.dictionary)[encoded.indices.to_numpy()]
    return ok.reshape(columns, -1).all(axis=0)


@dataclass
class _Parsed:
    """The outbound tuples of a slice that passed every check (one entry per row of ``rows``), and how many
    valid inbound ones it held."""

    rows: np.ndarray  # positions in the slice
    ts_ms: np.ndarray
    src: pa.StringArray
    dst: pa.StringArray
    dst_port: np.ndarray
    protocol: np.ndarray  # index into _PROTOCOL_NAMES
    denied: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    has_out: np.ndarray
    has_in: np.ndarray
    inbound: int


def _parse(dialect: str, arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> _Parsed:
    fields = _cut(arr, commas, reason)
    good, m = fields.rows, len(fields.rows)
    why = np.zeros(m, dtype=np.uint8)

    def fail(failed: np.ndarray, name: str) -> None:
        why[(why == 0) & failed] = _CODE[name]

    nsg = dialect == "nsg"
    numbers = (0, 3, 4, 9, 10, 11, 12) + (() if nsg else (5,))
    value, number_ok, empty = fields.numbers(numbers, (15, 5, 5, 18, 18, 18, 18) + (() if nsg else (3,)))
    addresses = fields.text((1, 2))  # source, then destination
    ts = value[0]
    fail(~number_ok[0] | (ts >= 10**14), "invalid_timestamp")
    ts_ms = np.where(ts < 10**11, ts * 1000, ts)
    fail(~_valid_ips(addresses, 2), "invalid_ip")
    src_port, dst_port = value[1], value[2]
    fail(~number_ok[1] | ~number_ok[2] | (src_port > 65535) | (dst_port > 65535), "invalid_port")

    if nsg:
        protocol, direction, decision, state = fields.codes(
            (5, 6, 7, 8), (("T", "U"), ("I", "O"), ("A", "D"), ("B", "C", "E", "")))
        fail(protocol < 0, "unknown_protocol")
        fail(direction < 0, "unknown_direction")
        fail(decision < 0, "unknown_decision")
        version1 = commas[good] == 7
        fail((state < 0) | ((state == 3) != version1), "unknown_flow_state")  # v1: none; v2: B, C or E
        denied = decision == 1
        no_stats = version1 | (state == 0)
    else:
        number = value[7]
        iana = number_ok[7] & (number <= 255)
        protocol = np.where(iana, _IANA[np.minimum(number, 255)], -1).astype(np.int8)
        fail(~iana, "unknown_protocol")
        fail(protocol < 0, "unsupported_protocol")
        direction, state = fields.codes((6, 7), (("I", "O"), ("B", "C", "E", "D")))
        fail(direction < 0, "unknown_direction")
        fail(state < 0, "unknown_flow_state")
        denied = (state == 3) | pc.is_in(fields.text((8,)), value_set=_VNET_DROPPING).to_numpy(zero_copy_only=False)
        no_stats = state == 0  # a B tuple carries no statistics (VNet logs write zeros there)

    fail(~(number_ok[3:7] | empty[3:7]).all(axis=0), "invalid_counter")
    bytes_out, has_out = value[4], number_ok[4] & ~no_stats
    bytes_in, has_in = value[6], number_ok[6] & ~no_stats
    reason[good] = why
    valid = why == 0
    out = np.flatnonzero(valid & (direction == 1))
    ends = addresses.take(pa.array(np.concatenate([out, out + m])))
    return _Parsed(good[out], ts_ms[out], ends.slice(0, len(out)), ends.slice(len(out)), dst_port[out].astype(np.int32),
                   protocol[out], denied[out], bytes_out[out], bytes_in[out], has_out[out], has_in[out],
                   int(np.count_nonzero(valid)) - len(out))


# --------------------------------------------------------------------------------------------------------
# Chunks of tuples → flow frames
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """Tuples collected from records, with per-record segments (prefix of ``source``, first tuple number,
    expected number of commas)."""

    tuples: list = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    first_k: list[int] = field(default_factory=list)
    commas: list[int] = field(default_factory=list)

    def add(self, prefix: str, tuples: list, n_fields: int) -> None:
        self.tuples.extend(tuples)
        self.prefixes.append(prefix)
        self.counts.append(len(tuples))
        self.first_k.append(1)
        self.commas.append(n_fields - 1)

    def take(self, n: int) -> _Pending:
        """Remove and return the first ``n`` tuples (a record's tuples may be split between two chunks)."""
        head = _Pending(self.tuples[:n])
        del self.tuples[:n]
        left = n
        while left:
            count = self.counts[0]
            used = min(count, left)
            head.prefixes.append(self.prefixes[0])
            head.counts.append(used)
            head.first_k.append(self.first_k[0])
            head.commas.append(self.commas[0])
            if used == count:
                for lst in (self.prefixes, self.counts, self.first_k, self.commas):
                    del lst[0]
            else:
                self.counts[0] -= used
                self.first_k[0] += used
            left -= used
        return head


def _clean(text: str) -> str:
    """Undecodable bytes (kept as lone surrogates) shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not text.isascii() else text


def _string_array(tuples: list, reason: np.ndarray) -> pa.StringArray:
    """The tuples as one Arrow array; an item that is not a string, or holds undecodable bytes, is
    rejected and stands in as an empty string."""
    try:
        return pa.array(tuples, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        pass
    cleaned = []
    for i, item in enumerate(tuples):
        if not isinstance(item, str):
            reason[i] = _CODE["invalid_tuple"]
            cleaned.append("")
        elif not item.isascii() and _SURROGATE.search(item):
            reason[i] = _CODE["invalid_utf8"]
            cleaned.append("")
        else:
            cleaned.append(item)
    return pa.array(cleaned, type=pa.string())


def _sources(prefixes: pa.Array, segment: np.ndarray, k: np.ndarray) -> pa.StringArray:
    """``<prefix of its record> tuple <k>`` for each row, written in one copy: a ``take`` from the heads
    (prefix + " tuple ", one per record) and the numbers min(k)..max(k), each once, puts each row's head and
    number side by side, so that every other offset of the result delimits a whole row."""
    n = len(segment)
    if not n:
        return pa.array([], pa.string())
    heads = pc.binary_join_element_wise(prefixes, " tuple ", "")
    low = int(k.min())
    numbers = pa.array(np.arange(low, int(k.max()) + 1)).cast(pa.string())
    index = np.empty(2 * n, dtype=np.int64)
    index[0::2] = segment
    index[1::2] = k + (len(heads) - low)
    halves = pa.concat_arrays([heads, numbers]).take(pa.array(index))
    offsets = np.frombuffer(halves.buffers()[1], dtype=np.int32)[halves.offset:halves.offset + 2 * n + 1:2]
    return pa.StringArray.from_buffers(n, pa.py_buffer(np.ascontiguousarray(offsets)), halves.buffers()[2])


def _table(dialect: str, chunk: _Pending, ledger: RecordLedger) -> pa.Table | None:
    n = len(chunk.tuples)
    counts = np.asarray(chunk.counts, dtype=np.int64)
    segment = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(n, dtype=np.int64) - starts[segment] + np.asarray(chunk.first_k, dtype=np.int64)[segment]
    commas = np.asarray(chunk.commas, dtype=np.int64)[segment]
    prefixes = pa.array(chunk.prefixes, type=pa.string())

    reason = np.zeros(n, dtype=np.uint8)
    arr = _string_array(chunk.tuples, reason)
    pieces: list[pa.Table] = []
    inbound = 0
    for lo in range(0, n, SLICE_ROWS):
        hi = min(n, lo + SLICE_ROWS)
        p = _parse(dialect, arr.slice(lo, hi - lo), commas[lo:hi], reason[lo:hi])
        inbound += p.inbound
        if not len(p.rows):
            continue
        rows = lo + p.rows
        pieces.append(pa.table({
            "ts": pa.array(p.ts_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "src_ip": p.src,
            "dst_ip": p.dst,
            "dst_port": pa.array(p.dst_port, type=pa.int32()),
            "protocol": _PROTOCOL_NAMES.take(pa.array(p.protocol)),
            "bytes_out": pa.array(p.bytes_out, type=pa.int64(), mask=~p.has_out),
            "bytes_in": pa.array(p.bytes_in, type=pa.int64(), mask=~p.has_in),
            "observed_action": _ACTIONS.take(pa.array(p.denied.astype(np.int8))),
            "source": _sources(prefixes, segment[rows], k[rows]),
        }))
    bad = np.flatnonzero(reason)
    if len(bad):
        for i, place in zip(bad, _sources(prefixes, segment[bad], k[bad]).to_pylist()):
            item = chunk.tuples[i]
            ledger.reject(_TUPLE_REASONS[reason[i]], place, _clean(item) if isinstance(item, str) else json.dumps(item))
    if inbound:
        ledger.skip("inbound", inbound)
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)


# --------------------------------------------------------------------------------------------------------
# The readers
# --------------------------------------------------------------------------------------------------------


class AzureFlowLogReader:
    """A ``LogReader`` for one of the two Azure flow-log dialects."""

    names_logged = False  # flow tuples hold addresses and ports, never a host name

    def __init__(self, dialect: _Dialect):
        self.dialect = dialect
        self.name = dialect.name
        self.description = dialect.description

    def sniff(self, head: bytes, file_name: str) -> bool:
        """A JSON object with a ``records`` array whose (possibly cut) first record shows one of this
        dialect's key names and none of the other's."""
        text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        if not text.startswith("{") or not _RECORDS_ARRAY.search(text[:4096]):
            return False
        if any(p.search(text) for p in self.dialect.sniff_excludes):
            return False
        return any(p.search(text) for p in self.dialect.sniff_markers)

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        for table in self.read_tables(log, ledger, chunk_rows):
            yield arrow_to_frame(table)

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        """``read_chunks`` as Arrow tables: what replay takes, so that the few hundred tuples of each small
        blob become a pandas frame only once gathered with other blobs' (a frame per blob cost ~1 ms)."""
        chunk_rows = max(1, int(chunk_rows))
        pending = _Pending()
        name = log.name
        with log.open_binary() as stream:
            records = _JsonRecordStream(stream)
            for event in records.events():
                at = f"{name}@{event.offset}"  # a tuple's source: "<at> tuple <k>"
                where = at + (f" record {event.number}" if event.number else "")
                if event.reason:
                    yield from self._flush_before_reject(pending, ledger)
                    ledger.read()
                    ledger.reject(event.reason, where, _clean(event.text))
                    continue
                problems: list[tuple[str, str, int]] = []
                try:
                    tuples, n_fields = self.dialect.extract(event.record, problems)
                except _RecordProblem as exc:
                    problems.append((exc.reason, exc.detail, exc.n))
                    tuples = []
                if problems:
                    yield from self._flush_before_reject(pending, ledger)
                    for reason, detail, n in problems:
                        ledger.read(n)
                        ledger.reject(reason, where, _clean(detail), n=n)
                if not tuples:
                    continue
                ledger.read(len(tuples))
                pending.add(at, tuples, n_fields)
                while len(pending.tuples) >= chunk_rows:
                    table = _table(self.dialect.name, pending.take(chunk_rows), ledger)
                    if table is not None:
                        yield table
        if pending.tuples:
            table = _table(self.dialect.name, pending, ledger)
            if table is not None:
                yield table

    def _flush_before_reject(self, pending: _Pending, ledger: RecordLedger) -> Iterator[pa.Table]:
        """In strict mode the first bad record in file order must be the one named: check the tuples
        collected so far before rejecting a later record."""
        if ledger.strict and pending.tuples:
            table = _table(self.dialect.name, pending.take(len(pending.tuples)), ledger)
            if table is not None:
                yield table


_RECORDS_ARRAY = re.compile(r'"records"\s*:\s*\[')
_NSG_MARKERS = (re.compile(r'"NetworkSecurityGroupFlowEvents?"'), re.compile(r'"flowTuples"\s*:'))
_VNET_MARKERS = (re.compile(r'"flowLogVersion"\s*:'), re.compile(r'"flowRecords"\s*:'), re.compile(r'"FlowLogFlowEvent"'))

NSG_READER = AzureFlowLogReader(_Dialect(
    name="nsg",
    description="Azure NSG flow logs (Network Watcher PT1H.json, versions 1 and 2)",
    extract=_nsg_extract,
    sniff_markers=_NSG_MARKERS,
    sniff_excludes=_VNET_MARKERS,
))

VNET_READER = AzureFlowLogReader(_Dialect(
    name="vnet",
    description="Azure virtual network flow logs (Network Watcher PT1H.json, version 4)",
    extract=_vnet_extract,
    sniff_markers=_VNET_MARKERS,
    sniff_excludes=_NSG_MARKERS[:1],
))

READERS = (NSG_READER, VNET_READER)
