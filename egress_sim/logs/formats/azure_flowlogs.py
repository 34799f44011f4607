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

How: the JSON records come from the engine's ``jsonrecords`` (orjson, with exact byte offsets; the careful
stream of ``jsoncareful`` takes over in a damaged file, keeping bytes that are not UTF-8 as lone surrogates so
that offsets stay exact and a tuple holding them is rejected as ``invalid_utf8``). This module takes the tuple
lists out of each record (``collect``); ``flowtuples`` cuts and checks the tuples of many records, and of many
small blobs, in one compiled pass (``parse``), gathered as ``flowtuple_runs``. Memory: one read block, the record limit and about
``chunk_rows`` tuples.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ...flows.sources import lazy_columns
from ..engine.cells import frames
from ..engine.files import LogFile
from .flowtuple_spans import block_tuples, vouch
from .flowtuple_runs import TupleRuns
from .flowtuples import TUPLE_OUTCOMES, parse_tuples
from ..engine.format import ParsedBatch, Piece, Problem, batched_read_tables
from ..engine.jsoncareful import CarefulArrayStream, JsonElement, clean_text
from ..engine.jsonrecords import array_blocks
from ..engine.ledger import RecordLedger


# Plain records are read from their bytes. A test sets this to False to read every record the reference way,
# decoded by the careful stream (Python's json) and walked one by one, and holds the fast way to it.
FROM_BYTES = True


def _vouch(data: bytes, buf: np.ndarray, quotes: np.ndarray, starts: np.ndarray, ends: np.ndarray, vnet: bool):
    return vouch(buf, quotes, starts, ends, vnet)


class _RecordProblem(Exception):
    def __init__(self, reason: str, detail: str, n: int = 1):
        super().__init__(detail)
        self.reason, self.detail, self.n = reason, detail, n


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


@dataclass
class _Tuples:
    """The payload of a piece: its tuples, and per record segment the head of its rows' ``source``
    (``<file>@<offset> tuple ``), its tuple count, the number of its first tuple, and the commas a tuple holds."""

    tuples: TupleRuns = field(default_factory=TupleRuns)
    heads: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    first_k: list[int] = field(default_factory=list)
    commas: list[int] = field(default_factory=list)

    def add(self, head: str, tuples: list | pa.StringArray, first_k: int, n_fields: int) -> None:
        self.tuples.add(tuples)
        self.heads.append(head)
        self.counts.append(len(tuples))
        self.first_k.append(first_k)
        self.commas.append(n_fields - 1)


class _Pieces:
    """Cuts one file's records into pieces of about ``chunk_rows`` tuples."""

    def __init__(self, log: LogFile, dialect: "_Dialect", chunk_rows: int):
        self.log, self.dialect, self.chunk_rows = log, dialect, chunk_rows
        self._piece: tuple[_Tuples, list[Problem]] = (_Tuples(), [])
        self._rows = 0

    def element(self, element: JsonElement) -> Iterator[Piece]:
        """A record walked decoded (or a problem in its place)."""
        at = f"{self.log.name}@{element.offset}"
        where = at + (f" record {element.number}" if element.number else "")
        problems = self._piece[1]
        if element.reason:
            problems.append(Problem(self._rows, element.reason, where, clean_text(element.text)))
            return
        found: list[tuple[str, str, int]] = []
        try:
            tuples, n_fields = self.dialect.extract(element.record, found)
        except _RecordProblem as exc:
            found.append((exc.reason, exc.detail, exc.n))
            tuples = []
        problems.extend(Problem(self._rows, reason, where, clean_text(detail), n) for reason, detail, n in found)
        if tuples:
            yield from self.add(at + " tuple ", tuples, n_fields)

    def add(self, head: str, tuples: list | pa.StringArray, n_fields: int) -> Iterator[Piece]:
        """A record's tuples into the current piece; a record of more than a piece's room is split."""
        k = 1
        while len(tuples):
            room = self.chunk_rows - self._rows
            taken = tuples[:room] if isinstance(tuples, list) else tuples.slice(0, room)
            tuples = tuples[room:] if isinstance(tuples, list) else tuples.slice(room)
            self._piece[0].add(head, taken, k, n_fields)
            k += len(taken)
            self._rows += len(taken)
            if self._rows >= self.chunk_rows:
                payload, problems = self._piece
                yield Piece(self.log, self._rows, problems, payload)
                self._piece, self._rows = (_Tuples(), []), 0

    def has_room(self, rows: int) -> bool:
        return self._rows + rows <= self.chunk_rows

    def add_block(self, offsets: np.ndarray, counts: np.ndarray, fields: np.ndarray, found: pa.StringArray) -> None:
        """The plain records of a whole block at once (they fit in the piece): no per-record slicing."""
        keep = counts > 0
        name = self.log.name
        payload = self._piece[0]
        payload.tuples.add(found)
        payload.heads.extend([f"{name}@{offset} tuple " for offset in offsets[keep].tolist()])
        payload.counts.extend(counts[keep].tolist())
        payload.first_k.extend([1] * int(keep.sum()))
        payload.commas.extend((fields[keep] - 1).tolist())
        self._rows += int(counts.sum())

    def full(self) -> Iterator[Piece]:
        if self._rows >= self.chunk_rows:
            payload, problems = self._piece
            yield Piece(self.log, self._rows, problems, payload)
            self._piece, self._rows = (_Tuples(), []), 0

    def last(self) -> Iterator[Piece]:
        payload, problems = self._piece
        if self._rows or problems:
            yield Piece(self.log, self._rows, problems, payload)


