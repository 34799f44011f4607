"""Evaluating flow tables: one verdict per row, bad rows reported with a reason, and the spec's edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from egress_sim.ruletable.compile import compile_rules
from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.flows.io import read_flows, write_flows
from egress_sim.model import workspace_from_dict
from egress_sim.evaluation.reference import ReferenceEvaluator

LAKE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/mydatalake"
AAD_IP = "52.180.181.61"


def make_workspace(mode="allow_only_approved_outbound", rules=(), status=None, **extra):
    network = {"isolation_mode": mode, "outbound_rules": list(rules)}
    if status is not None:
        network["status"] = status
    return workspace_from_dict({"name": "ws", "location": "eastus", "managed_network": network, **extra})[0]


PYTORCH = {"name": "pytorch", "type": "fqdn", "destination": "*.pytorch.org"}
LAKE_PE = {"name": "data", "type": "private_endpoint",
           "destination": {"service_resource_id": LAKE, "subresource_target": "blob", "spark_enabled": False}}


def flow(**kw):
    base = {"compute_type": "compute_cluster", "dst_ip": "203.0.113.10", "dst_port": 443, "protocol": "TCP", "fqdn": None}
    return {**base, **kw}


def run(tags, workspace, flows, mode=None):
    """Evaluate with the vectorized engine, check the reference agrees, return the output frame."""
    frame = pd.DataFrame(flows)
    table = compile_rules(workspace, tags, mode)
    out = evaluate_frame(table, frame)
    ref = ReferenceEvaluator(table.effective).evaluate_frame(frame)
    pd.testing.assert_frame_equal(out[["verdict", "reason", "rule"]].astype(str), ref[["verdict", "reason", "rule"]].astype(str))
    return out


def one(tags, workspace, mode=None, **kw):
    row = run(tags, workspace, [flow(**kw)], mode).iloc[0]
    return row["verdict"], row["reason"], None if pd.isna(row["rule"]) else row["rule"]


# ------------------------------------------------------------------------------------------- row accounting

BAD_ROWS = [
    (flow(compute_type=None), "missing_compute_type"),
    (flow(compute_type="laptop"), "invalid_compute_type"),
    (flow(protocol=None), "missing_protocol"),
    (flow(protocol="SCTP"), "invalid_protocol"),
    (flow(dst_port=None), "missing_dst_port"),
    (flow(dst_port=70000), "invalid_dst_port"),
    (flow(dst_port="https"), "invalid_dst_port"),
    (flow(dst_port=44.5), "invalid_dst_port"),
    (flow(dst_ip="300.1.1.1"), "invalid_dst_ip"),
    (flow(fqdn="a..b"), "invalid_fqdn"),
    (flow(dst_ip=None, fqdn=None), "missing_destination"),
]


@pytest.mark.parametrize("row, reason", BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_bad_rows_are_rejected_with_their_reason(tags, row, reason):
    assert one(tags, make_workspace(), **{k: v for k, v in row.items()}) == ("rejected", reason, None)


def test_every_row_gets_exactly_one_verdict_in_input_order(tags):
    good = [flow(dst_ip=AAD_IP), flow(fqdn="download.pytorch.org"), flow(dst_port=22)]
    rows = [r for pair in zip(good * 4, [b for b, _ in BAD_ROWS]) for r in pair]
    frame = pd.DataFrame(rows)
    frame["marker"] = np.arange(len(frame))
    out = evaluate_frame(compile_rules(make_workspace(rules=[PYTORCH]), tags), frame)
    assert len(out) == len(frame)
    assert out["marker"].tolist() == list(range(len(frame)))
    assert out["verdict"].notna().all() and out["reason"].notna().all()
    assert (out["verdict"] == "rejected").sum() == len(BAD_ROWS)


def test_icmp_needs_no_port(tags):
    assert one(tags, make_workspace(), protocol="ICMP", dst_port=None)[1] == "default_deny"


def test_iana_protocol_numbers_are_accepted(tags):
    assert one(tags, make_workspace(), dst_ip=AAD_IP, protocol=6) == ("allow", "service_tag", "__SYS_ST_AzureActiveDirectory_TCP")


def test_a_flow_with_only_a_host_name_is_evaluated(tags):
    assert one(tags, make_workspace(rules=[PYTORCH]), dst_ip=None, fqdn="download.pytorch.org") == ("allow", "fqdn", "pytorch")


def test_csv_and_parquet_round_trip_keeps_rows_and_values(tags, tmp_path):
    frame = pd.DataFrame([flow(dst_ip=AAD_IP), flow(fqdn="NA"), flow(dst_port=None)])
    for name in ("f.csv", "f.parquet"):
        write_flows(frame, tmp_path / name)
        back = read_flows(tmp_path / name)
        assert len(back) == 3 and str(back["fqdn"][1]) == "NA"


# ------------------------------------------------------------------------------------------- modes


def test_disabled_mode_allows_everything_not_isolated(tags):
    assert one(tags, make_workspace("disabled"), dst_port=6667) == ("allow", "not_isolated", None)


def test_kubernetes_is_rejected_in_an_isolated_network_but_allowed_when_disabled(tags):
    assert one(tags, make_workspace(), compute_type="kubernetes") == ("rejected", "unsupported_compute", None)
    assert one(tags, make_workspace("disabled"), compute_type="attached_vm") == ("allow", "not_isolated", None)


def test_internet_mode_allows_internet_and_uses_private_endpoints(tags):
    ws = make_workspace("allow_internet_outbound", [LAKE_PE])
    assert one(tags, ws, fqdn="evil.example") == ("allow", "internet_outbound", None)
    assert one(tags, ws, fqdn="mydatalake.blob.core.windows.net") == ("allow", "private_endpoint", "data")


def test_mode_override_ignores_rules_that_mode_cannot_have(tags):
    ws = make_workspace(rules=[PYTORCH])
    assert one(tags, ws, "allow_internet_outbound", fqdn="pytorch.org") == ("allow", "internet_outbound", None)


# ------------------------------------------------------------------------------------------- private endpoints


def test_private_endpoint_matches_its_private_address_when_there_is_no_host(tags):
    table = compile_rules(make_workspace(rules=[LAKE_PE]), tags)
    address = str(next(p for p in table.effective.private_endpoints if p.name == "data").private_ip)
    assert one(tags, make_workspace(rules=[LAKE_PE]), dst_ip=address, dst_port=445) == ("allow", "private_endpoint", "data")


def test_private_endpoint_covers_only_its_subresource(tags):
    ws = make_workspace(rules=[LAKE_PE])
    assert one(tags, ws, fqdn="mydatalake.file.core.windows.net")[0] == "deny"


def test_default_storage_gets_required_blob_and_file_endpoints(tags):
    ws = make_workspace(storage_account=LAKE)
    assert one(tags, ws, fqdn="mydatalake.file.core.windows.net") == ("allow", "private_endpoint", "required-storage-file")


def test_storage_through_an_fqdn_rule_is_denied(tags):
    ws = make_workspace(rules=[{"name": "vscode", "type": "fqdn", "destination": "vscode.blob.core.windows.net"}])
    assert one(tags, ws, fqdn="vscode.blob.core.windows.net") == ("deny", "storage_requires_pe", "vscode")


def test_foreign_storage_through_a_user_storage_service_tag_is_allowed(tags):
    storage_ip = tags.get("Storage").ipv4_prefixes[0].split("/")[0]
    ws = make_workspace(rules=[{"name": "storage", "type": "service_tag",
                                "destination": {"service_tag": "Storage", "protocol": "TCP", "port_ranges": "443"}}])
    assert one(tags, ws, dst_ip=storage_ip, fqdn="attacker.blob.core.windows.net") == ("allow", "service_tag", "storage")


# ------------------------------------------------------------------------------------------- spark and provisioning


def test_spark_needs_a_spark_enabled_private_endpoint(tags):
    ws = make_workspace(rules=[LAKE_PE])
    assert one(tags, ws, compute_type="serverless_spark", fqdn="mydatalake.blob.core.windows.net") == (
        "deny", "pe_not_spark_enabled", "data")


def test_spark_ignores_fqdn_rules(tags):
    ws = make_workspace(rules=[PYTORCH])
    assert one(tags, ws, compute_type="serverless_spark", fqdn="download.pytorch.org") == ("deny", "spark_fqdn_ignored", "pytorch")


def test_spark_is_denied_when_the_network_was_provisioned_without_spark(tags):
    ws = make_workspace(status={"status": "Active", "spark_ready": False})
    assert one(tags, ws, compute_type="serverless_spark", dst_ip=AAD_IP) == ("deny", "spark_not_provisioned", None)


def test_unprovisioned_network_denies_serverless_but_compute_instances_provision_it(tags):
    ws = make_workspace(status={"status": "Inactive"})
    assert one(tags, ws, compute_type="serverless", dst_ip=AAD_IP) == ("deny", "network_not_provisioned", None)
    assert one(tags, ws, compute_type="compute_instance", dst_ip=AAD_IP)[0] == "allow"


def test_only_an_inactive_rule_would_allow_it(tags):
    ws = make_workspace(rules=[{**PYTORCH, "status": "Inactive"}])
    assert one(tags, ws, fqdn="download.pytorch.org") == ("deny", "rule_inactive", "pytorch")


def test_https_without_sni_is_denied(tags):
    assert one(tags, make_workspace(rules=[PYTORCH])) == ("deny", "no_sni", None)


def test_without_fqdn_rules_there_is_no_firewall_and_no_sni_check(tags):
    assert one(tags, make_workspace()) == ("deny", "default_deny", None)


def test_spark_cannot_reach_a_non_spark_endpoint_by_its_private_address(tags):
    ws = make_workspace(rules=[LAKE_PE])
    address = str(next(p for p in compile_rules(ws, tags).effective.private_endpoints if p.name == "data").private_ip)
    assert one(tags, ws, compute_type="serverless_spark", dst_ip=address) == ("deny", "pe_not_spark_enabled", "data")


def test_a_flow_whose_log_cannot_record_names_is_not_called_sni_less(tags):
    """NSG tuples carry no host names: an unnamed HTTPS flow there is unknown, not proven nameless."""
    ws = make_workspace(rules=[PYTORCH])
    rows = [flow(dst_port=443, name_logged=False), flow(dst_port=80, name_logged=False), flow(dst_port=443),
            flow(dst_port=443, fqdn="download.pytorch.org", name_logged=False)]
    out = run(tags, ws, rows)
    assert list(out["reason"]) == ["name_not_logged", "name_not_logged", "no_sni", "fqdn"]


def test_without_fqdn_rules_an_unrecorded_name_cannot_matter(tags):
    out = run(tags, make_workspace(), [flow(dst_port=443, name_logged=False)])
    assert list(out["reason"]) == ["default_deny"]
