"""Azure Network Watcher flow logs: the ``nsg`` (NSG flow logs, versions 1 and 2) and ``vnet`` (virtual
network flow logs, version 4) readers.

Fixtures in tests/data/logs/nsg and tests/data/logs/vnet were written by hand after the Microsoft Learn pages
"Flow logging for network security groups" and "Virtual network flow logs" (see the module docstring of
egress_sim.logs.formats.azure_flowlogs); their README files say what each one holds.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egress_sim.logs.formats import flowtuples

from egress_sim.logs.engine import jsoncareful, jsonrecords
from egress_sim.logs.formats.azure_flowlogs import NSG_READER, VNET_READER
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger, StrictInputError
from egress_sim.flows.schema import FlowBatch

LOGS = Path(__file__).parent / "data" / "logs"
NSG = LOGS / "nsg"
VNET = LOGS / "vnet"


def read(path: Path, reader=NSG_READER, chunk_rows: int = 1000, strict: bool = False) -> tuple[pd.DataFrame, RecordLedger]:
    """All flows of a file, and its ledger; checks the accounting invariant on the way."""
    ledger = RecordLedger(strict=strict)
    frames = list(reader.read_chunks(LogFile(path), ledger, chunk_rows))
    assert all(0 < len(f) <= chunk_rows for f in frames)
    flows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    assert ledger.records_read == len(flows) + ledger.total_skipped + ledger.total_rejected
    return flows, ledger


def reasons(ledger: RecordLedger) -> dict[str, int]:
    return dict(ledger.rejected)


# --- NSG flow logs, version 1 and 2 ------------------------------------------------------------------------


def test_nsg_v1_outbound_tuples_become_flows_without_byte_counts():
    flows, ledger = read(NSG / "v1.json")
    assert ledger.records_read == 5  # five tuples; the empty flowTuples list counts nothing
    assert ledger.skipped == {"inbound": 1}
    assert list(flows["dst_ip"]) == ["20.60.1.4", "20.60.1.5", "203.0.113.9", "2001:db8::10"]
    assert list(flows["dst_port"]) == [443, 443, 53, 8080]
    assert list(flows["protocol"]) == ["TCP", "TCP", "UDP", "TCP"]
    assert list(flows["src_ip"]) == ["10.0.8.4"] * 4
    assert flows["bytes_out"].isna().all() and flows["bytes_in"].isna().all()


def test_nsg_decision_becomes_observed_action():
    flows, _ = read(NSG / "v1.json")
    assert list(flows["observed_action"]) == ["allow", "allow", "deny", "allow"]


def test_nsg_time_stamps_are_epoch_seconds_in_utc():
    flows, _ = read(NSG / "v1.json")
    assert str(flows["ts"].dtype) == "datetime64[ms, UTC]"
    assert flows["ts"][0] == pd.Timestamp(1794823202, unit="s", tz="UTC")


def test_nsg_v2_counters_give_bytes_out_and_in_except_on_begin_tuples():
    flows, ledger = read(NSG / "v2.json")
    assert ledger.records_read == 7 and ledger.skipped == {"inbound": 2}
    # B (begin) tuples carry no statistics; C and E carry src→dst and dst→src bytes since the last tuple
    assert list(flows["bytes_out"]) == [pd.NA, 16978, 8489, pd.NA, 76]
    assert list(flows["bytes_in"]) == [pd.NA, 14008, 7054, pd.NA, 0]
    assert list(flows["observed_action"]) == ["allow", "allow", "allow", "deny", "deny"]


def test_source_names_file_byte_offset_of_the_record_and_tuple_number():
    flows, _ = read(NSG / "v2.json")
    name = str(NSG / "v2.json")
    assert list(flows["source"]) == [f"{name}@12 tuple 3", f"{name}@12 tuple 4", f"{name}@12 tuple 5",
                                     f"{name}@893 tuple 1", f"{name}@893 tuple 2"]
    raw = (NSG / "v2.json").read_bytes()
    assert raw[12:20] == b'{"time":' and raw[893:901] == b'{"time":'


def test_byte_offsets_count_bytes_of_a_pretty_printed_file():
    flows, _ = read(NSG / "v1.json")
    raw = (NSG / "v1.json").read_bytes()
    offsets = {int(s.split("@")[1].split()[0]) for s in flows["source"]}
    assert offsets == {21, 1487}
    assert all(raw[o:o + 1] == b"{" for o in offsets)


def test_gzip_blob_is_read_through_its_magic_bytes():
    flows, ledger = read(NSG / "v2_compressed.json.gz")
    assert ledger.records_read == 2 and ledger.skipped == {"inbound": 1}
    assert list(flows["dst_ip"]) == ["10.0.1.5"] and list(flows["bytes_out"]) == [2048]


def test_a_file_of_inbound_tuples_yields_no_flows_and_skips_them_all():
    flows, ledger = read(NSG / "inbound_only.json")
    assert flows.empty and ledger.records_read == 3 and ledger.skipped == {"inbound": 3}


def test_an_empty_records_array_counts_nothing():
    flows, ledger = read(NSG / "empty_records.json")
    assert flows.empty and ledger.records_read == 0 and not ledger.rejected


def test_flows_convert_into_a_flow_batch_for_the_evaluator():
    flows, _ = read(NSG / "v2.json")
    batch = FlowBatch.from_frame(flows, default_compute="compute_cluster")
    assert batch.n == 5 and not batch.reject.any()


# --- broken NSG files -------------------------------------------------------------------------------------


def test_each_malformed_tuple_is_rejected_with_its_reason_and_the_rest_read():
    flows, ledger = read(NSG / "malformed_tuples.json")
    assert ledger.records_read == 18
    assert list(flows["dst_port"]) == [443, 443]  # the first and the last tuple are fine
    assert reasons(ledger) == {
        "bad_tuple_field_count": 2, "invalid_ip": 2, "invalid_port": 3, "unknown_protocol": 2,
        "invalid_timestamp": 1, "unknown_direction": 1, "unknown_decision": 1, "unknown_flow_state": 1,
        "invalid_counter": 1, "invalid_tuple": 2,
    }


def test_a_rejected_tuple_is_sampled_with_its_place_and_text():
    _, ledger = read(NSG / "malformed_tuples.json")
    by_reason = {}
    for sample in ledger.samples:
        by_reason.setdefault(sample.reason, sample)
    letter = by_reason["unknown_protocol"]
    assert letter.where == f"{NSG / 'malformed_tuples.json'}@12 tuple 8"
    assert letter.text == "1794823209,10.0.8.4,20.60.1.4,50008,443,X,O,A,E,3,767,2,1580"
    assert by_reason["invalid_ip"].text.split(",")[2] == "20.60.300.4"
    assert by_reason["invalid_tuple"].text == "1794823217"  # a number where a tuple string should be


def test_a_tuple_holding_a_line_break_is_rejected_alone():
    _, ledger = read(NSG / "malformed_tuples.json")
    breaks = [s for s in ledger.samples if s.reason == "invalid_tuple" and "\\n" in s.text]
    assert len(breaks) == 1 and breaks[0].where.endswith("tuple 17")


def test_a_file_cut_inside_a_record_rejects_that_record_once():
    flows, ledger = read(NSG / "truncated.json")
    assert len(flows) == 2  # the complete first record
    assert reasons(ledger) == {"truncated_json": 1}  # its tuples are unknown: one rejected record
    assert ledger.samples[0].where == f"{NSG / 'truncated.json'}@629 record 2"


def test_a_syntax_error_rejects_its_record_and_reading_resumes_at_the_next():
    flows, ledger = read(NSG / "broken_record.json")
    assert reasons(ledger) == {"invalid_json": 1}
    assert ledger.samples[0].where.endswith("@568 record 2")
    assert [s.split("@")[1] for s in flows["source"]] == ["13 tuple 1", "1337 tuple 1"]


def test_records_without_their_tuple_lists_or_of_an_unknown_version_are_rejected():
    flows, ledger = read(NSG / "structure_problems.json")
    assert reasons(ledger) == {"missing_field": 2, "unsupported_version": 2, "invalid_record": 1}
    assert list(flows["dst_ip"]) == ["10.0.1.5"]  # the good rule group of the last record
    version = next(s for s in ledger.samples if s.reason == "unsupported_version")
    assert "version 3" in version.text  # and its two tuples count as two rejected records


def test_tuples_must_match_the_version_of_their_record():
    flows, ledger = read(NSG / "mixed_versions.json")
    assert reasons(ledger) == {"bad_tuple_field_count": 2}
    assert list(flows["bytes_out"]) == [pd.NA, 767]  # a version 1 tuple, then a version 2 one


def test_undecodable_bytes_in_a_tuple_reject_it_but_not_in_a_rule_name():
    flows, ledger = read(NSG / "non_utf8.json")
    assert reasons(ledger) == {"invalid_utf8": 1}
    assert list(flows["dst_ip"]) == ["20.60.1.4", "20.60.1.6"]
    sample = ledger.samples[0]
    assert "\ufffd" in sample.text and sample.where.endswith("tuple 2")
    json.dumps([s.to_dict() for s in ledger.samples])  # samples stay printable


def test_an_empty_file_counts_nothing(tmp_path):
    path = tmp_path / "PT1H.json"
    path.write_bytes(b"")
    flows, ledger = read(path)
    assert flows.empty and ledger.records_read == 0


def test_a_file_that_is_not_a_records_object_is_one_rejected_record(tmp_path):
    path = tmp_path / "PT1H.json"
    path.write_text("[1, 2, 3]\n")
    _, ledger = read(path)
    assert reasons(ledger) == {"invalid_json": 1}
    path.write_text('{"value": []}\n')
    _, ledger = read(path)
    assert reasons(ledger) == {"missing_field": 1}


def test_a_cut_gzip_stream_keeps_what_was_decompressed():
    flows, ledger = read(VNET / "truncated_stream.json.gz", VNET_READER)
    assert len(flows) == 1 and reasons(ledger) == {"truncated_json": 1}
    assert LogFile(VNET / "truncated_stream.json.gz").head()  # detection still sees the content


# --- strict mode ------------------------------------------------------------------------------------------


def test_strict_mode_stops_at_the_first_bad_tuple_naming_file_and_offset():
    with pytest.raises(StrictInputError, match=r"malformed_tuples\.json@12 tuple 2: bad tuple field count"):
        read(NSG / "malformed_tuples.json", strict=True)


def test_strict_mode_stops_at_a_truncated_record():
    with pytest.raises(StrictInputError, match=r"truncated\.json@629 record 2: truncated json"):
        read(NSG / "truncated.json", strict=True)


def test_strict_mode_names_a_bad_tuple_before_a_later_broken_record(tmp_path):
    good_then_bad = (NSG / "malformed_tuples.json").read_text().rstrip().removesuffix("]}") + ',{"time":"x"}]}'
    path = tmp_path / "PT1H.json"
    path.write_text(good_then_bad)
    with pytest.raises(StrictInputError, match=r"@12 tuple 2: bad tuple field count"):
        read(path, strict=True)


# --- VNet flow logs ---------------------------------------------------------------------------------------


def test_vnet_v4_tuples_become_flows():
    flows, ledger = read(VNET / "v4.json", VNET_READER)
    assert ledger.records_read == 10 and ledger.skipped == {"inbound": 1}
    assert reasons(ledger) == {"unsupported_protocol": 1}  # GRE (47): well formed, not evaluable
    assert list(flows["protocol"]) == ["TCP", "TCP", "ICMP", "UDP", "TCP", "TCP", "TCP", "TCP"]
    assert list(flows["dst_ip"])[:4] == ["20.60.1.4", "20.60.1.4", "20.60.1.4", "2001:db8::53"]


def test_vnet_time_stamps_in_milliseconds_and_in_seconds_are_both_read():
    flows, _ = read(VNET / "v4.json", VNET_READER)
    assert flows["ts"][1] == pd.Timestamp(1794823201606, unit="ms", tz="UTC")
    assert flows["ts"][6] == pd.Timestamp(1794823261, unit="s", tz="UTC")


def test_vnet_deny_state_and_dropping_encryption_states_are_denials():
    flows, _ = read(VNET / "v4.json", VNET_READER)
    assert list(flows["observed_action"]) == ["allow"] * 4 + ["deny", "deny"] + ["allow"] * 2


def test_vnet_begin_tuples_have_no_byte_counts_whether_zero_or_empty():
    flows, _ = read(VNET / "v4.json", VNET_READER)
    assert pd.isna(flows["bytes_out"][0]) and pd.isna(flows["bytes_out"][6])  # "0,0,0,0" and ",,,,"
    assert list(flows["bytes_out"][[1, 7]]) == [767, 588096]
    assert list(flows["bytes_in"][[1, 7]]) == [1580, 4610880]


def test_vnet_malformed_tuples_are_rejected_with_their_reasons():
    flows, ledger = read(VNET / "malformed_tuples.json", VNET_READER)
    assert len(flows) == 1 and ledger.records_read == 11
    assert reasons(ledger) == {
        "bad_tuple_field_count": 1, "unknown_protocol": 2, "unknown_flow_state": 1, "invalid_timestamp": 1,
        "invalid_ip": 1, "invalid_port": 1, "unknown_direction": 1, "invalid_counter": 1,
        "unsupported_version": 1,  # a version 5 record (no tuples found: one rejected record)
    }


# --- streaming --------------------------------------------------------------------------------------------

FIXTURES = [(NSG / name, NSG_READER) for name in (
    "v1.json", "v2.json", "v2_compressed.json.gz", "truncated.json", "malformed_tuples.json",
    "structure_problems.json", "broken_record.json", "mixed_versions.json", "non_utf8.json",
)] + [(VNET / name, VNET_READER) for name in ("v4.json", "malformed_tuples.json", "truncated_stream.json.gz")]


def summary(path: Path, reader, chunk_rows: int = 1000):
    flows, ledger = read(path, reader, chunk_rows)
    return flows.to_dict("list"), ledger.records_read, dict(ledger.skipped), dict(ledger.rejected)


@pytest.mark.parametrize("block", [1, 7, 100])
def test_results_do_not_depend_on_where_the_read_blocks_end(monkeypatch, block):
    expected = [summary(path, reader) for path, reader in FIXTURES]
    monkeypatch.setattr(jsonrecords, "READ_BYTES", block)  # the fast reader's blocks
    monkeypatch.setattr(jsoncareful, "BLOCK_CHARS", block)  # and the careful stream's, in a damaged file
    assert [summary(path, reader) for path, reader in FIXTURES] == expected


def test_results_do_not_depend_on_chunk_size():
    for path, reader in FIXTURES:
        flows, *counts = summary(path, reader)
        small_flows, *small_counts = summary(path, reader, chunk_rows=1)
        assert small_counts == counts and small_flows == flows


def test_records_are_decoded_one_at_a_time(tmp_path):
    """The first chunk comes out before the reader reaches the broken end of the file."""
    record = json.loads((NSG / "v2.json").read_text())["records"][0]
    path = tmp_path / "PT1H.json"
    path.write_text('{"records":[' + ",".join([json.dumps(record)] * 3) + ',{"time": "cut')
    ledger = RecordLedger()
    chunks = NSG_READER.read_chunks(LogFile(path), ledger, chunk_rows=5)  # a record: 3 outbound, 2 inbound
    first = next(chunks)
    assert len(first) == 3 and not ledger.rejected
    rest = list(chunks)
    assert sum(map(len, rest)) == 6 and ledger.rejected == {"truncated_json": 1}
    assert ledger.records_read == 9 + 6 + 1  # emitted + skipped inbound + the cut record


def test_a_large_gzip_file_streams_in_bounded_chunks(tmp_path):
    record = json.loads((NSG / "v2.json").read_text())["records"][0]
    path = tmp_path / "PT1H.json.gz"
    with gzip.open(path, "wt") as out:
        out.write('{"records":[' + ",".join([json.dumps(record)] * 2000) + "]}")
    flows, ledger = read(path, chunk_rows=700)
    assert ledger.records_read == 10_000 and len(flows) == 6000 and ledger.skipped == {"inbound": 4000}


# --- the tuple splitter -----------------------------------------------------------------------------------

TUPLE_TEXT = st.text(st.sampled_from(list("0123456789,.:TUIOADBCEx \n\r")), max_size=60)
GOOD_TUPLE = st.just("1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A,E,3,767,2,1580")
# Each field drawn from values that pass its check (most of the time, so that whole tuples pass too) and values
# that fail it, limits and their neighbours included.


def field(good: list[str], bad: list[str]):
    return st.sampled_from(good * (6 * len(bad) // len(good) + 1) + bad)


TS = field(["1794823202", "1663146003599", "0", "99999999999999"], ["", "x1", "012x", "100000000000000", "1" * 16])
ADDRESS = field(["10.0.8.4", "20.60.1.4", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::ffff:1.2.3.4",
                 "fe80::1%eth0"],
                ["1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4.", ".1.2.3", "1..2.3", "", "a:b", "\u00e9:1", "1.2.3.4:80",
                 "1000.2.3.4", "12.3.4.05"])
PORT = field(["443", "0", "65535", "0443"], ["65536", "", "123456", "99999", "x", "4 3"])
NSG_PROTOCOL = field(["T", "U"], ["t", "TT", "", "6"])
VNET_PROTOCOL = field(["6", "17", "1", "58", "006"], ["2", "255", "256", "", "T", "0006", "1000"])
DIRECTION, DECISION = field(["I", "O", "O"], ["", "X", "OO"]), field(["A", "D"], ["", "x", "AD"])
NSG_STATE, VNET_STATE = field(["B", "C", "E"], ["", "X", "BC"]), field(["B", "C", "E", "D"], ["", "X", "b"])
ENCRYPTION = field(["X", "NX", "NX_SW_NOT_READY", "NX_NOT_ACCEPTED", "NX_NOT_SUPPORTED", "", "NX_SW"], [])
COUNTER = field(["", "0", "767", "1" * 18], ["1" * 19, "x", "-1", "1.5"])


@st.composite
def nsg_tuples(draw):
    """(text, commas) of an NSG tuple, version 1 (7 commas) or 2 (12), fields drawn good or bad."""
    version1 = draw(st.booleans())
    fields = [draw(TS), draw(ADDRESS), draw(ADDRESS), draw(PORT), draw(PORT), draw(NSG_PROTOCOL), draw(DIRECTION),
              draw(DECISION)]
    if not version1 or not draw(st.integers(0, 9)):  # a version 1 tuple may carry a state by mistake
        fields += [draw(NSG_STATE)] + [draw(COUNTER) for _ in range(4)]
    return ",".join(fields), 7 if version1 else 12


@st.composite
def vnet_tuples(draw):
    fields = [draw(TS), draw(ADDRESS), draw(ADDRESS), draw(PORT), draw(PORT), draw(VNET_PROTOCOL), draw(DIRECTION),
              draw(VNET_STATE), draw(ENCRYPTION)] + [draw(COUNTER) for _ in range(4)]
    return ",".join(fields), 12


def _expected(dialect, items):
    """Outcome codes and flow columns of ``parse_tuples``, tuple by tuple through ``check_tuple``."""
    codes, flows = [], []
    for text, commas, known in items:
        if known:
            codes.append(flowtuples.REASON_CODE[known] + 1)
            continue
        reason, values = flowtuples.check_tuple(dialect, text, commas)
        if reason:
            codes.append(flowtuples.REASON_CODE[reason] + 1)
        elif not values["outbound"]:
            codes.append(1)
        else:
            codes.append(0)
            flows.append(values)
    return codes, flows


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["nsg", "vnet"]).flatmap(lambda dialect: st.tuples(st.just(dialect), st.lists(st.tuples(
    (nsg_tuples() if dialect == "nsg" else vnet_tuples())
    | st.tuples(TUPLE_TEXT | GOOD_TUPLE, st.sampled_from([7, 12])),
    st.sampled_from(["", "", "", "", "invalid_tuple", "invalid_utf8"])), min_size=1, max_size=40))))
def test_the_compiled_tuple_pass_agrees_with_checking_tuple_by_tuple(case):
    """Whatever the tuples hold (bad fields of every kind, line breaks, stray commas, IPv6, reasons already
    known), the one-pass parse gives every tuple the outcome, and every flow the values, of the plain rules."""
    dialect, drawn = case
    items = [(text, commas if dialect == "nsg" else 12, known) for (text, commas), known in drawn]
    arr = pa.array([text for text, _, _ in items])
    reason = np.array([flowtuples.REASON_CODE[known] if known else 0 for _, _, known in items], np.uint8)
    codes, rows, columns = flowtuples.parse_tuples(dialect, arr, reason, np.array([c for _, c, _ in items]))
    expected_codes, expected_flows = _expected(dialect, items)
    assert codes.tolist() == expected_codes
    assert rows.tolist() == [i for i, code in enumerate(expected_codes) if code == 0]
    got = pa.table(columns).to_pylist() if columns else []
    assert [(r["ts"].timestamp() * 1000 if r["ts"] else None, r["src_ip"], r["dst_ip"], r["dst_port"],
             r["protocol"], r["observed_action"] == "deny", r["bytes_out"], r["bytes_in"]) for r in got] == \
        [(float(f["ts_ms"]), f["src_ip"], f["dst_ip"], f["dst_port"], f["protocol"], f["denied"], f["bytes_out"],
          f["bytes_in"]) for f in expected_flows]


def test_empty_and_overlong_fields_are_judged_by_their_own_text(tmp_path):
    """Number columns are cast with each empty field read from its tuple's first field (a B tuple has four
    empty counters): whatever that first field holds, an empty field is judged as empty, and one-letter
    fields are judged byte by byte."""
    record = json.loads((NSG / "v2.json").read_text())["records"][0]
    good = "1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A"
    tuples = [
        good + ",B,,,,",  # a flow without byte counts
        "17948x3202" + good[10:] + ",B,,,,",
        good[10:] + ",B,,,,",  # no time stamp
        good.replace(",50001,", ",,") + ",E,3,767,2,1580",
        good + ",E,3,1234567890123456789,2,1580",  # 19 digits
        good.replace(",T,", ",TT,") + ",E,3,767,2,1580",
        good.replace(",T,", ",,") + ",E,3,767,2,1580",
        good + ",E,3,,2,",  # a flow whose byte counters are empty
    ]
    record["properties"]["flows"] = [{"rule": "DefaultRule_AllowInternetOutBound",
                                      "flows": [{"mac": "000D3A1B2C3D", "flowTuples": tuples}]}]
    path = tmp_path / "PT1H.json"
    path.write_text(json.dumps({"records": [record]}))
    flows, ledger = read(path)
    assert reasons(ledger) == {"invalid_timestamp": 2, "invalid_port": 1, "invalid_counter": 1, "unknown_protocol": 2}
    assert [s.where.rsplit(" ", 1)[1] for s in ledger.samples] == ["2", "3", "4", "5", "6", "7"]
    assert list(flows["source"].str.rsplit(" ", n=1).str[1]) == ["1", "8"]
    assert flows["bytes_out"].isna().all() and flows["bytes_in"].isna().all()


# --- format detection -------------------------------------------------------------------------------------

OTHER_FORMATS = [
    b"ts,compute_type,dst_ip,dst_port,protocol\n2026-11-16T00:00:00Z,compute_cluster,20.60.1.4,443,TCP\n",
    (b'{"records": [{"time": "2026-11-16T00:00:00Z", "category": "AzureFirewallNetworkRule", '
     b'"properties": {"msg": "TCP request from 10.0.8.4:50001 to 20.60.1.4:443. Action: Allow"}}]}'),
    b"#separator \\x09\n#set_separator\t,\n#path\tconn\n",
    b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n",
]


@pytest.mark.parametrize("name", ["v1.json", "v2.json", "v2_compressed.json.gz", "truncated.json", "non_utf8.json"])
def test_nsg_sniffs_its_own_files_and_vnet_does_not(name):
    head = LogFile(NSG / name).head()
    assert NSG_READER.sniff(head, name) and not VNET_READER.sniff(head, name)


@pytest.mark.parametrize("name", ["v4.json", "malformed_tuples.json", "truncated_stream.json.gz"])
def test_vnet_sniffs_its_own_files_and_nsg_does_not(name):
    head = LogFile(VNET / name).head()
    assert VNET_READER.sniff(head, name) and not NSG_READER.sniff(head, name)


def test_sniff_works_on_a_head_cut_inside_the_first_record():
    assert NSG_READER.sniff((NSG / "v2.json").read_bytes()[:400], "PT1H.json")
    assert VNET_READER.sniff((VNET / "v4.json").read_bytes()[:300], "PT1H.json")


@pytest.mark.parametrize("head", OTHER_FORMATS)
def test_neither_claims_another_format(head):
    assert not NSG_READER.sniff(head, "x.log") and not VNET_READER.sniff(head, "x.log")


def test_readers_describe_themselves():
    assert (NSG_READER.name, VNET_READER.name) == ("nsg", "vnet")
    assert NSG_READER.description and VNET_READER.description
