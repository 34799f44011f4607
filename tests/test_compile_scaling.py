"""Compiling many service-tag rules: same verdicts as the reference, work shared per tag, a documented limit.

Before issue 10 every rule on a tag re-parsed and re-swept the tag's whole prefix list (1,000 rules on
``AzureCloud``: 2 GB and 22 s); rules sharing a prefix set now share that work.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytest
from test_properties import COLUMNS, decisions, random_flows

import egress_sim.ruletable.compile as compile_module
from egress_sim.ruletable.compile import compile_effective, compile_rules
from egress_sim.ruletable.effective import effective_rules
from egress_sim.base.errors import LimitExceeded
from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.base.limits import MAX_RULES_PER_WORKSPACE
from egress_sim.model import FqdnDestination, ManagedNetwork, Workspace, workspace_from_dict
from egress_sim.evaluation.reference import ReferenceEvaluator

BIG_TAGS = ["AzureCloud", "AzureCloud.eastus", "Storage", "AzureActiveDirectory", "AzureFrontDoor.Frontend"]


def workspace_with(rules: list[dict]) -> Workspace:
    return workspace_from_dict({"name": "many", "location": "eastus", "managed_network": {
        "isolation_mode": "allow_only_approved_outbound", "outbound_rules": rules}})[0]


def tag_rule(name: str, tag: str, ports: str, protocol: str = "TCP", status: str | None = None) -> dict:
    rule = {"name": name, "type": "service_tag", "destination": {"service_tag": tag, "protocol": protocol, "port_ranges": ports}}
    if status:
        rule["status"] = status
    return rule


@pytest.mark.parametrize("seed", [1, 2])
def test_many_rules_on_big_tags_decide_as_the_reference(tags, seed):
    """150 rules (three mask words) on a few big, nested tags, sharing tags with different ports, protocols and
    statuses, some with overlapping address_prefixes: the kernel and the reference agree on every flow."""
    rng = np.random.default_rng(seed)
    rules = []
    for i in range(150):
        lo = int(rng.choice([0, 22, 80, 443, 1000, 8080, 65000]))
        ports = "*" if rng.random() < 0.1 else f"{lo}-{lo + int(rng.integers(0, 50))}, {int(rng.integers(0, 65536))}"
        protocol = str(rng.choice(["TCP", "UDP", "*"]))
        status = str(rng.choice(["Active", "Active", "Active", "Inactive"]))
        if rng.random() < 0.15:
            base = int(ipaddress.IPv4Address("20.0.0.0")) + int(rng.integers(0, 2**24))
            length = int(rng.integers(8, 30))
            prefixes = [str(ipaddress.ip_network((base >> (32 - length) << (32 - length), length))), "2603:1000::/26"]
            rules.append({"name": f"r{i}", "type": "service_tag", "status": status, "destination": {
                "address_prefixes": prefixes, "protocol": protocol, "port_ranges": ports}})
        else:
            rules.append(tag_rule(f"r{i}", str(rng.choice(BIG_TAGS)), ports, protocol, status))
    table = compile_rules(workspace_with(rules), tags)
    assert table.words == 3
    flows = random_flows(table, seed, n=3_000)
    fast = evaluate_frame(table, flows)
    slow = ReferenceEvaluator(table.effective).evaluate_frame(flows)
    mismatch = decisions(fast) != decisions(slow)
    assert not mismatch.any(), pd.concat(
        [flows[mismatch], fast.loc[mismatch, COLUMNS], slow.loc[mismatch, COLUMNS].add_prefix("ref_")], axis=1
    ).head(5).to_string()
    assert (fast["reason"] == "service_tag").sum() > 100


def test_rules_sharing_a_tag_with_different_ports_each_allow_their_own_port(tags):
    rules = [tag_rule(f"port-{1000 + i}", "AzureCloud", str(1000 + i)) for i in range(100)]
    table = compile_rules(workspace_with(rules), tags)
    address = tags.require("AzureCloud").ipv4_prefixes[0].split("/")[0]
    flows = pd.DataFrame({"compute_type": "compute_cluster", "dst_ip": address, "protocol": "TCP",
                          "dst_port": [1000, 1063, 1064, 1099, 1100]})
    out = evaluate_frame(table, flows)
    assert out["rule"].tolist()[:4] == ["port-1000", "port-1063", "port-1064", "port-1099"]
    assert out["reason"].tolist()[4] == "default_deny"


def test_a_tag_shared_by_many_rules_is_parsed_once(tags, monkeypatch):
    """The cause of the old blow-up: each rule parsed its tag's 13 k prefixes again (and kept its own copy)."""
    calls = 0
    real = compile_module.prefix_bounds

    def counting(prefix):
        nonlocal calls
        calls += 1
        return real(prefix)

    monkeypatch.setattr(compile_module, "prefix_bounds", counting)
    rules = [tag_rule(f"r{i}", "AzureCloud", str(2000 + i)) for i in range(200)]
    table = compile_rules(workspace_with(rules), tags)
    distinct = len({p for rule in table.effective.service_tags for p in rule.prefixes})
    assert calls == distinct < 2 * len(tags.require("AzureCloud").address_prefixes)


def test_compile_refuses_a_workspace_above_the_rule_limit(tags):
    rules = tuple(FqdnDestination(name=f"f{i}", destination=f"h{i}.example.com") for i in range(MAX_RULES_PER_WORKSPACE + 1))
    workspace = Workspace(name="huge", location="eastus", managed_network=ManagedNetwork(
        isolation_mode="allow_only_approved_outbound", outbound_rules=rules))
    with pytest.raises(LimitExceeded, match=f"{MAX_RULES_PER_WORKSPACE + 1:,} outbound rules.*limit of {MAX_RULES_PER_WORKSPACE:,}"):
        compile_rules(workspace, tags)


def test_a_workspace_at_the_rule_limit_compiles(tags):
    rules = tuple(FqdnDestination(name=f"f{i}", destination=f"h{i}.example.com") for i in range(MAX_RULES_PER_WORKSPACE))
    workspace = Workspace(name="full", location="eastus", managed_network=ManagedNetwork(
        isolation_mode="allow_only_approved_outbound", outbound_rules=rules))
    assert len(compile_effective(effective_rules(workspace, tags)).effective.fqdns) == MAX_RULES_PER_WORKSPACE
