"""`egress-sim replay` on hostile and broken input: listing that follows no loop and names what it cannot read,
readers whose memory stays bounded past the documented limits, and no traceback whatever the bytes.

Every case ends in one of two ways: one ``EgressSimError`` naming the file, or a report in which every record is
counted once (read = evaluated + skipped + rejected) and each problem is named."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.base import limits
from egress_sim.ruletable.compile import compile_rules
from egress_sim.base.errors import EgressSimError, FlowInputError, LimitExceeded
from egress_sim.logs.engine import jsoncareful, jsonrecords
from egress_sim.logs.formats.azure_flowlogs import NSG_READER
from egress_sim.logs.registry import detect, list_inputs, readers
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger
from egress_sim.logs.formats.azfw import READER as AZFW_READER
from egress_sim.logs.formats.tables import CSV_READER
from egress_sim.logs.formats.zeek import READER as ZEEK_READER
from egress_sim.app.loading import load_checked
from egress_sim.app.replay import replay

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
LOGS = ROOT / "tests" / "data" / "logs"
HEADER = "ts,src_ip,dst_ip,dst_port,protocol,fqdn\n"
PYPI = "2026-11-20T09:00:00Z,10.0.3.5,151.101.0.223,443,TCP,pypi.org\n"


@pytest.fixture(scope="module")
def table(tags):
    workspace, _ = load_checked(CONTOSO, tags)
    return compile_rules(workspace, tags)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def run(table, inputs: list, tmp_path: Path, **options):
    """Replay ``inputs`` (paths or patterns) and check that the totals add up."""
    report = replay(table, [str(i) for i in inputs], tmp_path / "out.csv", default_compute="compute_cluster",
                    **options)
    t = report.totals
    assert t["read"] == t["evaluated"] + t["skipped"] + t["rejected"]
    return report


# --- 1. symlink loops and the number of files ---------------------------------------------------------------


@pytest.fixture
def looped(tmp_path, monkeypatch) -> Path:
    """logs/a.csv, logs/sub/b.csv, and two links back to logs (one at its top, one below): glob's ``**`` and a
    naive walk go round these forever (2 links: 2^depth paths)."""
    logs = tmp_path / "logs"
    write(logs / "a.csv", HEADER + PYPI)
    write(logs / "sub" / "b.csv", HEADER + PYPI)
    (logs / "again").symlink_to(".")
    (logs / "sub" / "up").symlink_to("..")
    monkeypatch.chdir(tmp_path)
    return logs


def test_a_glob_through_a_symlink_loop_lists_each_file_once_and_names_the_loops(looped):
    listing = list_inputs(["logs/**/*.csv"])
    assert [str(f.path) for f in listing.files] == ["logs/a.csv", "logs/sub/b.csv"]
    assert sorted(listing.loops) == [("logs/again", "logs"), ("logs/sub/up", "logs")]


def test_a_directory_holding_a_symlink_loop_lists_each_file_once_and_names_the_loops(looped):
    listing = list_inputs(["logs"])
    assert [str(f.path) for f in listing.files] == ["logs/a.csv", "logs/sub/b.csv"]
    assert sorted(listing.loops) == [("logs/again", "logs"), ("logs/sub/up", "logs")]


def test_a_pattern_that_starts_with_a_link_to_its_own_parent_ends(looped):
    os.chdir(looped / "sub")  # the report's case: `ln -s .. sl; replay WS 'sl/**/*.log'`
    listing = list_inputs(["up/**/*.csv"])
    assert sorted(str(f.path) for f in listing.files) == ["up/a.csv", "up/sub/b.csv"]
    assert ("up/again", "up") in listing.loops


def test_symlink_loops_are_named_in_the_replay_report(table, looped, tmp_path):
    report = run(table, ["logs/**/*.csv"], tmp_path)
    assert report.totals["read"] == 2
    assert report.ledger.notes["symlink loop not followed: logs/again leads back to logs"] == 1
    assert report.ledger.notes["symlink loop not followed: logs/sub/up leads back to logs"] == 1


def test_a_linked_directory_that_is_no_loop_is_read_once(tmp_path, monkeypatch):
    write(tmp_path / "2024" / "x.csv", HEADER + PYPI)
    (tmp_path / "latest").symlink_to("2024")
    monkeypatch.chdir(tmp_path)
    listing = list_inputs(["."])
    assert [f.path.name for f in listing.files] == ["x.csv"] and listing.loops == []


def test_more_files_than_the_listing_limit_is_one_clear_error(tmp_path, monkeypatch):
    for k in range(4):
        write(tmp_path / "logs" / f"{k}.csv", HEADER + PYPI)
    monkeypatch.setattr(limits, "MAX_INPUT_FILES", 3)
    for named in (tmp_path / "logs", tmp_path / "logs" / "*.csv"):
        with pytest.raises(LimitExceeded, match=r"more than 3 files to replay.*MAX_INPUT_FILES") as info:
            list_inputs([str(named)])
        assert str(named) in str(info.value)
    assert len(list_inputs([str(tmp_path / "logs")], max_files=4).files) == 4


# --- 2. unreadable files and directories ---------------------------------------------------------------------


def _deny(monkeypatch, victim: Path, call: str) -> None:
    """Make ``victim`` unreadable the way chmod 000 does for a user that is not root (tests run as root in CI,
    where chmod does not stop reads): the listing or opening call raises PermissionError for it."""
    if call == "scandir":
        real = os.scandir

        def scandir(path="."):
            if Path(path).resolve() == victim.resolve():
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr("egress_sim.logs.engine.listing.os.scandir", scandir)
    else:
        real_open = open

        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, Path)) and Path(file).resolve() == victim.resolve():
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("egress_sim.logs.engine.files.open", guarded, raising=False)


def test_an_unreadable_subdirectory_is_one_named_rejected_record(table, tmp_path, monkeypatch):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    write(tmp_path / "logs" / "locked" / "b.csv", HEADER + PYPI)
    _deny(monkeypatch, tmp_path / "logs" / "locked", "scandir")
    report = run(table, [tmp_path / "logs"], tmp_path)
    locked = str(tmp_path / "logs" / "locked")
    assert report.ledger.rejected["unreadable_file"] == 1
    assert [s.where for s in report.ledger.samples if s.reason == "unreadable_file"] == [locked]
    assert "Permission denied" in report.ledger.samples[0].text
    assert {f.path: f.format for f in report.files}[locked] == "unreadable"
    assert report.totals == {"read": 2, "evaluated": 1, "skipped": 0, "rejected": 1}


def test_an_unreadable_file_in_a_directory_is_one_named_rejected_record(table, tmp_path, monkeypatch):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    locked = write(tmp_path / "logs" / "b.csv", HEADER + PYPI)
    _deny(monkeypatch, locked, "open")
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.ledger.rejected == {"unreadable_file": 1}
    assert report.ledger.samples[0].where == str(locked)
    assert {f.path: f.format for f in report.files}[str(locked)] == "unreadable"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_a_chmod_000_file_in_a_directory_is_one_named_rejected_record(table, tmp_path):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    locked = write(tmp_path / "logs" / "b.csv", HEADER + PYPI)
    locked.chmod(0)
    try:
        report = run(table, [tmp_path / "logs"], tmp_path)
    finally:
        locked.chmod(0o644)
    assert report.ledger.rejected == {"unreadable_file": 1}


def test_an_unreadable_file_named_by_the_user_is_an_error(table, tmp_path, monkeypatch):
    locked = write(tmp_path / "b.csv", HEADER + PYPI)
    _deny(monkeypatch, locked, "open")
    with pytest.raises(FlowInputError, match=r"b\.csv: cannot read: Permission denied"):
        run(table, [locked], tmp_path)


def test_an_unreadable_directory_named_by_the_user_is_an_error(table, tmp_path, monkeypatch):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    _deny(monkeypatch, tmp_path / "logs", "scandir")
    with pytest.raises(FlowInputError, match=r"logs: cannot list .*Permission denied"):
        list_inputs([str(tmp_path / "logs")])


def test_a_dangling_link_and_a_fifo_in_a_directory_are_named_not_skipped(tmp_path):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    (tmp_path / "logs" / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    os.mkfifo(tmp_path / "logs" / "pipe.csv")  # opening it would wait for a writer forever
    listing = list_inputs([str(tmp_path / "logs")])
    assert [f.path.name for f in listing.files] == ["a.csv"]
    assert sorted((Path(p).name, why) for p, why in listing.unreadable) == [
        ("gone.csv", "No such file or directory"), ("pipe.csv", "not a regular file")]


def test_a_file_that_vanishes_between_listing_and_reading_is_a_named_reject(table, tmp_path, monkeypatch):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    gone = write(tmp_path / "logs" / "b.csv", HEADER + PYPI)
    from egress_sim.app import replay as replay_module

    real = replay_module.list_inputs

    def list_then_delete(*args, **kwargs):
        listing = real(*args, **kwargs)
        gone.unlink()
        return listing

    monkeypatch.setattr(replay_module, "list_inputs", list_then_delete)
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.ledger.rejected == {"unreadable_file": 1}
    assert report.ledger.samples[0].where == str(gone) and "No such file" in report.ledger.samples[0].text


def test_a_file_that_vanishes_after_detection_is_a_named_reject(table, tmp_path, monkeypatch):
    write(tmp_path / "logs" / "a.csv", HEADER + PYPI)
    gone = write(tmp_path / "logs" / "b.csv", HEADER + PYPI)
    from egress_sim.logs.reading import LogReading

    real = LogReading._format_of

    def detect_then_delete(self, log):
        reader = real(self, log)
        if log.path == gone:
            gone.unlink()
        return reader

    monkeypatch.setattr(LogReading, "_format_of", detect_then_delete)
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.ledger.rejected == {"unreadable_file": 1}
    assert report.ledger.samples[0].where == str(gone)


# --- 3. column types that differ between files ---------------------------------------------------------------


def _parquet(path: Path, **columns) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"ts": ["2026-11-20T09:00:00Z"], "src_ip": ["10.0.3.5"], "dst_ip": ["151.101.0.223"],
            "protocol": ["TCP"], "fqdn": ["pypi.org"], "dst_port": [443]}
    pd.DataFrame({**base, **columns}).to_parquet(path)
    return path


@pytest.mark.parametrize("output", ["out.parquet", "out.csv"])
def test_a_text_column_of_another_type_in_one_parquet_file_is_a_reject_naming_file_and_column(table, tmp_path, output):
    _parquet(tmp_path / "logs" / "a.parquet", compute_name=["gpu"])
    odd = _parquet(tmp_path / "logs" / "b.parquet", compute_name=[5])
    report = replay(table, [str(tmp_path / "logs")], tmp_path / output, default_compute="compute_cluster")
    assert report.totals == {"read": 2, "evaluated": 1, "skipped": 0, "rejected": 1}
    (sample,) = report.ledger.samples
    assert sample.where == str(odd) and "column compute_name holds int64" in sample.text
    assert len(pd.read_parquet(tmp_path / output) if output.endswith(".parquet") else pd.read_csv(tmp_path / output)) == 1


def test_a_named_parquet_file_with_a_list_column_is_one_error_naming_the_column(table, tmp_path):
    odd = _parquet(tmp_path / "b.parquet", fqdn=[["pypi.org", "x.org"]])
    with pytest.raises(FlowInputError, match=r"b\.parquet: column 'fqdn' holds list<"):
        replay(table, [str(odd)], tmp_path / "out.parquet", default_compute="compute_cluster")


def test_ports_as_numbers_in_one_file_and_text_in_another_are_replayed_together(table, tmp_path):
    _parquet(tmp_path / "logs" / "a.parquet", dst_port=[443], bytes_out=[10])
    _parquet(tmp_path / "logs" / "b.parquet", dst_port=["443"], bytes_out=["20"])
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.totals["evaluated"] == 2
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["dst_port"]) == [443, 443] and list(written["bytes_out"]) == [10, 20]


@pytest.mark.parametrize("bad", ["x", "1.5", "-3"])
def test_a_byte_count_that_is_no_whole_number_is_rejected_not_emptied(table, tmp_path, bad):
    _parquet(tmp_path / "logs" / "a.parquet", bytes_out=[10])
    _parquet(tmp_path / "logs" / "b.parquet", bytes_out=[bad])
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.ledger.rejected == {"invalid_bytes": 1}
    assert report.ledger.samples[0].text == f"bytes_out={bad}"


def test_a_fractional_float_byte_count_in_parquet_is_rejected(table, tmp_path):
    _parquet(tmp_path / "a.parquet", bytes_out=[1.5])
    report = run(table, [tmp_path / "a.parquet"], tmp_path)
    assert report.ledger.rejected == {"invalid_bytes": 1}


# --- 6. fractional ports in replayed tables ------------------------------------------------------------------


@pytest.mark.parametrize("output", ["out.parquet", "out.csv"])
def test_a_fractional_float_port_in_parquet_is_a_rejected_row_not_a_traceback(table, tmp_path, output):
    path = _parquet(tmp_path / "a.parquet", dst_port=[443.5])
    report = replay(table, [str(path)], tmp_path / output, default_compute="compute_cluster")
    assert report.evaluation.by_reason() == {"invalid_dst_port": 1}


def test_a_fractional_port_in_a_replayed_csv_is_a_rejected_row_not_a_traceback(table, tmp_path):
    path = write(tmp_path / "a.csv", HEADER + PYPI.replace(",443,", ",443.5,"))
    report = run(table, [path], tmp_path)
    assert report.evaluation.by_reason() == {"invalid_dst_port": 1}
    assert pd.read_csv(tmp_path / "out.csv")["dst_port"].isna().all()  # written empty beside its verdict


# --- 4. resource limits: long lines and large JSON records ---------------------------------------------------


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(limits, "MAX_JSON_RECORD_BYTES", 64 * 1024)


def _zeek_conn(long_line: bytes) -> bytes:
    lines = (LOGS / "zeek" / "json" / "conn.log").read_bytes().splitlines(keepends=True)
    return b"".join([lines[0], long_line + b"\n", *lines[1:]])


@pytest.mark.parametrize("compress", [False, True])
def test_a_zeek_line_over_the_limit_is_a_reject_naming_its_line(tmp_path, small_limits, compress):
    data = _zeek_conn(b'{"ts":1700000000.1,"uid":"' + b"x" * 5000 + b'"}')
    path = write(tmp_path / ("conn.log.gz" if compress else "conn.log"), gzip.compress(data) if compress else data)
    ledger = RecordLedger()
    frames = list(ZEEK_READER.read_chunks(LogFile(path), ledger, 1000))
    flows = sum(len(f) for f in frames)
    assert ledger.rejected["line_too_long"] == 1
    assert [s.where for s in ledger.samples if s.reason == "line_too_long"] == [f"{path}:2"]
    assert ledger.records_read == flows + ledger.total_skipped + ledger.total_rejected
    assert ledger.records_read == data.count(b"\n")  # every line after the long one still read, and numbered


def test_a_csv_line_over_the_limit_is_a_reject_and_the_next_line_is_read(tmp_path, small_limits):
    path = write(tmp_path / "a.csv", HEADER + "2026," + "9" * 5000 + "\n" + PYPI)
    ledger = RecordLedger()
    frames = list(CSV_READER.read_chunks(LogFile(path), ledger, 1000))
    assert ledger.rejected == {"line_too_long": 1} and ledger.samples[0].where == f"{path}:2"
    assert list(pd.concat(frames)["source"]) == [f"{path}:3"]


def test_a_line_without_end_over_the_limit_is_never_held_whole(tmp_path, small_limits):
    """A file that is one endless line: the reader holds at most the limit plus a block, and rejects it."""
    path = write(tmp_path / "a.csv", HEADER.encode() + b"7" * 3_000_000)
    ledger = RecordLedger()
    with LogFile(path).open_binary(long_lines=lambda line, head: ledger.note(f"long {line}")) as stream:
        assert stream.read() == HEADER.encode()
    assert ledger.notes == {"long 2": 1}


def _nsg(records: list[str]) -> bytes:
    return ('{"records":[' + ",".join(records) + "]}").encode()


def _nsg_record(tuples: int) -> str:
    flow = '"1794823203,10.0.8.4,20.60.1.4,50002,443,T,O,A,E,3,767,2,1580"'
    return ('{"time":"2026-11-16T10:01:00Z","category":"NetworkSecurityGroupFlowEvent","operationName":'
            '"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"R","flows":[{"mac":"M",'
            '"flowTuples":[' + ",".join([flow] * tuples) + "]}]}]}}")


@pytest.mark.parametrize("block", [4 * 2**20, 8 * 1024])  # the record within one read, or across many
def test_an_nsg_record_over_the_limit_is_one_reject_and_the_next_record_is_read(tmp_path, small_limits, monkeypatch,
                                                                               block):
    monkeypatch.setattr(jsonrecords, "READ_BYTES", block)
    monkeypatch.setattr(jsoncareful, "BLOCK_CHARS", block)
    big = _nsg_record(2000)  # ~130 KB, over the 64 KiB test limit
    path = write(tmp_path / "PT1H.json.gz", gzip.compress(_nsg([_nsg_record(1), big, _nsg_record(2)])))
    held = []
    fill = jsoncareful.CarefulArrayStream._fill

    def watched(stream, *args):
        held.append(len(stream.buf))
        return fill(stream, *args)

    monkeypatch.setattr(jsoncareful.CarefulArrayStream, "_fill", watched)
    ledger = RecordLedger()
    flows = sum(len(f) for f in NSG_READER.read_chunks(LogFile(path), ledger, 1000))
    assert flows == 3 and ledger.rejected == {"record_too_large": 1}
    if block < len(big):  # read across blocks: the record is never held whole
        assert max(held) <= limits.MAX_JSON_RECORD_BYTES + 2 * block < len(big)
    assert ledger.samples[0].where.endswith("record 2") and "MAX_JSON_RECORD_BYTES" in ledger.samples[0].text


def test_a_file_that_is_one_nsg_record_over_the_limit_is_one_named_reject(table, tmp_path, small_limits):
    path = write(tmp_path / "logs" / "PT1H.json", _nsg([_nsg_record(3000)]))
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.totals["read"] == 1 and report.ledger.rejected == {"record_too_large": 1}
    assert report.ledger.samples[0].where == f"{path}@12 record 1"


# --- 5. broken files: one error line or named rejects, never a traceback --------------------------------------


def _cut_gzip(raw: bytes) -> bytes:
    packed = gzip.compress(raw)
    return packed[: len(packed) * 2 // 3]


BROKEN = {
    "cut.csv.gz": _cut_gzip((HEADER + PYPI * 2000).encode()),
    "cut_nsg.json.gz": _cut_gzip((LOGS / "nsg" / "mixed_versions.json").read_bytes()),
    "truncated_nsg.json": (LOGS / "nsg" / "mixed_versions.json").read_bytes()[:900],
    "empty.log": b"",
    "junk.bin": bytes(range(256)) * 8,
    "nonutf8.csv": HEADER.encode() + b"2026-11-20T09:00:00Z,10.0.3.5,151.101.0.223,443,TCP,py\xff\xfe.org\n",
    "gzip_of_nothing.gz": gzip.compress(b""),
    "gzip_magic_then_junk.gz": b"\x1f\x8b" + bytes(range(200)),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_file_in_a_directory_is_counted_or_passed_over_by_name(table, tmp_path, name):
    write(tmp_path / "logs" / "ok.csv", HEADER + PYPI)
    broken = write(tmp_path / "logs" / name, BROKEN[name])
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert str(broken) in {f.path for f in report.files}
    assert report.totals["evaluated"] >= 1  # the good file still counts


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_file_named_alone_is_one_error_line_or_a_counted_replay(cli, tmp_path, name):
    broken = write(tmp_path / name, BROKEN[name])
    result = cli("replay", str(CONTOSO), str(broken), "-o", str(tmp_path / "out.csv"), "--compute", "compute_cluster")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:
        (line,) = [line for line in result.output.splitlines() if line.strip()]
        assert line.startswith("error: ") and str(broken) in line
    else:
        assert result.exit_code == 0 and "read " in result.output


# --- 7. fuzz: every reader and format detection, on random bytes and mutated real samples -------------------


def _sample_bytes() -> list[bytes]:
    out = []
    for path in sorted(p for p in LOGS.rglob("*") if p.is_file() and p.suffix != ".md"):
        data = path.read_bytes()
        try:
            out.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        except (EOFError, OSError):
            out.append(data)  # a cut gzip fixture stays as it is
    return out


SAMPLES = _sample_bytes()


@st.composite
def hostile_bytes(draw) -> bytes:
    """Random bytes, or a real sample cut, spliced, with bytes flipped or inserted; sometimes gzip'ed (and cut)."""
    if draw(st.booleans()):
        data = draw(st.binary(max_size=3000))
    else:
        data = bytearray(draw(st.sampled_from(SAMPLES))[:20_000])
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "splice"]))
            if kind == "cut":
                del data[at:]
            elif kind == "flip" and at < len(data):
                data[at] ^= draw(st.integers(1, 255))
            elif kind == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=40))
            elif kind == "delete":
                del data[at:at + draw(st.integers(1, 200))]
            else:
                other = draw(st.sampled_from(SAMPLES))
                data[at:] = other[draw(st.integers(0, len(other))):][:2000]
        data = bytes(data)
    if draw(st.integers(0, 4)) == 0:
        packed = gzip.compress(data)
        data = packed[: draw(st.integers(2, len(packed)))]
    return data


