"""Azure Firewall diagnostic logs (``--format azfw``): the legacy ``AzureDiagnostics`` text messages and the
resource-specific (structured) tables, as Azure Monitor exports them.

Documentation followed (looked up with the project's search tool; written here in our own words):

* Legacy records — https://learn.microsoft.com/azure/firewall/diagnostic-logs (MicrosoftDocs/azure-docs
  ``articles/firewall/diagnostic-logs.md``): a record is ``{"category", "time", "resourceId", "operationName",
  "properties": {"msg": "..."}}`` with category ``AzureFirewallApplicationRule`` / ``AzureFirewallNetworkRule`` /
  ``AzureFirewallDnsProxy``; the event is free text in ``msg`` (``msg_s`` once in a Log Analytics workspace).
* The text variants of ``msg`` — Azure/Azure-Sentinel ``Parsers/AzureFirewall/*.kql`` and their sample data sets:
  ``TCP request from A:p to B:q. Action: Allow.``, ``ICMP Type=8 request from A to B. Action: Deny.``,
  ``HTTPS request from A:p to host:443. Action: Allow. Policy: .. Rule Collection Group: .. Rule Collection: ..
  Rule: ..`` (optionally ``. Web Category: ..``), ``HTTP request from A:p to host:80. Url: host/path. Action: Deny.
  No rule matched. Proceeding with default action``, ``... Action: Deny. Failed to resolve address ...``,
  ``HTTPS request from A:p. Action: Deny. Reason: SNI TLS extension was missing.``, threat intelligence
  (``... Action: Deny. ThreatIntel: Bot Networks``), IDPS (``... Action: alert. Signature: 2008989. IDS: ...``) and
  DNAT (``TCP request from A:p to B:q was DNAT'ed to C:r``, operation ``AzureFirewallNatRuleLog``).
  IBM QRadar's Azure Firewall DSM sample events
  (https://www.ibm.com/docs/en/SS42VS_DSM/com.ibm.dsm.doc/c_dsm_guide_microsoft_azure_firewall_sample_event_msg.html)
  show the Event Hub form and a ``... to B:q was allowed. Action: Allow.`` wording, which the parser tolerates.
* Structured tables — https://learn.microsoft.com/azure/azure-monitor/reference/tables/azfwnetworkrule and
  .../azfwapplicationrule, https://learn.microsoft.com/azure/firewall/firewall-structured-logs: ``AZFWNetworkRule``
  (``SourceIp``, ``SourcePort``, ``DestinationIp``, ``DestinationPort``, ``Protocol`` TCP/UDP/``ICMP Type=8``,
  ``Action``, ``ActionReason``, ``Policy``, ``RuleCollectionGroup``, ``RuleCollection``, ``Rule``),
  ``AZFWApplicationRule`` (``SourceIp``, ``SourcePort``, ``Fqdn``, ``TargetUrl``, ``DestinationPort``, ``Protocol``
  HTTP/HTTPS, ``Action``, ``IsTlsInspected``, ``WebCategory``, ...), ``AZFWNatRule`` (adds ``TranslatedIp`` /
  ``TranslatedPort``), ``AZFWThreatIntel``, ``AZFWIdpsSignature``, ``AZFWDnsQuery``, ... In a storage account or
  Event Hub these are ``{"category": "AZFWNetworkRule", "time", "resourceId", "properties": {...}}``; exported
  from Log Analytics they are flat rows with ``TimeGenerated`` and ``Type`` (the table name).

What becomes a flow (one record = one flow, or one skip, or one reject):

* network rule records → ``src_ip``, ``dst_ip``, ``dst_port`` (none for ICMP), ``protocol`` TCP/UDP/ICMP;
* application rule records → ``fqdn`` (the SNI / Host the firewall logged), ``dst_ip`` empty (the firewall logs
  none; the evaluator accepts a flow with only a host name), protocol HTTP/HTTPS/MSSQL → TCP with the logged
  port, else 80/443/1433. A target that is an IP literal goes to ``dst_ip`` instead. ``HTTPS request from A:p.
  Action: Deny. Reason: SNI TLS extension was missing.`` has no destination at all: it is still a connection, so it
  is emitted without one (the evaluator rejects it as ``missing_destination``, visibly);
* ``observed_action``: Allow → ``allow``; Deny (also Drop/Block/Reject) → ``deny``; no action → empty;
* threat-intelligence hits: ``Deny`` is a flow the firewall stopped before any rule saw it → emitted as ``deny``;
  ``Alert`` lets the connection go on to the rules, which log it again → skipped ``threat_intel_alert`` (not
  counted twice);
* IDPS signature records (``Signature:`` in the text, ``AZFWIdpsSignature``) describe a connection that its rule
  record already carries → skipped ``idps_signature``; any other alert-only record → skipped ``alert_only``;
* DNAT (inbound by construction) → skipped ``inbound_dnat``; DNS proxy, flow trace, fat flow, aggregation and
  every other category → skipped ``not_a_connection_log``.

Rejections (reason, where): ``truncated_json`` / ``bad_json`` (with ``file:line`` for JSON lines,
``file@byte record N`` inside a document), ``record_too_large`` (a document's record over
``limits.MAX_AZFW_RECORD_BYTES``, never held whole), ``invalid_utf8``, ``not_an_object``, ``unrecognised_message`` (a ``msg``
that is not one of the forms above), ``unrecognised_record`` (no category and no recognisable fields),
``missing_field``, ``unknown_protocol``, ``unknown_action``, ``invalid_ip``, ``invalid_port``, ``invalid_fqdn``,
``invalid_timestamp``, for CSV ``bad_field_count`` / ``bad_csv``, and for JSON lines and CSV ``line_too_long``
(a line over ``limits.MAX_LINE_BYTES``, never held whole).

Shapes read, all streamed (at most ``min(chunk_rows, 50_000)`` records are held at a time, plus a few MiB of text):

* JSON lines (storage-account ``PT1H.json`` files, Log Analytics JSON lines), the common and large shape: the
  engine's line blocks (``blocks.line_blocks``); a compiled scanner (``azfw_scan``) checks each line's JSON and
  takes the fields of plain storage records straight from the block's bytes into Arrow columns, vouching per
  line; the lines it leaves are decoded with orjson and put in their places, and a block with a line orjson
  refuses or that is not a plain record is decoded again line by line (orjson, then :mod:`json`, which gives the
  exact reject and its line); the field checks run on whole columns (``azfw_records``, ``azfw_outcome``);
* JSON documents through the engine's JSON streams (``jsonrecords`` then ``jsondocuments``) and CSV exports through
  its line blocks, record by record (``azfw_documents``), then checked in blocks the same way.

A gzip stream that is cut or corrupt is read up to the damage; the record it cuts is rejected as
``truncated_json`` with the error in the sample. Every column is mapped to its meaning once per distinct value
(``azfw_values``), legacy messages are taken apart by one Arrow (RE2) call for the common shape (``azfw_text``), and
each record's outcome is decided by array masks in a fixed order (first decision wins); the ledger books a block's
outcomes in record order (``ledger.Outcomes``), so ``--strict`` stops at the first bad record of the file. A flow's
``source`` is kept lazily (``flows.sources``): ``file:line``, ``file:line record k`` for a line holding several
records, ``file@byte`` / ``file@byte record k`` in a document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ...flows.sources import NO_NUMBER, lazy_columns, with_source_text
from .azfw_documents import RecordBlock, csv_records, document_records, record_blocks
from .azfw_outcome import OUTCOMES, decide
from .azfw_scan import merge_columns, scan_block
from .azfw_records import EXACT, NO_FIELDS, block_fields, decode_lines, exact, fields_of, raw_text
from .azfw_values import Meanings
from ..engine.blocks import LineBlock
from ..engine.cells import arrow_to_frame
from ..engine.files import LogFile
from ..engine.format import NOT_A_RECORD, LineFormat, ParsedLines
from ..engine.jsondecode import loads
from ..engine.ledger import RecordLedger

COLUMNS: tuple[str, ...] = ("ts", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "name_logged", "observed_action",
                            "source")

# Firewall category / table names, for format detection.
_SNIFF_TOKENS = re.compile(
    rb"\b(?:AzureFirewall(?:Network|Application|Nat)Rule(?:Log)?|AzureFirewallDnsProxy(?:Log)?"
    rb"|AZFW(?:NetworkRule|ApplicationRule|NatRule|ThreatIntel|IdpsSignature|DnsQuery|DnsAdditional|DnsFlowTrace"
    rb"|FlowTrace|FatFlow|FqdnResolveFailure|InternalFqdnResolutionFailure)(?:Aggregation)?)\b"
)

_WRAPPER = re.compile(r'\{\s*"records"\s*:\s*\[')
_SCAN = True  # the compiled scanner first (a test turns it off to hold it to the decoded way)
_MAX_BLOCK = 50_000  # records held at once: a record costs a few KiB while its block is checked


def _shape(head: bytes) -> str:
    """``lines`` (JSON lines), ``document`` (JSON documents) or ``csv``, from the first bytes."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if not text:
        return "empty"
    if text[0] == "[" or _WRAPPER.match(text):
        return "document"
    if text[0] == "{":
        lines = text.split("\n")
        if len(lines) == 1:  # one line: a record longer than the head, or the whole file
            return "lines"
        for line in lines[:-1][:5]:  # complete lines only: one whole object on a line means JSON lines
            try:
                if isinstance(loads(line), dict):
                    return "lines"
            except ValueError:
                continue
        return "document"  # pretty-printed objects
    return "csv"



