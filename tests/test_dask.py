"""The Dask engine gives what the local engine gives: the same verdicts row for row, summaries, and replay ledgers
(read = evaluated + skipped + rejected), on a LocalCluster of 2 workers; and a worker killed in the middle of a run
loses and duplicates no verdict."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed", reason="the Dask engine's tests need the dask extra: pip install 'egress_sim[dask]'")

from egress_sim.app.distributed import dask_client, evaluate_dask, replay_dask  # noqa: E402
from egress_sim.app.pipeline import evaluate_file  # noqa: E402
from egress_sim.app.replay import replay  # noqa: E402
from egress_sim.logs.inventory import load_inventory  # noqa: E402
from egress_sim.logs.registry import list_inputs  # noqa: E402
from egress_sim.model import read_workspace  # noqa: E402
from egress_sim.ruletable.compile import compile_rules  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
NSG_LOGS = ROOT / "data" / "logs" / "nsg-contoso"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
ZEEK = ROOT / "tests" / "data" / "logs" / "zeek"
VERDICT = ["verdict", "reason", "rule"]


@pytest.fixture(scope="module")
def cluster():
    with dask_client(workers=2) as (client, run):
        assert run.workers == 2
        yield client


@pytest.fixture(scope="module")
def table(tags):
    return compile_rules(read_workspace(CONTOSO).workspace, tags)


@pytest.fixture(scope="module")
def flows(tmp_path_factory) -> Path:
    from click.testing import CliRunner
    from egress_sim.cli import main
    folder = tmp_path_factory.mktemp("dask")
    raw = folder / "raw.parquet"
    assert CliRunner().invoke(main, ["simulate", str(CONTOSO), "--flows", "30000", "--seed", "5", "-o", str(raw)]).exit_code == 0
    path = folder / "flows.parquet"
    pq.write_table(pq.read_table(raw), path, row_group_size=2500)  # 12 row groups: several partitions
    return path


def _dataset(folder: Path) -> pd.DataFrame:
    return pd.concat([pq.read_table(p).to_pandas() for p in sorted(folder.glob("part-*.parquet"))],
                     ignore_index=True)


def test_evaluate_gives_the_local_verdicts_row_for_row_and_the_same_summary(cluster, table, flows, tmp_path):
    local = evaluate_file(table, flows, tmp_path / "local.parquet")
    remote = evaluate_dask(cluster, table, flows, tmp_path / "dataset", rows_per_task=5000)
    assert remote.counts == local.counts and remote.by_label == local.by_label and remote.total == 30000
    rows = _dataset(tmp_path / "dataset").sort_values("source_row").reset_index(drop=True)
    expected = pq.read_table(tmp_path / "local.parquet").to_pandas()
    assert list(rows["source_row"]) == list(range(30000))
    for column in VERDICT:
        assert rows[column].astype(str).tolist() == expected[column].astype(str).tolist()


def _replays(cluster, table, inputs: list[str], tmp_path: Path, inventory=None, compute=None):
    local = replay(table, inputs, tmp_path / "local.parquet", inventory, compute)
    remote = replay_dask(cluster, table, list_inputs(inputs), tmp_path / "dataset", inventory, compute,
                         bytes_per_task=50_000)  # many small tasks
    return local, remote


@pytest.mark.parametrize("case", ["nsg", "zeek"])
def test_replay_gives_the_local_ledger_summary_and_verdicts(cluster, table, tmp_path, case):
    if case == "nsg":
        local, remote = _replays(cluster, table, [str(NSG_LOGS)], tmp_path, inventory=load_inventory(FLEET))
    else:
        local, remote = _replays(cluster, table, [str(ZEEK / "tsv")], tmp_path, compute="compute_instance")
    assert remote.totals == local.totals and remote.totals["read"] > 0
    t = remote.totals
    assert t["read"] == t["evaluated"] + t["skipped"] + t["rejected"]
    assert (remote.ledger.skipped, remote.ledger.rejected) == (local.ledger.skipped, local.ledger.rejected)
    assert remote.evaluation.counts == local.evaluation.counts
    assert [vars(f) for f in remote.files] == [vars(f) for f in local.files]
    got = _dataset(tmp_path / "dataset").sort_values("source").reset_index(drop=True)
    expected = pq.read_table(tmp_path / "local.parquet").to_pandas().sort_values("source").reset_index(drop=True)
    for column in ["source", *VERDICT]:
        assert got[column].astype(str).tolist() == expected[column].astype(str).tolist()


def test_a_worker_killed_mid_run_loses_and_duplicates_no_verdict(table, flows, tmp_path, monkeypatch):
    monkeypatch.setenv("EGRESS_SIM_DASK_TASK_DELAY", "0.4")  # read by the workers, which start after this
    with dask_client(workers=2) as (client, _):
        pids = list(client.run(os.getpid).values())
        killer = threading.Timer(1.0, lambda: os.kill(pids[0], signal.SIGKILL))
        killer.start()
        started = time.monotonic()
        summary = evaluate_dask(client, table, flows, tmp_path / "dataset", rows_per_task=2500)
        killer.join()
        assert time.monotonic() - started > 1.0  # the kill came while tasks were running
    rows = _dataset(tmp_path / "dataset")
    assert summary.total == len(rows) == 30000
    assert rows["source_row"].is_unique and set(rows["source_row"]) == set(range(30000))


def test_a_csv_flow_table_is_refused_with_what_to_do(cluster, table, tmp_path):
    path = tmp_path / "flows.csv"
    path.write_text("compute_type,dst_ip,dst_port,protocol\ncompute_instance,20.1.1.1,443,TCP\n")
    with pytest.raises(Exception, match="convert it to Parquet"):
        evaluate_dask(cluster, table, path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_cli_without_dask_says_how_to_install_it_in_one_line(cli, tmp_path, monkeypatch, flows):
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = cli("evaluate", CONTOSO, flows, "-o", tmp_path / "out", "--engine", "dask")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: the Dask engine needs dask and distributed: pip install "
                                                  "'egress_sim[dask]' (from a clone: pip install -e '.[dask]')"]


def test_the_cli_runs_evaluate_and_replay_on_dask(cli, tmp_path, flows):
    result = cli("evaluate", CONTOSO, flows, "-o", tmp_path / "ev", "--engine", "dask", "--workers", "2",
                 "--chunk-rows", "10000")
    assert result.exit_code == 0, result.output
    assert "dashboard" in result.stderr and len(list((tmp_path / "ev").glob("part-*.parquet"))) == 3
    result = cli("replay", CONTOSO, NSG_LOGS, "--inventory", FLEET, "-o", tmp_path / "rp", "--engine", "dask",
                 "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rp.rejects.jsonl").exists()


def _comparison(result) -> tuple:
    groups = result.groups.sort_values(list(result.groups.columns[:11])).reset_index(drop=True)
    c = result.comparison
    return (c.flows, c.changed, c.newly_denied, c.newly_allowed), groups[["destination", "flows", "bytes_out"]]


@pytest.mark.parametrize("case", ["table", "logs"])
def test_whatif_counts_the_same_changes_as_the_local_engine(cluster, tags, flows, tmp_path, case):
    from egress_sim.app.flowinput import FlowInput
    from egress_sim.app.whatif import run_whatif
    workspace = read_workspace(CONTOSO).workspace
    before = compile_rules(workspace, tags, "allow_internet_outbound")
    after = compile_rules(workspace, tags, "allow_only_approved_outbound")
    source = FlowInput((str(flows),), chunk_rows=5000) if case == "table" else \
        FlowInput((str(NSG_LOGS),), inventory=str(FLEET))
    from egress_sim.app.distributed import whatif_dask
    local = run_whatif(before, after, source, tags, tmp_path / "local.parquet")
    remote = whatif_dask(cluster, before, after, source, tags, tmp_path / "dataset", bytes_per_task=50_000)
    (l_totals, l_groups), (r_totals, r_groups) = _comparison(local), _comparison(remote)
    assert l_totals == r_totals and l_totals[1] > 0
    pd.testing.assert_frame_equal(l_groups, r_groups, check_dtype=False)
    assert remote.rows_written == local.rows_written == l_totals[1]
    if case == "logs":
        assert remote.replay.totals == local.replay.totals


def test_report_on_dask_gives_the_local_report(cli, tmp_path, flows):
    assert cli("evaluate", CONTOSO, flows, "-o", tmp_path / "v.parquet").exit_code == 0
    assert cli("report", tmp_path / "v.parquet", "--workspace", CONTOSO, "-o", tmp_path / "a").exit_code == 0
    result = cli("report", tmp_path / "v.parquet", "--workspace", CONTOSO, "-o", tmp_path / "b", "--engine", "dask",
                 "--workers", "2")
    assert result.exit_code == 0, result.output
    import json
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert a["modes"] == b["modes"] and a["rules"] == b["rules"]


def test_workers_or_a_scheduler_without_the_dask_engine_is_a_usage_error(cli, tmp_path, flows):
    result = cli("evaluate", CONTOSO, flows, "-o", tmp_path / "v.parquet", "--workers", "3")
    assert result.exit_code == 2 and "--engine dask" in result.stderr


def test_a_csv_is_refused_before_any_cluster_starts(cli, tmp_path):
    path = tmp_path / "flows.csv"
    path.write_text("compute_type,dst_ip,dst_port,protocol\ncompute_instance,20.1.1.1,443,TCP\n")
    result = cli("evaluate", CONTOSO, path, "-o", tmp_path / "out", "--engine", "dask")
    assert result.exit_code == 2 and "convert it to Parquet" in result.stderr and "Dask:" not in result.stderr