@dataclass(frozen=True)
class _Dialect:
    name: str
    description: str
    extract: Callable[[dict, list], tuple[list, int]]  # (record, problems found) → (tuples, field count)
    sniff_markers: tuple[tuple[bytes, re.Pattern], ...]
    sniff_excludes: tuple[tuple[bytes, re.Pattern], ...]


class AzureFlowLogFormat:
    """One of the two Network Watcher flow-log dialects, as a batched format of the engine."""

    names_logged = False  # flow tuples hold addresses and ports, never a host name
    outcomes = TUPLE_OUTCOMES

    def __init__(self, dialect: _Dialect):
        self.dialect = dialect
        self.name = dialect.name
        self.description = dialect.description

    def sniff(self, head: bytes, file_name: str) -> bool:
        """A JSON object with a ``records`` array whose (possibly cut) first record shows one of this
        dialect's key names and none of the other's. (On the bytes: every marker is ASCII, and this runs once per
        blob, thousands of times in a directory.)"""
        text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        text = text.lstrip(b" \t\r\n")
        if not text.startswith(b"{") or not _RECORDS_ARRAY.search(text, 0, 4096):
            return False
        if any(_found(text, marker) for marker in self.dialect.sniff_excludes):
            return False
        return any(_found(text, marker) for marker in self.dialect.sniff_markers)

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        """The file's flows on their own (the replay batches many files instead, through ``collect``/``parse``)."""
        return batched_read_tables(self, log, ledger, chunk_rows)

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """``read_tables`` as pandas frames with ``source`` as text."""
        return frames(self.read_tables(log, ledger, chunk_rows))

    def collect(self, log: LogFile, chunk_rows: int) -> Iterator[Piece]:
        """The file's tuples in pieces of about ``chunk_rows``, with the record-level problems in their places.

        Plain records have their tuples found in their bytes (``flowtuple_spans``); any other record is walked
        decoded, and its problems named."""
        pieces = _Pieces(log, self.dialect, max(1, int(chunk_rows)))
        vnet = self.dialect.name == "vnet"
        with log.open_binary() as stream:
            if not FROM_BYTES:
                for element in CarefulArrayStream(stream).events():
                    yield from pieces.element(element)
                yield from pieces.last()
                return
            for item in array_blocks(stream, vouch=functools.partial(_vouch, vnet=vnet)):
                if isinstance(item, JsonElement):
                    yield from pieces.element(item)
                    continue
                if item.vouched is not None:  # read from the bytes, never decoded
                    ok, (fields, counts, found) = item.vouched, item.extra
                else:
                    ok, fields, counts, found = block_tuples(item, vnet)
                if ok.all() and pieces.has_room(int(counts.sum())):  # the usual block: every record plain
                    pieces.add_block(item.base + item.starts, counts, fields, found)
                    yield from pieces.full()
                    continue
                at = 0
                for j in range(len(item)):
                    if ok[j]:
                        n = int(counts[j])
                        yield from pieces.add(f"{log.name}@{item.base + int(item.starts[j])} tuple ",
                                              found.slice(at, n), int(fields[j]))
                        at += n
                    else:
                        yield from pieces.element(item.element(j))
        yield from pieces.last()

    def parse(self, parts: list[tuple[Piece, int, int]]) -> ParsedBatch:
        """Rows ``lo:hi`` of each piece, checked and cut in one compiled pass."""
        tuples = TupleRuns()
        heads: list[str] = []
        counts: list[int] = []
        first_k: list[int] = []
        commas: list[int] = []
        for piece, lo, hi in parts:
            p: _Tuples = piece.payload
            for run in (p.tuples.runs if (lo, hi) == (0, p.tuples.size) else p.tuples.slice(lo, hi).runs):
                tuples.add(run)  # (runs are whole records' tuples, in order)
            if (lo, hi) == (0, p.tuples.size):  # the whole piece: its segments as they are
                heads.extend(p.heads)
                counts.extend(p.counts)
                first_k.extend(p.first_k)
                commas.extend(p.commas)
                continue
            ends = np.cumsum(p.counts)
            for s in range(len(p.counts)):
                a, b = max(lo, int(ends[s]) - p.counts[s]), min(hi, int(ends[s]))
                if a < b:
                    heads.append(p.heads[s])
                    counts.append(b - a)
                    first_k.append(p.first_k[s] + a - (int(ends[s]) - p.counts[s]))
                    commas.append(p.commas[s])
        count = np.asarray(counts, dtype=np.int64)
        segment = np.repeat(np.arange(len(count)), count)
        k = np.arange(tuples.size, dtype=np.int64) - (np.cumsum(count) - count)[segment] + \
            np.asarray(first_k, dtype=np.int64)[segment]
        arr, reason = tuples.array()
        codes, rows, columns = parse_tuples(self.dialect.name, arr, reason, np.asarray(commas, dtype=np.int64)[segment])
        if len(rows):
            columns = {**columns, **lazy_columns(heads, segment[rows], k[rows])}

        def where(i: int) -> str:
            return f"{heads[segment[i]]}{k[i]}"

        def text(i: int) -> str:
            return tuples.text(i)

        return ParsedBatch(codes, columns, where, text)


