"""Flow tables a user hands to ``evaluate`` (and the addresses ``explain`` and the inventory read) fail closed:
every input row gets exactly one verdict or a counted rejection with its reason, and a file that cannot be
read is one error naming it. Never a traceback, never a value nobody wrote."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from egress_sim.ruletable.compile import compile_rules
from egress_sim.base.errors import FlowInputError
from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.flows import schema
from egress_sim.logs.inventory import InventoryError, load_inventory
from egress_sim.flows.io import read_flows
from egress_sim.flows.schema import FlowBatch
from egress_sim.model import workspace_from_dict
from egress_sim.app.pipeline import evaluate_file
from egress_sim.evaluation.reference import ReferenceEvaluator

AAD_IP = "52.180.181.61"  # in AzureActiveDirectory, a required rule: allowed in every isolated workspace
HEADER = "compute_type,dst_ip,dst_port,protocol,fqdn"
WORKSPACE = """\
name: ws
location: eastus
managed_network:
  isolation_mode: allow_only_approved_outbound
  outbound_rules:
  - name: pytorch
    type: fqdn
    destination: '*.pytorch.org'
"""


@pytest.fixture(scope="module")
def table(tags):
    document = {"name": "ws", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound",
        "outbound_rules": [{"name": "pytorch", "type": "fqdn", "destination": "*.pytorch.org"}]}}
    return compile_rules(workspace_from_dict(document)[0], tags)


@pytest.fixture
def ws(write_yaml):
    return write_yaml(WORKSPACE)


def decide(table, **cells) -> tuple[str, str]:
    """(verdict, reason) of one flow by the vectorized evaluator, checked against the reference."""
    row = {"compute_type": "compute_cluster", "dst_ip": AAD_IP, "dst_port": 443, "protocol": "TCP", "fqdn": None, **cells}
    frame = pd.DataFrame([row])
    fast = evaluate_frame(table, frame).iloc[0]
    slow = ReferenceEvaluator(table.effective).evaluate_frame(frame).iloc[0]
    assert (fast["verdict"], fast["reason"]) == (slow["verdict"], slow["reason"])
    return fast["verdict"], fast["reason"]


def evaluate_csv(table, tmp_path: Path, text: str, name: str = "flows.csv", **options) -> tuple[pd.DataFrame, dict]:
    source = tmp_path / name
    source.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    out = tmp_path / "out.csv"
    summary = evaluate_file(table, source, out, **options)
    return pd.read_csv(out, dtype=str, keep_default_na=False), summary.to_dict()


def evaluate_parquet(table, tmp_path: Path, flows: pa.Table, out_name: str = "out.parquet", **options):
    source = tmp_path / "flows.parquet"
    pq.write_table(flows, source)
    out = tmp_path / out_name
    summary = evaluate_file(table, source, out, **options)
    return (pq.read_table(out) if out_name.endswith(".parquet") else pd.read_csv(out, dtype=str)), summary.to_dict()


# --- addresses: zone ids, NUL bytes, IPv4-mapped IPv6 ----------------------------------------------------------

@pytest.mark.parametrize("address", ["fd00::4%eth0", "fe80::1%eth0", "fe80::1%\x00", "fe80::1%"])
def test_a_destination_with_an_ipv6_zone_id_is_rejected_as_invalid_dst_ip(table, address):
    assert decide(table, dst_ip=address) == ("rejected", "invalid_dst_ip")


def test_a_zone_id_in_a_csv_flow_file_is_a_counted_rejection_not_a_crash(table, tmp_path):
    out, summary = evaluate_csv(table, tmp_path, f"{HEADER}\ncompute_cluster,fd00::4%eth0,443,TCP,\n"
                                                f"compute_cluster,{AAD_IP},443,TCP,\n")
    assert out["reason"].tolist() == ["invalid_dst_ip", "service_tag"]
    assert summary["reasons"]["invalid_dst_ip"] == 1


@pytest.mark.parametrize("mapped", [f"::ffff:{AAD_IP}", "::ffff:34b4:b53d", f"::FFFF:{AAD_IP}"])
def test_an_ipv4_mapped_destination_decides_exactly_as_its_ipv4_address(table, mapped):
    assert decide(table, dst_ip=mapped) == decide(table, dst_ip=AAD_IP) == ("allow", "service_tag")


def test_an_ipv4_mapped_destination_in_a_parquet_file_decides_as_ipv4(table, tmp_path):
    flows = pa.table({"compute_type": ["compute_cluster"] * 2, "dst_ip": [f"::ffff:{AAD_IP}", AAD_IP],
                      "dst_port": [443, 443], "protocol": ["TCP", "TCP"]})
    out, _ = evaluate_parquet(table, tmp_path, flows)
    assert out.column("reason").to_pylist() == ["service_tag", "service_tag"]


def test_explain_decides_an_ipv4_mapped_destination_as_ipv4(cli, ws):
    mapped = json.loads(cli("explain", ws, "--dst", f"::ffff:{AAD_IP}", "--port", "443", "--json").stdout)
    plain = json.loads(cli("explain", ws, "--dst", AAD_IP, "--port", "443", "--json").stdout)
    assert (mapped["verdict"], mapped["reason"], mapped["rule"]) == (plain["verdict"], plain["reason"], plain["rule"])
    assert mapped["verdict"] == "allow"


@pytest.mark.parametrize("dst", ["fe80::1%eth0", "fd00::4%eth0"])
def test_explain_of_a_destination_with_a_zone_id_is_one_error_line(cli, ws, dst):
    result = cli("explain", ws, "--dst", dst, "--port", "443")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --dst") and "zone id" in lines[0]


@pytest.mark.parametrize("dst", ["fe80::1%e\x00", "pytorch\x00.org", "1.2.3.4\x00"])
def test_explain_of_a_destination_with_a_nul_byte_is_one_error_line(cli, ws, dst):
    result = cli("explain", ws, "--dst", dst, "--port", "443")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --dst") and "control character" in lines[0]


@pytest.mark.parametrize("kind, text, where", [
    ("yaml", "computes:\n- name: gpu\n  type: compute_cluster\n  addresses: ['fd00::4%eth0']\n", "computes[1]"),
    ("yaml", "computes:\n- name: gpu\n  type: compute_cluster\n  addresses: [\"10.0.0.0/24\\0\"]\n", "computes[1]"),
    ("csv", "compute_name,compute_type,address\ngpu,compute_cluster,fe80::1%eth0\n", "inventory.csv:2"),
    ("csv", "compute_name,compute_type,address\ngpu,compute_cluster,10.0.0.1\x00\n", "inventory.csv:2"),
])
def test_an_inventory_entry_with_a_zone_id_or_nul_is_one_error_naming_file_and_entry(tmp_path, kind, text, where):
    path = tmp_path / f"inventory.{kind}"
    path.write_text(text)
    with pytest.raises(InventoryError) as error:
        load_inventory(path)
    assert str(path) in str(error.value) and where in str(error.value)
    assert error.value.file == str(path)


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text("computes:\n- name: nodes\n  type: compute_cluster\n  addresses: [10.0.8.0/24, 'fd00::/64']\n"
                    "- name: mapped\n  type: compute_instance\n  addresses: ['::ffff:10.0.9.0/120']\n")
    return load_inventory(path)


def test_a_source_with_a_zone_id_is_not_found_in_the_inventory(inventory):
    assert inventory.find("fd00::4").name == "nodes"
    assert inventory.find("fd00::4%eth0") is None


def test_an_ipv4_mapped_source_is_found_by_its_ipv4_inventory_entry(inventory):
    assert inventory.find("::ffff:10.0.8.7").name == "nodes"


def test_an_ipv4_mapped_inventory_prefix_owns_the_ipv4_sources_it_maps(inventory):
    assert inventory.find("10.0.9.5").name == "mapped"


# --- ports -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", ["443.0", "443.5", "1e3", "4_4_3", "+443", "-443", "٤٤٣", "0x1bb", "0443", "44\x003"])
def test_a_text_port_that_is_not_plain_ascii_digits_is_rejected_in_a_csv(table, tmp_path, port):
    out, summary = evaluate_csv(table, tmp_path, f"{HEADER}\ncompute_cluster,{AAD_IP},{port},TCP,\n")
    assert out["reason"].tolist() == ["invalid_dst_port"]
    assert out["dst_port"].tolist() == [port]  # the cell is written back as it was


@pytest.mark.parametrize("port", ["443.0", "1e3", "+443", "٤٤٣", "4_4_3"])
def test_a_text_port_that_python_would_coerce_is_rejected_in_a_frame(table, port):
    assert decide(table, dst_port=port) == ("rejected", "invalid_dst_port")


@pytest.mark.parametrize("port", ["443", " 443 ", "\t443"])
def test_plain_digits_with_blanks_around_are_a_port(table, port):
    assert decide(table, dst_port=port) == ("allow", "service_tag")


def test_a_float_parquet_port_column_reads_whole_numbers_and_rejects_fractions(table, tmp_path):
    flows = pa.table({"compute_type": ["compute_cluster"] * 4, "dst_ip": [AAD_IP] * 4,
                      "dst_port": pa.array([443.0, 443.5, None, 1e9], pa.float64()), "protocol": ["TCP"] * 4})
    out, _ = evaluate_parquet(table, tmp_path, flows)
    assert out.column("reason").to_pylist() == ["service_tag", "invalid_dst_port", "missing_dst_port", "invalid_dst_port"]


# --- nested and other unreadable Parquet columns ---------------------------------------------------------

BASE = {"compute_type": ["compute_cluster"] * 2, "dst_ip": [AAD_IP] * 2, "dst_port": [443, 443], "protocol": ["TCP"] * 2}


@pytest.mark.parametrize("column, values", [
    ("fqdn", pa.array([["a.org"], ["b.org"]])),
    ("dst_ip", pa.array([{"x": 1}, {"x": 2}])),
    ("dst_port", pa.array([[443], [80]])),
    ("protocol", pa.array([b"TCP", b"UDP"], pa.binary())),
])
def test_a_nested_or_binary_flow_column_is_one_error_naming_file_and_column(table, tmp_path, column, values):
    with pytest.raises(FlowInputError) as error:
        evaluate_parquet(table, tmp_path, pa.table({**BASE, column: values}))
    assert "flows.parquet" in str(error.value) and repr(column) in str(error.value)
    assert error.value.file == str(tmp_path / "flows.parquet")


@pytest.mark.parametrize("out_name", ["out.parquet", "out.csv"])
def test_a_nested_column_the_evaluator_does_not_read_is_carried_through(table, tmp_path, out_name):
    flows = pa.table({**BASE, "tags": pa.array([["a", "b"], []]), "meta": pa.array([{"x": 1}, {"x": 2}])})
    out, summary = evaluate_parquet(table, tmp_path, flows, out_name)
    assert summary["flows"] == 2
    if out_name.endswith(".parquet"):
        assert out.column("tags").to_pylist() == [["a", "b"], []]
        assert out.column("meta").to_pylist() == [{"x": 1}, {"x": 2}]
    else:
        assert list(out["reason"]) == ["service_tag", "service_tag"]


def test_list_cells_in_a_frame_column_are_one_error_naming_the_column():
    frame = pd.DataFrame({**BASE, "fqdn": [["a.org"], ["b.org"]]})
    with pytest.raises(FlowInputError, match="'fqdn'"):
        FlowBatch.from_frame(frame)


# --- whole files that cannot be read -----------------------------------------------------------------------

def gzip_rows(n: int) -> bytes:
    rng = np.random.default_rng(0)
    lines = [HEADER] + [f"compute_cluster,52.180.{a}.{b},443,TCP,h{c}.example.org"
                        for a, b, c in rng.integers(0, 256, (n, 3)).tolist()]
    return gzip.compress(("\n".join(lines) + "\n").encode())


def test_a_cut_gzip_flow_file_raises_one_error_naming_the_file(table, tmp_path):
    whole = gzip_rows(50_000)
    with pytest.raises(FlowInputError) as error:
        evaluate_csv(table, tmp_path, whole[: len(whole) // 2], name="flows.csv.gz")
    assert "flows.csv.gz" in str(error.value) and "gzip" in str(error.value)
    assert error.value.file == str(tmp_path / "flows.csv.gz")


def test_a_cut_gzip_flow_file_is_one_error_line_in_the_cli(cli, ws, tmp_path):
    whole = gzip_rows(50_000)
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    result = cli("evaluate", ws, tmp_path / "cut.csv.gz", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "cut.csv.gz" in lines[0]
    as_json = cli("evaluate", ws, tmp_path / "cut.csv.gz", "-o", tmp_path / "out.csv", "--json")
    assert as_json.exit_code == 2 and "cut.csv.gz" in json.dumps(json.loads(as_json.stdout)["error"])


def test_a_csv_that_is_not_utf8_is_one_error_naming_the_file_and_line(table, tmp_path):
    text = f"{HEADER}\ncompute_cluster,{AAD_IP},443,TCP,\ncompute_cluster,{AAD_IP},443,TCP,caf\xe9.org\n"
    with pytest.raises(FlowInputError) as error:
        evaluate_csv(table, tmp_path, text.encode("latin-1"))
    assert f"{tmp_path / 'flows.csv'}:3:" in str(error.value) and "UTF-8" in str(error.value)


@pytest.mark.parametrize("content", [b"", b"\n", b"\xef\xbb\xbf"])
def test_an_empty_flow_file_is_one_error_naming_the_file(table, tmp_path, content):
    with pytest.raises(FlowInputError, match="flows.csv: empty file"):
        evaluate_csv(table, tmp_path, content)


def test_a_header_only_flow_file_gives_zero_flows_and_an_output_with_the_header(table, tmp_path):
    out, summary = evaluate_csv(table, tmp_path, HEADER + "\n")
    assert summary["flows"] == 0
    assert list(out.columns) == HEADER.split(",") + ["verdict", "reason", "rule"]


def test_a_header_only_flow_file_lacking_a_required_column_is_an_error_naming_it(table, tmp_path):
    with pytest.raises(FlowInputError, match=r"flows.csv: .*dst_port"):
        evaluate_csv(table, tmp_path, "compute_type,dst_ip,protocol\n")


def test_a_binary_file_named_parquet_is_one_error_naming_the_file(table, tmp_path):
    (tmp_path / "flows.parquet").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(FlowInputError) as error:
        evaluate_file(table, tmp_path / "flows.parquet", tmp_path / "out.csv")
    assert error.value.file == str(tmp_path / "flows.parquet")


# --- CSV rows of the wrong width -------------------------------------------------------------------------

def test_a_csv_row_with_a_trailing_extra_field_is_rejected_as_bad_field_count_in_place(table, tmp_path):
    out, summary = evaluate_csv(table, tmp_path, f"{HEADER}\ncompute_cluster,{AAD_IP},443,TCP,,extra\n"
                                                f"compute_cluster,{AAD_IP},443,TCP,\n")
    assert out["reason"].tolist() == ["bad_field_count", "service_tag"]
    assert out["compute_type"].tolist() == ["", "compute_cluster"]  # nothing shifted into the wrong column
    assert summary["verdicts"] == {"allow": 1, "deny": 0, "rejected": 1}


@pytest.mark.parametrize("line", [f"compute_cluster,{AAD_IP},443", '"compute_cluster,52.180.181.61,443,TCP,', "   "])
def test_a_csv_row_with_too_few_fields_is_rejected_as_bad_field_count(table, tmp_path, line):
    out, summary = evaluate_csv(table, tmp_path, f"{HEADER}\n{line}\ncompute_cluster,{AAD_IP},443,TCP,\n")
    assert out["reason"].tolist() == ["bad_field_count", "service_tag"]
    assert summary["reasons"]["bad_field_count"] == 1


def test_malformed_lines_keep_the_verdicts_only_output_row_for_row(table, tmp_path):
    rows = [f"compute_cluster,{AAD_IP},443,TCP,", f"compute_cluster,{AAD_IP},443,TCP,,x", "compute_cluster,1.2.3.4,22,TCP,"]
    out, _ = evaluate_csv(table, tmp_path, "\n".join([HEADER, *rows * 3]) + "\n", keep_input=False, chunk_rows=2)
    assert out["reason"].tolist() == ["service_tag", "bad_field_count", "default_deny"] * 3


# --- input columns named like the verdict columns --------------------------------------------------------

def test_csv_input_columns_named_verdict_reason_rule_are_renamed_not_overwritten(table, tmp_path):
    out, summary = evaluate_csv(table, tmp_path, f"{HEADER},verdict,reason,rule\n"
                                                f"compute_cluster,{AAD_IP},443,TCP,,deny,default_deny,\n")
    assert out[["input_verdict", "input_reason", "verdict", "reason"]].values.tolist() == [
        ["deny", "default_deny", "allow", "service_tag"]]
    assert summary["renamed_columns"] == {"verdict": "input_verdict", "reason": "input_reason", "rule": "input_rule"}


def test_parquet_input_columns_named_verdict_are_renamed_even_when_the_new_name_is_taken(table, tmp_path):
    flows = pa.table({**BASE, "verdict": ["x", "y"], "input_verdict": ["older", "older"]})
    out, summary = evaluate_parquet(table, tmp_path, flows)
    assert out.column("input_input_verdict").to_pylist() == ["x", "y"]
    assert out.column("input_verdict").to_pylist() == ["older", "older"]
    assert out.column("verdict").to_pylist() == ["allow", "allow"]
    assert summary["renamed_columns"] == {"verdict": "input_input_verdict"}


def test_a_verdict_file_evaluated_again_keeps_its_earlier_verdicts(table, tmp_path):
    out, _ = evaluate_csv(table, tmp_path, f"{HEADER}\ncompute_cluster,{AAD_IP},443,TCP,\n")
    again, _ = evaluate_csv(table, tmp_path, out.to_csv(index=False), name="again.csv")
    assert again[["input_verdict", "verdict"]].values.tolist() == [["allow", "allow"]]


# --- memory: distinct values are worked on a slice at a time ---------------------------------------------

def test_host_names_are_parsed_and_matched_a_slice_at_a_time(table, monkeypatch):
    monkeypatch.setattr(schema, "DISTINCT_VALUES_PER_SLICE", 3)
    seen: list[int] = []
    match = type(table.hosts).match
    monkeypatch.setattr(type(table.hosts), "match", lambda self, names: seen.append(len(names)) or match(self, names))
    hosts = [f"h{i}.pytorch.org" for i in range(10)] + ["pytorch.org", "a..b", None]
    frame = pd.DataFrame({"compute_type": "compute_cluster", "dst_ip": None, "dst_port": 443, "protocol": "TCP",
                          "fqdn": hosts})
    out = evaluate_frame(table, frame)
    assert max(seen) <= 3 and sum(seen) == 11
    assert out["reason"].tolist() == ["fqdn"] * 10 + ["default_deny", "invalid_fqdn", "missing_destination"]


def test_verdicts_do_not_depend_on_the_slice_size(table, monkeypatch):
    rng = np.random.default_rng(7)
    names = ["pytorch.org", "x.pytorch.org", "PYTORCH.ORG.", "evilpytorch.org", "a..b", None, "blob.core.windows.net"]
    addresses = [AAD_IP, f"::ffff:{AAD_IP}", "fe80::1%eth0", "1.2.3.4", "::1", None, "nope"]
    frame = pd.DataFrame({"compute_type": "compute_cluster",
                          "dst_ip": [addresses[i] for i in rng.integers(0, len(addresses), 2000)],
                          "dst_port": [["443", "80", "22", "4_4_3", None][i] for i in rng.integers(0, 5, 2000)],
                          "protocol": "TCP",
                          "fqdn": [names[i] if i < len(names) else f"h{i}.pytorch.org" for i in rng.integers(0, 60, 2000)]})
    whole = evaluate_frame(table, frame)[["verdict", "reason", "rule"]].astype(str)
    monkeypatch.setattr(schema, "DISTINCT_VALUES_PER_SLICE", 4)
    sliced = evaluate_frame(table, frame)[["verdict", "reason", "rule"]].astype(str)
    reference = ReferenceEvaluator(table.effective).evaluate_frame(frame)[["verdict", "reason", "rule"]].astype(str)
    pd.testing.assert_frame_equal(sliced, whole)
    pd.testing.assert_frame_equal(sliced, reference)


def test_read_flows_gives_malformed_lines_as_rows_of_empty_cells(tmp_path):
    (tmp_path / "f.csv").write_text(f"{HEADER}\na,b,c,d,e,f\ncompute_cluster,{AAD_IP},443,TCP,\n")
    frame = read_flows(tmp_path / "f.csv")
    assert len(frame) == 2 and frame.iloc[0].isna().all()


# --- a quoted value across lines is one record (from the review of this change) ----------------------------

QUOTED_NEWLINE = ("note,compute_type,protocol,dst_ip,dst_port,fqdn\n"
                  '"line1\nline2",compute_cluster,TCP,,443,pypi.org\n'
                  "plain,compute_cluster,TCP,,443,evil.example.com\n")


def test_a_quoted_value_across_lines_is_one_row_so_verdicts_stay_row_for_row(tmp_path, cli):
    flows = tmp_path / "q.csv"
    flows.write_text(QUOTED_NEWLINE)
    out = tmp_path / "v.csv"
    assert cli("evaluate", "data/workspaces/contoso-research.yaml", flows, "-o", out, "--verdicts-only").exit_code == 0
    assert list(pd.read_csv(out)["verdict"]) == ["allow", "deny"]
    assert len(pd.read_csv(flows)) == 2


def test_replay_reads_a_quoted_value_across_lines_as_one_record(tmp_path, cli):
    flows = tmp_path / "q.csv"
    flows.write_text(QUOTED_NEWLINE)
    result = cli("replay", "data/workspaces/contoso-research.yaml", flows, "--compute", "compute_cluster",
                 "-o", tmp_path / "v.csv", "--json")
    assert json.loads(result.stdout)["totals"] == {"read": 2, "evaluated": 2, "skipped": 0, "rejected": 0}
