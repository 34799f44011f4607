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

from egress_sim import limits
from egress_sim.compile import compile_rules
from egress_sim.errors import EgressSimError, FlowInputError, LimitExceeded
from egress_sim.flows.azure_flowlogs import NSG_READER
from egress_sim.flows.formats import list_inputs
from egress_sim.flows.logs import LogFile, RecordLedger
from egress_sim.flows.tables import CSV_READER
from egress_sim.flows.zeek import READER as ZEEK_READER
from egress_sim.loading import load_checked
from egress_sim.replay import replay

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
    for given in (tmp_path / "logs", tmp_path / "logs" / "*.csv"):
        with pytest.raises(LimitExceeded, match=r"more than 3 files to replay.*MAX_INPUT_FILES") as info:
            list_inputs([str(given)])
        assert str(given) in str(info.value)
    assert len(list_inputs([str(tmp_path / "logs")], max_files=4).files) == 4


def test_a_directory_too_deep_for_recursion_is_walked(tmp_path):
    deep = tmp_path
    for _ in range(1200):  # deeper than Python's default recursion limit
        deep = deep / "d"
        deep.mkdir()
    write(deep / "x.csv", HEADER + PYPI)
    assert len(list_inputs([str(tmp_path)]).files) == 1


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

        monkeypatch.setattr("egress_sim.flows.listing.os.scandir", scandir)
    else:
        real_open = open

        def guarded(file, *args, **kwargs):
            if isinstance(file, (str, Path)) and Path(file).resolve() == victim.resolve():
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("egress_sim.flows.logs.open", guarded, raising=False)


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
    from egress_sim import replay as replay_module

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
    from egress_sim import replay as replay_module

    real = replay_module.detect

    def detect_then_delete(log):
        reader = real(log)
        if log.path == gone:
            gone.unlink()
        return reader

    monkeypatch.setattr(replay_module, "detect", detect_then_delete)
    report = run(table, [tmp_path / "logs"], tmp_path)
    assert report.ledger.rejected == {"unreadable_file": 1}
    assert report.ledger.samples[0].where == str(gone)
