# Frozen copy of egress_sim/logs/formats/azfw.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
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
``file@byte record N`` inside a document), ``invalid_utf8``, ``not_an_object``, ``unrecognised_message`` (a ``msg``
that is not one of the forms above), ``unrecognised_record`` (no category and no recognisable fields),
``missing_field``, ``unknown_protocol``, ``unknown_action``, ``invalid_ip``, ``invalid_port``, ``invalid_fqdn``,
``invalid_timestamp``, for CSV ``bad_field_count`` / ``bad_csv``, and for JSON lines and CSV ``line_too_long``
(a line over ``limits.MAX_LINE_BYTES``, never held whole).

Shapes read, all streamed: at most ``min(chunk_rows, 50_000)`` records are held at a time (a record costs a few
KiB while its block is interpreted), plus a few MiB of text:

* JSON lines (storage-account ``PT1H.json`` files, Log Analytics JSON lines): a block of lines is parsed in one
  Arrow call when it is regular; a block Arrow refuses (a broken line, a wrapper line, unusual key spellings) is
  redone line by line with ``json``, which gives the exact reject and its line;
* JSON documents: ``{"records": [...]}`` (Event Hub, older storage exports, possibly several per file), a JSON
  array (Log Analytics export) or pretty-printed objects, decoded one record at a time from a rolling buffer
  (``json.JSONDecoder.raw_decode``); after a malformed record, reading resumes at the next record boundary;
* CSV with a header (Log Analytics "Export to CSV"; a `` [UTC]`` suffix on a column name is ignored).

A gzip stream that is cut or corrupt is read up to the damage; the record it cuts is rejected as
``truncated_json`` with the error in the sample. Interpretation is per block and vectorized: every column is
mapped to its meaning once per distinct value, legacy messages of the common shape are taken apart by one Arrow
(RE2) call, and each record's outcome is decided by array masks in a fixed order (first decision wins); rejects
are then reported in record order, so ``--strict`` stops at the first bad record of the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from egress_sim.model.hostnames import try_normalize_host
from egress_sim.net.ipnum import IPV4_PATTERN
from .common import LogFile, LongLineHandler, RecordLedger, is_ip_text, loads, raw_decode, rejects_long_lines

COLUMNS: tuple[str, ...] = ("ts", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "name_logged", "observed_action",
                            "source")

# ---------------------------------------------------------------------------------------------------- outcomes

# Every record ends in exactly one outcome: 0 = a flow, else a skip or a reject reason (codes index this tuple).
_SKIPS = ("not_a_connection_log", "inbound_dnat", "idps_signature", "threat_intel_alert", "alert_only")
_REJECTS = ("truncated_json", "bad_json", "invalid_utf8", "not_an_object", "bad_field_count", "bad_csv",
            "unrecognised_record", "unrecognised_message", "missing_field", "unknown_protocol", "unknown_action",
            "invalid_ip", "invalid_fqdn", "invalid_port", "invalid_timestamp")
_OUTCOMES = ("flow", *_SKIPS, *_REJECTS)
_CODE = {name: k for k, name in enumerate(_OUTCOMES)}
_FIRST_REJECT = 1 + len(_SKIPS)

# ---------------------------------------------------------------------------------------------------- categories

_LEGACY, _NETWORK, _APPLICATION, _THREAT_INTEL, _INFER = range(5)  # record kinds; a skip is 100 + its outcome

_CATEGORY_KINDS: dict[str, int] = {
    "azurefirewallnetworkrule": _LEGACY,
    "azurefirewallapplicationrule": _LEGACY,
    "azurefirewallnatrule": 100 + _CODE["inbound_dnat"],
    "azurefirewalldnsproxy": 100 + _CODE["not_a_connection_log"],
    "azfwnetworkrule": _NETWORK,
    "azfwapplicationrule": _APPLICATION,
    "azfwthreatintel": _THREAT_INTEL,
    "azfwnatrule": 100 + _CODE["inbound_dnat"],
    "azfwidpssignature": 100 + _CODE["idps_signature"],
}
_OPERATION_SKIPS: dict[str, int] = {  # legacy operation names that say what the record is, whatever its category
    "azurefirewallnatrulelog": _CODE["inbound_dnat"],
    "azurefirewallidslog": _CODE["idps_signature"],
    "azurefirewalldnsproxylog": _CODE["not_a_connection_log"],
}

# Firewall category / table names, for format detection.
_SNIFF_TOKENS = re.compile(
    rb"\b(?:AzureFirewall(?:Network|Application|Nat)Rule(?:Log)?|AzureFirewallDnsProxy(?:Log)?"
    rb"|AZFW(?:NetworkRule|ApplicationRule|NatRule|ThreatIntel|IdpsSignature|DnsQuery|DnsAdditional|DnsFlowTrace"
    rb"|FlowTrace|FatFlow|FqdnResolveFailure|InternalFqdnResolutionFailure)(?:Aggregation)?)\b"
)

# ---------------------------------------------------------------------------------------------------- message text