_FUZZ_READERS = readers()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hostile_bytes(), which=st.integers(0, len(_FUZZ_READERS) - 1), chunk_rows=st.sampled_from([1, 7, 1000]))
def test_every_reader_counts_each_record_once_or_raises_one_error_naming_the_file(tmp_path, data, which, chunk_rows):
    path = write(tmp_path / "conn.log", data)  # (a Zeek conn log's name, with no companions beside it)
    log, ledger = LogFile(path), RecordLedger()
    try:
        detected = detect(log)
        assert detected in _FUZZ_READERS
    except EgressSimError as exc:
        assert str(path) in str(exc)
    reader = _FUZZ_READERS[which]
    try:
        flows = sum(len(chunk) for chunk in reader.read_chunks(log, ledger, chunk_rows))
    except EgressSimError as exc:
        assert str(path) in str(exc)
        return
    assert ledger.records_read == flows + ledger.total_skipped + ledger.total_rejected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(hostile_bytes(), min_size=1, max_size=3))
def test_a_replay_of_hostile_files_adds_up_or_stops_with_one_error_naming_a_file(table, tmp_path_factory, files):
    logs = tmp_path_factory.mktemp("fuzz")
    paths = [write(logs / "in" / f"{k}.log", data) for k, data in enumerate(files)]
    try:
        report = replay(table, [str(logs / "in")], logs / "v.csv", default_compute="compute_cluster")
    except EgressSimError as exc:
        assert any(str(p) in str(exc) for p in paths)
        return
    report.check()


