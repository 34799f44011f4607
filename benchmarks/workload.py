"""Synthetic but realistic flow workloads for the evaluator benchmarks.

``make_table()`` compiles an approved-outbound-only workspace in eastus with the required rules and 30 user
rules (15 FQDN of which 10 wildcards, 10 service tags, 5 private endpoints) against the bundled service-tag
file. ``make_frame(table, n)`` draws (seeded) ``n`` flows from ``unique_destinations`` distinct destinations:

* ``family="mixed"``: ~60% IPv4 addresses inside the table's service-tag prefixes, ~10% IPv6 inside them,
  ~30% random public IPv4 with a host name (some allowed, some storage, some not allowed);
* ``family="ipv4"`` / ``"ipv6"``: addresses only, half inside the service-tag prefixes, half random public.

``make_host_frame(table, n, unique_hosts)`` draws flows over many distinct host names (the host-name path).
Frames are categorical (a code per row, distinct values once), as Parquet dictionary columns read back, and
are built by drawing codes, so 10^7 rows take about a second.
"""

from __future__ import annotations

import ipaddress
import random

import numpy as np
import pandas as pd

import egress_sim.ruletable.compile
import egress_sim.net.servicetags
from egress_sim.ruletable.compile import RuleTable
from egress_sim.model import workspace_from_dict

RESOURCE_GROUP = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg"

PE_TARGETS = (  # (storage account or vault, sub-resource)
    ("Microsoft.Storage/storageAccounts/mydatalake", "blob"),
    ("Microsoft.Storage/storageAccounts/mydatalake", "dfs"),
    ("Microsoft.Storage/storageAccounts/featurestore", "blob"),
    ("Microsoft.KeyVault/vaults/teamsecrets", "vault"),
    ("Microsoft.Storage/storageAccounts/archive", "file"),
)
TAG_RULES = (  # (service tag, protocol, ports)
    ("DataFactory", "TCP", "80, 8080-8089"), ("Storage.EastUS", "TCP", "443"), ("AzureKeyVault.EastUS", "TCP", "443"),
    ("Sql.EastUS", "TCP", "1433, 11000-11999"), ("AzureCosmosDB.EastUS", "TCP", "443, 10250-10255"),
    ("EventHub.EastUS", "TCP", "443, 5671-5672, 9093"), ("ServiceBus.EastUS", "TCP", "443, 5671-5672"),
    ("AzureContainerRegistry.EastUS", "TCP", "443"), ("AppService.EastUS", "*", "443"), ("AzureDatabricks", "TCP", "443"),
)
FQDN_RULES = (  # 10 wildcards, 5 exact names
    ("pytorch", "*.pytorch.org"), ("pythonhosted", "*.pythonhosted.org"), ("anaconda", "*.anaconda.org"),
    ("huggingface-sub", "*.huggingface.co"), ("githubusercontent", "*.githubusercontent.com"),
    ("docker-io", "*.docker.io"), ("nvidia", "*.nvidia.com"), ("r-project", "*.r-project.org"),
    ("ubuntu", "*.ubuntu.com"), ("wandb", "*.wandb.ai"),
    ("pypi", "pypi.org"), ("huggingface", "huggingface.co"), ("github", "github.com"),
    ("conda-forge", "conda.anaconda.org"), ("mlflow", "mlflow.org"),
)

