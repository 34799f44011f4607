"""A synthetic but realistic flow workload for the evaluator benchmarks.

``make_workload(n_flows)`` returns ``(table, frame)``: the compiled rules of an approved-outbound-only
workspace in eastus (a handful of FQDN rules, two user service-tag rules, one Spark-enabled private endpoint,
plus the required rules) and ``n_flows`` flows drawn (seeded) from ``unique_destinations`` distinct
destinations: ~60% IPv4 addresses inside the table's service-tag prefixes, ~10% IPv6 inside them, ~30% random
public IPv4 with a host name (some allowed, some not). The frame is built with ``numpy.take`` on arrays of
unique values, so building 1M rows is fast.
"""

from __future__ import annotations

import ipaddress
import random

import numpy as np
import pandas as pd

import egress_sim.compile
import egress_sim.servicetags
from egress_sim.compile import RuleTable
from egress_sim.model import workspace_from_dict

LAKE_ID = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/"
    "Microsoft.Storage/storageAccounts/mydatalake"
)

WORKSPACE = {
    "name": "bench-ws",
    "location": "eastus",
    "managed_network": {
        "isolation_mode": "allow_only_approved_outbound",
        "outbound_rules": [
            *(
                {"name": name, "type": "fqdn", "destination": host}
                for name, host in (
                    ("pytorch", "*.pytorch.org"),
                    ("pypi", "pypi.org"),
                    ("pythonhosted", "*.pythonhosted.org"),
                    ("anaconda", "*.anaconda.org"),
                    ("huggingface", "huggingface.co"),
                    ("huggingface-sub", "*.huggingface.co"),
                    ("github", "github.com"),
                    ("githubusercontent", "*.githubusercontent.com"),
                )
            ),
            {"name": "datafactory", "type": "service_tag",
             "destination": {"service_tag": "DataFactory", "protocol": "TCP", "port_ranges": "80, 8080-8089"}},
            {"name": "storage-eastus", "type": "service_tag",
             "destination": {"service_tag": "Storage.EastUS", "protocol": "TCP", "port_ranges": "443"}},
            {"name": "lake", "type": "private_endpoint",
             "destination": {"service_resource_id": LAKE_ID, "subresource_target": "blob", "spark_enabled": True}},
        ],
    },
}

# Host names for the "public IPv4 with a name" destinations: allowed, storage, and not allowed.
HOSTS = (
    "download.pytorch.org", "files.pythonhosted.org", "pypi.org", "conda.anaconda.org", "huggingface.co",
    "cdn-lfs.huggingface.co", "github.com", "raw.githubusercontent.com", "objects.githubusercontent.com",
    "mydatalake.blob.core.windows.net", "attacker.blob.core.windows.net", "evil.example", "pastebin.com",
    "example.com", "registry.npmjs.org", "api.openai.com", "www.google.com", "s3.amazonaws.com",
)
COMPUTE = ("compute_instance", "compute_cluster", "serverless", "serverless_spark", "managed_online_endpoint")
COMPUTE_P = (0.25, 0.35, 0.2, 0.1, 0.1)
# (port, protocol, probability)
PORTS = ((443, "TCP", 0.80), (80, "TCP", 0.08), (22, "TCP", 0.04), (5831, "UDP", 0.04), (8787, "TCP", 0.04))


def make_table() -> RuleTable:
    workspace, _ = workspace_from_dict(WORKSPACE)
    return egress_sim.compile.compile_rules(workspace, egress_sim.servicetags.load_service_tags())


def _address_in(prefix: str, rng: random.Random) -> str:
    net = ipaddress.ip_network(prefix, strict=False)
    return str(net.network_address + rng.randrange(net.num_addresses))


def _destinations(table: RuleTable, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct (dst_ip, fqdn) pairs; fqdn is None for the tag-prefix addresses."""
    rng = random.Random(seed)
    v4, v6 = [], []
    for rule in table.effective.service_tags:
        for prefix in rule.prefixes:
            (v6 if ":" in prefix else v4).append(prefix)
    quotas = ((v4, 0.6), (v6, 0.1))
    seen: set[tuple[str, str | None]] = set()
    out: list[tuple[str, str | None]] = []
    for prefixes, share in quotas:
        target = len(out) + int(round(count * share)) if prefixes else len(out)
        while len(out) < target:
            pair = (_address_in(rng.choice(prefixes), rng), None)
            if pair not in seen:
                seen.add(pair)
                out.append(pair)
    while len(out) < count:  # the rest: random public IPv4 with a host name
        ip = str(ipaddress.IPv4Address(rng.randrange(1 << 32)))
        if not ipaddress.IPv4Address(ip).is_global:
            continue
        pair = (ip, rng.choice(HOSTS))
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    ips = np.array([p[0] for p in out], dtype=object)
    hosts = np.array([p[1] for p in out], dtype=object)
    return ips, hosts


def make_frame(table: RuleTable, n_flows: int, seed: int = 0, unique_destinations: int = 5000) -> pd.DataFrame:
    ips, hosts = _destinations(table, unique_destinations, seed)
    rng = np.random.default_rng(seed)
    dest = rng.integers(0, len(ips), n_flows)
    port_choice = rng.choice(len(PORTS), n_flows, p=[p for _, _, p in PORTS])
    compute = rng.choice(len(COMPUTE), n_flows, p=COMPUTE_P)
    return pd.DataFrame(
        {
            "compute_type": np.take(np.array(COMPUTE, dtype=object), compute),
            "dst_ip": np.take(ips, dest),
            "dst_port": np.take(np.array([p for p, _, _ in PORTS], dtype=np.int64), port_choice),
            "protocol": np.take(np.array([proto for _, proto, _ in PORTS], dtype=object), port_choice),
            "fqdn": np.take(hosts, dest),
        }
    )


def make_workload(n_flows: int, seed: int = 0, unique_destinations: int = 5000) -> tuple[RuleTable, pd.DataFrame]:
    table = make_table()
    return table, make_frame(table, n_flows, seed, unique_destinations)