# The common shape, "<PROTO> request from <host>:<port> to <host>:<port>", taken apart by Arrow (RE2) for a whole
# chunk at once; any other shape goes through the general pattern, record by record:
# "<PROTO>[ Type=<n>] request from <src>[ to <dst>]", whose tokens may end with a sentence dot (see _endpoint).
_MSG_COMMON = (r"^\s*(?P<proto>[A-Za-z]+)\s+request\s+from\s+(?P<src>[^\s:\[\]]+):(?P<sport>\d+)"
               r"\s+to\s+(?P<dst>[^\s:\[\]]+):(?P<dport>\d+)(?:[.,\s]|$)")
_MSG = re.compile(r"\s*([A-Za-z]+)(?:\s+Type=\d+)?\s+request\s+from\s+(\S+)(?:\s+to\s+(\S+))?")
_MSG_ACTION = r"Action:\s*(?P<action>[A-Za-z]*)"
_MSG_SPECIAL = r"DNAT'ed|Signature:|ThreatIntel:"  # DNAT (inbound), IDPS, threat intelligence


def _endpoint(token: str | None) -> tuple[str | None, str | None]:
    """``host:port`` / ``[v6]:port`` / ``host`` (a trailing sentence dot removed) → (host, port text)."""
    if token is None:
        return None, None
    token = token.rstrip(".,;")
    if not token:
        return None, None
    if token[0] == "[":
        host, _, rest = token[1:].partition("]")
        return host or None, (rest[1:] or None) if rest.startswith(":") else None
    if token.count(":") == 1:
        host, _, port = token.partition(":")
        return host or None, port or None
    return token, None  # no port (ICMP), or a bare IPv6 address


# ---------------------------------------------------------------------------------------------------- value meanings
# Each takes one distinct value of a column (None when absent) and returns a tuple; a chunk maps every distinct
# value once (see _Meanings), so the per-record work is array indexing.

_ABSENT, _VALID, _INVALID = 0, 1, 2  # address states
_NAME_IP, _NAME_HOST, _NAME_INVALID = 1, 2, 3  # host name states (0 = absent)
_TCP, _UDP, _ICMP = 0, 1, 2
_NO_ACTION, _ALLOW, _DENY, _ALERT, _UNKNOWN_ACTION = range(5)

# protocol word -> (protocol code, default destination port or -1, the target may be a host name)
_PROTOCOLS: dict[str, tuple[int, int, bool]] = {
    "TCP": (_TCP, -1, False), "UDP": (_UDP, -1, False), "ICMP": (_ICMP, -1, False),
    "HTTP": (_TCP, 80, True), "HTTPS": (_TCP, 443, True), "MSSQL": (_TCP, 1433, True),
}
_ACTIONS = {"allow": _ALLOW, "deny": _DENY, "drop": _DENY, "block": _DENY, "reject": _DENY, "alert": _ALERT}
_PROTOCOL_NAMES = np.array(["TCP", "UDP", "ICMP"], dtype=object)
_OBSERVED = np.array([None, "allow", "deny", None, None], dtype=object)
_IPV4 = re.compile(IPV4_PATTERN)


class _Bad:
    """A field holding the wrong kind of JSON value (an object, an array, true/false where text belongs)."""

    def __repr__(self) -> str:
        return "<bad value>"


_BAD = _Bad()


def _blank(value: object) -> bool:
    return value is None or (value.__class__ is str and not value.strip())


def _address(value: object) -> tuple[int, str | None]:
    if _blank(value):
        return _ABSENT, None
    if value.__class__ is not str:
        return _INVALID, None
    text = value.strip()  # type: ignore[union-attr]
    if _IPV4.fullmatch(text) is None and not is_ip_text(text):  # the common case by a regex
        return _INVALID, None
    return _VALID, text


def _name(value: object) -> tuple[int, str | None]:
    if _blank(value):
        return _ABSENT, None
    state, text = _address(value)
    if state == _VALID:
        return _NAME_IP, text
    if value.__class__ is str and try_normalize_host(value) is not None:
        return _NAME_HOST, value.strip()  # type: ignore[union-attr]
    return _NAME_INVALID, None


def _protocol(value: object) -> tuple[int, int, bool]:
    """(code or -1 absent / -2 unknown, default port or -1, may name a host)."""
    if _blank(value):
        return -1, -1, False
    if value.__class__ is not str:
        return -2, -1, False
    text = value.strip().upper()  # type: ignore[union-attr]
    found = _PROTOCOLS.get(text)
    if found is None and text.startswith("ICMP"):  # "ICMP Type=8" in the structured tables
        found = _PROTOCOLS["ICMP"]
    return found if found is not None else (-2, -1, False)


def _action(value: object) -> tuple[int]:
    if _blank(value):
        return (_NO_ACTION,)
    if value.__class__ is not str:
        return (_UNKNOWN_ACTION,)
    return (_ACTIONS.get(value.strip().lower(), _UNKNOWN_ACTION),)  # type: ignore[union-attr]


