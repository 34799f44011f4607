"""Outputs are never destructive: an output that is an input is refused before any work; outputs appear under
their names only when the whole command succeeded, so a failed, interrupted, killed or concurrent run never
leaves a partial or mixed file there and never removes a file it did not create; CSV text a spreadsheet
would run as a formula is quoted."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from conftest import one_error_line

from egress_sim.ruletable.compile import compile_rules
from egress_sim.app.demo import run_demo
from egress_sim.base.errors import OutputFileError
from egress_sim.flows.io import FlowWriter, TableWriter, write_flows
from egress_sim.simulate.scenario import load_scenario
from egress_sim.simulate.simulator import simulate
from egress_sim.flows.spreadsheet import (
    is_formula_like,
    neutralise_frame,
    neutralise_table,
)
from egress_sim.app.loading import load_checked
from egress_sim.base.outputs import Outputs, check_outputs, write_text_atomic
from egress_sim.app.pipeline import evaluate_file

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
SAMPLE = ROOT / "data" / "flows" / "sample_flows.csv"
EGRESS_SIM = [sys.executable, "-m", "egress_sim.cli"]
HEADER = "ts,compute_type,compute_name,src_ip,dst_ip,dst_port,protocol,fqdn,bytes_out,bytes_in\n"
ROW = "2026-11-20T09:00:00Z,compute_cluster,gpu,10.0.2.4,151.101.0.223,443,TCP,{fqdn},{bytes_out},10\n"




def leftovers(directory: Path) -> list[str]:
    """Temporaries left in a directory (hidden ``.NAME.tmp-*`` files)."""
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def flows_csv(path: Path, rows: int = 5, fqdn: str = "pypi.org", bytes_out: str = "100") -> Path:
    path.write_text(HEADER + ROW.format(fqdn=fqdn, bytes_out=bytes_out) * rows)
    return path


@pytest.fixture(scope="module")
def table(tags):
    workspace, _ = load_checked(CONTOSO, tags)
    return compile_rules(workspace, tags)


def same_file(kind: str, original: Path) -> Path:
    """Another name for ``original``: the path itself, ``./`` spelled out, a symlink or a hard link."""
    if kind == "path":
        return original
    if kind == "dotted":
        return original.parent / "." / original.name
    other = original.with_name("other-name" + "".join(original.suffixes))
    if kind == "symlink":
        other.symlink_to(original.name)
    else:
        os.link(original, other)
    return other


SAME_FILE_KINDS = ["path", "dotted", "symlink", "hardlink"]


# --- same file as an input: refused before any work ----------------------------------------------------------


@pytest.mark.parametrize("kind", SAME_FILE_KINDS)
def test_evaluate_onto_its_own_flow_file_is_refused_and_the_file_is_kept(cli, tmp_path, kind):
    flows = flows_csv(tmp_path / "in.csv", rows=30)
    before = flows.read_bytes()
    result = cli("evaluate", CONTOSO, flows, "-o", same_file(kind, flows), "--chunk-rows", 10)
    one_error_line(result, "is the same file as the input", "in.csv")
    assert flows.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", SAME_FILE_KINDS)
def test_replay_onto_a_log_it_names_is_refused_and_the_log_is_kept(cli, tmp_path, kind):
    log = flows_csv(tmp_path / "in.csv", rows=30)
    before = log.read_bytes()
    result = cli("replay", CONTOSO, log, "--compute", "compute_cluster", "-o", same_file(kind, log))
    one_error_line(result, "is the same file as the input")
    assert log.read_bytes() == before


def test_replay_rejects_file_onto_a_log_it_names_is_refused(cli, tmp_path):
    log = flows_csv(tmp_path / "in.csv")
    before = log.read_bytes()
    result = cli("replay", CONTOSO, log, "--compute", "compute_cluster", "-o", tmp_path / "v.csv", "--rejects", log)
    one_error_line(result, "is the same file as the input")
    assert log.read_bytes() == before
    assert not (tmp_path / "v.csv").exists()


def test_an_earlier_verdict_file_inside_a_replayed_directory_is_passed_over_not_refused(cli, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    flows_csv(logs / "a.csv", rows=3)
    for _ in range(2):  # the second run finds the first run's verdicts in the directory
        result = cli("replay", CONTOSO, logs, "--compute", "compute_cluster", "-o", logs / "verdicts.csv")
        assert result.exit_code == 0, result.output
        assert "read 3 records" in result.output
    assert len(pd.read_csv(logs / "verdicts.csv")) == 3


@pytest.mark.parametrize("how", ["directory", "pattern"])
def test_replay_onto_a_log_found_in_a_replayed_directory_or_pattern_is_refused(cli, tmp_path, how):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = flows_csv(logs / "a.csv", rows=3)
    before = log.read_bytes()
    where = logs if how == "directory" else f"{logs}/*.csv"
    result = cli("replay", CONTOSO, where, "--compute", "compute_cluster", "-o", log)
    one_error_line(result, "a.csv", "is a file the replay", "would read")
    assert log.read_bytes() == before


def test_an_earlier_rejects_file_inside_a_replayed_directory_is_passed_over(cli, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.csv").write_text(HEADER + ROW.format(fqdn="pypi.org", bytes_out=1) + "bad,row\n")
    for _ in range(2):
        result = cli("replay", CONTOSO, logs, "--compute", "compute_cluster", "-o", logs / "v.parquet")
        assert result.exit_code == 0, result.output
        assert "read 2 records" in result.output
    assert (logs / "v.parquet.rejects.jsonl").read_text().count("\n") == 1


def test_evaluate_onto_its_workspace_file_is_refused(cli, tmp_path):
    workspace = tmp_path / "ws.yaml"
    shutil.copy(CONTOSO, workspace)
    one_error_line(cli("evaluate", workspace, flows_csv(tmp_path / "in.csv"), "-o", workspace),
                   "is the same file as the input")
    assert workspace.read_bytes() == CONTOSO.read_bytes()


def test_the_library_refuses_to_evaluate_a_file_onto_itself(table, tmp_path):
    flows = flows_csv(tmp_path / "in.csv")
    with pytest.raises(OutputFileError, match="same file as the input"):
        evaluate_file(table, flows, tmp_path / "." / "in.csv")
    assert len(pd.read_csv(flows)) == 5


# --- two outputs of one command that are one file --------------------------------------------------------------


def test_replay_verdicts_and_rejects_being_one_file_is_refused(cli, tmp_path):
    out = tmp_path / "v.csv"
    one_error_line(cli("replay", CONTOSO, flows_csv(tmp_path / "in.csv"), "--compute", "compute_cluster",
                       "-o", out, "--rejects", tmp_path / "." / "v.csv"), "given twice as an output")
    assert not out.exists()


def test_simulate_flows_and_inventory_being_one_file_is_refused(cli, tmp_path):
    out = tmp_path / "f.csv"
    one_error_line(cli("simulate", CONTOSO, "--flows", 10, "-o", out, "--inventory-out", out),
                   "given twice as an output")
    assert not out.exists()


def test_two_outputs_hard_linked_to_one_file_are_refused(tmp_path):
    first = tmp_path / "a.txt"
    first.write_text("x")
    os.link(first, tmp_path / "b.txt")
    with pytest.raises(OutputFileError, match="given twice"):
        check_outputs([first, tmp_path / "b.txt"])


# --- paths checked before any work --------------------------------------------------------------------------------


def test_replay_rejects_in_a_missing_directory_fails_before_any_output_is_written(cli, tmp_path):
    result = cli("replay", CONTOSO, flows_csv(tmp_path / "in.csv"), "--compute", "compute_cluster",
                 "-o", tmp_path / "v.csv", "--rejects", tmp_path / "missing" / "r.jsonl")
    one_error_line(result, "r.jsonl", "does not exist")
    assert not (tmp_path / "v.csv").exists()
    assert leftovers(tmp_path) == []


def test_simulate_inventory_in_a_missing_directory_fails_before_the_flows_are_written(cli, tmp_path):
    result = cli("simulate", CONTOSO, "--flows", 100, "-o", tmp_path / "f.parquet",
                 "--inventory-out", tmp_path / "missing" / "inv.yaml")
    one_error_line(result, "inv.yaml", "does not exist")
    assert not (tmp_path / "f.parquet").exists()


def test_an_empty_output_path_is_refused_not_read_as_the_current_directory(cli, tmp_path):
    one_error_line(cli("evaluate", CONTOSO, flows_csv(tmp_path / "in.csv"), "-o", ""), "empty output path")


def test_an_output_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(OutputFileError, match="it is a directory"):
        check_outputs([tmp_path])


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root writes anywhere; Windows has no mode bits")
def test_an_output_in_a_read_only_directory_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(OutputFileError, match="not writable"):
        check_outputs([locked / "out.csv"])


# --- failures leave what stood at the name -------------------------------------------------------------------------


def test_a_failed_evaluate_leaves_a_file_already_at_the_output_untouched(cli, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("an earlier result\n")
    cut = tmp_path / "flows.csv.gz"
    whole = gzip.compress((HEADER + ROW.format(fqdn="pypi.org", bytes_out=1) * 5000).encode())
    cut.write_bytes(whole[: len(whole) // 2])  # fails after the first chunks were written
    result = cli("evaluate", CONTOSO, cut, "-o", out, "--chunk-rows", 10)
    assert result.exit_code != 0
    assert out.read_text() == "an earlier result\n"
    assert leftovers(tmp_path) == []


def test_an_evaluate_of_a_missing_flow_file_leaves_the_output_file_untouched(cli, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("keep\n")
    one_error_line(cli("evaluate", CONTOSO, tmp_path / "missing.csv", "-o", out), "no such flow file")
    assert out.read_text() == "keep\n"


def test_a_failed_replay_leaves_both_earlier_outputs_untouched(cli, tmp_path):
    out, rejects = tmp_path / "v.csv", tmp_path / "r.jsonl"
    out.write_text("earlier verdicts\n")
    rejects.write_text("earlier rejects\n")
    log = tmp_path / "in.csv"
    log.write_text(HEADER + ROW.format(fqdn="pypi.org", bytes_out=1) * 20 + "bad,row\n")
    result = cli("replay", CONTOSO, log, "--compute", "compute_cluster", "--strict", "-o", out,
                 "--rejects", rejects, "--chunk-rows", 5)
    assert result.exit_code == 2
    assert out.read_text() == "earlier verdicts\n"
    assert rejects.read_text() == "earlier rejects\n"
    assert leftovers(tmp_path) == []


def test_replay_publishes_verdicts_and_rejects_together_on_success(cli, tmp_path):
    log = tmp_path / "in.csv"
    log.write_text(HEADER + ROW.format(fqdn="pypi.org", bytes_out=1) + "bad,row\n")
    result = cli("replay", CONTOSO, log, "--compute", "compute_cluster", "-o", tmp_path / "v.csv")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "v.csv")) == 1
    assert (tmp_path / "v.csv.rejects.jsonl").read_text().count("\n") == 1
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_block_removes_its_temporaries_and_keeps_the_old_files(tmp_path, interrupt):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old")
    with pytest.raises(interrupt):
        with Outputs([first, second]) as outputs:
            outputs.write_text(first, "new")
            outputs.write_text(second, "new")
            raise interrupt()
    assert first.read_text() == "old"
    assert not second.exists()
    assert leftovers(tmp_path) == []


def test_an_interrupted_simulation_keeps_the_earlier_flows_and_inventory(tags, tmp_path):
    workspace, _ = load_checked(CONTOSO, tags)
    flows, inventory = tmp_path / "f.parquet", tmp_path / "inv.yaml"
    simulate(workspace, tags, load_scenario(None), 1000, 1, flows, inventory_path=inventory)
    before = flows.read_bytes(), inventory.read_bytes()

    def interrupt(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(workspace, tags, load_scenario(None), 1000, 2, flows, interrupt, inventory_path=inventory)
    assert (flows.read_bytes(), inventory.read_bytes()) == before
    assert leftovers(tmp_path) == []


def test_an_interrupted_demo_keeps_every_file_of_the_earlier_demo(tmp_path):
    run_demo(tmp_path, flows=2000, seed=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = []

    def interrupt_late(rows: int) -> None:  # after the flows, during the evaluations
        calls.append(rows)
        if sum(calls) >= 3000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_demo(tmp_path, flows=5000, seed=2, progress=interrupt_late)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_writer_failing_mid_way_keeps_the_old_file(tmp_path):
    out = tmp_path / "out.parquet"
    write_flows(pd.DataFrame({"a": [1, 2]}), out)
    with pytest.raises(RuntimeError):
        with FlowWriter(out) as writer:
            writer.write(pd.DataFrame({"a": [3]}))
            raise RuntimeError("the evaluation broke")
    assert pd.read_parquet(out)["a"].tolist() == [1, 2]
    assert leftovers(tmp_path) == []


# --- atomic replacement ---------------------------------------------------------------------------------------------


def test_write_text_atomic_replaces_the_file_whole(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("old: 1\n")
    write_text_atomic(path, "new: 2\n")
    assert path.read_text() == "new: 2\n"
    assert leftovers(tmp_path) == []


def test_write_text_atomic_into_a_missing_directory_names_the_path(tmp_path):
    with pytest.raises(OutputFileError, match="missing.*does not exist"):
        write_text_atomic(tmp_path / "missing" / "w.yaml", "x")


def test_a_symlinked_output_replaces_the_file_it_points_to_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target.name)
    write_text_atomic(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"


@pytest.mark.skipif(os.name == "nt", reason="POSIX mode bits")
def test_a_replaced_output_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    path.chmod(0o640)
    write_text_atomic(path, "new")
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_device_named_as_the_output_is_written_in_place():
    write_text_atomic("/dev/null", "discarded")
    assert Path("/dev/null").is_char_device()


def test_two_threads_writing_one_output_leave_one_whole_file(tmp_path):
    out = tmp_path / "out.csv"
    both_started = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(value: int) -> None:
        try:
            with FlowWriter(out) as writer:
                for step in range(20):
                    writer.write(pd.DataFrame({"writer": [value] * 1000, "step": step}))
                    if step == 0:
                        both_started.wait()  # both have a file open before either finishes
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    frame = pd.read_csv(out)
    assert len(frame) == 20_000
    assert frame["writer"].nunique() == 1
    assert leftovers(tmp_path) == []


def run_cli(*args: object) -> subprocess.Popen:
    return subprocess.Popen([*EGRESS_SIM, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_two_evaluate_runs_writing_one_output_leave_one_whole_run(tmp_path):
    flows = flows_csv(tmp_path / "in.csv", rows=20_000)
    out = tmp_path / "out.csv"
    runs = [run_cli("evaluate", CONTOSO, flows, "-o", out, "--chunk-rows", 500, "--mode", mode)
            for mode in ("disabled", "allow_only_approved_outbound")]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    verdicts = pd.read_csv(out)
    assert len(verdicts) == 20_000
    assert verdicts["reason"].nunique() == 1  # one mode's reasons throughout, never a mix of both
    assert leftovers(tmp_path) == []


# --- killed and interrupted processes ------------------------------------------------------------------------------


def start_big_simulation(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A simulation large enough to be stopped while it writes; returns once its temporary holds data."""
    out = tmp_path / "flows.csv"
    process = run_cli("simulate", CONTOSO, "--flows", 20_000_000, "-o", out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        temps = [tmp_path / name for name in leftovers(tmp_path)]
        if temps and temps[0].stat().st_size > 1_000_000:
            return process, out
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    process.kill()
    pytest.fail("the simulation wrote nothing within two minutes")


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_a_run_killed_mid_write_leaves_no_file_under_the_output_name(tmp_path):
    process, out = start_big_simulation(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert not out.exists()
    # Nothing can clean up after kill -9: the hidden temporary stays (the README says so).
    assert [name.startswith(".flows.csv.tmp-") for name in leftovers(tmp_path)] == [True]


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_mid_write_leaves_no_output_and_no_temporary(tmp_path):
    process, out = start_big_simulation(tmp_path)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) != 0
    assert not out.exists()
    assert leftovers(tmp_path) == []


# --- spreadsheet formulas in CSV outputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+cmd", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
                                   "\tx", "\rx"])