def test_a_firewall_csv_row_over_the_csv_field_limit_is_one_reject_and_the_rows_after_it_are_read(tmp_path):
    header = "TimeGenerated [UTC],Category,msg_s\n"
    row = ('2026-11-20T09:00:00Z,AzureFirewallNetworkRule,'
           '"TCP request from 10.0.3.5:50000 to 20.60.1.4:443. Action: Allow."\n')
    path = write(tmp_path / "fw.csv", header + row + '2026-11-20T09:00:00Z,x,"' + "y" * 200_000 + '"\n' + row)
    ledger = RecordLedger()
    flows = sum(len(f) for f in AZFW_READER.read_chunks(LogFile(path), ledger, 100))
    assert flows == 2 and ledger.rejected == {"bad_csv": 1} and ledger.samples[0].where == f"{path}:3"


# --- JSON nested deeper than Python's decoder goes: one reject, never a RecursionError --------------------------

DEEP = "[" * 5000 + "]" * 5000


def _deep_nsg() -> str:
    return '{"records": [{"time": "2026-01-01T00:00:00Z", "properties": {"flows": ' + DEEP + "}}]}"


def _deep_zeek() -> str:
    good = (ROOT / "tests/data/logs/zeek/json/conn.log").read_text().splitlines()[0]
    return good + "\n" + '{"ts": 1700000001.0, "uid": ' + DEEP + "}\n"


def _deep_azfw() -> str:
    good = (ROOT / "tests/data/logs/azfw/legacy_variants.json").read_text().splitlines()[0]
    return good + "\n" + '{"category": "AzureFirewallNetworkRule", "properties": ' + DEEP + "}\n"


@pytest.mark.parametrize("name, fmt, make", [
    ("PT1H.json", "nsg", _deep_nsg), ("conn.log", "zeek", _deep_zeek), ("fw.json", "azfw", _deep_azfw),
])
def test_json_nested_too_deeply_is_a_counted_reject(table, tmp_path, name, fmt, make):
    log = write(tmp_path / "logs" / name, make())
    report = run(table, [log], tmp_path, log_format=fmt)
    assert report.totals["rejected"] >= 1
