"""The ingestion engine's shared parts, each checked against a plain line-by-line reference on random input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egress_sim.logs.engine.blocks import BOM, LineBlock, LongLine, line_blocks
from egress_sim.logs.engine.ledger import Outcomes, RecordLedger, SAMPLES_PER_REASON, StrictInputError


def _reference_lines(data: bytes, limit: int) -> list[tuple[int, int, bytes | None]]:
    """(number, offset, content) per line, content None for a line over ``limit`` bytes (without its newline)."""
    start = len(BOM) if data.startswith(BOM) else 0
    out, number = [], 1
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        content = data[start:end]
        out.append((number, start, None if len(content.rstrip(b"\n")) > limit else content))
        number, start = number + 1, end
    return out


def _engine_lines(data: bytes, block: int, limit: int, max_lines: int | None) -> list[tuple[int, int, bytes | None]]:
    out = []
    for item in line_blocks(io.BytesIO(data), block, max_lines, limit):
        if isinstance(item, LongLine):
            out.append((item.line, item.offset, None))
            continue
        assert isinstance(item, LineBlock) and (max_lines is None or item.n <= max_lines)
        for i in range(item.n):
            out.append((item.first_line + i, item.offset + int(item.starts[i]), item.span(i, i + 1)))
    return out


lines = st.lists(st.one_of(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x")),
                           st.integers(20, 60).map(lambda n: b"L" * n)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(lines, st.booleans(), st.booleans(), st.integers(1, 40), st.sampled_from([None, 1, 3]),
       st.sampled_from([b"\n", b"\r\n"]))
def test_line_blocks_give_every_line_once_with_its_number_and_offset(parts, bom, end_newline, block, max_lines, eol):
    data = (BOM if bom else b"") + eol.join(parts) + (eol if end_newline and parts else b"")
    assert _engine_lines(data, block, 16, max_lines) == _reference_lines(data, 16)


def test_a_line_over_the_limit_is_never_held_whole():
    data = b"a\n" + b"x" * 10_000_000 + b"\nb\n"
    items = list(line_blocks(io.BytesIO(data), 1 << 16, None, 1000))
    long = [i for i in items if isinstance(i, LongLine)]
    assert [(i.line, i.offset, len(i.head)) for i in long] == [(2, 2, 200)]
    assert [b.data for b in items if isinstance(b, LineBlock)] == [b"a\n", b"b\n"]


OUTCOMES = Outcomes(skips=("inbound",), rejects=("bad_ip", "bad_port"))


def _reference_ledger(codes: list[int], strict: bool = False) -> RecordLedger:
    ledger = RecordLedger(strict=strict)
    for i, code in enumerate(codes):
        ledger.read()
        if 1 <= code < OUTCOMES.first_reject:
            ledger.skip(OUTCOMES.names[code])
        elif code >= OUTCOMES.first_reject:
            ledger.reject(OUTCOMES.names[code], f"f:{i}", f"row {i}")
    return ledger


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=3 * SAMPLES_PER_REASON + 5), st.integers(0, 3))
def test_outcomes_book_a_block_as_one_record_at_a_time_would(codes, blocks):
    ledger = RecordLedger()
    parts = np.array_split(np.array(codes, dtype=np.int64), blocks + 1)
    base, flows = 0, []
    for part in parts:
        mask = OUTCOMES.account(ledger, part, lambda i, b=base: f"f:{b + i}", lambda i, b=base: f"row {b + i}")
        flows.extend((np.flatnonzero(mask) + base).tolist())
        base += len(part)
    expected = _reference_ledger(codes)
    assert flows == [i for i, c in enumerate(codes) if c == 0]
    assert (ledger.records_read, ledger.skipped, ledger.rejected) == \
        (expected.records_read, expected.skipped, expected.rejected)
    assert sorted((s.reason, s.where) for s in ledger.samples) == sorted((s.reason, s.where) for s in expected.samples)


def test_strict_outcomes_stop_at_the_first_reject_in_row_order():
    with pytest.raises(StrictInputError, match="f:2: bad port"):
        OUTCOMES.account(RecordLedger(strict=True), np.array([0, 1, 3, 2]), lambda i: f"f:{i}", lambda i: "")


# --- the fast JSON record reader hands over to the careful stream, and gives exactly what the careful stream gives

import json as _json

from egress_sim.logs.engine import jsoncareful, jsonrecords
from egress_sim.logs.engine.jsoncareful import CarefulArrayStream
from egress_sim.logs.engine.jsonrecords import array_elements

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**25, 10**25) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)
DAMAGE = st.sampled_from([b"", b",", b"]", b"}", b"{", b'"', b"\\", b"\xff", b" ,, ", b"nul", b"\x00"])


def _elements(stream_factory, careful: bool) -> list[tuple]:
    reader = CarefulArrayStream(stream_factory(), 4000).events() if careful else array_elements(stream_factory(), 4000)
    return [(e.offset, e.number, e.record, e.reason, e.text) for e in reader]


@settings(max_examples=200, deadline=None)
@given(st.lists(JSON_VALUES, max_size=8), st.lists(st.tuples(st.integers(0, 400), DAMAGE), max_size=3),
       st.sampled_from([7, 64, 1 << 20]), st.booleans(), st.integers(0, 3))
def test_the_fast_json_reader_gives_what_the_careful_stream_gives(values, damage, block, bom, cut):
    """Whatever a document holds (damage, bytes that are not UTF-8, long numbers, a cut end), at whatever block
    size, the fast reader's elements and problems are the careful stream's, offset for offset."""
    body = bytearray(b'{"records": [' + b", ".join(_json.dumps(v).encode() for v in values) + b"]}")
    for at, piece in damage:
        at = min(at, len(body))
        body[at:at] = piece
    if cut:
        body = body[: max(0, len(body) - cut * 5)]
    data = (b"\xef\xbb\xbf" if bom else b"") + bytes(body)
    saved = jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS
    jsonrecords.READ_BYTES = jsoncareful.BLOCK_CHARS = block
    try:
        fast = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=False)
        careful = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=True)
    finally:
        jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS = saved
    assert fast == careful


# --- a file of several JSON documents: the fast reader's first wrapper, then the document stream

from egress_sim.logs.engine.jsondocuments import CarefulDocumentStream

RECORDS = st.dictionaries(st.sampled_from(["time", "category", "properties", "x"]), JSON_VALUES, min_size=1,
                          max_size=3)
DOCUMENT = st.one_of(st.tuples(st.just("wrapper"), st.lists(RECORDS, max_size=4)),
                     st.tuples(st.just("array"), st.lists(RECORDS, max_size=4)),
                     st.tuples(st.just("record"), RECORDS))


def _document_text(kind: str, value, indent: int | None) -> str:
    if kind == "wrapper":
        return _json.dumps({"records": value}, indent=indent)
    return _json.dumps(value, indent=indent)


def _expected(documents) -> list[tuple[int, object]]:
    """What a file of documents holds, by the rules of ``jsondocuments``: (number in its array, record)."""
    out: list[tuple[int, object]] = []
    for kind, value in documents:
        if kind == "record":
            out.append((0, value))
        else:
            out.extend(enumerate(value, 1))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(DOCUMENT, max_size=5), st.sampled_from([None, 2]), st.sampled_from(["\n", "", " ,\n"]),
       st.sampled_from([7, 64, 1 << 20]))
def test_a_file_of_documents_gives_every_record_once_at_its_offset(documents, indent, between, block):
    """Wrappers, arrays and records one after another, pretty-printed or not: every record once, in order, numbered
    in its array, and found again by decoding the file's bytes at its offset; fast and careful alike."""
    data = between.join(_document_text(kind, value, indent) for kind, value in documents).encode()
    saved = jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS
    jsonrecords.READ_BYTES = jsoncareful.BLOCK_CHARS = block
    try:
        fast = list(array_elements(io.BufferedReader(io.BytesIO(data)), 4000, careful=CarefulDocumentStream))
        careful = list(CarefulDocumentStream(io.BufferedReader(io.BytesIO(data)), 4000).events())
    finally:
        jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS = saved
    for elements in (fast, careful):
        assert [e.reason for e in elements if e.reason] == []
        assert [(e.number, e.record) for e in elements] == _expected(documents)
        for e in elements:
            assert _json.JSONDecoder().raw_decode(data[e.offset:].decode())[0] == e.record


