"""Zeek logs: conn.log (TSV or JSON) as flows, destinations named from ssl.log, http.log and dns.log.

Fixtures (tests/data/logs/zeek/, written by hand from the Zeek log documentation):

* ``tsv/``      conn + ssl + http + dns in Zeek's TSV encoding (meta lines, ``-`` unset, ``(empty)``)
* ``json/``     the same connections as Zeek's JSON writer writes them (epoch float ``ts``)
* ``json_iso/`` conn + ssl with ISO 8601 ``ts`` (``LogAscii::json_timestamps = JSON::TS_ISO8601``)
* ``rotated/``  gzip-compressed archive names (``conn.00:00:00-01:00:00.log.gz``), no http.log
* ``alone/``    a conn.log without companions (and without ``#close``)
* ``reordered/`` a conn.log whose ``#fields`` are in another order, with an extra field and no local_orig
* ``broken/`` and ``broken_json/``: one malformed line per kind of fault
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.logs.engine.files import LogFile

from egress_sim.logs.engine.ledger import RecordLedger, StrictInputError
from egress_sim.flows.schema import FlowBatch
from egress_sim.logs.formats.zeek import COMPANION_READER, READER, companion_paths

DATA = Path(__file__).parent / "data" / "logs" / "zeek"

CONN_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2023-11-14-22-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\tlocal_orig\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\tbool\n"
)


def read(path: Path, chunk_rows: int = 1000, strict: bool = False) -> tuple[pd.DataFrame, RecordLedger]:
    """All flows of a conn log, checking the ledger invariant on the way."""
    ledger = RecordLedger(strict=strict)
    frames = list(READER.read_chunks(LogFile(path), ledger, chunk_rows))
    for frame in frames:
        assert len(frame) <= chunk_rows
    flows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    assert ledger.records_read == len(flows) + ledger.total_skipped + ledger.total_rejected
    return flows, ledger


def by_uid_line(flows: pd.DataFrame, path: Path, line: int) -> pd.Series:
    rows = flows[flows["source"] == f"{path}:{line}"]
    assert len(rows) == 1, f"no flow from {path}:{line}"
    return rows.iloc[0]


def fqdn_of(flows: pd.DataFrame, dst_ip: str, port: int | None = None) -> list:
    rows = flows[(flows["dst_ip"] == dst_ip) & ((flows["dst_port"] == port) if port is not None else True)]
    return [None if pd.isna(v) else v for v in rows["fqdn"]]


def sniff(path: Path) -> tuple[bool, bool]:
    log = LogFile(path)
    return READER.sniff(log.head(), path.name), COMPANION_READER.sniff(log.head(), path.name)


# --- recognising the format ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    ["tsv/conn.log", "json/conn.log", "json_iso/conn.log", "rotated/conn.00:00:00-01:00:00.log.gz", "reordered/conn.log"],
)
def test_conn_logs_are_recognised_by_the_conn_reader_only(relative):
    assert sniff(DATA / relative) == (True, False)


@pytest.mark.parametrize(
    "relative",
    [
        "tsv/ssl.log", "tsv/http.log", "tsv/dns.log", "json/ssl.log", "json/http.log", "json/dns.log",
        "rotated/ssl.00:00:00-01:00:00.log.gz", "rotated/dns.00:00:00-01:00:00.log.gz",
    ],
)
def test_companion_logs_are_recognised_by_the_companion_reader_only(relative):
    assert sniff(DATA / relative) == (False, True)


@pytest.mark.parametrize(
    "head",
    [
        b"ts,compute_type,dst_ip,dst_port,protocol\n2024-01-01T00:00:00Z,compute_cluster,1.2.3.4,443,TCP\n",
        b'{"records": [{"time": "2024-01-01T00:00:00Z", "properties": {"flows": []}}]}',
        (
            b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 "
            b"1418530070 ACCEPT OK\n"
        ),
        (
            b'{"ts":1700000000.0,"uid":"CfA","id.orig_h":"10.0.0.4","id.orig_p":5000,"id.resp_h":"1.2.3.4",'
            b'"id.resp_p":443,"name":"bad_TCP_checksum","notice":false,"peer":"zeek","source":"TCP"}\n'
        ),
    ],
    ids=["csv", "nsg-json", "aws-vpc", "zeek-weird-json"],
)
def test_other_formats_are_not_claimed(head):
    assert not READER.sniff(head, "conn.log")
    assert not COMPANION_READER.sniff(head, "conn.log")


def test_other_zeek_logs_in_a_directory_are_companions_that_make_no_flows():
    head = b"#separator \\x09\n#set_separator\t,\n#path\tweird\n#fields\tts\tuid\tid.orig_h\tname\n"
    assert not READER.sniff(head, "weird.log")
    assert COMPANION_READER.sniff(head, "weird.log")


def test_a_tsv_header_without_path_is_recognised_by_its_fields():
    head = CONN_HEADER.replace("#path\tconn\n", "").replace("local_orig", "conn_state").encode()
    assert READER.sniff(head, "anything.log")


def test_json_keys_shared_by_several_logs_are_decided_by_the_file_name():
    head = b'{"ts":1700000000.0,"uid":"CfA","id.orig_h":"10.0.0.4","id.resp_h":"1.2.3.4","id.resp_p":53,"proto":"udp"}\n'
    assert READER.sniff(head, "conn.log")
    assert not READER.sniff(head, "flows.log")
    assert COMPANION_READER.sniff(head, "dns.log")


# --- reading conn.log ------------------------------------------------------------------------------------------


def test_each_outbound_conn_line_becomes_one_flow():
    flows, ledger = read(DATA / "tsv" / "conn.log")
    assert ledger.records_read == 11  # meta lines (#separator ... #types, #close) are not records
    assert len(flows) == 10
    assert list(flows.columns) == [
        "ts", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "name_logged", "bytes_out", "bytes_in", "source"
    ]
    first = flows.iloc[0]
    assert (first["src_ip"], first["dst_ip"], first["dst_port"], first["protocol"]) == ("10.0.0.4", "20.60.1.2", 443, "TCP")
    assert (first["bytes_out"], first["bytes_in"]) == (517, 4410)  # orig_bytes, resp_bytes


def test_timestamps_are_utc_datetimes_with_microseconds():
    flows, _ = read(DATA / "tsv" / "conn.log")
    assert str(flows["ts"].dt.tz) == "UTC"
    assert flows["ts"].iloc[0] == pd.Timestamp("2023-11-14T22:13:20.100000Z")


def test_source_is_file_and_line():
    path = DATA / "tsv" / "conn.log"
    flows, _ = read(path)
    assert flows["source"].iloc[0] == f"{path}:9"  # after eight meta lines
    assert flows["source"].iloc[-1] == f"{path}:19"


def test_inbound_connections_are_skipped():
    flows, ledger = read(DATA / "tsv" / "conn.log")
    assert ledger.skipped == {"inbound": 1}
    assert "203.0.113.9" not in set(flows["src_ip"])


def test_unset_local_orig_counts_as_outbound_and_unset_byte_counts_are_missing():
    path = DATA / "tsv" / "conn.log"
    flows, _ = read(path)
    row = by_uid_line(flows, path, 16)  # CunsetH8: local_orig -, orig_bytes -, resp_bytes -
    assert row["dst_ip"] == "52.1.1.1"
    assert pd.isna(row["bytes_out"]) and pd.isna(row["bytes_in"])


def test_icmp_keeps_the_code_as_port_and_the_protocol_name():
    flows, _ = read(DATA / "tsv" / "conn.log")
    icmp = flows[flows["protocol"] == "ICMP"].iloc[0]
    assert (icmp["dst_ip"], icmp["dst_port"]) == ("1.1.1.1", 0)  # id.resp_p carries the ICMP code
    assert set(flows["protocol"]) == {"TCP", "UDP", "ICMP"}


def test_fields_are_located_by_name_not_position():
    flows, ledger = read(DATA / "reordered" / "conn.log")
    assert ledger.records_read == 2 and not ledger.rejected
    assert list(flows["dst_ip"]) == ["20.60.1.2", "2001:db8::5"]
    assert list(flows["src_ip"]) == ["10.0.0.4", "fd00::4"]
    assert list(flows["dst_port"]) == [443, 8443]
    assert flows["bytes_out"].iloc[0] == 517 and flows["bytes_in"].iloc[0] == 4410
    assert pd.isna(flows["bytes_out"].iloc[1])


def test_flows_can_be_evaluated():
    flows, _ = read(DATA / "tsv" / "conn.log")
    batch = FlowBatch.from_frame(flows, default_compute="compute_cluster")
    assert (batch.reject == 0).all()


def test_chunks_never_exceed_chunk_rows_and_lose_nothing():
    whole, whole_ledger = read(DATA / "tsv" / "conn.log", chunk_rows=1000)
    small, small_ledger = read(DATA / "tsv" / "conn.log", chunk_rows=2)  # read() checks every chunk's size
    pd.testing.assert_frame_equal(whole, small)
    assert small_ledger.records_read == whole_ledger.records_read


def test_blank_lines_are_not_records(tmp_path):
    path = tmp_path / "conn.log"
    line = "1700000000.0\tCa\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tT\n"
    path.write_text(CONN_HEADER + "\n" + line + "\n\n" + line)
    flows, ledger = read(path)
    assert ledger.records_read == 2 and len(flows) == 2
    assert list(flows["source"]) == [f"{path}:10", f"{path}:13"]


def test_a_byte_order_mark_and_crlf_line_ends_are_tolerated(tmp_path):
    path = tmp_path / "conn.log"
    line = "1700000000.0\tCa\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tT\n"
    path.write_bytes(b"\xef\xbb\xbf" + (CONN_HEADER + line + line).replace("\n", "\r\n").encode())
    assert READER.sniff(LogFile(path).head(), path.name)
    flows, ledger = read(path)
    assert len(flows) == 2 and not ledger.rejected
    assert list(flows["bytes_out"]) == [1, 1] and list(flows["dst_ip"]) == ["1.2.3.4", "1.2.3.4"]


def test_a_later_fields_block_takes_over_as_in_concatenated_logs(tmp_path):
    path = tmp_path / "conn.log"
    second = CONN_HEADER.replace("id.resp_h\tid.resp_p", "id.resp_p\tid.resp_h").replace("addr\tport\tenum", "port\taddr\tenum")
    path.write_text(
        CONN_HEADER + "1700000000.0\tCa\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tT\n#close\t2023-11-14-23-00-00\n"
        + second + "1700000001.0\tCb\t10.0.0.4\t5001\t8443\t5.6.7.8\ttcp\t1\t2\tT\n"
    )
    flows, _ = read(path)
    assert list(zip(flows["dst_ip"], flows["dst_port"])) == [("1.2.3.4", 443), ("5.6.7.8", 8443)]


# --- naming destinations ---------------------------------------------------------------------------------------


def test_tls_sni_names_the_destination_before_http_and_dns():
    flows, _ = read(DATA / "tsv" / "conn.log")
    assert fqdn_of(flows, "20.60.1.2") == ["storage.blob.core.windows.net"]  # SNI (normalized), not the DNS name
    assert fqdn_of(flows, "104.16.1.1") == ["sni.example.net"]  # SNI wins over the Host header of the same uid


def test_http_host_names_the_destination_before_dns_without_its_port():
    flows, _ = read(DATA / "tsv" / "conn.log")
    # first request's Host "example.com:8080"; dns.log answered this address for dns-name.example
    assert fqdn_of(flows, "93.184.216.34") == ["example.com"]


def test_a_tls_connection_ssl_log_saw_without_sni_stays_nameless():
    flows, _ = read(DATA / "tsv" / "conn.log")
    # ssl.log has this uid but server_name is unset: the firewall would see no name, so DNS must not lend one
    # (dns.log answered 13.107.42.14 for login.microsoftonline.com)
    assert fqdn_of(flows, "13.107.42.14") == [None]
    assert list(flows.loc[flows["dst_ip"] == "13.107.42.14", "name_logged"]) == [True]


def test_dns_name_is_the_latest_answer_at_or_before_the_connection():
    path = DATA / "tsv" / "conn.log"
    flows, _ = read(path)
    # 52.1.1.1 was answered for first.example at ts 1700000000 and for second.example at ts 1700000050
    assert by_uid_line(flows, path, 16)["fqdn"] == "first.example"  # ts 1700000007.8
    assert by_uid_line(flows, path, 17)["fqdn"] == "second.example"  # ts 1700000100


def test_dns_name_falls_back_to_the_earliest_answer_after_an_earlier_connection():
    path = DATA / "tsv" / "conn.log"
    flows, _ = read(path)
    assert by_uid_line(flows, path, 18)["fqdn"] == "first.example"  # ts 1699999000, before every answer


def test_an_ip_literal_host_header_is_not_a_name():
    path = DATA / "tsv" / "conn.log"
    flows, _ = read(path)
    assert by_uid_line(flows, path, 19)["fqdn"] == "first.example"  # Host: 52.1.1.1 → falls through to DNS


def test_an_address_nothing_names_has_no_fqdn():
    flows, _ = read(DATA / "tsv" / "conn.log")
    assert fqdn_of(flows, "8.8.8.8") == [None]
    assert fqdn_of(flows, "1.1.1.1") == [None]


def test_without_companions_no_destination_is_named():
    flows, ledger = read(DATA / "alone" / "conn.log")
    assert len(flows) == 10 and ledger.skipped == {"inbound": 1}
    assert flows["fqdn"].isna().all()


def test_companions_of_rotated_gzip_logs_are_found_and_a_missing_one_is_fine():
    flows, _ = read(DATA / "rotated" / "conn.00:00:00-01:00:00.log.gz")
    assert fqdn_of(flows, "20.60.1.2") == ["storage.blob.core.windows.net"]  # ssl.<stamp>.log.gz
    assert fqdn_of(flows, "93.184.216.34") == ["dns-name.example"]  # no http log here: the DNS name


def test_companion_paths_replace_conn_in_the_file_name(tmp_path):
    conn = tmp_path / "conn.00:00:00-01:00:00.log.gz"
    for name in ("conn.00:00:00-01:00:00.log.gz", "ssl.00:00:00-01:00:00.log.gz", "dns.00:00:00-01:00:00.log"):
        (tmp_path / name).write_bytes(b"")
    assert companion_paths(conn) == {
        "ssl": tmp_path / "ssl.00:00:00-01:00:00.log.gz",
        "dns": tmp_path / "dns.00:00:00-01:00:00.log",  # a .gz suffix may differ
    }
    assert companion_paths(tmp_path / "flows.log") == {}


def test_the_companion_reader_yields_nothing_and_counts_nothing():
    ledger = RecordLedger()
    assert list(COMPANION_READER.read_chunks(LogFile(DATA / "tsv" / "ssl.log"), ledger, 1000)) == []
    assert ledger.records_read == 0


def test_a_custom_set_separator_splits_dns_answers(tmp_path):
    (tmp_path / "conn.log").write_text(CONN_HEADER + "1700000001.0\tCa\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tT\n")
    (tmp_path / "dns.log").write_text(
        "#separator \\x09\n#set_separator\t|\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n"
        "#fields\tts\tuid\tquery\tanswers\n#types\ttime\tstring\tstring\tvector[string]\n"
        "1700000000.0\tCq\tapi.example.org\tedge.example.net|1.2.3.4\n"
    )
    flows, _ = read(tmp_path / "conn.log")
    assert fqdn_of(flows, "1.2.3.4") == ["api.example.org"]


# --- JSON ------------------------------------------------------------------------------------------------------


def test_json_logs_give_the_same_flows_as_tsv_logs():
    tsv, tsv_ledger = read(DATA / "tsv" / "conn.log")
    js, js_ledger = read(DATA / "json" / "conn.log")
    columns = ["ts", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "bytes_out", "bytes_in"]
    pd.testing.assert_frame_equal(tsv[columns], js[columns])
    assert (js_ledger.records_read, js_ledger.skipped) == (tsv_ledger.records_read, tsv_ledger.skipped)
    assert js["source"].iloc[0] == f"{DATA / 'json' / 'conn.log'}:1"


def test_json_iso8601_timestamps():
    flows, _ = read(DATA / "json_iso" / "conn.log")
    assert flows["ts"].iloc[0] == pd.Timestamp("2023-11-14T22:13:20.100000Z")
    assert fqdn_of(flows, "20.60.1.2") == ["storage.blob.core.windows.net"]


def test_json_millisecond_timestamps(tmp_path):
    path = tmp_path / "conn.log"
    record = {"ts": 1700000000100, "uid": "Ca", "id.orig_h": "10.0.0.4", "id.orig_p": 5000, "id.resp_h": "1.2.3.4",
              "id.resp_p": 443, "proto": "tcp", "conn_state": "SF", "missed_bytes": 0}
    path.write_text(json.dumps(record) + "\n")
    flows, _ = read(path)
    assert flows["ts"].iloc[0] == pd.Timestamp("2023-11-14T22:13:20.100000Z")
    assert pd.isna(flows["bytes_out"].iloc[0])  # unset fields are left out of JSON records


def test_gzip_json_conn_log(tmp_path):
    path = tmp_path / "conn.log.gz"
    with gzip.open(path, "wb") as out:
        out.write((DATA / "json" / "conn.log").read_bytes())
    assert READER.sniff(LogFile(path).head(), path.name)
    flows, ledger = read(path)
    assert len(flows) == 10 and ledger.skipped == {"inbound": 1}


# --- malformed lines -------------------------------------------------------------------------------------------


def rejected_lines(ledger: RecordLedger, path: Path) -> dict[int, str]:
    return {int(s.where.rsplit(":", 1)[1]): s.reason for s in ledger.samples if s.where.startswith(f"{path}:")}


def test_malformed_tsv_lines_are_rejected_with_file_and_line():
    path = DATA / "broken" / "conn.log"
    flows, ledger = read(path)
    assert rejected_lines(ledger, path) == {
        10: "wrong_field_count",
        11: "invalid_ip",
        12: "invalid_port",
        13: "unknown_protocol",
        14: "missing_field",
        15: "invalid_utf8",
        16: "invalid_local_orig",
        17: "invalid_byte_count",
        18: "invalid_timestamp",
        19: "invalid_port",  # 70000
        22: "wrong_field_count",  # the file is cut off mid-line
    }
    assert ledger.records_read == 14 and len(flows) == 2 and ledger.skipped == {"inbound": 1}
    assert list(flows["dst_ip"]) == ["20.60.1.2", "2001:db8::1"]
    assert list(flows["ts"]) == [pd.Timestamp(1700000000, unit="s", tz="UTC"), pd.Timestamp(1700000012, unit="s", tz="UTC")]


def test_a_rejected_line_keeps_its_raw_text():
    path = DATA / "broken" / "conn.log"
    _, ledger = read(path)
    sample = next(s for s in ledger.samples if s.where == f"{path}:11")
    assert sample.text.startswith("1700000002.000000\tCbadip3\t10.0.0.4\t50002\t10.0.0.999")


def test_malformed_json_lines_are_rejected_with_file_and_line():
    path = DATA / "broken_json" / "conn.log"
    flows, ledger = read(path)
    assert rejected_lines(ledger, path) == {
        2: "invalid_json",
        3: "not_a_json_object",
        4: "invalid_port",
        5: "missing_field",  # no id.resp_h
        6: "unknown_protocol",
        9: "truncated_json",  # last line cut off
    }
    assert ledger.records_read == 8 and len(flows) == 1 and ledger.skipped == {"inbound": 1}  # line 8 is blank


def test_data_before_any_fields_line_is_rejected(tmp_path):
    path = tmp_path / "conn.log"
    path.write_text("#separator \\x09\n#path\tconn\n1700000000.0\tCa\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\n")
    _, ledger = read(path)
    assert ledger.rejected == {"no_fields_header": 1}


def test_strict_mode_stops_at_the_first_bad_tsv_line():
    path = DATA / "broken" / "conn.log"
    with pytest.raises(StrictInputError, match=rf"{path}:10: wrong field count"):
        read(path, strict=True)


def test_strict_mode_stops_at_the_first_bad_json_line():
    path = DATA / "broken_json" / "conn.log"
    with pytest.raises(StrictInputError, match=rf"{path}:2: invalid json"):
        read(path, strict=True)


# --- accounting ------------------------------------------------------------------------------------------------

GOOD_LINE = "1700000000.0\tCa\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tT"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.one_of(st.just(GOOD_LINE), st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=60)),
        max_size=12,
    ),
    chunk_rows=st.sampled_from([1, 2, 1000]),
)
def test_every_line_is_accounted_for_exactly_once(tmp_path, lines, chunk_rows):
    path = tmp_path / "conn.log"
    path.write_text(CONN_HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    flows, ledger = read(path, chunk_rows=chunk_rows)  # read() checks read = flows + skipped + rejected
    assert len(flows) >= lines.count(GOOD_LINE)
    assert ledger.records_read == sum(1 for line in lines if line and not line.startswith("#"))  # "#": meta


# The kinds of line a TSV conn log holds, for the line-by-line reference below: (text, what it is).
_LINE_KINDS = [
    (GOOD_LINE, "flow"),
    ("1700000000.0\tC#hash\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tT", "flow"),  # a "#" inside a data line
    ("1700000000.0\tCs\t10.0.0.4\t5000\t1.2.3.4", "wrong_field_count"),
    ("1700000000.0\tCi\t10.0.0.4\t5000\t1.2.3.4\t443\ttcp\t1\t2\tF", "inbound"),
    ("-\t-\t-\t-\t-\t-\t-\t-\t-\t-", "missing_field"),  # every cell unset: read like a blank line by Arrow
    ("", "blank"),
    ("\r", "blank"),
    ("#close\t2023-11-14-23-00-00", "meta"),
    ("#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\tbool", "meta"),
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.integers(0, len(_LINE_KINDS) - 1), max_size=40), chunk_rows=st.sampled_from([1, 3, 1000]),
       crlf=st.booleans())
def test_blocks_read_whole_give_what_a_line_by_line_reading_gives(tmp_path, kinds, chunk_rows, crlf):
    """Blocks are split between their meta lines and read in one call each; whatever meta, blank, broken and
    "#"-holding lines they mix, every line gets the outcome a line-by-line reading gives it."""
    path = tmp_path / "conn.log"
    lines = CONN_HEADER.splitlines() + [_LINE_KINDS[k][0] for k in kinds]
    if crlf:  # every line ends in CR LF: a blank line is just that
        lines = [line.rstrip("\r") for line in lines]
    path.write_bytes("".join(line + ("\r\n" if crlf else "\n") for line in lines).encode())
    flows, ledger = read(path, chunk_rows=chunk_rows)
    first = len(CONN_HEADER.splitlines()) + 1
    expected = {first + i: _LINE_KINDS[k][1] for i, k in enumerate(kinds)}
    assert [int(s.rsplit(":", 1)[1]) for s in (flows["source"] if len(flows) else [])] == [n for n, what in expected.items() if what == "flow"]
    assert ledger.records_read == sum(what not in ("blank", "meta") for what in expected.values())
    assert ledger.skipped.get("inbound", 0) == sum(what == "inbound" for what in expected.values())
    for reason in ("wrong_field_count", "missing_field"):
        assert ledger.rejected.get(reason, 0) == sum(what == reason for what in expected.values())