@dataclass
class _FileState:
    """What the reading of one file keeps: the file (its ``cut``) and the meanings of the values seen so far."""

    log: LogFile
    meanings: Meanings


class AzureFirewallReader(LineFormat):
    name = "azfw"
    description = ("Azure Firewall diagnostic logs: AzureDiagnostics (properties.msg / msg_s) and the AZFW* "
                   "resource-specific tables, as JSON lines, {\"records\": [...]}, JSON arrays or CSV")
    outcomes = OUTCOMES

    def sniff(self, head: bytes, file_name: str) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text:
            return False
        if text[:1] in (b"{", b"["):
            return _SNIFF_TOKENS.search(head) is not None
        # a Log Analytics CSV export: a header naming the firewall tables' columns
        first = text.split(b"\n", 1)[0].decode("utf-8", "replace")
        names = {re.sub(r"\s*\[utc\]$", "", c.strip().strip('"').lower()) for c in first.split(",")}
        if len(names) < 2:
            return False
        if {"sourceip", "action"} <= names and names & {"destinationip", "fqdn"}:
            return True
        return bool(names & {"msg_s", "category", "type", "operationname"}) and _SNIFF_TOKENS.search(head) is not None

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """``read_tables`` as pandas frames with the ``source`` text (chunks of at most ``chunk_rows`` rows)."""
        for table in self.read_tables(log, ledger, chunk_rows):
            yield _frame(with_source_text(table))

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        chunk_rows = min(max(1, int(chunk_rows)), _MAX_BLOCK)
        shape = _shape(log.head())
        if shape == "empty":
            return
        if shape == "lines":
            yield from super().read_tables(log, ledger, chunk_rows)
            return
        meanings = Meanings()
        name = log.name
        with log.open_binary() as stream:  # a cut gzip stream: the replay reports the unreadable rest of the file
            records = document_records(log, stream) if shape == "document" else csv_records(log, stream)
            for block in record_blocks(records, chunk_rows):
                table = _book(block, ledger, meanings, name)
                if table is not None:
                    yield table

    # ------------------------------------------------------------------------------------------- JSON lines

    def start(self, log: LogFile) -> _FileState:
        return _FileState(log, Meanings())

    def parse(self, block: LineBlock, state: _FileState) -> ParsedLines:
        scanned = scan_block(block.data, block.starts) if _SCAN else None
        if scanned is not None and scanned.ok.all():  # the usual block: every line a plain storage record
            codes, columns = decide(scanned.columns, state.meanings)
            return ParsedLines(codes, columns)
        if scanned is not None and scanned.ok.any():  # a few lines the scanner leaves to the decoders
            others = np.flatnonzero(~scanned.ok)
            values = decode_lines([block.span(i, i + 1) for i in others.tolist()])
            if EXACT not in values:
                fields = merge_columns(scanned, others, [fields_of(v) for v in values])
                codes, columns = decide(fields, state.meanings)
                return ParsedLines(codes, columns)
        n = block.n
        values = decode_lines(block.data.split(b"\n", n)[:n])
        if EXACT not in values:  # every line one record, decoded by orjson
            fields = block_fields(values)
            if fields is None:
                fields = list(zip(*map(fields_of, values)))
            codes, columns = decide(fields, state.meanings)
            return ParsedLines(codes, columns)
        return _parse_exact(block, values, state)


