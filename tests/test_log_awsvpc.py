"""AWS VPC flow logs reader (``--format awsvpc``): what it reads, what it skips, what it rejects.

Fixtures in tests/data/logs/awsvpc/ are written by hand after the AWS "Flow log records" and "Flow log record
examples" pages: the default version 2 layout, S3 files with a header line, CloudWatch records without one.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import re
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.logs.formats import awsvpc
from egress_sim.logs.formats.awsvpc import READER
from egress_sim.logs.engine.cells import ip_cells
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger, StrictInputError
from egress_sim.logs.engine.numtext import digits_only
from egress_sim.flows.schema import FlowBatch

DATA = Path(__file__).parent / "data" / "logs" / "awsvpc"
S3_GZ = DATA / "123456789010_vpcflowlogs_us-east-1_fl-1234abcd_20141214T0420Z_hash.log.gz"
HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
          "log-status")
GOOD = ("2 123456789010 eni-1235b8ca123456789 10.0.8.12 151.101.0.223 49152 443 6 20 4249 1418530010 1418530070 "
        "ACCEPT OK")


def read(path: Path, chunk_rows: int = 1000, strict: bool = False):
    """All flows of a file, its ledger and the chunks; checks the accounting invariant on the way."""
    ledger = RecordLedger(strict=strict)
    chunks = list(READER.read_chunks(LogFile(path), ledger, chunk_rows))
    flows = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    assert ledger.records_read == len(flows) + ledger.total_skipped + ledger.total_rejected
    assert all(0 < len(c) <= chunk_rows for c in chunks)
    return flows, ledger, chunks


def lines_of(flows: pd.DataFrame) -> list[int]:
    return [int(s.rsplit(":", 1)[1]) for s in flows["source"]]


def rejected_at(ledger: RecordLedger) -> dict[int, str]:
    return {int(s.where.rsplit(":", 1)[1]): s.reason for s in ledger.samples}


def write(tmp_path: Path, text: str | bytes, name: str = "flows.log") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- the default format -------------------------------------------------------------------------------------


def test_s3_file_with_header_gives_one_flow_per_record():
    flows, ledger, _ = read(DATA / "s3_default_with_header.log")
    assert ledger.records_read == 5  # the header line is not a record
    first = flows.iloc[0]
    assert first["ts"] == pd.Timestamp(1418530010, unit="s", tz="UTC")
    assert (first["src_ip"], first["dst_ip"]) == ("10.0.8.12", "151.101.0.223")
    assert (first["dst_port"], first["protocol"]) == (443, "TCP")
    assert first["bytes_out"] == 4249 and pd.isna(first["bytes_in"])
    assert first["observed_action"] == "allow"
    assert first["source"] == f"{DATA / 's3_default_with_header.log'}:2"


def test_columns_and_types_are_the_flow_schema():
    flows, _, _ = read(DATA / "s3_default_with_header.log")
    assert list(flows.columns) == ["ts", "src_ip", "dst_ip", "dst_port", "protocol", "bytes_out", "bytes_in",
                                   "observed_action", "source"]
    assert str(flows["ts"].dt.tz) == "UTC"
    assert flows["dst_port"].dtype == "Int64" and flows["bytes_out"].dtype == "Int64"
    assert "fqdn" not in flows.columns and "compute_type" not in flows.columns  # the log knows neither


def test_iana_protocol_numbers_become_names():
    flows, _, _ = read(DATA / "s3_default_with_header.log")
    assert list(flows["protocol"]) == ["TCP", "UDP", "TCP", "ICMP"]


def test_action_becomes_observed_action():
    flows, _, _ = read(DATA / "s3_default_with_header.log")
    assert list(flows["observed_action"]) == ["allow", "allow", "deny", "allow"]


def test_a_reply_from_a_well_known_port_to_an_ephemeral_one_is_skipped():
    """The v2 format has no direction: the server's reply half of a connection (443 -> 49152) is skipped as
    ``reply``; every other record is a flow from srcaddr (the replay's inventory drops inbound ones)."""
    flows, ledger, _ = read(DATA / "s3_default_with_header.log")
    assert dict(ledger.skipped) == {"reply": 1}
    assert "151.101.0.223" not in set(flows["src_ip"])


def test_cloudwatch_records_without_header_use_the_default_layout():
    flows, _, _ = read(DATA / "cloudwatch_no_header.log")
    assert lines_of(flows) == [1, 2, 5]
    assert list(flows["dst_port"]) == [22, 3389, 443]
    assert list(flows["observed_action"]) == ["allow", "deny", "allow"]


def test_nodata_and_skipdata_records_are_skipped():
    _, ledger, _ = read(DATA / "cloudwatch_no_header.log")
    assert dict(ledger.skipped) == {"no_data": 1, "skip_data": 1}
    assert ledger.total_rejected == 0


def test_cloudwatch_export_timestamp_prefix_is_ignored():
    flows, ledger, _ = read(DATA / "cloudwatch_export.log")
    first = flows.iloc[0]
    assert (first["dst_ip"], first["dst_port"], first["protocol"]) == ("48.211.42.151", 5831, "UDP")
    assert dict(ledger.skipped) == {"no_data": 1}


def test_gzip_file_reads_like_the_plain_file():
    plain, _, _ = read(DATA / "s3_default_with_header.log")
    zipped, ledger, _ = read(S3_GZ)
    assert ledger.records_read == 5
    pd.testing.assert_frame_equal(plain.drop(columns="source"), zipped.drop(columns="source"))
    assert zipped["source"].iloc[0] == f"{S3_GZ}:2"


def test_ipv6_addresses_are_read_and_a_bad_one_rejected():
    flows, ledger, _ = read(DATA / "ipv6.log")
    assert list(flows["dst_ip"]) == ["2606:4700:4700::1111", "2001:db8:1234:a102:3304:8879:34cf:4071"]
    assert rejected_at(ledger) == {4: "invalid_ip"}


def test_the_vectorized_address_check_agrees_with_ipaddress_cell_by_cell():
    """The shared check (``logs.ip_cells``: a regex for dotted quads, ipaddress once per other distinct value)."""
    values = ["10.0.8.12", "10.0.8.13", "2001:db8::1", "10.0.8.256", "010.0.8.1", "fe80::1%eth0", "::ffff:1.2.3.4",
              "1.2.3", "2001:db8::zz", None]
    column = pa.array([values[i % len(values)] for i in range(20_000)], pa.string())

    def valid(text):
        try:
            return text is not None and bool(ipaddress.ip_address(text))
        except ValueError:
            return False

    expected = [valid(v) for v in column.to_pylist()]
    assert list(ip_cells(column)) == expected


def test_icmp_needs_no_port_but_tcp_does():
    flows, ledger, _ = read(DATA / "icmp.log")
    assert list(flows["protocol"]) == ["ICMP", "ICMP"]
    assert flows["dst_port"].iloc[0] == 0 and pd.isna(flows["dst_port"].iloc[1])
    assert rejected_at(ledger) == {3: "missing_field"}


def test_flows_are_valid_input_for_the_evaluator():
    flows, _, _ = read(DATA / "s3_default_with_header.log")
    batch = FlowBatch.from_frame(flows, default_compute="compute_cluster")
    assert batch.n == 4 and not batch.reject.any()


# --- custom formats (a header names the fields) -----------------------------------------------------------------


def test_v5_header_locates_fields_by_name_and_skips_ingress():
    flows, ledger, _ = read(DATA / "v5_flow_direction.log")
    assert lines_of(flows) == [2, 4]
    assert list(flows["dst_ip"]) == ["140.82.112.3", "169.254.169.254"]
    assert list(flows["bytes_out"]) == [5230, 700]
    assert dict(ledger.skipped) == {"inbound": 1}


def test_unknown_flow_direction_is_rejected():
    _, ledger, _ = read(DATA / "v5_flow_direction.log")
    assert rejected_at(ledger) == {5: "invalid_flow_direction"}


def test_a_header_again_mid_file_is_not_a_record_and_may_change_the_layout():
    """Concatenated S3 objects: each keeps its header; the last part has another custom format."""
    flows, ledger, _ = read(DATA / "concatenated.log")
    assert ledger.records_read == 4  # three headers and a blank line are not records
    assert lines_of(flows) == [2, 5, 7]
    assert flows["dst_ip"].iloc[2] == "140.82.112.3" and flows["bytes_out"].iloc[2] == 5230
    assert dict(ledger.skipped) == {"inbound": 1} and ledger.total_rejected == 0


def test_a_header_without_a_needed_field_rejects_every_record():
    _, ledger, _ = read(DATA / "header_without_dstport.log")
    assert ledger.records_read == 2
    assert dict(ledger.rejected) == {"missing_field": 2}


# --- malformed input ----------------------------------------------------------------------------------------------


MALFORMED = {
    3: "bad_field_count",  # log-status missing
    4: "invalid_ip",  # 10.0.8.300
    5: "invalid_port",  # "https"
    6: "invalid_port",  # 70000
    7: "invalid_timestamp",  # "yesterday"
    8: "unsupported_protocol",  # 50 (ESP)
    9: "invalid_protocol",  # "tcp"
    10: "unsupported_version",  # 1
    11: "invalid_action",  # ALLOW
    12: "invalid_log_status",  # MAYBE
    13: "missing_field",  # dstaddr "-"
    14: "invalid_bytes",  # "lots"
    17: "bad_field_count",  # truncated last line, no final newline
}


@pytest.mark.parametrize("line, reason", sorted(MALFORMED.items()))
def test_each_malformed_record_is_rejected_with_its_reason_and_line(line, reason):
    _, ledger, _ = read(DATA / "malformed.log")
    assert rejected_at(ledger)[line] == reason


def test_malformed_file_keeps_its_good_records():
    flows, ledger, _ = read(DATA / "malformed.log")
    assert lines_of(flows) == [2, 16]  # line 15 is blank: not a record
    assert ledger.records_read == 15 and ledger.total_rejected == len(MALFORMED)


def test_rejection_text_is_the_raw_record():
    _, ledger, _ = read(DATA / "malformed.log")
    sample = next(s for s in ledger.samples if s.reason == "invalid_ip")
    assert sample.text == (DATA / "malformed.log").read_text().splitlines()[3]


def test_non_utf8_record_is_rejected_and_the_others_read():
    flows, ledger, _ = read(DATA / "non_utf8.log")
    assert lines_of(flows) == [1, 3]
    assert rejected_at(ledger) == {2: "invalid_utf8"}


def test_crlf_line_ends_are_accepted_and_a_stray_carriage_return_rejected():
    flows, ledger, _ = read(DATA / "crlf.log")
    assert lines_of(flows) == [2, 4]
    assert list(flows["observed_action"]) == ["allow", "allow"]
    assert rejected_at(ledger) == {3: "invalid_character"}


def test_blank_lines_are_not_records_and_a_last_line_needs_no_newline():
    flows, ledger, _ = read(DATA / "blank_lines_no_final_newline.log")
    assert ledger.records_read == 2
    assert lines_of(flows) == [2, 5]


def test_version_2_and_higher_are_accepted(tmp_path):
    path = write(tmp_path, "\n".join(GOOD.replace("2 ", v + " ", 1) for v in ("2", "3", "5", "0", "v2")) + "\n")
    flows, ledger, _ = read(path)
    assert lines_of(flows) == [1, 2, 3]
    assert rejected_at(ledger) == {4: "unsupported_version", 5: "invalid_version"}


@pytest.mark.parametrize("through_reads", [False, True], ids=["inside_a_block", "across_reads"])
def test_an_over_long_line_is_rejected_and_the_next_read(tmp_path, monkeypatch, through_reads):
    if through_reads:  # the line is longer than a read: it must be dropped without being buffered whole
        monkeypatch.setattr(READER, "block_bytes", 4096)
    path = write(tmp_path, f"{GOOD}\n{'x' * (awsvpc.MAX_LINE_BYTES + 10)}\n{GOOD}\n")
    flows, ledger, _ = read(path)
    assert lines_of(flows) == [1, 3]
    assert rejected_at(ledger) == {2: "line_too_long"}


def test_a_truncated_gzip_gives_its_complete_lines_and_says_where_it_broke_off():
    log = LogFile(DATA / "truncated.log.gz")
    ledger = RecordLedger()
    flows = list(READER.read_chunks(log, ledger, 1000))
    assert log.cut is not None  # the replay reports the unreadable rest of the file
    assert ledger.records_read == sum(len(f) for f in flows) + ledger.total_skipped + ledger.total_rejected


def test_a_gzip_cut_short_hands_out_what_came_before_it(tmp_path, monkeypatch):
    monkeypatch.setattr(READER, "block_bytes", 4096)
    body = HEADER + "\n" + "\n".join(GOOD.replace("49152", str(20000 + i)) for i in range(2000)) + "\n"
    packed = gzip.compress(body.encode(), mtime=0)
    path = write(tmp_path, packed[: len(packed) // 2], "cut.log.gz")
    ledger = RecordLedger()
    log = LogFile(path)
    emitted = sum(len(chunk) for chunk in READER.read_chunks(log, ledger, 100))
    assert log.cut is not None
    assert 900 < emitted < 2000  # every complete line before the break, none after it
    assert ledger.records_read == emitted + ledger.total_skipped + ledger.total_rejected
    assert ledger.total_rejected == 0  # the broken-off line is dropped by the reader below, reported by replay


def test_rejections_are_all_counted_but_only_a_few_kept_as_samples(tmp_path):
    path = write(tmp_path, HEADER + "\n" + "\n".join(GOOD.replace("10.0.8.12", "10.0.8.999") for _ in range(60)) + "\n")
    _, ledger, _ = read(path)
    assert dict(ledger.rejected) == {"invalid_ip": 60}
    assert [s.where.rsplit(":", 1)[1] for s in ledger.samples] == [str(n) for n in range(2, 22)]


# --- strict mode --------------------------------------------------------------------------------------------------


def test_strict_mode_stops_at_the_first_bad_record_naming_file_and_line():
    with pytest.raises(StrictInputError, match=re.escape(f"{DATA / 'malformed.log'}:3: bad field count")):
        read(DATA / "malformed.log", strict=True)


def test_strict_mode_names_the_line_deep_in_a_large_file(tmp_path, monkeypatch):
    monkeypatch.setattr(READER, "block_bytes", 4096)
    lines = [HEADER] + [GOOD] * 500
    lines[321] = GOOD.replace(" 443 ", " 99999 ")
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(StrictInputError, match=r"flows\.log:322: invalid port"):
        read(path, chunk_rows=10, strict=True)


def test_strict_mode_accepts_skips(tmp_path):
    _, ledger, _ = read(DATA / "cloudwatch_no_header.log", strict=True)
    assert ledger.total_skipped == 2


# --- streaming ----------------------------------------------------------------------------------------------------


def test_chunks_hold_at_most_chunk_rows_flows_in_file_order(tmp_path, monkeypatch):
    monkeypatch.setattr(READER, "block_bytes", 1024)
    path = write(tmp_path, HEADER + "\n" + "\n".join([GOOD] * 95) + "\n")
    flows, _, chunks = read(path, chunk_rows=7)
    assert [len(c) for c in chunks] == [7] * 13 + [4]
    assert lines_of(flows) == list(range(2, 97))


def _mixed_log(n: int, seed: int) -> str:
    """Good records with every kind of fault sprinkled in: headers, blank lines, bad fields, counts, bytes."""
    rng = random.Random(seed)
    faults = [
        GOOD.replace("10.0.8.12", "10.0.8.256"), GOOD.replace(" 443 ", " - "), GOOD.replace(" 6 ", " 50 "),
        GOOD.replace(" OK", " NODATA"), GOOD.replace(" OK", ""), GOOD.replace("ACCEPT", "REJECT"),
        GOOD.replace("10.0.8.12", "2001:db8::7"), GOOD.replace("10.0.8.12", "10.0.8.1\udcff"), "", "  ", HEADER,
        GOOD.replace(" 443 ", " 443\r"), GOOD.replace(" 6 ", " 1 ").replace(" 443 ", " - "),
    ]
    lines = [HEADER]
    for i in range(n):
        line = rng.choice(faults) if rng.random() < 0.08 else GOOD.replace("49152", str(1024 + i))
        lines.append(line)
    return "\n".join(lines) + "\n"


def _read_with_blocks(path: Path, block: int, monkeypatch, fallback: bool = False):
    monkeypatch.setattr(READER, "block_bytes", block)
    if fallback:
        monkeypatch.setattr(awsvpc, "_read_fields", lambda *args, **kwargs: None)
    flows, ledger, _ = read(path, chunk_rows=50)
    monkeypatch.undo()
    samples = sorted((s.reason, s.where, s.text) for s in ledger.samples)
    return flows, (ledger.records_read, dict(ledger.skipped), dict(ledger.rejected), samples)


def _write_mixed(tmp_path: Path, n: int, seed: int) -> Path:
    return write(tmp_path, _mixed_log(n, seed).encode("utf-8", errors="surrogateescape"), f"mixed{seed}.log")


def test_small_and_large_blocks_agree_with_and_without_copies(tmp_path, monkeypatch):
    """Small blocks mostly hand Arrow a slice of the block as it is; a block with a line that is not UTF-8 or
    holds a stray carriage return copies its other lines first. Both give what one big block gives."""
    path = _write_mixed(tmp_path, 2000, seed=1)
    copied = []
    original = awsvpc._read_fields

    def counted(data, layout):
        copied.append(isinstance(data, bytes))
        return original(data, layout)

    monkeypatch.setattr(awsvpc, "_read_fields", counted)
    small, small_ledger = _read_with_blocks(path, 1500, monkeypatch)
    assert copied.count(False) > 20 and any(copied)  # both ways were taken
    big, big_ledger = _read_with_blocks(path, 1 << 20, monkeypatch)
    pd.testing.assert_frame_equal(small, big)
    assert small_ledger == big_ledger
    assert big_ledger[2]  # the file does exercise rejections


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(0, 300), block=st.integers(200, 1 << 20))
def test_python_split_fallback_agrees_with_arrow(tmp_path, monkeypatch, seed, n, block):
    """The lines Arrow refuses are found by the row numbers it reports: the same as splitting line by line."""
    path = _write_mixed(tmp_path, n, seed)
    arrow, arrow_ledger = _read_with_blocks(path, block, monkeypatch)
    python, python_ledger = _read_with_blocks(path, block, monkeypatch, fallback=True)
    pd.testing.assert_frame_equal(arrow, python)
    assert arrow_ledger == python_ledger


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(0, 120), block=st.integers(200, 4000))
def test_any_mix_of_records_is_fully_accounted_for(tmp_path, monkeypatch, seed, n, block):
    path = _write_mixed(tmp_path, n, seed)
    flows, ledger = _read_with_blocks(path, block, monkeypatch)
    reference, reference_ledger = _read_with_blocks(path, 1 << 20, monkeypatch)
    assert ledger == reference_ledger
    pd.testing.assert_frame_equal(flows, reference)


def test_stopping_early_or_failing_leaves_no_thread_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(READER, "block_bytes", 2048)
    path = write(tmp_path, HEADER + "\n" + "\n".join([GOOD] * 400) + "\n")
    before = threading.active_count()
    chunks = READER.read_chunks(LogFile(path), RecordLedger(), 10)
    next(chunks)
    chunks.close()
    assert threading.active_count() == before

    def broken(*args):
        raise RuntimeError("worker failed")

    monkeypatch.setattr(awsvpc, "_check", broken)
    with pytest.raises(RuntimeError, match="worker failed"):
        read(path, chunk_rows=10)
    assert threading.active_count() == before


# --- format detection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir() if p.name != "truncated.log.gz"))
def test_sniff_recognises_every_fixture(name):
    log = LogFile(DATA / name)
    assert READER.sniff(log.head(), name)


@pytest.mark.parametrize("head", [
    b"ts,compute_type,dst_ip,dst_port,protocol\n2026-01-01T00:00:00Z,compute_cluster,1.2.3.4,443,TCP\n",
    b'{"records": [{"time": "2026-01-01T00:00:00Z", "category": "NetworkSecurityGroupFlowEvent"}]}',
    b"#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\tid.orig_h\n",
    b'{"category": "AZFWNetworkRule", "properties": {"SourceIp": "10.0.0.4"}}\n',
    b"version srcport dstport protocol\n2 1 2 6\n",  # a header without addresses
    b"hello world\n",
    b"\n\n   \n",
], ids=["csv", "nsg_json", "zeek", "azfw_json", "header_without_addresses", "text", "blank"])
def test_sniff_rejects_other_formats(head):
    assert not READER.sniff(head, "x.log")


def test_sniff_recognises_a_record_in_the_documentation_example():
    line = (b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 "
            b"1418530070 ACCEPT OK\n")
    assert READER.sniff(line, "x.log")
    assert READER.sniff(gzip.decompress(gzip.compress(line)), "x.log.gz")


def test_reader_identity():
    assert READER.name == "awsvpc" and READER.description


# --- the engine's reader (issue 11) -------------------------------------------------------------------------------


def test_the_line_limit_is_the_named_aws_limit():
    from egress_sim.base import limits

    assert READER.max_line_bytes == awsvpc.MAX_LINE_BYTES == limits.AWS_VPC_MAX_LINE_BYTES == 64 * 1024
    assert READER.max_line_bytes < limits.MAX_LINE_BYTES


def test_rejection_samples_come_in_file_order_whatever_their_reason(tmp_path):
    _, ledger, _ = read(_write_mixed(tmp_path, 3000, seed=4), chunk_rows=1000)
    lines = [int(s.where.rsplit(":", 1)[1]) for s in ledger.samples]
    assert len({s.reason for s in ledger.samples}) > 3 and lines == sorted(lines)


def test_a_carriage_return_ending_the_file_ends_its_last_line(tmp_path):
    flows, ledger, _ = read(write(tmp_path, f"{GOOD}\n{GOOD}\r"))
    assert lines_of(flows) == [1, 2] and ledger.total_rejected == 0


@pytest.mark.parametrize("block", [64, 1 << 16])
def test_a_header_again_is_spotted_by_any_earlier_header_first_name_whatever_the_blocks(tmp_path, monkeypatch, block):
    """A header is a later line that names fields and starts like ``version`` or like a header seen before
    (concatenated objects of two custom formats), wherever the blocks happen to end."""
    monkeypatch.setattr(READER, "block_bytes", block)
    text = "\n".join(["srcaddr dstaddr dstport protocol", "10.0.0.1 1.2.3.4 443 6",
                      "version srcaddr dstaddr dstport protocol", "2 10.0.0.1 1.2.3.5 443 6",
                      "srcaddr dstaddr dstport protocol", "10.0.0.1 1.2.3.6 443 6"]) + "\n"
    flows, ledger, _ = read(write(tmp_path, text), chunk_rows=2)
    assert lines_of(flows) == [2, 4, 6] and ledger.records_read == 3 and ledger.total_rejected == 0


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text("0123456789", min_size=0, max_size=20),
                                st.sampled_from(["-5", "+5", "1.5", "x", " 1", "٣"])), max_size=12),
       cut=st.integers(0, 2))
def test_numbers_found_on_the_bytes_agree_with_the_arrow_kernels(cells, cut):
    column = pa.array(cells, pa.string())
    if cut and len(column) > 2 * cut:
        column = column.slice(cut, len(column) - 2 * cut)
    fast = digits_only(column)
    if fast is None:
        return
    values = column.to_pylist()
    ok = [v is not None and v.isascii() and v.isdigit() and len(v) <= 18 for v in values]
    assert list(fast[0]) == ok
    assert [int(v) for v, good in zip(fast[1], ok) if good] == [int(v) for v, good in zip(values, ok) if good]
