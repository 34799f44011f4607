"""Our own flow tables read by replay (``logs.tables``): each block's records booked in file order through the
engine's ``Outcomes``, a CSV flow's source its file and first line."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger, StrictInputError
from egress_sim.logs.formats.tables import CSV_READER, PARQUET_READER

HEADER = "ts,src_ip,dst_ip,dst_port,protocol,fqdn,bytes_out,source\n"
GOOD = "2026-11-20T09:00:00Z,10.0.3.5,151.101.0.223,443,TCP,pypi.org,900,theirs\n"


def read(reader, path: Path, chunk_rows: int = 1000, strict: bool = False):
    ledger = RecordLedger(strict=strict)
    frames = list(reader.read_chunks(LogFile(path), ledger, chunk_rows))
    flows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    assert ledger.records_read == len(flows) + ledger.total_skipped + ledger.total_rejected
    return flows, ledger


def test_csv_strict_names_the_first_bad_record_in_the_file_whatever_its_reason(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(HEADER + GOOD + GOOD.replace("2026-11-20T09:00:00Z", "yesterday") + "1,2,3\n"
                    + GOOD.replace(",900,", ",lots,"))
    with pytest.raises(StrictInputError, match=re.escape(f"{path}:3: invalid timestamp: ts=yesterday")):
        read(CSV_READER, path, strict=True)


def test_csv_samples_come_in_file_order_and_name_the_first_bad_counter(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(HEADER + GOOD.replace(",900,", ",lots,") + "1,2,3\n"
                    + GOOD.replace("2026-11-20T09:00:00Z", "yesterday").replace(",900,", ",-1,") + GOOD)
    flows, ledger = read(CSV_READER, path)
    assert [(s.reason, s.where, s.text) for s in ledger.samples] == [
        ("invalid_bytes", f"{path}:2", "bytes_out=lots"), ("bad_field_count", f"{path}:3", "1,2,3"),
        ("invalid_timestamp", f"{path}:4", "ts=yesterday")]
    assert list(flows["source"]) == [f"{path}:5"]


def test_a_quoted_csv_value_across_lines_is_one_record_placed_at_its_first_line(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(HEADER + GOOD.replace("pypi.org", '"pypi\norg"') + GOOD)
    flows, ledger = read(CSV_READER, path, chunk_rows=1)
    assert ledger.records_read == 2
    assert list(flows["fqdn"]) == ["pypi\norg", "pypi.org"]
    assert list(flows["source"]) == [f"{path}:2", f"{path}:4"]  # the file's own source column is replaced


def test_csv_types_stay_what_they_were(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(HEADER + GOOD + GOOD.replace(",900,", ",,"))
    flows, _ = read(CSV_READER, path)
    assert str(flows["ts"].dtype) == "datetime64[ns, UTC]" and flows["bytes_out"].dtype == "Int64"
    assert flows["dst_port"].tolist() == ["443", "443"] and pd.isna(flows["bytes_out"].iloc[1])


def test_parquet_rows_are_booked_in_row_order(tmp_path):
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"ts": ["2026-11-20T09:00:00Z", "bad", None], "dst_ip": ["1.2.3.4"] * 3,
                             "dst_port": [443, 80, 22], "protocol": ["TCP"] * 3,
                             "bytes_out": pa.array([-1, 5, 7], pa.int64())}), path)
    flows, ledger = read(PARQUET_READER, path)
    assert [(s.reason, s.where) for s in ledger.samples] == [("invalid_bytes", f"{path}: row 0"),
                                                            ("invalid_timestamp", f"{path}: row 1")]
    assert flows["dst_port"].tolist() == [22]
    with pytest.raises(StrictInputError, match=re.escape(f"{path}: row 0: invalid bytes: bytes_out=-1")):
        read(PARQUET_READER, path, strict=True)
