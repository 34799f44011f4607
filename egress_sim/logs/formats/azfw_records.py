"""An Azure Firewall record's fields, whatever shape it comes in, and JSON lines decoded into records.

Records come nested (``{"category", "time", "operationName", "properties": {...}}``, storage account and Event
Hub), flat (Log Analytics rows: ``TimeGenerated``, ``Type`` = the table, ``msg_s``), in other key cases, or with
``properties`` as a JSON string; ``fields_of`` gives the same twelve fields (``FIELDS``) for all of them.

JSON lines are decoded with orjson (the fastest well-kept JSON parser, with wheels for every platform), a block of
lines in one ``map``. A line orjson refuses, or one that is not a plain record (an array, a ``{"records": [...]}``
wrapper), is decoded again with :mod:`json` (``exact``), which decides what the reader has always decided:
``invalid_utf8``, ``truncated_json`` or ``bad_json`` with the line, or the records the line holds. The two paths
give the same fields for every line both decode (the tests check the fast path against ``exact`` alone). Nesting
is bounded by orjson (1,024 levels) and by ``jsonrecords`` for :mod:`json`: a line nested deeper is one
``bad_json`` reject, never a ``RecursionError``.
"""

from __future__ import annotations

import json

import orjson

from .azfw_values import BAD
from ..engine.jsondecode import loads

# One record's fields, in this order (None when absent): the column order of every block.
FIELDS = ("category", "operation", "time", "msg", "protocol", "sourceip", "sourceport", "destinationip",
          "destinationport", "fqdn", "action", "translatedip")
_STRUCTURED = FIELDS[4:]
NO_FIELDS = (None,) * len(FIELDS)


_SCALARS = frozenset({str, int, float, type(None)})

# Documented key spellings. A record whose keys are all among them (the usual case) is read with plain lookups,
# which give the same result as the case-insensitive path because each field then has a single spelling.
STORAGE_KEYS = frozenset({"category", "time", "resourceId", "operationName", "properties", "level", "location",
                           "tenantId", "Region", "resultType", "resultSignature", "correlationId", "identity"})
TABLE_COLUMNS = ("Protocol", "SourceIp", "SourcePort", "DestinationIp", "DestinationPort", "Fqdn", "Action",
                  "TranslatedIp")
PROPERTY_KEYS = frozenset({"msg", *TABLE_COLUMNS, "TranslatedPort", "Policy", "RuleCollectionGroup",
                            "RuleCollection", "Rule", "ActionReason", "TargetUrl", "IsTlsInspected", "WebCategory",
                            "IsExplicitProxyRequest", "ThreatDescription", "SignatureId", "Category", "Description",
                            "Severity", "QueryId", "QueryType", "QueryClass", "QueryName", "RequestSize",
                            "DnssecOkBit", "EDNS0BufferSize", "ResponseCode", "ResponseFlags", "ResponseSize",
                            "RequestDurationSecs", "ErrorNumber", "ErrorMessage"})
_ROW_KEYS = frozenset({"TenantId", "TimeGenerated", "ResourceId", "_ResourceId", "Category", "ResourceType",
                       "ResourceGroup", "ResourceProvider", "Resource", "SubscriptionId", "_SubscriptionId",
                       "OperationName", "msg_s", "Type", "SourceSystem", "_BilledSize", "_IsBillable", "MG",
                       "ManagementGroupName", "Computer", "RawData", "_TimeReceived",
                       *(PROPERTY_KEYS - {"msg", "Category"})})


def _scalar(value: object) -> object:
    return value if value.__class__ in _SCALARS else BAD


def fields_of(record: dict) -> tuple:
    """The fields the reader uses from one record of any shape (nested ``properties`` or flat, any key case);
    a value of the wrong JSON kind (object, array, true/false) becomes ``BAD``."""
    props = record.get("properties")
    if props.__class__ is dict and record.keys() <= STORAGE_KEYS and props.keys() <= PROPERTY_KEYS:
        get = props.get
        values: tuple = (record.get("category"), record.get("operationName"), record.get("time"), get("msg"),
                         *map(get, TABLE_COLUMNS))
    elif props is None and record.keys() <= _ROW_KEYS:  # a Log Analytics row
        get = record.get
        table = get("Type")
        named = table.__class__ is str and table and table.lower() != "azurediagnostics"
        category = table if named else get("Category")
        values = (category, get("OperationName"), get("TimeGenerated"), get("msg_s"), *map(get, TABLE_COLUMNS))
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


