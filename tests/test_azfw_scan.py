"""The Azure Firewall JSON-lines scanner (``logs.azfw_scan``) held to the decoded way (orjson + ``fields_of``), and
the reader with the scanner held to the reader without it, on random lines and blocks."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.logs.formats import azfw
from egress_sim.logs.formats.azfw import READER
from egress_sim.logs.formats.azfw_records import PROPERTY_KEYS, STORAGE_KEYS, fields_of
from egress_sim.logs.formats.azfw_scan import merge_columns, scan_block
from egress_sim.logs.engine.blocks import line_starts
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger

WORDS = ["TCP", "UDP", "HTTPS", "ICMP Type=8", "Allow", "Deny", "Alert", "10.0.0.1", " 10.0.8.2 ", "::1", "bad ip",
         "2024-03-01T10:00:00Z", "yesterday", "", " ", "AZFWNetworkRule", "AZFWApplicationRule", "AZFWNatRule",
         "AzureFirewallNetworkRule", "AzureFirewallApplicationRuleLog", "example.com", "443", "8443",
         "TCP request from 10.0.0.1:5 to 10.0.0.2:443. Action: Allow",
         "HTTPS request from 10.0.0.1:5 to example.com:443. Action: Deny. No rule matched"]
TEXT = st.one_of(st.sampled_from(WORDS), st.text(max_size=6))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(0, 70000),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([443.0, 80.5, 1e300]), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                      max_leaves=6)
TOP_KEYS = sorted(STORAGE_KEYS - {"properties"}) + ["Category", "TIME", "records", "Type", "extra"]
PROP_KEYS = sorted(PROPERTY_KEYS) + ["sourceip", "Extra", "properties"]


@st.composite
def records(draw) -> object:
    """A storage-account record, mostly plausible, with odd keys and values now and then."""
    record = draw(st.dictionaries(st.sampled_from(TOP_KEYS), VALUES, max_size=5))
    props = draw(st.dictionaries(st.sampled_from(PROP_KEYS), VALUES, max_size=8))
    if draw(st.booleans()):  # a plain record: documented keys only, the usual kinds in the fields read
        record = {k: v for k, v in record.items() if k in STORAGE_KEYS}
        props = {k: v for k, v in props.items() if k in PROPERTY_KEYS}
        words = st.sampled_from(WORDS) | st.none()
        for key in ("category", "operationName", "time"):
            if draw(st.booleans()):
                record[key] = draw(words)
        for key in ("msg", "Protocol", "SourceIp", "DestinationIp", "Fqdn", "Action", "TranslatedIp"):
            if draw(st.booleans()):
                props[key] = draw(words)
        for key in ("SourcePort", "DestinationPort"):
            if draw(st.booleans()):
                props[key] = draw(st.integers(-5, 70000) | st.none() | st.integers(-2**64, 2**64))
    shape = draw(st.sampled_from(["props"] * 6 + ["none", "text", "list"]))
    if shape == "props":
        record["properties"] = props
    elif shape == "text":
        record["properties"] = json.dumps(props)
    elif shape == "list":
        record = [record]
    return record


BYTES = b'{}[]",:\\ \t\r0-.eE1tnfu\x00\x1f\x7f\x80\xc3\xa9\xff'


@st.composite
def lines(draw) -> bytes:
    """A JSON line (varied spacing, escapes, a key said twice) or a damaged one."""
    value = draw(records())
    text = json.dumps(value, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(", ", ": "), (",", ":"), (" ,\t", " : ")])))
    if not draw(st.integers(0, 5)) and text.startswith("{") and len(text) > 2:  # a member said twice
        key = draw(st.sampled_from(['"category": "X", ', '"properties": {}, ', '"time": null, ']))
        text = "{" + key + text[1:]
    data = (draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", "\r"]))).encode()
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # damage, now and then
        at = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data = data[:at] + bytes([draw(st.sampled_from(BYTES))]) + data[at:]
        else:
            data = data[:at] + data[at + 1:]
    return data


def decoded(line: bytes) -> tuple | None:
    """What the decoded way makes of a line the scanner may vouch for: its fields, or None (not a plain record)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "records" in value:
        return None
    return fields_of(value)


def typed(values) -> list:
    return [(type(v).__name__, v) for v in values]


def check_lines(batch: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in batch)
    starts = line_starts(data)
    if len(starts) - 1 != len(batch):  # a damaged line holding a newline byte: not what is tested here
        return
    scanned = scan_block(data, starts)
    rows = iter(zip(*[c.to_pylist() for c in scanned.columns]))
    for line, ok in zip(batch, scanned.ok):
        if ok:
            assert typed(next(rows)) == typed(decoded(line)), line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), min_size=1, max_size=6))
def test_what_the_scanner_vouches_for_is_what_the_decoded_way_reads(batch):
    check_lines(batch)


CLEAN = {"time": "2026-11-16T02:00:00.5780490Z", "resourceId": "/SUBSCRIPTIONS/X/FW", "category": "AZFWNetworkRule",
         "operationName": "AzureFirewallNetworkRuleLog",
         "properties": {"Protocol": "TCP", "SourceIp": "10.0.0.1", "SourcePort": 5, "DestinationIp": "10.0.0.2",
                        "DestinationPort": 443, "Action": "Allow", "Policy": "", "IsTlsInspected": False,
                        "ActionReason": None, "Rule": "r", "RuleCollection": "c", "RuleCollectionGroup": "g"}}


