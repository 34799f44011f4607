"""Fuzzing the flow-table readers of ``evaluate``: whatever a CSV or Parquet file holds, either one
``FlowInputError`` naming the file, or every input row comes out with exactly one verdict (a rejection
counted with its reason is one): rows in = rows out = evaluated + rejected. No other exception escapes.

Bounded: ~250 examples in all, a few seconds on two cores.
"""

from __future__ import annotations

import datetime
import decimal
import gzip
import io
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.ruletable.compile import compile_rules
from egress_sim.base.errors import FlowInputError
from egress_sim.flows.csvrows import MAX_RECORD_LINES
from egress_sim.model import workspace_from_dict
from egress_sim.app.pipeline import evaluate_file

COLUMNS = ["ts", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "name_logged",
           "verdict", "extra"]
ODD = ["compute_cluster", "serverless_spark", "laptop", "52.180.181.61", "::ffff:52.180.181.61", "fe80::1%eth0",
       "fd00::4%\x00", "2001:db8::1", "1.2.3", "443", "443.0", "443.5", "1e3", "4_4_3", "+443", "٤٤٣", "0x1bb",
       "65536", "-1", "TCP", "udp", "6", "ICMP", "GRE", "download.pytorch.org", "PYTORCH.ORG.", "a..b", "x" * 300,
       "NA", "null", "true", "no", "", " ", '"', '""', ",", "=1+1", "\x00", "\x1c", "\u2028", "\ufeff", "é"]

def bounded(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])



@pytest.fixture(scope="module")
def table(tags):
    document = {"name": "fuzz", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound",
        "outbound_rules": [{"name": "pytorch", "type": "fqdn", "destination": "*.pytorch.org"}]}}
    return compile_rules(workspace_from_dict(document)[0], tags)


cell = st.one_of(st.sampled_from(ODD), st.text(max_size=12))


@st.composite
def csv_field(draw) -> str:
    text = draw(cell)
    style = draw(st.sampled_from(["raw", "raw", "quoted", "half-quoted"]))
    if style == "quoted":
        return '"' + text.replace('"', '""') + '"'
    return ('"' + text) if style == "half-quoted" else text


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.one_of(
        st.just(["compute_type", "dst_ip", "dst_port", "protocol", "fqdn"]),
        st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=7),
    ))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 12))):
        width = max(0, len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1, 2, -len(header)])))
        lines.append(",".join(draw(csv_field()) for _ in range(width)))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    data = draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        data += draw(st.binary(max_size=20))  # trailing bytes, maybe not UTF-8
    if draw(st.integers(0, 5)) == 0:
        data = gzip.compress(data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]  # a cut gzip stream
    return data


def rows_in(data: bytes) -> int:
    """Data rows of a CSV as ``evaluate`` defines them: the records after the header that are not empty, where
    a line with an odd number of quotes runs on to the next such line (at most ``MAX_RECORD_LINES`` lines)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    lines = list(io.StringIO(data.decode("utf-8-sig"), newline=""))[1:]
    rows, i = 0, 0
    while i < len(lines):
        span = 1
        if lines[i].count('"') % 2:
            closing = [j for j in range(i + 1, min(i + MAX_RECORD_LINES, len(lines))) if lines[j].count('"') % 2]
            span = closing[0] - i + 1 if closing else 1
        rows += bool("".join(lines[i:i + span]).rstrip("\r\n"))
        i += span
    return rows


def check(table, path: Path, out: Path, chunk_rows: int, expected_rows) -> None:
    try:
        summary = evaluate_file(table, path, out, chunk_rows=chunk_rows)
    except FlowInputError as error:
        assert str(path) in str(error) and error.file == str(path), str(error)
        assert "\n" not in str(error)
        return
    verdicts = summary.by_verdict()
    assert summary.total == expected_rows() == verdicts["allow"] + verdicts["deny"] + verdicts["rejected"]
    written = pq.read_metadata(out).num_rows if out.suffix == ".parquet" else None
    assert written in (None, summary.total)


@bounded(150)
@given(data=csv_files(), chunk_rows=st.integers(1, 5), out_format=st.sampled_from(["parquet", "csv"]))
def test_any_csv_bytes_give_one_verdict_per_row_or_one_error_naming_the_file(table, data, chunk_rows, out_format):
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "flows.csv"
        path.write_bytes(data)
        check(table, path, Path(work) / f"out.{out_format}", chunk_rows, lambda: rows_in(data))


ARROW_TYPES = {
    "string": (pa.string(), cell),
    "large_string": (pa.large_string(), cell),
    "dictionary": (pa.dictionary(pa.int32(), pa.string()), cell),
    "int8": (pa.int8(), st.integers(-128, 127)),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "uint16": (pa.uint16(), st.integers(0, 2**16 - 1)),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "float32": (pa.float32(), st.floats(width=32)),
    "float64": (pa.float64(), st.one_of(st.floats(), st.sampled_from([443.0, 443.5, 80.0, -0.0]))),
    "bool": (pa.bool_(), st.booleans()),
    "null": (pa.null(), st.none()),
    "list": (pa.list_(pa.string()), st.lists(cell, max_size=2)),
    "struct": (pa.struct([("x", pa.int64())]), st.fixed_dictionaries({"x": st.integers(0, 9)})),
    "binary": (pa.binary(), st.binary(max_size=8)),
    "timestamp": (pa.timestamp("s"), st.datetimes(datetime.datetime(1970, 1, 1), datetime.datetime(2100, 1, 1))),
    "decimal": (pa.decimal128(10, 2), st.decimals(-10**6, 10**6, places=2, allow_nan=False, allow_infinity=False)),
}


@st.composite
def parquet_tables(draw) -> pa.Table:
    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6, unique=True))
    columns = {}
    for name in names:
        kind, values = ARROW_TYPES[draw(st.sampled_from(sorted(ARROW_TYPES)))]
        cells = draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        if pa.types.is_dictionary(kind):
            columns[name] = pa.array(cells, pa.string()).dictionary_encode()
        elif pa.types.is_decimal(kind):
            columns[name] = pa.array([None if c is None else decimal.Decimal(c) for c in cells], kind)
        else:
            columns[name] = pa.array(cells, kind)
    return pa.table(columns)


@bounded(100)
@given(flows=parquet_tables(), chunk_rows=st.integers(1, 5), out_format=st.sampled_from(["parquet", "csv"]))
def test_any_parquet_column_types_give_one_verdict_per_row_or_one_error_naming_the_file(table, flows, chunk_rows,
                                                                                          out_format):
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "flows.parquet"
        pq.write_table(flows, path)
        check(table, path, Path(work) / f"out.{out_format}", chunk_rows, lambda: flows.num_rows)
