"""Property: the vectorized evaluator gives the reference evaluator's verdict, reason and rule on every flow.

Hypothesis draws a random workspace (mode, provisioning, service-tag / FQDN / private-endpoint rules, active or
not, IPv4 and IPv6 prefixes); numpy draws 10,000 flows per example, biased towards what makes rules hard:
addresses at prefix edges, ports at range edges, host names that almost match, look-alikes, bad cells.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_sim.ruletable.compile import compile_rules
from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.model import workspace_from_dict
from egress_sim.evaluation.reference import ReferenceEvaluator

FLOWS_PER_EXAMPLE = 10_000
LABELS = ["pytorch", "org", "a", "b", "cdn", "x-y", "blob", "core", "windows", "net", "contoso", "com", "lake"]
REAL_TAGS = ["AzureActiveDirectory", "DataFactory", "Storage.EastUS", "AzureKeyVault", "Sql.WestEurope", "AzureFrontDoor.Frontend"]
COMPUTES = ["compute_instance", "compute_cluster", "serverless", "serverless_spark", "managed_online_endpoint",
            "kubernetes", "attached_vm", "laptop", None]
PROTOCOLS = ["TCP", "UDP", "ICMP", "tcp", 6, 17, "1", "GRE", None]

host = st.lists(st.sampled_from(LABELS), min_size=1, max_size=4).map(".".join)
pattern = st.one_of(
    host,
    host.map(lambda h: "*." + h),
    host.map(lambda h: "*" + h),
    st.sampled_from(["*", "*.blob.core.windows.net", "*.core.windows.net"]),
)
status = st.sampled_from([None, None, None, "Active", "Inactive", "Failed"])


@st.composite
def prefix(draw):
    if draw(st.booleans()):
        length = draw(st.integers(0, 32))
        value = draw(st.integers(0, 2**32 - 1))
        return str(ipaddress.ip_network((value >> (32 - length) << (32 - length), length)))
    length = draw(st.integers(0, 128))
    value = draw(st.integers(0, 2**128 - 1))
    return str(ipaddress.ip_network((value >> (128 - length) << (128 - length), length)))


@st.composite
def port_ranges(draw):
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        a = draw(st.sampled_from([0, 22, 79, 80, 443, 5831, 8080, 65535]) | st.integers(0, 65535))
        b = draw(st.integers(a, min(65535, a + draw(st.sampled_from([0, 1, 10, 1000])))))
        pieces.append(str(a) if a == b else f"{a}-{b}")
    return draw(st.sampled_from([", ".join(pieces), "*"]))


@st.composite
def service_tag_rule(draw, name):
    destination = {"protocol": draw(st.sampled_from(["TCP", "UDP", "ICMP", "*"])), "port_ranges": draw(port_ranges())}
    if draw(st.booleans()):
        destination["service_tag"] = draw(st.sampled_from(REAL_TAGS))
    else:
        destination["address_prefixes"] = draw(st.lists(prefix(), min_size=1, max_size=6))
    return {"name": name, "type": "service_tag", "destination": destination, "status": draw(status)}


@st.composite
def fqdn_rule(draw, name):
    names = draw(st.lists(pattern, min_size=1, max_size=3))
    return {"name": name, "type": "fqdn", "destination": ", ".join(names), "status": draw(status)}


@st.composite
def pe_rule(draw, name):
    account = draw(st.sampled_from(["lake", "contoso", "pytorch"]))
    rule = {"name": name, "type": "private_endpoint", "status": draw(status),
            "destination": {"service_resource_id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{account}",
                            "subresource_target": draw(st.sampled_from(["blob", "file", "dfs"])),
                            "spark_enabled": draw(st.booleans())}}
    if draw(st.booleans()):
        rule["fqdns"] = draw(st.lists(host, min_size=1, max_size=2))
    return rule


@st.composite
def workspaces(draw):
    mode = draw(st.sampled_from(["allow_only_approved_outbound"] * 4 + ["allow_internet_outbound", "disabled"]))
    rules = []
    for i in range(draw(st.integers(0, 12))):
        kinds = [service_tag_rule, fqdn_rule, pe_rule] if mode == "allow_only_approved_outbound" else [pe_rule]
        rules.append(draw(draw(st.sampled_from(kinds))(f"r{i}")))
    network = {"isolation_mode": mode, "outbound_rules": rules}
    if draw(st.integers(0, 3)) == 0:
        network["status"] = {"status": draw(st.sampled_from(["Active", "Inactive"])), "spark_ready": draw(st.booleans())}
    document = {"name": "prop", "location": "eastus", "managed_network": network}
    if draw(st.booleans()):
        document["storage_account"] = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/wsstore"
    return workspace_from_dict(document)[0]


def random_flows(table, seed: int, n: int = FLOWS_PER_EXAMPLE) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    eff = table.effective
    edges_v4, edges_v6 = [], []
    for tag_rule in eff.service_tags:
        for p in tag_rule.prefixes[:200]:
            net = ipaddress.ip_network(p, strict=False)
            first, last = int(net.network_address), int(net.broadcast_address)
            top = 2**32 - 1 if net.version == 4 else 2**128 - 1
            picks = [first, last, max(first - 1, 0), min(last + 1, top), first + (last - first) // 2]
            (edges_v4 if net.version == 4 else edges_v6).extend(picks)
    pe_ips = [str(p.private_ip) for p in eff.private_endpoints] + ["10.0.1.200", "10.0.0.1"]

    def address() -> str | None:
        kind = rng.integers(0, 10)
        if kind == 0 and edges_v4:
            return str(ipaddress.IPv4Address(edges_v4[rng.integers(len(edges_v4))]))
        if kind == 1 and edges_v6:
            return str(ipaddress.IPv6Address(edges_v6[rng.integers(len(edges_v6))]))
        if kind == 2:
            return str(ipaddress.IPv4Address(int(rng.integers(0, 2**32))))
        if kind == 3:
            return str(ipaddress.IPv6Address(int(rng.integers(0, 2**63)) << 65 | int(rng.integers(0, 2**63))))
        if kind == 4:
            return pe_ips[rng.integers(len(pe_ips))]
        if kind == 5:
            return [None, "", "not-an-ip", "1.2.3", "::g", "fe80::1%eth0", "fd00::4%\x00"][rng.integers(7)]
        pool = edges_v4 or [int(rng.integers(0, 2**32))]
        if kind == 6:  # IPv4-mapped IPv6, dotted or in hex words: decides as the IPv4 address it carries
            mapped = ipaddress.IPv6Address(0xFFFF << 32 | pool[rng.integers(len(pool))])
            return str(mapped) if rng.integers(2) else f"::ffff:{mapped.ipv4_mapped}"
        return str(ipaddress.IPv4Address(pool[rng.integers(len(pool))]))

    fqdn_patterns = [p.text for rule in eff.fqdns for p in rule.patterns]

    def hostname() -> str | None:
        kind = rng.integers(0, 9)
        if kind <= 1:
            return None
        labels = [LABELS[i] for i in rng.integers(0, len(LABELS), rng.integers(1, 5))]
        name = ".".join(labels)
        if kind == 2:
            name = "evil" + name  # look-alike
        elif kind == 3:
            name = name + ".blob.core.windows.net"
        elif kind == 4 and eff.private_endpoints:
            endpoint = eff.private_endpoints[rng.integers(len(eff.private_endpoints))]
            if endpoint.patterns:
                text = endpoint.patterns[rng.integers(len(endpoint.patterns))].text
                name = text.replace("*.", "x.").replace("*", "y")
        elif kind == 5:
            name = name.upper() + "."
        elif kind == 6 and rng.integers(0, 4) == 0:
            name = ["a..b", "-", "bad host", "x" * 70][rng.integers(4)]
        elif kind == 7 and fqdn_patterns:
            text = fqdn_patterns[rng.integers(len(fqdn_patterns))]
            name = text.replace("*.", "x.").replace("*", ["", "y", "evil."][rng.integers(3)]) or "any.example"
        return name

    ports = [80, 443, 22, 0, 65535, 5831, 8787, 18881, 8080, 8089, 8090, 445, None, "x", 70000, 443.0]
    return pd.DataFrame({
        "compute_type": [COMPUTES[i] for i in rng.integers(0, len(COMPUTES), n)],
        "dst_ip": [address() for _ in range(n)],
        "dst_port": pd.array([ports[i] if rng.random() < 0.7 else int(rng.integers(0, 65536)) for i in rng.integers(0, len(ports), n)], dtype=object),
        "protocol": [PROTOCOLS[i] for i in rng.choice(len(PROTOCOLS), n, p=[0.5, 0.15, 0.08, 0.05, 0.05, 0.05, 0.04, 0.04, 0.04])],
        "fqdn": [hostname() for _ in range(n)],
        "name_logged": rng.random(n) < 0.8,  # replayed logs that cannot record host names
    })


COLUMNS = ["verdict", "reason", "rule"]


def decisions(frame: pd.DataFrame) -> pd.Series:
    """One comparable string per row: verdict/reason/rule (a missing rule as '-')."""
    parts = frame[COLUMNS].astype(object).where(frame[COLUMNS].notna(), "-")
    return parts["verdict"].astype(str) + "/" + parts["reason"].astype(str) + "/" + parts["rule"].astype(str)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(workspace=workspaces(), seed=st.integers(0, 2**32 - 1))
def test_vectorized_evaluator_equals_reference(tags, workspace, seed):
    table = compile_rules(workspace, tags)
    flows = random_flows(table, seed)
    fast = evaluate_frame(table, flows)
    slow = ReferenceEvaluator(table.effective).evaluate_frame(flows)
    mismatch = decisions(fast) != decisions(slow)
    assert not mismatch.any(), pd.concat(
        [flows[mismatch], fast.loc[mismatch, COLUMNS], slow.loc[mismatch, COLUMNS].add_prefix("ref_")], axis=1
    ).head(5).to_string()
    assert len(fast) == len(flows)
    # the same flows as categoricals (what Parquet dictionary columns read as) take the codes-as-given path
    assert (decisions(evaluate_frame(table, flows.astype("category"))) == decisions(fast)).all()
    # an IPv4-mapped IPv6 address decides exactly as the IPv4 address it carries
    plain = flows.assign(dst_ip=[ipv4_of_mapped(a) for a in flows["dst_ip"]])
    assert (decisions(evaluate_frame(table, plain)) == decisions(fast)).all()


def ipv4_of_mapped(text):
    """``::ffff:a.b.c.d`` (in any spelling) as ``a.b.c.d``, by ``ipaddress`` alone; anything else as it is."""
    try:
        address = ipaddress.ip_address(text)
    except (TypeError, ValueError):
        return text
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped) if mapped is not None and not address.scope_id else text


def test_random_flows_cover_every_family_and_many_reasons(tags):
    """Guard the generator itself: the property above must exercise IPv4, IPv6 and most decisions."""
    document = {"name": "g", "location": "eastus", "storage_account": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/wsstore",
                "managed_network": {"isolation_mode": "allow_only_approved_outbound", "outbound_rules": [
                    {"name": "t", "type": "service_tag", "destination": {"service_tag": "DataFactory", "protocol": "TCP", "port_ranges": "80, 8080-8089"}},
                    {"name": "f", "type": "fqdn", "destination": "*.pytorch.org, *contoso.com, lake.blob.core.windows.net"},
                    {"name": "i", "type": "fqdn", "destination": "a.org", "status": "Inactive"}]}}
    table = compile_rules(workspace_from_dict(document)[0], tags)
    flows = random_flows(table, 7)
    out = evaluate_frame(table, flows)
    assert flows["dst_ip"].astype(str).str.contains(":").sum() > 500
    assert flows["dst_ip"].astype(str).str.lower().str.startswith("::ffff:").sum() > 500
    assert {"service_tag", "fqdn", "private_endpoint", "default_deny", "no_sni", "storage_requires_pe",
            "spark_fqdn_ignored", "unsupported_compute", "invalid_dst_ip", "invalid_fqdn"} <= set(out["reason"].astype(str))