def _port(value: object) -> tuple[int]:
    """(0-65535, or -1 absent, -2 not a port)."""
    if _blank(value):
        return (-1,)
    if value.__class__ is int:
        return (value if 0 <= value <= 65535 else -2,)  # type: ignore[operator]
    if value.__class__ is float:
        return (int(value) if value.is_integer() and 0 <= value <= 65535 else -2,)  # type: ignore[union-attr]
    if value.__class__ is str:
        text = value.strip()  # type: ignore[union-attr]
        if text.isascii() and text.isdigit() and int(text) <= 65535:
            return (int(text),)
    return (-2,)


def _truthy(value: object) -> tuple[bool]:
    return (value is not None and bool(value),)


def _category(value: object) -> tuple[int]:
    if _blank(value):
        return (_INFER,)
    if value.__class__ is not str:
        return (100 + _CODE["not_a_connection_log"],)
    unknown = 100 + _CODE["not_a_connection_log"]
    return (_CATEGORY_KINDS.get(value.strip().lower(), unknown),)  # type: ignore[union-attr]


def _operation(value: object) -> tuple[int]:
    if value.__class__ is not str:
        return (0,)
    return (_OPERATION_SKIPS.get(value.strip().lower(), 0),)  # type: ignore[union-attr]


_MEANING_TYPES: dict[Callable, tuple] = {
    _address: (np.int8, object), _name: (np.int8, object), _protocol: (np.int8, np.int32, bool),
    _action: (np.int8,), _port: (np.int32,), _truthy: (bool,), _category: (np.int16,), _operation: (np.int16,),
}


def _codes(column: pa.Array | list) -> tuple[np.ndarray, list]:
    """Factorize a column: a code per record (-1 when null) and its distinct values."""
    if isinstance(column, pa.Array):
        if column.null_count == len(column):
            return np.full(len(column), -1, dtype=np.int64), []
        encoded = pc.dictionary_encode(column)
        return encoded.indices.fill_null(-1).to_numpy().astype(np.int64), encoded.dictionary.to_pylist()
    values = np.empty(len(column), dtype=object)
    values[:] = column
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, list(uniques)




def _ipv4_mask(uniques: list) -> tuple[np.ndarray, np.ndarray]:
    """For distinct values: which are (after trimming) IPv4 addresses, in one Arrow call, and the trimmed texts."""
    texts = pc.utf8_trim_whitespace(pa.array([u if u.__class__ is str else None for u in uniques], pa.string()))
    mask = pc.match_substring_regex(texts, IPV4_PATTERN).fill_null(False).to_numpy(zero_copy_only=False)
    return mask, texts.to_numpy(zero_copy_only=False)


def _ports(column: pa.Array) -> np.ndarray:
    """``_port`` for a whole Arrow column (numbers, or text): 0-65535, -1 absent, -2 not a port."""
    if pa.types.is_integer(column.type):
        values = column.cast(pa.int64()).fill_null(-1).to_numpy()
        present = column.is_valid().to_numpy(zero_copy_only=False)
        return np.where(present & ((values < 0) | (values > 65535)), -2, values).astype(np.int32)
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    digits = pc.match_substring_regex(text, "^[0-9]{1,5}$").fill_null(False)
    values = pc.cast(pc.if_else(digits, text, _NULL_TEXT), pa.int64()).fill_null(-1).to_numpy()
    blank = pc.or_(pc.is_null(text), pc.equal(text, "")).fill_null(True).to_numpy(zero_copy_only=False)
    digits = digits.to_numpy(zero_copy_only=False)
    return np.where(blank, -1, np.where(digits & (values <= 65535), values, -2)).astype(np.int32)