@pytest.mark.parametrize("line, vouched", [
    (json.dumps(CLEAN), True),
    (json.dumps(CLEAN, separators=(",", ":")) + " \r", True),
    (json.dumps({**CLEAN, "level": {"a": [1, -2.5e-3, True, None, "x\\u00e9"], "b": {}}, "location": []}), True),
    (json.dumps({"category": "AZFWNetworkRule", "properties": {}}), True),
    (json.dumps({"category": "AZFWNetworkRule"}), False),  # no properties: a Log Analytics row or other shape
    (json.dumps({**CLEAN, "properties": None}), False),
    (json.dumps({**CLEAN, "Category": "x"}), False),  # an undocumented key: the any-case reading
    (json.dumps({**CLEAN, "properties": {**CLEAN["properties"], "sourceip": "x"}}), False),
    ('{"category": "a", "category": "b", "properties": {}}', False),  # a key said twice
    (json.dumps({**CLEAN, "properties": {**CLEAN["properties"], "DestinationPort": "443"}}), False),
    (json.dumps({**CLEAN, "properties": {**CLEAN["properties"], "DestinationPort": 443.0}}), False),
    (json.dumps({**CLEAN, "properties": {**CLEAN["properties"], "SourceIp": 7}}), False),
    (json.dumps({**CLEAN, "properties": {**CLEAN["properties"], "Protocol": True}}), False),
    (json.dumps({**CLEAN, "time": "2024\\n"}), False),  # an escape in a field read
    (json.dumps({**CLEAN, "time": "é"}, ensure_ascii=False), False),
    (json.dumps({**CLEAN, "level": 1e400 if False else "x"}).replace('"x"', "1e400"), False),  # orjson: infinity
    (json.dumps({**CLEAN, "level": "x"}).replace('"x"', '"\\ud800"'), False),  # a lone surrogate
    (json.dumps({**CLEAN, "level": "x"}).replace('"x"', "[" * 40 + "]" * 40), False),  # deeper than the scanner goes
    (json.dumps({**CLEAN, "level": "x"}).replace('"x"', "[1,]"), False),
    (json.dumps({**CLEAN, "level": "x"}).replace('"x"', "01"), False),
    (json.dumps({**CLEAN, "level": "x"}).replace('"x"', '"a\tb"'), False),
    (json.dumps(CLEAN) + " x", False),
    (json.dumps(CLEAN)[:-1], False),
    (json.dumps([CLEAN]), False),
    (json.dumps({"records": [CLEAN]}), False),
    ("", False),
    (" ", False),
])
def test_the_scanner_vouches_for_plain_records_only(line, vouched):
    data = line.encode() + b"\n"
    scanned = scan_block(data, line_starts(data))
    assert bool(scanned.ok[0]) is vouched
    check_lines([line.encode()])


def test_lines_left_to_the_decoded_way_are_put_in_their_places():
    batch = [json.dumps({**CLEAN, "properties": {**CLEAN["properties"], "SourcePort": port}}).encode()
             for port in (1, "2", 3, 2**64, 5)]
    data = b"".join(line + b"\n" for line in batch)
    scanned = scan_block(data, line_starts(data))
    assert scanned.ok.tolist() == [True, False, True, False, True]
    others = np.flatnonzero(~scanned.ok)
    merged = merge_columns(scanned, others, [decoded(batch[i]) for i in others])
    sport = merged[6]
    assert (sport.to_pylist() if not isinstance(sport, list) else sport) == [1, "2", 3, 2**64, 5]
    assert merged[2].to_pylist() == [CLEAN["time"]] * 5


def read_all(path, chunk_rows: int) -> tuple:
    ledger = RecordLedger()
    tables = list(READER.read_tables(LogFile(path), ledger, chunk_rows))
    rows = [t.drop_columns([c for c in t.column_names if c.startswith("source")]).to_pylist() for t in tables]
    sources = [azfw.with_source_text(t).column("source").to_pylist() for t in tables]
    samples = [(s.reason, s.where, s.text) for s in ledger.samples]
    return rows, sources, dict(ledger.skipped), dict(ledger.rejected), samples


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(lines(), st.just(json.dumps(CLEAN).encode()), st.just(b"")), min_size=1, max_size=12),
       st.integers(1, 5))
def test_the_reader_gives_the_same_with_and_without_the_scanner(tmp_path, monkeypatch, batch, chunk_rows):
    path = tmp_path / "lines.json"
    path.write_bytes(b"\n".join(batch) + b"\n")
    fast = read_all(path, chunk_rows)
    monkeypatch.setattr(azfw, "_SCAN", False)
    assert fast == read_all(path, chunk_rows)


def test_a_time_outside_the_nanosecond_range_is_rejected_not_a_traceback(tmp_path):
    path = tmp_path / "lines.json"
    path.write_text("".join(json.dumps({**CLEAN, "time": t}) + "\n" for t in ("8443", "1000-01-01", CLEAN["time"])))
    rows, _, _, rejected, samples = read_all(path, 10)
    assert rejected == {"invalid_timestamp": 2} and sum(map(len, rows)) == 1
    assert [where for _, where, _ in samples] == [f"{path}:1", f"{path}:2"]