@settings(max_examples=200, deadline=None)
@given(st.lists(DOCUMENT, min_size=1, max_size=4), st.lists(st.tuples(st.integers(0, 400), DAMAGE), max_size=3),
       st.sampled_from([7, 64, 1 << 20]), st.integers(0, 3))
def test_damage_in_a_file_of_documents_reads_the_same_fast_or_careful(documents, damage, block, cut):
    """Whatever the damage, the fast reader followed by the document stream decides as the document stream
    alone; and the stream always ends (no damage makes it loop)."""
    body = bytearray("\n".join(_document_text(kind, value, None) for kind, value in documents).encode())
    for at, piece in damage:
        at = min(at, len(body))
        body[at:at] = piece
    if cut:
        body = body[: max(0, len(body) - cut * 5)]
    data = bytes(body)
    saved = jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS
    jsonrecords.READ_BYTES = jsoncareful.BLOCK_CHARS = block
    try:
        fast = [(e.offset, e.number, e.record, e.reason, e.text)
                for e in array_elements(io.BufferedReader(io.BytesIO(data)), 4000, careful=CarefulDocumentStream)]
        careful = [(e.offset, e.number, e.record, e.reason, e.text)
                   for e in CarefulDocumentStream(io.BufferedReader(io.BytesIO(data)), 4000).events()]
    finally:
        jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS = saved
    assert fast == careful