def _parse_exact(block: LineBlock, values: list, state: _FileState) -> ParsedLines:
    """A block with lines that go the exact path (``azfw_records.exact``): blank lines, lines that are not JSON,
    lines holding several records."""
    n = block.n
    cut = state.log.cut if not block.data.endswith(b"\n") else None  # a gzip stream broke off in the last line
    line_of: list[int] = []
    suffix: list[str] = []
    raw: list = []
    fields: list = []
    plain = True  # every record is its line: the engine's places and samples hold
    for i, value in enumerate(values):
        if value is not EXACT:
            line_of.append(i), suffix.append(""), raw.append(None), fields.append(fields_of(value))
            continue
        found = exact(block.span(i, i + 1), cut if cut and i == n - 1 else "")
        if not found:  # a blank line is no record
            line_of.append(i), suffix.append(""), raw.append(None), fields.append(None)
        for more, record, result in found:
            line_of.append(i), suffix.append(more), fields.append(result)
            raw.append(None if not more and isinstance(record, bytes) else record)
            plain = plain and raw[-1] is None
    preset = np.array([NOT_A_RECORD if f is None else OUTCOMES[f] if f.__class__ is str else 0 for f in fields],
                      dtype=np.int16)
    tuples = [f if f.__class__ is tuple else NO_FIELDS for f in fields]
    codes, columns = decide(list(zip(*tuples)), state.meanings, preset)
    if plain:
        return ParsedLines(codes, columns)
    name = state.log.name

    def where(r: int) -> str:
        return f"{name}:{block.first_line + line_of[r]}{suffix[r]}"

    def text(r: int) -> str:
        return block.text(line_of[r]) if raw[r] is None else raw_text(raw[r])

    flows = np.flatnonzero(codes == 0).tolist()
    return ParsedLines(codes, columns, where, text, source_columns([where(r) for r in flows]))