class _Meanings:
    """Maps columns to per-record meanings, each distinct value worked out once (and cached for the file;
    addresses, which are many, are checked per chunk with one Arrow call for all IPv4 ones)."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self.caches: dict[Callable, dict] = {}

    def of(self, column: pa.Array | list, meaning: Callable) -> list[np.ndarray]:
        if meaning is _port and isinstance(column, pa.Array):
            return [_ports(column)]
        codes, uniques = _codes(column)
        if meaning is _address or meaning is _name:
            table = self._addresses(uniques, meaning)
        else:
            cache = self.caches.setdefault(meaning, {})
            if len(cache) > self.LIMIT:
                cache.clear()
            table = []
            for value in uniques:
                found = cache.get(value)
                if found is None:
                    found = cache[value] = meaning(value)
                table.append(found)
            table.append(meaning(None))  # code -1 (null) indexes this last entry
        return [np.array([t[k] for t in table], dtype=dtype)[codes] for k, dtype in enumerate(_MEANING_TYPES[meaning])]

    def _addresses(self, uniques: list, meaning: Callable) -> list[tuple]:
        valid = _VALID if meaning is _address else _NAME_IP
        table: list[tuple] = [(0, None)] * (len(uniques) + 1)
        if uniques:
            ipv4, texts = _ipv4_mask(uniques)
            cache = self.caches.setdefault(meaning, {})
            if len(cache) > self.LIMIT:
                cache.clear()
            for k, value in enumerate(uniques):
                if ipv4[k]:
                    table[k] = (valid, texts[k])
                else:
                    found = cache.get(value)
                    if found is None:
                        found = cache[value] = meaning(value)
                    table[k] = found
        return table

    def one(self, value: object, meaning: Callable) -> tuple:
        cache = self.caches.setdefault(meaning, {})
        found = cache.get(value) if value.__class__ in (str, int) else None
        return found if found is not None else meaning(value)


# ---------------------------------------------------------------------------------------------------- records

# One record's fields, in this order (None when absent): the column order of every block.
_FIELDS = ("category", "operation", "time", "msg", "protocol", "sourceip", "sourceport", "destinationip",
           "destinationport", "fqdn", "action", "translatedip")
_STRUCTURED = _FIELDS[4:]
_NO_FIELDS = (None,) * len(_FIELDS)


_SCALARS = frozenset({str, int, float, type(None)})

# Documented key spellings. A record whose keys are all among them (the usual case) is read with plain lookups,
# which give the same result as the case-insensitive path because each field then has a single spelling.
_STORAGE_KEYS = frozenset({"category", "time", "resourceId", "operationName", "properties", "level", "location",
                           "tenantId", "Region", "resultType", "resultSignature", "correlationId", "identity"})
_TABLE_COLUMNS = ("Protocol", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort", "Fqdn", "Action",
                  "TranslatedIp")
_PROPERTY_KEYS = frozenset({"msg", *_TABLE_COLUMNS, "TranslatedPort", "Policy", "RuleCollectionGroup",
                            "RuleCollection", "Rule", "ActionReason", "TargetUrl", "IsTlsInspected", "WebCategory",
                            "IsExplicitProxyRequest", "ThreatDescription", "SignatureId", "Category", "Description",
                            "Severity", "QueryId", "QueryType", "QueryClass", "QueryName", "RequestSize",
                            "DnssecOkBit", "EDNS0BufferSize", "ResponseCode", "ResponseFlags", "ResponseSize",
                            "RequestDurationSecs", "ErrorNumber", "ErrorMessage"})
_ROW_KEYS = frozenset({"TenantId", "TimeGenerated", "ResourceId", "_ResourceId", "Category", "ResourceType",
                       "ResourceGroup", "ResourceProvider", "Resource", "SubscriptionId", "_SubscriptionId",
                       "OperationName", "msg_s", "Type", "SourceSystem", "_BilledSize", "_IsBillable", "MG",
                       "ManagementGroupName", "Computer", "RawData", "_TimeReceived",
                       *(_PROPERTY_KEYS - {"msg", "Category"})})


def _scalar(value: object) -> object:
    return value if value.__class__ in _SCALARS else _BAD


def _fields_of(record: dict) -> tuple:
    """The fields the reader uses from one record of any shape (nested ``properties`` or flat, any key case);
    a value of the wrong JSON kind (object, array, true/false) becomes ``_BAD``."""
    props = record.get("properties")
    if props.__class__ is dict and record.keys() <= _STORAGE_KEYS and props.keys() <= _PROPERTY_KEYS:
        get = props.get
        values: tuple = (record.get("category"), record.get("operationName"), record.get("time"), get("msg"),
                         *map(get, _TABLE_COLUMNS))
    elif props is None and record.keys() <= _ROW_KEYS:  # a Log Analytics row
        get = record.get
        table = get("Type")
        named = table.__class__ is str and table and table.lower() != "azurediagnostics"
        category = table if named else get("Category")
        values = (category, get("OperationName"), get("TimeGenerated"), get("msg_s"), *map(get, _TABLE_COLUMNS))
    else:
        values = _fields_any_case(record)
    if set(map(type, values)) <= _SCALARS:
        return values
    return tuple(map(_scalar, values))


def _fields_any_case(record: dict) -> tuple:
    top = {str(k).lower(): v for k, v in record.items()}
    props = top.get("properties")
    if isinstance(props, str):  # some forwarders ship properties as a JSON string
        try:
            props = loads(props)
        except ValueError:
            props = None
    inner = {str(k).lower(): v for k, v in props.items()} if isinstance(props, dict) else {}
    table = top.get("type")
    named = isinstance(table, str) and table and table.lower() != "azurediagnostics"
    category = table if named else top.get("category")
    time = top.get("time", top.get("timegenerated", top.get("timestamp")))
    msg = inner.get("msg", top.get("msg_s", top.get("msg")))
    values = [inner[k] if k in inner else top.get(k) for k in _STRUCTURED]
    return (category, top.get("operationname"), time, msg, *values)


def _expand(value: object) -> list[tuple[str, object]]:
    """A decoded JSON value → its records with a ``where`` suffix: a wrapper ``{"records": [...]}`` or an array
    gives one per element; an object is one record; anything else is one ``not_an_object`` record."""
    if isinstance(value, dict):
        inner = value.get("records")
        if isinstance(inner, list) and not ({"category", "Category", "Type", "properties", "msg_s"} & value.keys()):
            return [(f" record {k}", r) for k, r in enumerate(inner, 1)]
        return [("", value)]
    if isinstance(value, list):
        return [(f" record {k}", r) for k, r in enumerate(value, 1)]
    return [("", value)]


def _is_truncation(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether a decode error in ``text`` means the text simply stops (the file was cut), rather than being
    malformed before its end."""
    end = len(text.rstrip())
    if exc.pos >= end or exc.msg.startswith("Unterminated string"):
        return True
    tail = text[exc.pos:end]
    return len(tail) < 6 and any(literal.startswith(tail) for literal in ("true", "false", "null"))