def test_damage_after_a_wrapper_is_one_reject_and_the_next_document_is_read():
    data = b'{"records": [{"time": 1}], oops}\n{"records": [{"time": 2}]}'
    elements = list(array_elements(io.BufferedReader(io.BytesIO(data)), careful=CarefulDocumentStream))
    assert [(e.number, e.record, e.reason) for e in elements] == [(1, {"time": 1}, ""), (0, None, "invalid_json"),
                                                                  (1, {"time": 2}, "")]


# --- flow tuples found in the records' bytes are the tuples the record-by-record extraction finds

from egress_sim.logs.formats.azure_flowlogs import _nsg_extract, _vnet_extract
from egress_sim.logs.formats.flowtuple_spans import block_tuples, vouch
from egress_sim.logs.engine.jsonrecords import ElementBlock, array_blocks

TUPLE = st.one_of(st.just("1663146003599,10.0.0.4,13.107.21.200,44931,443,6,O,B,NX,0,0,0,0"),
                  st.text(max_size=10), st.integers(0, 9))  # (a null tuple: test_a_null_tuple_is_no_string)
KEY_NOISE = st.sampled_from(["rule", "mac", "x", "flows", "flowTuples", "Version", "propert\\u0069es"])


def _holder(draw_tuples, extra):
    return {**extra, "flowTuples": draw_tuples}


@st.composite
def flow_records(draw, vnet: bool):
    inner = "flowGroups" if vnet else "flows"
    groups = [{"rule": "R", inner: [{"mac": "M", "flowTuples": draw(st.lists(TUPLE, max_size=4))}
                                    for _ in range(draw(st.integers(0, 2)))]} for _ in range(draw(st.integers(0, 3)))]
    if vnet:
        record = {"time": "t", "flowLogVersion": draw(st.sampled_from([4, "4", 4.0, 3, True])),
                  "flowRecords": {"flows": [{"aclID": "a", "flowGroups": g[inner]} for g in groups]}}
    else:
        record = {"time": "t", "properties": {"Version": draw(st.sampled_from([1, 2, 2.0, 3, True, "2"])),
                                              "flows": groups}}
    for _ in range(draw(st.integers(0, 2))):  # damage: a dropped or retyped key somewhere along the path
        target = record["flowRecords" if vnet else "properties"]
        choice = draw(st.integers(0, 3))
        if choice == 0:
            target.pop("flows", None)
        elif choice == 1:
            target["flows"] = draw(st.sampled_from([{}, "x", None, [1]]))
        elif choice == 2 and groups:
            groups[0].pop(inner, None)
    return record


def _raw(record: dict, duplicate: bool) -> str:
    text = _json.dumps(record, separators=(",", ":") if duplicate else (", ", ": "))
    if duplicate:  # a key given twice: the last one counts in Python
        text = text.replace('{"time":"t"', '{"time":"t","properties":{"Version":2,"flows":[]},"flowRecords":{}', 1)
    return text


@settings(max_examples=250, deadline=None)
@given(st.booleans(), st.data())
def test_tuples_found_in_the_bytes_are_the_tuples_of_the_decoded_record(vnet, data):
    records = data.draw(st.lists(flow_records(vnet), min_size=1, max_size=5))
    duplicate = data.draw(st.booleans())
    document = ('{"records": [' + ", ".join(_raw(r, duplicate) for r in records) + "]}").encode()
    blocks = [b for b in array_blocks(io.BytesIO(document)) if isinstance(b, ElementBlock)]
    extract = _vnet_extract if vnet else _nsg_extract
    for block in blocks:
        ok, fields, counts, found = block_tuples(block, vnet)
        at = 0
        for j, record in enumerate(block.values):
            if not ok[j]:
                continue
            problems: list = []
            tuples, n_fields = extract(record, problems)
            assert not problems
            assert (found.slice(at, int(counts[j])).to_pylist(), int(fields[j])) == (tuples, n_fields)
            at += int(counts[j])