_RECORDS_ARRAY = re.compile(rb'"records"\s*:\s*\[')
# (a literal every match starts with, the marker): the literal is looked for first, at the speed of ``bytes.find``.
_NSG_MARKERS = ((b'"NetworkSecurityGroupFlowEvent', re.compile(rb'"NetworkSecurityGroupFlowEvents?"')),
                (b'"flowTuples"', re.compile(rb'"flowTuples"\s*:')))
_VNET_MARKERS = ((b'"flowLogVersion"', re.compile(rb'"flowLogVersion"\s*:')),
                 (b'"flowRecords"', re.compile(rb'"flowRecords"\s*:')),
                 (b'"FlowLogFlowEvent"', re.compile(rb'"FlowLogFlowEvent"')))


def _found(text: bytes, marker: tuple[bytes, re.Pattern]) -> bool:
    literal, pattern = marker
    at = text.find(literal)
    return at >= 0 and pattern.search(text, at) is not None


NSG_READER = AzureFlowLogFormat(_Dialect(
    name="nsg",
    description="Azure NSG flow logs (Network Watcher PT1H.json, versions 1 and 2)",
    extract=_nsg_extract,
    sniff_markers=_NSG_MARKERS,
    sniff_excludes=_VNET_MARKERS,
))

VNET_READER = AzureFlowLogFormat(_Dialect(
    name="vnet",
    description="Azure virtual network flow logs (Network Watcher PT1H.json, version 4)",
    extract=_vnet_extract,
    sniff_markers=_VNET_MARKERS,
    sniff_excludes=_NSG_MARKERS[:1],
))

READERS = (NSG_READER, VNET_READER)