def _book(block: RecordBlock, ledger: RecordLedger, meanings: Meanings, name: str) -> pa.Table | None:
    """Check a block of document or CSV records, book it in the ledger, and give its flows."""
    codes, columns = decide(block.columns, meanings, block.preset)
    flows = OUTCOMES.account(ledger, codes, lambda i: block.where[i], lambda i: raw_text(block.raw[i]))
    if not flows.any():
        return None
    return pa.table({**columns, **source_columns([block.where[i] for i in np.flatnonzero(flows)])})


def _frame(table: pa.Table) -> pd.DataFrame:
    """A table as the pandas frame ``read_chunks`` has always given: text columns built from Python strings (so
    pandas infers their dtype as it does for any such column), ``dst_port`` as nullable ``Int64``."""
    columns = {}
    for name in COLUMNS:
        column = table.column(name)
        if name == "ts":
            columns[name] = column.to_pandas()
        elif name == "dst_port":
            columns[name] = arrow_to_frame(pa.table({name: column}))[name]
        else:
            columns[name] = column.to_numpy()
    return pd.DataFrame(columns)


def source_columns(places: list[str]) -> dict[str, pa.Array]:
    """Lazy ``source`` columns for rows placed as ``file:12``, ``file@345 record 6``: the number at the end of each
    place becomes ``source_num`` and the rest its head (a place without one is all head)."""
    heads: dict[str, int] = {}
    index = np.empty(len(places), dtype=np.int32)
    numbers = np.empty(len(places), dtype=np.int64)
    for k, place in enumerate(places):
        head = place.rstrip("0123456789")
        digits = place[len(head):]
        if not digits or (digits[0] == "0" and len(digits) > 1):
            head, number = place, NO_NUMBER
        else:
            number = int(digits)
        index[k] = heads.setdefault(head, len(heads))
        numbers[k] = number
    return lazy_columns(list(heads), index, numbers)


READER = AzureFirewallReader()