def test_a_plain_flow_log_record_is_read_from_its_bytes():
    record = {"time": "t", "properties": {"Version": 2, "flows": [{"rule": "R", "flows": [
        {"mac": "M", "flowTuples": ["1,10.0.0.1,10.0.0.2,1,2,T,O,A,B,,,,", "2,a,b,1,2,T,O,A,B,,,,"]}]}]}}
    block = next(array_blocks(io.BytesIO(_json.dumps({"records": [record, record]}).encode())))
    ok, fields, counts, found = block_tuples(block, vnet=False)
    assert ok.tolist() == [True, True] and counts.tolist() == [2, 2] and fields.tolist() == [13, 13]
    assert found.to_pylist()[:2] == record["properties"]["flows"][0]["flows"][0]["flowTuples"]
    vouched = next(array_blocks(io.BytesIO(_json.dumps({"records": [record, record]}).encode()),
                                vouch=lambda data, buf, quotes, s, e: vouch(buf, quotes, s, e, False)))
    assert vouched.vouched.tolist() == [True, True] and vouched.values == [None, None]  # never decoded


# --- NSG/VNet records read from their bytes, never decoded, read as the careful record-by-record walk reads them

from egress_sim.flows.sources import with_source_text
from egress_sim.logs import LogFile
from egress_sim.logs.formats import azure_flowlogs
from egress_sim.logs.formats.azure_flowlogs import NSG_READER, VNET_READER

JSON_DAMAGE = st.sampled_from([b"", b",", b":", b"}", b"]", b"{", b"[", b'"', b" ", b"1", b"-", b".", b"e", b"t",
                               b"nul", b"\x01", b"\xc3\xa9", b"\\"])


def _read(reader, path, ledger, from_bytes: bool = True) -> list:
    rows = []
    saved, azure_flowlogs.FROM_BYTES = azure_flowlogs.FROM_BYTES, from_bytes
    try:
        for table in reader.read_tables(LogFile(path), ledger, 50):
            rows.extend(with_source_text(table).to_pylist())
    finally:
        azure_flowlogs.FROM_BYTES = saved
    return rows


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.data())
def test_nsg_and_vnet_records_read_from_their_bytes_read_as_the_decoded_records(tmp_path_factory, vnet, data):
    """Valid or subtly broken JSON (a missing colon, a stray comma, a bad number or literal, an escape, a control
    character): whatever the record bytes hold, the reader gives the flows, sources, counts and samples of the
    reference way (every record decoded by the careful stream and walked one by one)."""
    records = data.draw(st.lists(flow_records(vnet), min_size=1, max_size=4))
    body = bytearray(('{"records": [' + ", ".join(_raw(r, data.draw(st.booleans())) for r in records) + "]}").encode())
    for at, piece in data.draw(st.lists(st.tuples(st.integers(14, 2000), JSON_DAMAGE), max_size=2)):
        at = min(at, len(body) - 2)
        body[at:at + data.draw(st.integers(0, 1))] = piece
    path = tmp_path_factory.mktemp("doc") / "PT1H.json"
    path.write_bytes(bytes(body))
    new_ledger, old_ledger = RecordLedger(), RecordLedger()
    reader = VNET_READER if vnet else NSG_READER
    new = _read(reader, path, new_ledger, from_bytes=True)
    old = _read(reader, path, old_ledger, from_bytes=False)
    assert new == old
    assert (new_ledger.records_read, new_ledger.skipped, new_ledger.rejected) == \
        (old_ledger.records_read, old_ledger.skipped, old_ledger.rejected)
    assert sorted((s.reason, s.where, s.text) for s in new_ledger.samples) == \
        sorted((s.reason, s.where, s.text) for s in old_ledger.samples)


def test_a_null_tuple_is_no_string(tmp_path):
    """``null`` in a tuple list is rejected as ``invalid_tuple`` wherever it stands (the reader it replaced said
    ``bad_tuple_field_count`` when no other non-string shared its chunk)."""
    record = {"time": "t", "properties": {"Version": 2, "flows": [{"rule": "R", "flows": [
        {"mac": "M", "flowTuples": [None]}]}]}}
    path = tmp_path / "PT1H.json"
    path.write_text(_json.dumps({"records": [record]}))
    ledger = RecordLedger()
    assert _read(NSG_READER, path, ledger) == [] and ledger.rejected == {"invalid_tuple": 1}