def _raw_text(raw: object) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").rstrip("\r\n")
    if isinstance(raw, str):
        return raw
    try:
        return json.dumps(raw, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(raw)


@dataclass
class _Block:
    """Records interpreted together: where each is, its raw form (for reject samples), the field columns (Arrow
    arrays, or Python lists) and, for records that could not even be decoded, the reject reason."""

    where: list[str]
    raw: list
    columns: list
    undecodable: list[str | None] | None = None


@dataclass
class _Pending:
    """Records decoded one at a time (exact path), gathered into blocks of ``chunk_rows``."""

    where: list[str] = field(default_factory=list)
    raw: list = field(default_factory=list)
    fields: list = field(default_factory=list)  # a fields tuple, or a reject reason (str)

    def __len__(self) -> int:
        return len(self.where)

    def add(self, where: str, raw: object, fields: tuple | str) -> None:
        self.where.append(where)
        self.raw.append(raw)
        self.fields.append(fields)

    def take(self, n: int) -> _Block:
        where, raw, fields = self.where[:n], self.raw[:n], self.fields[:n]
        del self.where[:n], self.raw[:n], self.fields[:n]
        undecodable = [f if f.__class__ is str else None for f in fields]
        tuples = [_NO_FIELDS if f.__class__ is str else f for f in fields]
        columns = [list(c) for c in zip(*tuples)] if tuples else [[] for _ in _FIELDS]
        return _Block(where, raw, columns, undecodable if any(undecodable) else None)


def _blocks(items: Iterable[tuple[str, object, tuple | str]], chunk_rows: int) -> Iterator[_Block]:
    pending = _Pending()
    for item in items:
        pending.add(*item)
        if len(pending) >= chunk_rows:
            yield pending.take(chunk_rows)
    if len(pending):
        yield pending.take(len(pending))


# ---------------------------------------------------------------------------------------------------- streams

def _open(log: LogFile, long_lines: LongLineHandler | None = None) -> tuple[BinaryIO, LogFile]:
    """The file's bytes; a cut gzip stream ends cleanly at its last whole line and ``log.cut`` says why. Line
    shapes (JSON lines, CSV) pass ``long_lines``: a line over ``limits.MAX_LINE_BYTES`` is rejected, not held."""
    return log.open_binary(long_lines=long_lines), log


# ---------------------------------------------------------------------------------------------------- JSON lines

_PORT_FIELDS = ("SourcePort", "DestinationPort")
_ARROW_STRUCTURED = ("Protocol", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort", "Fqdn", "Action",
                     "TranslatedIp")
_ARROW_TOP = ("category", "Category", "Type", "operationName", "OperationName", "time", "TimeGenerated", "msg_s")


def _arrow_options(port_type: pa.DataType) -> pajson.ParseOptions:
    structured = [pa.field(n, port_type if n in _PORT_FIELDS else pa.string()) for n in _ARROW_STRUCTURED]
    schema = pa.schema([pa.field(n, pa.string()) for n in _ARROW_TOP] + structured
                       + [pa.field("properties", pa.struct([pa.field("msg", pa.string())] + structured))])
    return pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")


_ARROW_OPTIONS = [_arrow_options(pa.int64()), _arrow_options(pa.string())]  # ports as numbers, or as text
_NULL_TEXT = pa.scalar(None, pa.string())


def _arrow_columns(lines: list[bytes], preferred: list[int]) -> list[pa.Array] | None:
    """The field columns of a block of JSON lines, parsed by Arrow in one call; None when Arrow cannot take the
    block as it is (a malformed line, a type changing between lines, bytes that are not UTF-8) or when a record
    needs the exact path (a wrapper line, other key cases, properties as a string)."""
    data = b"\n".join(lines)
    if not data.isascii():  # Arrow does not check the bytes of fields it ignores
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    table = None
    for k in list(preferred):
        try:
            table = pajson.read_json(io.BytesIO(data), parse_options=_ARROW_OPTIONS[k])
        except (pa.ArrowException, ValueError):
            continue
        preferred[:] = [k] + [j for j in preferred if j != k]  # the next block tries what worked first
        break
    if table is None or table.num_rows != len(lines):
        return None
    table = table.combine_chunks()
    if not table.num_rows:
        return None
    props = table.column("properties").chunk(0)

    def top(name: str) -> pa.Array:
        return table.column(name).chunk(0)

    kind = top("Type")
    kind = pc.if_else(pc.is_in(pc.utf8_lower(kind), pa.array(["azurediagnostics", ""])), _NULL_TEXT, kind)
    category = pc.coalesce(kind, top("category"), top("Category"))
    msg = pc.coalesce(pc.struct_field(props, "msg"), top("msg_s"))
    structured = [pc.coalesce(pc.struct_field(props, n), top(n)) for n in _ARROW_STRUCTURED]
    columns = [category, pc.coalesce(top("operationName"), top("OperationName")),
               pc.coalesce(top("time"), top("TimeGenerated")), msg, *structured]
    # a record Arrow found nothing in (other key names) is left to the exact path, with its whole block
    empty = pc.or_(pc.is_null(category), pc.and_(pc.and_(pc.is_null(msg), pc.is_null(structured[1])),
                                                 pc.and_(pc.is_null(structured[3]), pc.is_null(structured[5]))))
    if pc.any(empty).as_py():
        return None
    return columns


def _line_records(line: bytes, where: str, cut_by: str = "") -> Iterator[tuple[str, object, tuple | str]]:
    """The record(s) of one JSON line, decoded with ``json`` (the exact path); ``cut_by`` is the stream error
    that ended the file inside this line, if any."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        yield where, line, "invalid_utf8"
        return
    try:
        value = loads(text)
    except json.JSONDecodeError as exc:
        if cut_by:
            yield where, f"[{cut_by}] {text}", "truncated_json"
        else:
            yield where, line, "truncated_json" if _is_truncation(text, exc) else "bad_json"
        return
    for suffix, record in _expand(value):
        if isinstance(record, dict):
            yield where + suffix, record, _fields_of(record)
        else:
            yield where + suffix, record, "not_an_object"


def _json_lines(log: LogFile, stream: io.BufferedReader, raw: LogFile, chunk_rows: int) -> Iterator[_Block]:
    name = log.name
    preferred = [0, 1]
    pending = _Pending()
    with stream:
        line_no = 0
        while block := list(islice(stream, chunk_rows)):
            if line_no == 0 and block[0].startswith(codecs.BOM_UTF8):
                block[0] = block[0][len(codecs.BOM_UTF8):]
            kept = [k for k, line in enumerate(block) if not line.isspace()]  # a blank line is not a record
            lines = [block[k] for k in kept]
            wheres = [f"{name}:{line_no + k + 1}" for k in kept]
            line_no += len(block)
            columns = _arrow_columns(lines, preferred) if lines else None
            if columns is not None:
                if len(pending):  # records left from an earlier block go first, in order
                    yield pending.take(len(pending))
                yield _Block(wheres, lines, columns)
                continue
            # the last line, when a damaged gzip stream ended the file inside it
            cut = len(lines) - 1 if raw.cut and lines and not lines[-1].endswith(b"\n") else -1
            for k, (where, line) in enumerate(zip(wheres, lines)):
                for item in _line_records(line, where, raw.cut if k == cut else ""):
                    pending.add(*item)
            while len(pending) >= chunk_rows:
                yield pending.take(chunk_rows)
        if len(pending):
            yield pending.take(len(pending))


# ---------------------------------------------------------------------------------------------------- JSON documents

_READ_BYTES = 1 << 20
_LOOKAHEAD = 1 << 20  # a record must fit in this much text (firewall records are well under 4 KiB)
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


def _document_records(log: LogFile, stream: io.BufferedReader,
                      raw: LogFile) -> Iterator[tuple[str, object, tuple | str]]:
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
                if win.eof and match is None and (raw.cut or _is_truncation(win.buf, exc)):
                    yield where, f"[{raw.cut}] {snippet}" if raw.cut else snippet, "truncated_json"
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
            expanded = _expand(value) if not isinstance(value, list) else [("", value)]
            for more, record in expanded:
                if isinstance(record, dict):  # keep the record's text (smaller than the decoded dict) for samples
                    yield where + more, win.buf[start:end] if len(expanded) == 1 else record, _fields_of(record)
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

def _csv_records(log: LogFile, stream: io.BufferedReader) -> Iterator[tuple[str, object, tuple | str]]:
    name = log.name
    with io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="") as text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        names = [re.sub(r"\s*\[utc\]$", "", h.strip(), flags=re.IGNORECASE) for h in header]
        previous = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # (a field over csv's size limit, a quote never closed): the next row goes on
                yield f"{name}:{previous + 1}", str(exc), "bad_csv"
                previous = reader.line_num
                continue
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
            yield where, raw, _fields_of(record)


# ---------------------------------------------------------------------------------------------------- interpretation

def _times(values: list) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Parsed UTC times (NaT when absent) and a mask of values present but not a time."""
    texts = [v if v.__class__ is str and v.strip() else None for v in values]
    wrong_type = np.fromiter((v is not None and v.__class__ is not str for v in values), bool, len(values))
    series = pd.Series(texts, dtype=object)
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce").astype("datetime64[ns, UTC]")
    present = series.notna().to_numpy()
    retry = present & parsed.isna().to_numpy()
    if retry.any():  # e.g. the portal's CSV "3/1/2024, 12:30:01.500 PM"
        again = pd.to_datetime(series[retry], utc=True, format="mixed", errors="coerce")
        parsed[retry] = again.astype("datetime64[ns, UTC]")
    bad = wrong_type | (present & parsed.isna().to_numpy())
    return pd.DatetimeIndex(parsed), bad


def _text_column(column: pa.Array | list) -> pa.Array:
    if isinstance(column, pa.Array):
        return column
    return pa.array([v if v.__class__ is str else None for v in column], pa.string())


def _interpret(block: _Block, ledger: RecordLedger, meanings: _Meanings) -> pd.DataFrame | None:
    """Account for every record of the block (read, then exactly one of flow / skip / reject).

    Each column is mapped to its meaning per distinct value; the outcome of every record is then decided with
    array masks, in a fixed order where the first decision wins (the order in which a person would check a record).
    """
    n = len(block.where)
    ledger.read(n)
    if n == 0:
        return None
    category, operation, time, msg, protocol, src, sport, dst, dport, fqdn, action, translated = block.columns
    of = meanings.of
    outcome = np.zeros(n, dtype=np.int16)

    def decide(mask: np.ndarray, reason: str | np.ndarray) -> None:
        chosen = (outcome == 0) & mask
        outcome[chosen] = _CODE[reason] if isinstance(reason, str) else reason[chosen]

    if block.undecodable is not None:
        outcome[:] = [_CODE[r] if r else 0 for r in block.undecodable]

    # what kind of record: the operation name may say (legacy DNAT / IDS / DNS), else the category or table
    (said,) = of(operation, _operation)
    decide(said > 0, said)
    (kind,) = of(category, _category)
    decide(kind >= 100, kind - 100)
    text = _text_column(msg)
    has_msg = text.is_valid().to_numpy(zero_copy_only=False)
    (has_fqdn,), (has_dst,) = of(fqdn, _truthy), of(dst, _truthy)
    infer = kind == _INFER
    decide(infer & ~has_msg & of(translated, _truthy)[0], "inbound_dnat")
    kind = np.where(infer & has_msg, _LEGACY, kind)
    # no message where one belongs: a legacy category already split into fields is read as such
    kind = np.where((infer | (kind == _LEGACY)) & ~has_msg, np.where(has_fqdn, _APPLICATION,
                                                                     np.where(has_dst, _NETWORK, kind)), kind)
    decide(infer & ~has_msg & ~has_fqdn & ~has_dst, "unrecognised_record")
    legacy = kind == _LEGACY
    decide(legacy & ~has_msg, "missing_field")

    # legacy records: the message taken apart (the common shape by Arrow, the others one by one)
    parts = pc.extract_regex(text, _MSG_COMMON)
    word, l_src, l_sport, l_target, l_dport = (pc.struct_field(parts, [k]) for k in range(5))
    l_proto, l_default, l_named = of(word, _protocol)
    l_src_state, l_src_text = of(l_src, _address)
    (l_sport_value,), (l_dport_value,) = of(l_sport, _port), of(l_dport, _port)
    named_target = pa.array(l_named)
    l_ip_state, l_ip_text = of(pc.if_else(named_target, _NULL_TEXT, l_target), _address)
    l_name_state, l_name_text = of(pc.if_else(named_target, l_target, _NULL_TEXT), _name)
    (l_action,) = of(pc.struct_field(pc.extract_regex(text, _MSG_ACTION), [0]), _action)
    special = pc.match_substring_regex(text, _MSG_SPECIAL).fill_null(False).to_numpy(zero_copy_only=False)
    dnat, idps, intel = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    other_shape = legacy & has_msg & ~parts.is_valid().to_numpy(zero_copy_only=False)
    for i in np.flatnonzero((legacy & special) | other_shape):
        message = text[i].as_py()
        dnat[i], idps[i], intel[i] = "DNAT'ed" in message, "Signature:" in message, "ThreatIntel:" in message
        if not other_shape[i]:
            continue
        match = _MSG.match(message)
        if match is None:
            if outcome[i] == 0:
                outcome[i] = _CODE["unrecognised_message"]
            continue
        proto_word, src_token, dst_token = match.groups()
        (host, port), (target, target_port) = _endpoint(src_token), _endpoint(dst_token)
        l_proto[i], l_default[i], l_named[i] = meanings.one(proto_word, _protocol)
        l_src_state[i], l_src_text[i] = meanings.one(host, _address)
        l_sport_value[i], l_dport_value[i] = meanings.one(port, _port)[0], meanings.one(target_port, _port)[0]
        l_ip_state[i], l_ip_text[i] = meanings.one(target, _address)
        l_name_state[i], l_name_text[i] = meanings.one(target, _name)
    decide(legacy & dnat, "inbound_dnat")
    decide(legacy & idps, "idps_signature")

    # structured records
    s_proto, s_default, s_named = of(protocol, _protocol)
    (s_action,) = of(action, _action)
    structured = ~legacy

    # one set of columns for both
    proto = np.where(legacy, l_proto, s_proto)
    default_port = np.where(legacy, l_default, s_default)
    named = np.where(legacy, l_named, s_named)
    verdict = np.where(legacy, l_action, s_action)
    decide((verdict == _ALERT) & (intel | (kind == _THREAT_INTEL)), "threat_intel_alert")
    decide(verdict == _ALERT, "alert_only")
    decide(structured & (proto == -1), "missing_field")
    decide(proto == -2, "unknown_protocol")
    decide(verdict == _UNKNOWN_ACTION, "unknown_action")

    s_src_state, s_src_text = of(src, _address)
    src_state = np.where(legacy, l_src_state, s_src_state)
    decide(src_state == _INVALID, "invalid_ip")
    s_dst_state, s_dst_text = of(dst, _address)
    dst_state = np.where(legacy, np.where(l_named, _ABSENT, l_ip_state), s_dst_state)
    decide(dst_state == _INVALID, "invalid_ip")
    s_name_state, s_name_text = of(fqdn, _name)
    name_state = np.where(legacy, np.where(l_named, l_name_state, _ABSENT), s_name_state)
    decide(name_state == _NAME_INVALID, "invalid_fqdn")
    dst_text = np.where(legacy, l_ip_text, s_dst_text)
    name_text = np.where(legacy, l_name_text, s_name_text)
    dst_ip = np.where(dst_state == _VALID, dst_text, np.where(name_state == _NAME_IP, name_text, None))
    decide((dst_state != _VALID) & (name_state != _NAME_IP) & ~named, "missing_field")

    (s_sport_value,), (s_dport_value,) = of(sport, _port), of(dport, _port)
    decide(np.where(legacy, l_sport_value, s_sport_value) == -2, "invalid_port")
    icmp = proto == _ICMP
    port = np.where(legacy, l_dport_value, s_dport_value)
    decide(~icmp & (port == -2), "invalid_port")
    decide(~icmp & (port == -1) & (default_port < 0), "missing_field")
    times, bad_time = _times(time.to_pylist() if isinstance(time, pa.Array) else time)
    decide(bad_time, "invalid_timestamp")

    # the ledger, in record order (so --strict stops at the first bad record)
    counts = np.bincount(outcome, minlength=len(_OUTCOMES))
    for code in range(1, _FIRST_REJECT):
        if counts[code]:
            ledger.skip(_OUTCOMES[code], int(counts[code]))
    for i in np.flatnonzero(outcome >= _FIRST_REJECT):
        ledger.reject(_OUTCOMES[outcome[i]], block.where[i], _raw_text(block.raw[i]))

    keep = np.flatnonzero(outcome == 0)
    if not len(keep):
        return None
    port = np.where(port >= 0, port, default_port)[keep]
    return pd.DataFrame({
        "ts": times.take(keep),
        "src_ip": np.where(legacy, l_src_text, s_src_text)[keep],
        "dst_ip": dst_ip[keep],
        "dst_port": pd.arrays.IntegerArray(port.astype(np.int64), icmp[keep]),
        "protocol": _PROTOCOL_NAMES[proto[keep]],
        "fqdn": np.where(name_state == _NAME_HOST, name_text, None)[keep],
        # network-rule hits never carry the host name (only application rules see SNI / Host)
        "name_logged": named[keep],
        "observed_action": _OBSERVED[verdict[keep]],
        "source": np.array(block.where, dtype=object)[keep],
    })[list(COLUMNS)]

# ---------------------------------------------------------------------------------------------------- the reader

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


_MAX_BLOCK = 50_000


class AzureFirewallReader:
    name = "azfw"
    description = ("Azure Firewall diagnostic logs: AzureDiagnostics (properties.msg / msg_s) and the AZFW* "
                   "resource-specific tables, as JSON lines, {\"records\": [...]}, JSON arrays or CSV")

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
        # A record costs a few KiB while its block is interpreted, so blocks stay below _MAX_BLOCK records whatever
        # chunk_rows asks (a chunk may be smaller than chunk_rows, never larger).
        chunk_rows = min(max(1, int(chunk_rows)), _MAX_BLOCK)
        shape = _shape(log.head())
        if shape == "empty":
            return
        stream, raw = _open(log, None if shape == "document" else rejects_long_lines(log, ledger))
        if shape == "lines":
            batches = _json_lines(log, stream, raw, chunk_rows)
        elif shape == "document":
            batches = _blocks(_document_records(log, stream, raw), chunk_rows)
        else:
            batches = _blocks(_csv_records(log, stream), chunk_rows)
        meanings = _Meanings()
        try:
            for batch in batches:
                frame = _interpret(batch, ledger, meanings)
                if frame is not None:
                    yield frame
        finally:
            stream.close()  # a cut gzip stream: the replay reports the unreadable rest of the file


READER = AzureFirewallReader()