def test_a_formula_like_text_cell_is_quoted(value):
    assert is_formula_like(value)
    assert neutralise_table(pa.table({"s": [value]})).column("s").to_pylist() == ["'" + value]


@pytest.mark.parametrize("value", ["-5", "+1.5e3", "pypi.org", "", "'=already quoted", "a=b"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert not is_formula_like(value)
    table = pa.table({"s": [value]})
    assert neutralise_table(table) is table


def test_dictionary_columns_are_quoted_through_their_distinct_values():
    column = pa.array(["=x", "ok", "=x", None]).dictionary_encode()
    fixed = neutralise_table(pa.table({"d": column})).column("d")
    assert pa.types.is_dictionary(fixed.type)
    assert fixed.to_pylist() == ["'=x", "ok", "'=x", None]


def test_numeric_columns_are_never_touched():
    frame = pd.DataFrame({"n": [-5, 3], "f": [-1.5, 2.0], "cat": pd.Categorical(["=a", "b"])})
    fixed = neutralise_frame(frame)
    assert fixed["n"].tolist() == [-5, 3] and fixed["f"].tolist() == [-1.5, 2.0]
    assert fixed["cat"].tolist() == ["'=a", "b"]


def test_evaluate_quotes_formula_like_host_names_in_a_csv_output(cli, tmp_path):
    flows = flows_csv(tmp_path / "in.csv", fqdn="=HYPERLINK(\"http://evil\")", bytes_out="-5")
    assert cli("evaluate", CONTOSO, flows, "-o", tmp_path / "out.csv").exit_code == 0
    text = (tmp_path / "out.csv").read_text()
    assert "'=HYPERLINK" in text
    assert ",=" not in text
    assert pd.read_csv(tmp_path / "out.csv", dtype=str)["bytes_out"].tolist() == ["-5"] * 5


def test_replay_quotes_formula_like_text_in_a_csv_output(cli, tmp_path):
    log = flows_csv(tmp_path / "in.csv", fqdn="@SUM(1+1)*cmd")
    assert cli("replay", CONTOSO, log, "--compute", "compute_cluster", "-o", tmp_path / "v.csv").exit_code == 0
    assert set(pd.read_csv(tmp_path / "v.csv")["fqdn"]) == {"'@SUM(1+1)*cmd"}


def test_a_parquet_output_keeps_the_text_as_it_was(cli, tmp_path):
    flows = flows_csv(tmp_path / "in.csv", fqdn="=1+1")
    assert cli("evaluate", CONTOSO, flows, "-o", tmp_path / "out.parquet").exit_code == 0
    assert set(pd.read_parquet(tmp_path / "out.parquet")["fqdn"]) == {"=1+1"}


def test_the_simulators_csv_writer_quotes_formula_like_text(tmp_path):
    schema = pa.schema([("name", pa.dictionary(pa.int32(), pa.string())), ("bytes", pa.int64())])
    with TableWriter(tmp_path / "sim.csv", schema) as writer:
        writer.write(pa.table({"name": pa.array(["=cmd", "ok"]).dictionary_encode().cast(schema.field("name").type),
                               "bytes": [-1, 2]}, schema=schema))
    frame = pd.read_csv(tmp_path / "sim.csv")
    assert frame["name"].tolist() == ["'=cmd", "ok"]
    assert frame["bytes"].tolist() == [-1, 2]


def test_a_replay_with_nothing_rejected_replaces_the_rejects_file_never_just_deletes_it(cli, tmp_path):
    flows = tmp_path / "in.csv"
    flows.write_text(HEADER + ROW.format(fqdn="pypi.org", bytes_out=10))
    rejects = tmp_path / "notes.jsonl"
    rejects.write_text("precious\n")
    result = cli("replay", CONTOSO, flows, "--compute", "compute_cluster", "-o", tmp_path / "v.csv",
                 "--rejects", rejects)
    assert result.exit_code == 0 and rejects.exists() and rejects.read_text() == ""