@pytest.mark.parametrize("depth", [65, 1000])
def test_an_element_nested_deeper_than_the_fast_path_allows_is_decided_by_the_careful_stream(depth):
    """orjson decodes 1024 levels, Python's decoder fails below 1000: a deep element is the careful stream's
    (``invalid_json`` when Python cannot decode it), never a record Python could not even show."""
    deep = "[" * depth + "]" * depth
    data = ('{"records": [{"a": 1}, ' + deep + ', {"b": 2}]}').encode()
    fast = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=False)
    careful = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=True)
    assert fast == careful
    assert fast[1][3] == ("invalid_json" if depth == 1000 else "invalid_record")


def test_a_flow_log_record_nested_too_deeply_is_one_reject_not_a_crash(tmp_path):
    from egress_sim.logs.formats.azure_flowlogs import NSG_READER
    from egress_sim.logs.engine.files import LogFile

    good = {"properties": {"Version": 2, "flows": [{"rule": "R", "flows": [
        {"mac": "M", "flowTuples": ["1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A,B,,,,"]}]}]}}
    deep = '{"x":' * 1000 + "1" + "}" * 1000
    data = '{"records": [' + _json.dumps(good) + ', {"properties": {"Version": 2, "flows": [' + deep + "]}}]}"
    path = tmp_path / "PT1H.json"
    path.write_text(data)
    ledger = RecordLedger()
    tables = list(NSG_READER.read_tables(LogFile(path), ledger, 1000))
    assert sum(t.num_rows for t in tables) == 1
    assert dict(ledger.rejected) == {"invalid_json": 1} and ledger.records_read == 2


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc41", "\\udc80"])
def test_a_tuple_holding_an_escaped_lone_surrogate_is_rejected_as_invalid_utf8(tmp_path, escape):
    """``"\\ud800"`` is valid JSON that Python decodes to a lone surrogate, which is no UTF-8 text: the tuple is
    ``invalid_utf8`` (its sample shows U+FFFD), not a UnicodeEncodeError out of the Arrow conversion."""
    from egress_sim.logs.formats.azure_flowlogs import NSG_READER
    from egress_sim.logs.engine.files import LogFile

    tuple_ = "1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A,B,,,,"
    record = ('{"properties": {"Version": 2, "flows": [{"rule": "R", "flows": [{"mac": "M", "flowTuples": ["%s", "%s"]}]}]}}'
              % (tuple_, tuple_[:-1] + escape + ","))
    path = tmp_path / "PT1H.json"
    path.write_text('{"records": [' + record + "]}")
    ledger = RecordLedger()
    tables = list(NSG_READER.read_tables(LogFile(path), ledger, 1000))
    assert sum(t.num_rows for t in tables) == 1
    assert dict(ledger.rejected) == {"invalid_utf8": 1} and ledger.records_read == 2
    assert ledger.samples[0].text.endswith(",,,\ufffd,")


@pytest.mark.parametrize("number", ["-9223372036854775809", "-9999999999999999999", "9999999999999999999",
                                    "18446744073709551616", "-9223372036854775808"])
def test_an_integer_orjson_cannot_keep_exact_is_the_careful_streams(number):
    """orjson turns an integer outside 64 bits into a float (19 digits already, below -2^63): such an element is
    decided by the careful stream, so a value shown in a sample reads as written."""
    data = ('{"records": [{"a": 1}, {"Version": %s}, %s]}' % (number, number)).encode()
    fast = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=False)
    careful = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=True)
    assert fast == careful
    assert fast[1][2] == {"Version": int(number)} and type(fast[1][2]["Version"]) is int
    assert fast[2][4] == number


@pytest.mark.parametrize("block", range(20, 40))
def test_a_number_cut_by_a_block_end_anywhere_is_read_whole(block):
    """A bare number whose exponent, sign or digits fall in the next block is one value, whatever block ends it."""
    data = b'{"records": [1, 3.602879701896395e+16, {"a": 1}]}'
    saved = jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS
    jsonrecords.READ_BYTES = jsoncareful.BLOCK_CHARS = block
    try:
        careful = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=True)
        fast = _elements(lambda: io.BufferedReader(io.BytesIO(data)), careful=False)
    finally:
        jsonrecords.READ_BYTES, jsoncareful.BLOCK_CHARS = saved
    assert [e[3] for e in careful] == ["invalid_record", "invalid_record", ""] and fast == careful
    assert careful[1][4] == "3.602879701896395e+16"