# An approved-outbound-only workspace with 30 user rules (15 FQDN, 10 service tag, 5 private endpoint) on top
# of the required ones: the "realistic rule set" of issue 5.
WORKSPACE = {
    "name": "bench-ws",
    "location": "eastus",
    "managed_network": {
        "isolation_mode": "allow_only_approved_outbound",
        "outbound_rules": [
            *({"name": name, "type": "fqdn", "destination": host} for name, host in FQDN_RULES),
            *({"name": f"tag-{tag.lower().replace('.', '-')}", "type": "service_tag",
               "destination": {"service_tag": tag, "protocol": protocol, "port_ranges": ports}}
              for tag, protocol, ports in TAG_RULES),
            *({"name": f"pe-{i}", "type": "private_endpoint",
               "destination": {"service_resource_id": f"{RESOURCE_GROUP}/providers/{target}",
                               "subresource_target": sub, "spark_enabled": i % 2 == 0}}
              for i, (target, sub) in enumerate(PE_TARGETS)),
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
PROTOCOL_NAMES = ["TCP", "UDP"]
# (port, protocol, probability)
PORTS = ((443, "TCP", 0.80), (80, "TCP", 0.08), (22, "TCP", 0.04), (5831, "UDP", 0.04), (1433, "TCP", 0.04))


def make_table() -> RuleTable:
    workspace, _ = workspace_from_dict(WORKSPACE)
    return egress_sim.ruletable.compile.compile_rules(workspace, egress_sim.net.servicetags.load_service_tags())


def _address_in(prefix: str, rng: random.Random) -> str:
    net = ipaddress.ip_network(prefix, strict=False)
    return str(net.network_address + rng.randrange(net.num_addresses))


def _random_public(rng: random.Random, version: int) -> str:
    while True:
        if version == 4:
            address = ipaddress.IPv4Address(rng.randrange(1 << 32))
        else:
            address = ipaddress.IPv6Address((0x2 << 124) | rng.randrange(1 << 124))  # 2000::/3, global unicast
        if address.is_global:
            return str(address)


def _destinations(table: RuleTable, count: int, seed: int, family: str) -> tuple[list[str], list[str | None]]:
    """``count`` distinct (dst_ip, fqdn) pairs; fqdn is None except for the named public destinations."""
    rng = random.Random(seed)
    prefixes = {4: [], 6: []}
    for rule in table.effective.service_tags:
        for prefix in rule.prefixes:
            prefixes[6 if ":" in prefix else 4].append(prefix)
    if family == "mixed":
        plan = ((0.6, lambda: (_address_in(rng.choice(prefixes[4]), rng), None)),
                (0.1, lambda: (_address_in(rng.choice(prefixes[6]), rng), None)),
                (0.3, lambda: (_random_public(rng, 4), rng.choice(HOSTS))))
    else:
        version = 4 if family == "ipv4" else 6
        plan = ((0.5, lambda: (_address_in(rng.choice(prefixes[version]), rng), None)),
                (0.5, lambda: (_random_public(rng, version), None)))
    seen: set[tuple[str, str | None]] = set()
    for share, draw in plan:
        target = len(seen) + max(1, int(round(count * share)))
        while len(seen) < min(target, count):
            seen.add(draw())
    pairs = sorted(seen, key=lambda p: (p[0], p[1] or ""))
    rng.shuffle(pairs)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _categorical(codes: np.ndarray, values: list) -> pd.Categorical:
    """Rows as codes into ``values`` (None values become missing cells)."""
    uniques = list(dict.fromkeys(v for v in values if v is not None))
    position = {v: i for i, v in enumerate(uniques)}
    remap = np.array([position[v] if v is not None else -1 for v in values], dtype=np.int32)
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(uniques, dtype=object))


def _traffic(n_flows: int, rng: np.random.Generator) -> dict[str, object]:
    """compute_type, dst_port and protocol columns."""
    port_choice = rng.choice(len(PORTS), n_flows, p=[p for _, _, p in PORTS])
    return {
        "compute_type": pd.Categorical.from_codes(rng.choice(len(COMPUTE), n_flows, p=COMPUTE_P), categories=COMPUTE),
        "dst_port": np.array([p for p, _, _ in PORTS], dtype=np.int32)[port_choice],
        "protocol": pd.Categorical.from_codes(
            np.array([PROTOCOL_NAMES.index(proto) for _, proto, _ in PORTS], dtype=np.int8)[port_choice],
            categories=PROTOCOL_NAMES),
    }


def make_frame(table: RuleTable, n_flows: int, seed: int = 0, unique_destinations: int = 5000,
               family: str = "mixed") -> pd.DataFrame:
    """``n_flows`` flows over ``unique_destinations`` destinations (see the module docstring)."""
    ips, hosts = _destinations(table, unique_destinations, seed, family)
    rng = np.random.default_rng(seed)
    dest = rng.integers(0, len(ips), n_flows)
    return pd.DataFrame({**_traffic(n_flows, rng), "dst_ip": _categorical(dest, ips), "fqdn": _categorical(dest, hosts)})


def make_host_frame(table: RuleTable, n_flows: int, unique_hosts: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """``n_flows`` HTTPS flows over ``unique_hosts`` distinct host names, each with its own public address:
    a third under the allowed wildcard domains, a third storage accounts (the workspace's own and others),
    a third elsewhere; the host-name path of the evaluator does the deciding."""
    rng = random.Random(seed)
    allowed = [pattern.suffix for rule in table.effective.fqdns for pattern in rule.patterns]
    names: set[str] = set()
    while len(names) < unique_hosts:
        label = f"{rng.choice(('cdn', 'api', 'files', 'mirror', 'node'))}{rng.randrange(10**7)}"
        kind = len(names) % 3
        if kind == 0:
            names.add(f"{label}.{rng.choice(allowed)}")
        elif kind == 1:
            names.add(f"{label}.{rng.choice(('blob', 'dfs', 'file'))}.core.windows.net")
        else:
            names.add(f"{label}.{rng.choice(('example.com', 'contoso.net', 'badsite.io', 'cdn.example.org'))}")
    hosts = sorted(names)
    rng.shuffle(hosts)
    ips = [_random_public(rng, 4) for _ in hosts]
    generator = np.random.default_rng(seed)
    pick = generator.integers(0, len(hosts), n_flows)
    return pd.DataFrame({
        "compute_type": pd.Categorical.from_codes(generator.choice(len(COMPUTE), n_flows, p=COMPUTE_P), categories=COMPUTE),
        "dst_ip": _categorical(pick, ips),
        "dst_port": np.full(n_flows, 443, dtype=np.int32),
        "protocol": pd.Categorical.from_codes(np.zeros(n_flows, dtype=np.int8), categories=["TCP"]),
        "fqdn": _categorical(pick, hosts),
    })


def make_workload(n_flows: int, seed: int = 0, unique_destinations: int = 5000) -> tuple[RuleTable, pd.DataFrame]:
    table = make_table()
    return table, make_frame(table, n_flows, seed, unique_destinations)
