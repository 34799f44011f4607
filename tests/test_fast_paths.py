"""The fast paths added for speed give the answers of the simple ones they replace.

* ``HostIndex`` answers several questions per host in one pass: each answer must equal the brute-force
  minimum over the patterns of that question that match (``FqdnPattern.matches``).
* The kernel's service-tag bitmasks span several 64-bit words when a workspace has more than 64 service-tag
  rules: a rule past the first word must still be found, and found first only when no earlier rule matches.
* ``evaluate_file`` reads Parquet text columns dictionary-encoded and writes verdicts as dictionary columns;
  ``keep_input=False`` writes the verdict columns alone. Either way the verdicts are the in-memory ones.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from egress_sim.ruletable.compile import compile_rules
from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.ruletable.hostindex import NO_MATCH, HostIndex
from egress_sim.net.ipnum import parse_ip_array
from egress_sim.model import workspace_from_dict
from egress_sim.model.hostnames import FqdnPattern
from egress_sim.app.pipeline import evaluate_file
from egress_sim.evaluation.reference import ReferenceEvaluator

LABELS = ["a", "b", "x", "org", "com", "blob", "core", "windows", "net", "pytorch", "cdn"]
host_names = st.lists(st.sampled_from(LABELS), min_size=1, max_size=5).map(".".join)
patterns = st.one_of(
    host_names,
    host_names.map(lambda h: "*." + h),
    host_names.map(lambda h: "*" + h),
    st.just("*"),
).map(FqdnPattern.parse)
questions = st.lists(st.lists(st.tuples(patterns, st.integers(0, 40)), max_size=8), min_size=1, max_size=7)


@settings(max_examples=200, deadline=None)
@given(questions=questions, hosts=st.lists(host_names, min_size=1, max_size=30))
def test_host_index_answers_equal_brute_force(questions, hosts):
    answers = HostIndex(questions).match(hosts)
    for h, host in enumerate(hosts):
        for q, entries in enumerate(questions):
            orders = [order for pattern, order in entries if pattern.matches(host)]
            assert answers[h, q] == (min(orders) if orders else NO_MATCH), (host, q, entries)


def test_subdomain_pattern_never_matches_its_own_suffix():
    index = HostIndex([[(FqdnPattern.parse("*.x.com"), 0)], [(FqdnPattern.parse("*.b.x.com"), 1)]])
    assert index.match(["x.com", "a.x.com", "b.x.com", "a.b.x.com"]).tolist() == [
        [NO_MATCH, NO_MATCH], [0, NO_MATCH], [0, NO_MATCH], [0, 1]]


def test_service_tag_rules_past_the_first_64_are_found(tags):
    # 70 rules, rule i allowing 198.18.i.0/24 on port 443; rule 69 also covers everything in 198.18.0.0/16 on 8443
    rules = [{"name": f"net{i}", "type": "service_tag",
              "destination": {"address_prefixes": [f"198.18.{i}.0/24"], "protocol": "TCP", "port_ranges": "443"}}
             for i in range(69)]
    rules.append({"name": "wide", "type": "service_tag",
                  "destination": {"address_prefixes": ["198.18.0.0/16"], "protocol": "TCP", "port_ranges": "443, 8443"}})
    workspace = workspace_from_dict({"name": "w", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound", "outbound_rules": rules}})[0]
    table = compile_rules(workspace, tags)
    assert table.words >= 2
    flows = pd.DataFrame({
        "compute_type": "compute_cluster",
        "dst_ip": [f"198.18.{i}.7" for i in (0, 63, 64, 68, 69, 200)] * 2,
        "dst_port": [443] * 6 + [8443] * 6,
        "protocol": "TCP",
    })
    out = evaluate_frame(table, flows)
    expected = ReferenceEvaluator(table.effective).evaluate_frame(flows)
    assert out["rule"].astype(str).tolist() == expected["rule"].astype(str).tolist()
    assert out["rule"].astype(str).tolist() == ["net0", "net63", "net64", "net68", "wide", "wide"] + ["wide"] * 6


def _flows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hosts = np.array(["download.pytorch.org", "pypi.org", "evil.example", None, "x.blob.core.windows.net"], dtype=object)
    return pd.DataFrame({
        "compute_type": np.array(["compute_instance", "serverless_spark", "compute_cluster", "laptop"], dtype=object)[rng.integers(0, 4, n)],
        "dst_ip": [str(ipaddress.IPv4Address(int(v))) for v in rng.integers(0x0A000000, 0x0A000000 + 5000, n)],
        "dst_port": rng.choice([80, 443, 22], n).astype(np.int64),
        "protocol": np.array(["TCP", "UDP"], dtype=object)[rng.integers(0, 2, n)],
        "fqdn": hosts[rng.integers(0, len(hosts), n)],
    })


def test_parquet_in_dictionary_columns_out_in_chunks_and_verdicts_only(tags, tmp_path):
    workspace = workspace_from_dict({"name": "w", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound",
        "outbound_rules": [{"name": "pytorch", "type": "fqdn", "destination": "*.pytorch.org"}]}})[0]
    table = compile_rules(workspace, tags)
    flows = _flows(5000, seed=3)
    source = tmp_path / "flows.parquet"
    pq.write_table(pa.Table.from_pandas(flows, preserve_index=False), source, row_group_size=700)
    expected = evaluate_frame(table, flows)[["verdict", "reason", "rule"]].astype(object)

    full, only = tmp_path / "full.parquet", tmp_path / "only.parquet"
    evaluate_file(table, source, full, chunk_rows=1000)  # chunks with different dictionaries
    evaluate_file(table, source, only, chunk_rows=1000, keep_input=False)
    written = pd.read_parquet(full)
    assert list(written.columns) == [*flows.columns, "verdict", "reason", "rule"]
    assert written[flows.columns].astype(object).equals(flows.astype(object))
    verdicts = pd.read_parquet(only)
    assert list(verdicts.columns) == ["verdict", "reason", "rule"]
    for frame in (written, verdicts):
        got = frame[["verdict", "reason", "rule"]].astype(object)
        assert got.fillna("-").equals(expected.fillna("-"))


def test_cli_verdicts_only_writes_three_columns_row_for_row(tmp_path):
    from click.testing import CliRunner

    from egress_sim.cli import main

    flows = _flows(300, seed=5)
    flows.to_csv(tmp_path / "flows.csv", index=False)
    workspace = tmp_path / "ws.yaml"
    workspace.write_text("name: w\nlocation: eastus\nmanaged_network:\n  isolation_mode: allow_only_approved_outbound\n")
    args = ["evaluate", str(workspace), str(tmp_path / "flows.csv")]
    full = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "full.csv")])
    only = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "only.csv"), "--verdicts-only"])
    assert full.exit_code == only.exit_code == 0, (full.output, only.output)
    verdicts = pd.read_csv(tmp_path / "only.csv", dtype=str, keep_default_na=False)
    assert list(verdicts.columns) == ["verdict", "reason", "rule"]
    assert verdicts.equals(pd.read_csv(tmp_path / "full.csv", dtype=str, keep_default_na=False)[["verdict", "reason", "rule"]])
    assert len(verdicts) == 300


quad_like = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.lists(st.sampled_from(["0", "00", "01", "1", "9", "10", "99", "199", "249", "255", "256", "300", "", "a"]),
             min_size=1, max_size=5).map(".".join),
    st.text(alphabet="0123456789.: \n\t", max_size=18),
    st.sampled_from([None, 5, 1.5, float("nan")]),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(quad_like, max_size=40))
def test_parse_ip_array_agrees_with_ipaddress(values):
    from egress_sim.net.ipnum import MASK64, parse_ip

    version, hi, lo = parse_ip_array(np.array(values + [None], dtype=object)[:-1] if values else np.array([], dtype=object))
    for i, value in enumerate(values):
        address = parse_ip(value)
        expected = (0, 0, 0) if address is None else (address.version, int(address) >> 64, int(address) & MASK64)
        assert (version[i], hi[i], lo[i]) == expected, value


prefix_texts = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: str(ipaddress.ip_network(t, strict=False))),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)).map(lambda t: str(ipaddress.ip_network(t, strict=False))),
    st.tuples(st.ip_addresses(), st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"),  # host bits set, bad lengths
    st.ip_addresses().map(str),  # no length: a host prefix
    st.sampled_from(["010.0.0.0/8", "1.2.3.4/", "1.2.3.4/+8", "1.2.3.4/ 8", "::ffff:1.2.3.4/120", " 10.0.0.0/8 ",
                     "1.2.3/24", "1.2.3.4/33", "::/129", "fe80::1%eth0/64", "1.2.3.4/08",
                     "::ffff:01.2.3.4/128", "1:2:3:4:5:6:7:8:9/64", "::1/0064", "1::2::3/64", "::ffff:1.2.3.4"]),
)


@settings(max_examples=500, deadline=None)
@given(text=prefix_texts)
def test_prefix_bounds_agrees_with_ipaddress(text):
    from egress_sim.net.ipnum import prefix_bounds

    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        network = None
    if network is None:
        try:
            prefix_bounds(text)
        except ValueError:
            return
        raise AssertionError(f"{text!r} accepted, ipaddress refuses it")
    assert prefix_bounds(text) == (network.version, int(network.network_address), int(network.broadcast_address))


def test_a_user_rule_named_like_a_required_one_labels_flows_by_that_name(tags, tmp_path):
    workspace = workspace_from_dict({"name": "w", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound",
        "outbound_rules": [{"name": "__SYS_ST_AzureMonitor_TCP", "type": "fqdn", "destination": "*.pytorch.org"}]}})[0]
    table = compile_rules(workspace, tags)
    assert table.rule_names.count("__SYS_ST_AzureMonitor_TCP") == 2
    flows = pd.DataFrame({"compute_type": "compute_cluster", "dst_ip": "203.0.113.9", "dst_port": 443,
                          "protocol": "TCP", "fqdn": ["download.pytorch.org", "evil.example"]})
    out = evaluate_frame(table, flows)
    assert out["rule"].astype(object).fillna("-").tolist() == ["__SYS_ST_AzureMonitor_TCP", "-"]
    flows.to_csv(tmp_path / "flows.csv", index=False)
    evaluate_file(table, tmp_path / "flows.csv", tmp_path / "out.csv")
    assert pd.read_csv(tmp_path / "out.csv")["reason"].tolist() == ["fqdn", "default_deny"]


def test_text_columns_of_any_arrow_string_type_are_written_dictionary_encoded(tags, tmp_path):
    table = compile_rules(workspace_from_dict({"name": "w", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound"}})[0], tags)
    _flows(2000, seed=1).to_csv(tmp_path / "flows.csv", index=False)  # pandas 3 reads text as large_string
    evaluate_file(table, tmp_path / "flows.csv", tmp_path / "out.parquet")
    metadata = pq.ParquetFile(tmp_path / "out.parquet").metadata.row_group(0)
    encodings = {metadata.column(i).path_in_schema: metadata.column(i).encodings for i in range(metadata.num_columns)}
    for column in ("compute_type", "dst_ip", "protocol", "fqdn", "verdict", "reason", "rule"):
        assert "RLE_DICTIONARY" in encodings[column], (column, encodings[column])


def test_an_address_cell_that_is_not_text_parquet_can_hold_is_rejected_not_a_crash(tags):
    table = compile_rules(workspace_from_dict({"name": "w", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound"}})[0], tags)
    addresses = pd.Series(["1.2.3.4", "1.2.3.\udcff"], dtype=object)  # a lone surrogate: no UTF-8 for it
    flows = pd.DataFrame({"compute_type": "compute_cluster", "dst_ip": addresses, "dst_port": 443, "protocol": "TCP"})
    assert evaluate_frame(table, flows)["reason"].tolist() == ["default_deny", "invalid_dst_ip"]