def expand(value: object) -> list[tuple[str, object]]:
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


def is_truncation(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether a decode error in ``text`` means the text simply stops (the file was cut), rather than being
    malformed before its end."""
    end = len(text.rstrip())
    if exc.pos >= end or exc.msg.startswith("Unterminated string"):
        return True
    tail = text[exc.pos:end]
    return len(tail) < 6 and any(literal.startswith(tail) for literal in ("true", "false", "null"))


def raw_text(raw: object) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").rstrip("\r\n")
    if isinstance(raw, str):
        return raw
    try:
        return json.dumps(raw, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(raw)




_orjson_loads = orjson.loads  # the fast decoder (a test replaces it to run the exact path alone)
EXACT = object()  # a line's place in ``decode_lines``'s result when it must be decoded by ``exact``


def decode_lines(lines: list[bytes]) -> list[object]:
    """Each line's JSON value, or ``EXACT`` for a line the exact path must decode (a record line is a dict
    without a ``records`` key: any other value also goes to ``exact``, which knows how to expand it)."""
    try:
        values = list(map(_orjson_loads, lines))
    except orjson.JSONDecodeError:
        values = []
        for line in lines:
            try:
                values.append(_orjson_loads(line))
            except orjson.JSONDecodeError:
                values.append(EXACT)
    for i, value in enumerate(values):
        if value.__class__ is not dict or "records" in value:  # type: ignore[operator]
            values[i] = EXACT
    return values


def block_fields(values: list[dict]) -> list[list] | None:
    """``fields_of`` for a whole block of records, column by column, when every record has the storage shape
    with documented keys only (the usual block); None otherwise. The shape test on the union of the block's keys
    is the per-record test of ``fields_of`` (each record's keys are a subset of the allowed ones exactly when
    their union is)."""
    props = [record.get("properties") for record in values]
    if set(map(type, props)) != {dict} or not set().union(*values) <= STORAGE_KEYS \
            or not set().union(*props) <= PROPERTY_KEYS:
        return None
    columns = [[record.get(key) for record in values] for key in ("category", "operationName", "time")]
    columns += [[p.get(key) for p in props] for key in ("msg", *TABLE_COLUMNS)]
    for k, column in enumerate(columns):
        if not set(map(type, column)) <= _SCALARS:
            columns[k] = list(map(_scalar, column))
    return columns


def holds_lone_surrogate(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:  # nested too deeply to write back: its strings are looked at no further
        return False
    return False


def exact(line: bytes, cut_by: str = "") -> list[tuple[str, object, tuple | str]]:
    """The records of one JSON line (its bytes with the line end), decoded with :mod:`json`: per record a
    ``where`` suffix, its raw form (the line, or the record when the line holds several) and its fields, or the
    reason it is rejected. ``cut_by`` is the stream error that ended the file inside this line, if any."""
    if not line.strip():
        return []
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return [("", line, "invalid_utf8")]
    try:
        value = loads(text)
    except json.JSONDecodeError as exc:
        if cut_by:
            return [("", f"[{cut_by}] {text}", "truncated_json")]
        return [("", line, "truncated_json" if is_truncation(text, exc) else "bad_json")]
    if "\\u" in text and holds_lone_surrogate(value):  # an escaped half of a pair: text no encoder can write
        return [("", line, "invalid_utf8")]
    out: list[tuple[str, object, tuple | str]] = []
    for suffix, record in expand(value):
        if isinstance(record, dict):
            out.append((suffix, line if not suffix else record, fields_of(record)))
        else:
            out.append((suffix, line if not suffix else record, "not_an_object"))
    return out
