"""`egress-sim replay`: every record read is evaluated, skipped or rejected, and the totals add up; sources are
identified through the compute inventory and never guessed; bad records are counted and sampled."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from egress_sim.ruletable.compile import compile_rules
from egress_sim.base.errors import FlowInputError
from egress_sim.logs.registry import detect, expand_inputs
from egress_sim.logs.inventory import InventoryError, load_inventory
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger, StrictInputError
from egress_sim.logs.formats.tables import CSV_READER
from egress_sim.app.loading import load_checked
from egress_sim.app.replay import replay

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
HEADER = "ts,src_ip,dst_ip,dst_port,protocol,fqdn\n"
PYPI = "2026-11-20T09:00:00Z,10.0.3.5,151.101.0.223,443,TCP,pypi.org\n"
INVENTORY = """\
computes:
- name: gpu-cluster
  type: compute_cluster
  addresses: [10.0.3.0/24]
- name: ci-ana
  type: compute_instance
  addresses: [10.0.3.7]
"""


@pytest.fixture(scope="module")
def table(tags):
    workspace, _ = load_checked(CONTOSO, tags)
    return compile_rules(workspace, tags)


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    return load_inventory(path)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def totals_add_up(report) -> dict[str, int]:
    t = report.totals
    assert t["read"] == t["evaluated"] + t["skipped"] + t["rejected"]
    return t


# --- the compute inventory ----------------------------------------------------------------------------------


def test_the_inventory_maps_addresses_by_longest_prefix(inventory):
    assert inventory.find("10.0.3.5").name == "gpu-cluster"
    assert inventory.find("10.0.3.7").name == "ci-ana"  # a node listed by itself inside the cluster's subnet
    assert inventory.find("10.0.4.1") is None
    assert inventory.find("not an ip") is None


def test_an_inventory_can_be_a_csv_file(tmp_path):
    path = write(tmp_path / "inv.csv", "compute_name,compute_type,address\nspark,serverless_spark,10.0.5.0/24\n"
                                       "spark,serverless_spark,2001:db8::/64\n")
    inventory = load_inventory(path)
    assert inventory.find("10.0.5.9").compute_type.yaml == "serverless_spark"
    assert inventory.find("2001:db8::5").name == "spark"


@pytest.mark.parametrize("text, message", [
    ("computes: [{name: a, type: compute_cluster, addresses: [10.0.0.300]}]", "'10.0.0.300' is not an IP address"),
    ("computes: [{name: a, type: laptop, addresses: [10.0.0.1]}]", "laptop"),
    ("computes: [{type: compute_cluster, addresses: [10.0.0.1]}]", "needs a compute name"),
    ("computes: [{name: a, type: compute_cluster}]", "'addresses' must list"),
    ("computes: [{name: a, type: compute_cluster, addresses: [10.0.0.1], ip: x}]", "unknown key(s) ip"),
    ("nodes: []", "a 'computes:' list"),
    ("computes: [{name: a, type: compute_cluster, addresses: [10.0.0.5/24]}]", "has host bits set (did you mean 10.0.0.0/24?)"),
    ("computes: [{name: a, type: compute_cluster, addresses: [10.0.0.0/24]},"
     " {name: b, type: serverless, addresses: [10.0.0.0/24]}]", "listed for both 'a' and 'b'"),
])
def test_a_bad_inventory_is_refused_naming_the_entry(tmp_path, text, message):
    path = write(tmp_path / "inventory.yaml", text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


# --- inputs and formats ----------------------------------------------------------------------------------------


def test_inputs_expand_from_directories_and_globs_once_each(tmp_path):
    (tmp_path / "logs" / "a").mkdir(parents=True)
    first = write(tmp_path / "logs" / "a" / "1.csv", HEADER + PYPI)
    second = write(tmp_path / "logs" / "2.csv", HEADER + PYPI)
    files = expand_inputs([str(tmp_path / "logs"), str(tmp_path / "logs" / "*.csv")])
    assert [f.path for f in files] == [second, first]  # sorted paths, duplicates once
    (tmp_path / "link.csv").symlink_to(first)  # the same file by another name, and by a path through ".."
    again = expand_inputs([str(first), str(tmp_path / "link.csv"), str(tmp_path / "logs" / "a" / ".." / "2.csv")])
    assert [f.path for f in again] == [first, tmp_path / "logs" / "a" / ".." / "2.csv"]


@pytest.mark.parametrize("name", ["missing.csv", "nothing-*.csv"])
def test_inputs_that_match_nothing_are_an_error(tmp_path, name):
    with pytest.raises(FlowInputError, match="no such file|no file matches"):
        expand_inputs([str(tmp_path / name)])


def test_a_file_in_no_known_format_is_named(tmp_path):
    path = write(tmp_path / "notes.txt", "dear diary\n")
    with pytest.raises(FlowInputError, match=r"notes\.txt: not a log format egress_sim knows"):
        detect(LogFile(path))


def test_gzip_is_read_by_content_not_by_name(tmp_path):
    path = tmp_path / "flows.data"
    path.write_bytes(gzip.compress((HEADER + PYPI).encode()))
    log = LogFile(path)
    assert detect(log) is CSV_READER
    ledger = RecordLedger()
    rows = sum(len(c) for c in CSV_READER.read_chunks(log, ledger, 100))
    assert rows == ledger.records_read == 1


# --- our own CSV as a log --------------------------------------------------------------------------------------


def test_malformed_csv_rows_are_rejected_with_their_line_numbers(tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI + "2026-11-20T09:00:00Z,10.0.3.5,443\n\n" + PYPI
                 + "yesterday,10.0.3.5,151.101.0.223,443,TCP,pypi.org\n")
    ledger = RecordLedger()
    chunks = list(CSV_READER.read_chunks(LogFile(path), ledger, 2))
    assert sum(len(c) for c in chunks) == 2
    assert ledger.records_read == 4  # the blank line is no record
    assert {(s.reason, s.where.rsplit(":", 1)[1]) for s in ledger.samples} == {("bad_field_count", "3"),
                                                                                ("invalid_timestamp", "6")}
    assert [s for c in chunks for s in c["source"]] == [f"{path}:2", f"{path}:5"]


# --- replay ------------------------------------------------------------------------------------------------------


def test_replayed_flows_get_their_compute_from_the_inventory(table, inventory, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI + PYPI.replace("10.0.3.5", "10.0.3.7"))
    report = replay(table, [str(path)], tmp_path / "out.parquet", inventory=inventory)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out["compute_name"]) == ["gpu-cluster", "ci-ana"]
    assert list(out["compute_type"]) == ["compute_cluster", "compute_instance"]
    assert list(out["verdict"]) == ["allow", "allow"]
    assert totals_add_up(report) == {"read": 2, "evaluated": 2, "skipped": 0, "rejected": 0}


def test_a_source_no_inventory_entry_owns_is_rejected_never_guessed(table, inventory, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI.replace("10.0.3.5", "192.168.7.7"))
    report = replay(table, [str(path)], tmp_path / "out.csv", inventory=inventory)
    assert report.rejected_by_reason() == {"unknown_source": 1}
    assert totals_add_up(report)["rejected"] == 1


def test_without_inventory_or_compute_type_every_source_is_unknown(table, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI * 3)
    report = replay(table, [str(path)], tmp_path / "out.csv")
    assert report.rejected_by_reason() == {"unknown_source": 3}


def test_a_default_compute_type_stands_for_every_source(table, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI)
    report = replay(table, [str(path)], tmp_path / "out.csv", default_compute="compute_instance")
    assert report.evaluation.by_compute() == {"compute_instance": {"allow": 1, "deny": 0, "rejected": 0}}


def test_flows_into_a_known_compute_from_outside_are_skipped_as_inbound(table, inventory, tmp_path):
    inbound = "2026-11-20T09:00:00Z,203.0.113.9,10.0.3.5,22,TCP,\n"
    path = write(tmp_path / "f.csv", HEADER + PYPI + inbound)
    report = replay(table, [str(path)], tmp_path / "out.csv", inventory=inventory)
    assert dict(report.ledger.skipped) == {"inbound_by_inventory": 1}
    assert totals_add_up(report) == {"read": 2, "evaluated": 1, "skipped": 1, "rejected": 0}
    assert len(pd.read_csv(tmp_path / "out.csv")) == 1


def test_small_files_are_evaluated_together_and_inbound_flows_still_count_against_their_own_file(table, inventory, tmp_path):
    inbound = "2026-11-20T09:00:00Z,203.0.113.9,10.0.3.5,22,TCP,\n"
    (tmp_path / "logs").mkdir()
    for name, rows in (("a.csv", PYPI + inbound * 2), ("b.csv", PYPI * 3), ("c.csv", inbound + PYPI)):
        write(tmp_path / "logs" / name, HEADER + rows)
    gathered = replay(table, [str(tmp_path / "logs")], tmp_path / "gathered.parquet", inventory=inventory)
    one_by_one = replay(table, [str(tmp_path / "logs")], tmp_path / "single.parquet", inventory=inventory, chunk_rows=1)
    for report in (gathered, one_by_one):
        assert [(Path(f.path).name, f.read, f.skipped) for f in report.files] == [("a.csv", 3, 2), ("b.csv", 3, 0),
                                                                                   ("c.csv", 2, 1)]
        assert totals_add_up(report) == {"read": 8, "evaluated": 5, "skipped": 3, "rejected": 0}
    left, right = pd.read_parquet(tmp_path / "gathered.parquet"), pd.read_parquet(tmp_path / "single.parquet")
    assert left.astype(str).equals(right.astype(str))


def test_reader_and_evaluator_rejections_are_sampled_in_the_rejects_file(table, inventory, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI + "bad,row\n" + PYPI.replace(",443,", ",99999,"))
    report = replay(table, [str(path)], tmp_path / "out.csv", inventory=inventory, rejects_path=tmp_path / "rej.jsonl")
    samples = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert {(s["reason"], s["where"]) for s in samples} == {("bad_field_count", f"{path}:3"),
                                                            ("invalid_dst_port", f"{path}:4")}
    assert totals_add_up(report) == {"read": 3, "evaluated": 1, "skipped": 0, "rejected": 2}


def test_strict_replay_stops_at_the_first_bad_record_and_writes_no_output(table, inventory, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI + PYPI.replace(",443,", ",99999,"))
    with pytest.raises(StrictInputError, match=rf"{path}:3: invalid dst port"):
        replay(table, [str(path)], tmp_path / "out.parquet", inventory=inventory, strict=True)
    assert not (tmp_path / "out.parquet").exists()


def test_files_of_different_formats_replay_into_one_verdict_file(table, inventory, tmp_path):
    csv_path = write(tmp_path / "a.csv", HEADER + PYPI)
    parquet_path = tmp_path / "b.parquet"
    pd.DataFrame([{"src_ip": "10.0.3.5", "dst_ip": "151.101.0.223", "dst_port": 443, "protocol": "TCP",
                   "fqdn": "pypi.org"}]).to_parquet(parquet_path)
    report = replay(table, [str(csv_path), str(parquet_path)], tmp_path / "out.parquet", inventory=inventory)
    assert [f.format for f in report.files] == ["csv", "parquet"]
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 2
    totals_add_up(report)


# --- the command ----------------------------------------------------------------------------------------------


def test_replay_command_prints_totals_that_add_up(cli, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI + "bad,row\n")
    inv = write(tmp_path / "inv.yaml", INVENTORY)
    result = cli("replay", CONTOSO, path, "--inventory", inv, "-o", tmp_path / "out.parquet")
    assert result.exit_code == 0, result.output
    assert "read 2 records = evaluated 1 + skipped 0 + rejected 1" in result.output
    assert (tmp_path / "out.parquet.rejects.jsonl").exists()


def test_replay_command_json_has_the_totals(cli, tmp_path):
    path = write(tmp_path / "f.csv", HEADER + PYPI)
    result = cli("replay", CONTOSO, path, "--compute", "compute_cluster", "-o", tmp_path / "out.csv", "--json")
    data = json.loads(result.stdout)
    assert data["totals"] == {"read": 1, "evaluated": 1, "skipped": 0, "rejected": 0}


@pytest.mark.parametrize("args, message", [
    (["--inventory", "missing.yaml"], "cannot read inventory"),
    (["--compute", "compute_cluster", "--format", "pcap"], "unknown log format 'pcap'"),
    (["--inventory", "other.yaml", "--strict"], "unknown source"),
])
def test_replay_command_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, message):
    path = write(tmp_path / "f.csv", HEADER + PYPI)
    write(tmp_path / "other.yaml", "computes:\n- name: elsewhere\n  type: compute_cluster\n  addresses: [192.0.2.0/24]\n")
    result = cli("replay", CONTOSO, path, "-o", tmp_path / "out.csv", *[str(tmp_path / a) if a.endswith(".yaml") else a for a in args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_a_simulated_fleet_inventory_maps_its_flows_back_to_their_computes(cli, tmp_path):
    flows, inventory = tmp_path / "flows.csv", tmp_path / "fleet.yaml"
    assert cli("simulate", CONTOSO, "--flows", 3000, "-o", flows, "--inventory-out", inventory).exit_code == 0
    simulated = pd.read_csv(flows)
    log = tmp_path / "log.csv"
    simulated.drop(columns=["compute_type", "compute_name"]).to_csv(log, index=False)
    result = cli("replay", CONTOSO, log, "--inventory", inventory, "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    replayed = pd.read_csv(tmp_path / "out.csv")
    assert list(replayed["compute_type"]) == list(simulated["compute_type"])
    assert list(replayed["compute_name"]) == list(simulated["compute_name"])


# --- every format through replay ------------------------------------------------------------------------------

LOGS = ROOT / "tests" / "data" / "logs"


@pytest.mark.parametrize("fmt", ["nsg", "vnet", "azfw", "zeek", "awsvpc"])
def test_every_fixture_of_a_format_replays_with_totals_that_add_up(table, tmp_path, fmt):
    report = replay(table, [str(LOGS / fmt)], tmp_path / "out.parquet", default_compute="compute_cluster",
                    rejects_path=tmp_path / "rejects.jsonl")
    totals = totals_add_up(report)
    assert totals["evaluated"] > 0 and totals["rejected"] > 0  # the fixtures hold good and broken records
    formats = {f.format for f in report.files} - {"unrecognised"}
    assert formats <= {fmt, "zeek-companion"} and fmt in formats
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == totals["evaluated"] + report.evaluation.by_verdict()["rejected"]


def zeek_log(path: Path, kind: str, fields: str, types: str, rows: list[str]) -> None:
    header = (f"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{kind}\n"
              f"#fields\t{fields}\n#types\t{types}\n")
    path.write_text(header + "".join(r + "\n" for r in rows) + "#close\t2026-11-20-10-00-00\n")


def test_a_zeek_replay_names_destinations_from_ssl_http_and_dns_and_fqdn_rules_decide(table, tmp_path):
    conn_fields = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\tlocal_orig"
    conn_types = "time\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\tbool"
    zeek_log(tmp_path / "conn.log", "conn", conn_fields, conn_types, [
        "1763629200.1\tC1\t10.0.3.5\t40001\t151.101.0.223\t443\ttcp\t900\t90000\tT",   # SNI pypi.org
        "1763629200.2\tC2\t10.0.3.5\t40002\t13.224.1.9\t80\ttcp\t300\t5000\tT",        # Host download.pytorch.org
        "1763629200.3\tC3\t10.0.3.5\t40003\t140.82.112.3\t443\ttcp\t700\t80000\tT",    # dns answer github.com
        "1763629200.4\tC4\t10.0.3.5\t40004\t203.0.113.50\t443\ttcp\t700\t800\tT",      # TLS without SNI
        "1763629200.45\tC6\t10.0.3.5\t40006\t203.0.113.51\t443\ttcp\t700\t800\tT",    # no companion saw it
        "1763629200.5\tC5\t203.0.113.7\t40005\t10.0.3.5\t22\ttcp\t10\t10\tF",           # inbound
    ])
    zeek_log(tmp_path / "ssl.log", "ssl", "ts\tuid\tserver_name", "time\tstring\tstring",
             ["1763629200.15\tC1\tpypi.org", "1763629200.41\tC4\t-"])
    zeek_log(tmp_path / "http.log", "http", "ts\tuid\tmethod\thost\turi", "time\tstring\tstring\tstring\tstring",
             ["1763629200.25\tC2\tGET\tdownload.pytorch.org\t/whl/cpu"])
    zeek_log(tmp_path / "dns.log", "dns", "ts\tuid\tquery\tanswers", "time\tstring\tstring\tvector[string]",
             ["1763629200.0\tD1\tgithub.com\t140.82.112.3"])
    report = replay(table, [str(tmp_path)], tmp_path / "out.csv", default_compute="compute_cluster")
    out = pd.read_csv(tmp_path / "out.csv").set_index("dst_ip")
    assert out.loc["151.101.0.223", ["fqdn", "reason", "rule"]].tolist() == ["pypi.org", "fqdn", "pypi"]
    assert out.loc["13.224.1.9", ["fqdn", "reason", "rule"]].tolist() == ["download.pytorch.org", "fqdn", "pytorch"]
    assert out.loc["140.82.112.3", ["fqdn", "reason", "rule"]].tolist() == ["github.com", "fqdn", "github"]
    assert out.loc["203.0.113.50", "reason"] == "no_sni"
    assert out.loc["203.0.113.51", "reason"] == "name_not_logged"
    assert totals_add_up(report) == {"read": 6, "evaluated": 5, "skipped": 1, "rejected": 0}
    assert {f.format for f in report.files} == {"zeek", "zeek-companion"}


def test_a_cut_gzip_file_counts_one_rejected_record_and_the_replay_goes_on(table, tmp_path):
    whole = gzip.compress((HEADER + PYPI * 2000).encode())
    (tmp_path / "a-cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    write(tmp_path / "b.csv", HEADER + PYPI)
    report = replay(table, [str(tmp_path)], tmp_path / "out.csv", default_compute="compute_cluster")
    assert report.ledger.rejected["unreadable_rest_of_file"] == 1
    assert report.files[1].read == 1
    totals_add_up(report)


def test_a_stray_file_in_a_log_directory_is_passed_over_with_a_warning(table, tmp_path):
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "flows.csv", HEADER + PYPI)
    write(tmp_path / "logs" / "README.md", "# notes\n")
    report = replay(table, [str(tmp_path / "logs")], tmp_path / "out.csv", default_compute="compute_cluster")
    assert report.ledger.notes == {"files in no known log format, passed over": 1}
    assert totals_add_up(report)["read"] == 1


def test_an_empty_log_path_is_an_error_not_the_current_directory():
    with pytest.raises(FlowInputError, match="empty log path"):
        expand_inputs([""])


def test_replay_reports_progress_in_bytes_of_every_file(table, tmp_path):
    first = write(tmp_path / "a.csv", HEADER + PYPI * 500)
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress((HEADER + PYPI * 500).encode()))
    seen: list[int] = []
    replay(table, [str(tmp_path)], tmp_path / "out.csv", default_compute="compute_cluster", chunk_rows=100,
           progress=seen.append)
    assert sum(seen) == first.stat().st_size + (tmp_path / "b.csv.gz").stat().st_size  # every byte, once


def test_replay_never_reads_its_own_output_back(table, tmp_path):
    write(tmp_path / "f.csv", HEADER + PYPI)
    for _ in range(2):
        report = replay(table, [str(tmp_path)], tmp_path / "out.csv", default_compute="compute_cluster",
                        rejects_path=tmp_path / "out.csv.rejects.jsonl")
    assert report.totals["read"] == 1


def test_whether_names_are_logged_survives_a_round_trip_through_the_verdict_file(table, tmp_path):
    first = tmp_path / "first.csv"
    report = replay(table, [str(ROOT / "data" / "logs" / "nsg-contoso")], first,
                    inventory=load_inventory(ROOT / "data" / "logs" / "contoso-fleet.yaml"))
    again = replay(table, [str(first)], tmp_path / "again.parquet")
    assert again.evaluation.by_reason() == report.evaluation.by_reason()
    assert report.evaluation.by_reason()["name_not_logged"] > 0


def test_our_own_csv_without_host_names_means_none_were_sent(table, tmp_path):
    path = write(tmp_path / "f.csv", "src_ip,dst_ip,dst_port,protocol\n10.0.3.5,203.0.113.9,443,TCP\n")
    report = replay(table, [str(path)], tmp_path / "out.csv", default_compute="compute_cluster")
    assert report.evaluation.by_reason() == {"no_sni": 1}


def test_a_named_file_that_cannot_be_read_as_its_format_is_an_error(table, tmp_path):
    path = write(tmp_path / "f.csv", "src_ip,dst_ip,dst_port,protocol,dst_port\n10.0.3.5,1.2.3.4,443,TCP,1\n")
    with pytest.raises(FlowInputError, match="the header names dst_port more than once"):
        replay(table, [str(path)], tmp_path / "out.csv", default_compute="compute_cluster")


def test_the_same_file_found_in_a_directory_counts_as_one_rejected_record(table, tmp_path):
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "f.csv", "src_ip,dst_ip,dst_port,protocol,dst_port\n10.0.3.5,1.2.3.4,443,TCP,1\n")
    report = replay(table, [str(tmp_path / "logs")], tmp_path / "out.csv", default_compute="compute_cluster")
    assert report.ledger.rejected == {"unreadable_rest_of_file": 1}
    totals_add_up(report)


def test_blobs_and_tables_gathered_into_one_chunk_give_what_small_chunks_give(table, tmp_path):
    # NSG blobs (read as Arrow tables) and a CSV flow table (a pandas frame), gathered or not
    logs = tmp_path / "logs"
    shutil.copytree(ROOT / "data" / "logs" / "nsg-contoso", logs / "nsg")
    write(logs / "extra.csv", HEADER + PYPI.replace("10.0.3.5", "10.1.0.5"))
    fleet = load_inventory(ROOT / "data" / "logs" / "contoso-fleet.yaml")
    gathered = replay(table, [str(logs)], tmp_path / "gathered.parquet", inventory=fleet)
    alone = replay(table, [str(logs)], tmp_path / "alone.parquet", inventory=fleet, chunk_rows=250)
    assert gathered.to_dict() == alone.to_dict()
    left, right = pd.read_parquet(tmp_path / "gathered.parquet"), pd.read_parquet(tmp_path / "alone.parquet")
    assert len(left) > 1000 and left.astype(str).equals(right.astype(str))
