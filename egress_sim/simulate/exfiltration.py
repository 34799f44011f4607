"""Labelled exfiltration and misconfiguration traffic, mixed into simulated flows (issue: simulator).

Each scenario is a function that fills ``k`` rows: which node sends, to which endpoint of which service, on
which port, under which host name (overriding the endpoint's own), and how many bytes go out. Addresses
always come from a catalog service's endpoints, so every address still lies in the prefixes of the service
it is labelled with; only names and ports are bent to make the scenario.

============== ==================================================================================
scenario       what it looks like
============== ==================================================================================
foreign_storage  uploads to ``<account>.blob.core.windows.net`` of accounts that are not the
                 workspace's, on addresses of the region's ``Storage`` tag
dns_tunnel       UDP/53 queries to public resolvers for many high-entropy names under one domain
paste_site       HTTPS uploads to paste and file-sharing sites
raw_ip_transfer  large transfers to rented servers by address alone, on non-web ports
no_sni           HTTPS without SNI to the addresses of allowed package/model hosts
fqdn_off_port    allowed host names on ports other than 80/443 (git, SSH, 8080, ...)
spark_fqdn       serverless Spark reaching an allowed host name (FQDN rules do not apply to Spark)
lookalike_host   a look-alike name such as ``securepypi.org`` on a rented server: what ``*x`` matches
============== ==================================================================================

The scenarios below go through channels that approved-only mode can allow, each by a rule a team might well
have; they are where the rules alone cannot stop exfiltration, and what flow-level detection has to find.

================= ===============================================================================
scenario          what it looks like
================= ===============================================================================
storage_via_tag   blocks of 4-100 MiB put into another tenant's account by name
                  (``<account>.blob`` / ``.dfs.core.windows.net``, SNI set) on ``Storage.<Region>``
                  addresses: allowed by a ``Storage`` or ``Storage.<region>`` service-tag rule (spec §2)
git_push          5-200 MB pushed to ``github.com`` (a few KB back): allowed by an FQDN rule for it
model_hub_upload  10 MB-2 GB uploaded to ``huggingface.co``: allowed by an FQDN rule for it
suffix_lookalike  uploads to a name a ``*x`` rule (no dot) matches, ``evilcontoso.com`` or
                  ``upload.th3contoso.com`` for ``*contoso.com``, on a rented server; without such a
                  rule the names are built on the allowed hosts' domains as for ``lookalike_host``
front_door        uploads to a customer Front Door endpoint (``<name>.azurefd.net``,
                  ``<name>-<hash>.z01.azurefd.net``) on ``AzureFrontDoor.Frontend`` addresses (spec §12)
slow_drip         many 20-400 KB uploads (out several times in) from one compute node to one allowed
                  host (``api.github.com``/``github.com``/``huggingface.co`` first), fixed per seed and
                  spread over the window: each flow is small, only their sum per node and host is large
================= ===============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, AbstractSet, Callable, Protocol

import numpy as np

from ..model import ComputeType

if TYPE_CHECKING:
    from .scenario import Injection

_BASE32 = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))
OFF_PORTS = (22, 8080, 9418, 21, 8443)
OFF_PORT_WEIGHTS = (0.4, 0.2, 0.2, 0.1, 0.1)
LOOKALIKE_PREFIXES = ("secure", "th3", "cdn-", "get", "my")
TUNNEL_DOMAINS = ("updates-cdn-sync.net", "telemetry-metrics.io", "static-edge-cache.com")
SUFFIX_PREFIXES = ("evil", "th3", "files-", "x")
DRIP_HOSTS = ("api.github.com", "github.com", "huggingface.co")  # upload targets, preferred in this order
FRONT_DOOR_ENDPOINTS = 4
# bytes (out, in) per flow, drawn log-uniformly: (out low, out high), (in low, in high)
UPLOAD_SIZES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "storage_via_tag": ((4 << 20, 100 << 20), (300, 2_000)),
    "git_push": ((5_000_000, 200_000_000), (2_000, 20_000)),
    "model_hub_upload": ((10_000_000, 2_000_000_000), (2_000, 30_000)),
    "suffix_lookalike": ((2_000_000, 500_000_000), (2_000, 20_000)),
    "front_door": ((5_000_000, 1_000_000_000), (1_000, 20_000)),
    "slow_drip": ((20_000, 400_000), (0, 0)),  # bytes_in: a third to an eighth of bytes_out
}


@dataclass
class InjectedRows:
    node: np.ndarray  # int32 index into the plan's nodes
    endpoint: np.ndarray  # int32 index into the plan's endpoints
    port: np.ndarray  # int32
    host: np.ndarray | None  # object array of host names (None entries: no name); None = the endpoint's own
    bytes_out: np.ndarray  # int64
    bytes_in: np.ndarray  # int64


class Plan(Protocol):
    """What a scenario generator draws from: the simulator's resolved plan (``simulator.SimulationPlan``), seen
    through this narrow face so that the generators do not depend on the simulator that calls them."""

    def endpoints_of(self, service: str, hosts: tuple[str, ...] = ()) -> np.ndarray: ...
    def allowed_host_endpoints(self) -> np.ndarray: ...
    def lookalike_bases(self) -> list[str]: ...
    def endpoint_host(self, endpoint: int) -> str | None: ...
    def fixed_rng(self, purpose: str = "") -> np.random.Generator: ...
    def own_resource_names(self) -> set[str]: ...
    def pick(self, options: tuple[str, ...]) -> str: ...
    def fixed_node(self, types: tuple[ComputeType, ...], purpose: str) -> int: ...
    def draw_nodes(self, types: tuple[ComputeType, ...], k: int, rng: np.random.Generator) -> np.ndarray: ...
    def draw_ports(self, endpoint: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...
    def draw_bytes(self, endpoint: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


Generator = Callable[["Injection", Plan, np.random.Generator, int], InjectedRows]
_LABEL_CHARACTERS = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))


def made_up_labels(rng: np.random.Generator, count: int, prefix: str = "",
                   taken: AbstractSet[str] = frozenset()) -> list[str]:
    """``count`` distinct random DNS labels: ``prefix`` and 8-15 letters and digits, none of them in ``taken``."""
    labels: list[str] = []
    while len(labels) < count:
        label = prefix + "".join(_LABEL_CHARACTERS[rng.integers(len(_LABEL_CHARACTERS), size=int(rng.integers(8, 16)))])
        if label not in taken and label not in labels:
            labels.append(label)
    return labels


def foreign_accounts(plan: Plan, count: int, purpose: str = "") -> list[str]:
    """Made-up storage account names (fixed per seed and purpose), none of them an account the workspace uses."""
    return made_up_labels(plan.fixed_rng(purpose), count, "st", plan.own_resource_names())


def _rows(plan: Plan, injection: "Injection", rng: np.random.Generator, k: int, endpoints: np.ndarray,
          host: np.ndarray | None = None, port: np.ndarray | None = None,
          node: np.ndarray | None = None) -> InjectedRows:
    """Rows from ``injection``'s compute types (or ``node``) to endpoints drawn uniformly from ``endpoints``;
    bytes from the scenario's ``UPLOAD_SIZES`` when it has them, else from the service's ranges."""
    endpoint = endpoints[rng.integers(len(endpoints), size=k)].astype(np.int32)
    out, inn = _upload_bytes(injection.name, rng, k) if injection.name in UPLOAD_SIZES else plan.draw_bytes(endpoint, rng)
    return InjectedRows(
        node=plan.draw_nodes(injection.compute, k, rng) if node is None else node.astype(np.int32),
        endpoint=endpoint,
        port=plan.draw_ports(endpoint, rng) if port is None else port.astype(np.int32),
        host=host,
        bytes_out=out,
        bytes_in=inn,
    )


def foreign_storage(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    accounts = foreign_accounts(plan, int(injection.options["accounts"]))
    hosts = np.array([f"{a}.blob.core.windows.net" for a in accounts], dtype=object)
    return _rows(plan, injection, rng, k, plan.endpoints_of("foreign_storage"), hosts[rng.integers(len(hosts), size=k)])


def dns_tunnel(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    domain = injection.options.get("domain") or plan.pick(TUNNEL_DOMAINS)
    # 40-60 base32 characters per query, as encoders such as iodine or dnscat2 produce, in labels of <= 63
    lengths = rng.integers(40, 61, size=k)
    chars = _BASE32[rng.integers(32, size=(k, 60))]
    hosts = np.array([f"{''.join(chars[i, :n])}.{domain}" for i, n in enumerate(lengths)], dtype=object)
    return _rows(plan, injection, rng, k, plan.endpoints_of("public_dns"), hosts)


def paste_site(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    return _rows(plan, injection, rng, k, plan.endpoints_of("paste_sites"))


def raw_ip_transfer(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    return _rows(plan, injection, rng, k, plan.endpoints_of("hosting"), host=np.full(k, None, dtype=object))


def no_sni(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    return _rows(plan, injection, rng, k, plan.allowed_host_endpoints(), host=np.full(k, None, dtype=object),
                 port=np.full(k, 443))


def fqdn_off_port(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    ports = np.array(OFF_PORTS)[rng.choice(len(OFF_PORTS), size=k, p=OFF_PORT_WEIGHTS)]
    return _rows(plan, injection, rng, k, plan.allowed_host_endpoints(), port=ports)


def spark_fqdn(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    return _rows(plan, injection, rng, k, plan.allowed_host_endpoints())


def lookalike_host(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    names = np.array([p + base for base in plan.lookalike_bases() for p in LOOKALIKE_PREFIXES], dtype=object)
    return _rows(plan, injection, rng, k, plan.endpoints_of("hosting"), names[rng.integers(len(names), size=k)],
                 port=np.full(k, 443))


def _log_uniform(rng: np.random.Generator, low: int, high: int, k: int) -> np.ndarray:
    return np.exp(np.log(low) + rng.random(k) * (np.log(high) - np.log(low))).astype(np.int64)


def _upload_bytes(name: str, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    (out_low, out_high), (in_low, in_high) = UPLOAD_SIZES[name]
    out = _log_uniform(rng, out_low, out_high, k)
    if in_high == 0:  # acknowledgements and API responses: a fixed fraction of what went out
        return out, (out / rng.uniform(3.0, 8.0, size=k)).astype(np.int64)
    return out, _log_uniform(rng, in_low, in_high, k)


def _https(k: int) -> np.ndarray:
    return np.full(k, 443)


def storage_via_tag(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    accounts = foreign_accounts(plan, int(injection.options["accounts"]), "storage_via_tag")
    hosts = np.array([f"{a}.{kind}.core.windows.net" for a in accounts for kind in ("blob", "blob", "blob", "dfs")],
                     dtype=object)
    return _rows(plan, injection, rng, k, plan.endpoints_of("foreign_storage"), hosts[rng.integers(len(hosts), size=k)],
                 port=_https(k))


def git_push(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    return _rows(plan, injection, rng, k, plan.endpoints_of("github", ("github.com",)), port=_https(k))


def model_hub_upload(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    return _rows(plan, injection, rng, k, plan.endpoints_of("huggingface", ("huggingface.co",)), port=_https(k))


def suffix_lookalike(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    names = [p + base for base in plan.lookalike_bases() for p in SUFFIX_PREFIXES]
    hosts = np.array(names + [f"upload.{n}" for n in names if "." in n], dtype=object)
    return _rows(plan, injection, rng, k, plan.endpoints_of("hosting"), hosts[rng.integers(len(hosts), size=k)],
                 port=_https(k))


def front_door(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    labels = made_up_labels(plan.fixed_rng("front_door"), 2 * FRONT_DOOR_ENDPOINTS)
    names, hashes = labels[:FRONT_DOOR_ENDPOINTS], labels[FRONT_DOOR_ENDPOINTS:]
    # classic endpoints are <name>.azurefd.net; Standard/Premium ones add a hash and a z01 label
    hosts = np.array([f"{n}.azurefd.net" for n in names[::2]]
                     + [f"{n}-{h}.z01.azurefd.net" for n, h in zip(names[1::2], hashes)], dtype=object)
    return _rows(plan, injection, rng, k, plan.endpoints_of("customer_front_door"),
                 hosts[rng.integers(len(hosts), size=k)], port=_https(k))


def slow_drip(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    allowed = plan.allowed_host_endpoints()
    by_host: dict[str, list[int]] = {}
    for endpoint in allowed.tolist():
        by_host.setdefault(plan.endpoint_host(endpoint) or "", []).append(endpoint)
    preferred = [h for h in DRIP_HOSTS if h in by_host]
    host = preferred[0] if preferred else plan.pick(tuple(sorted(by_host)))
    node = np.full(k, plan.fixed_node(injection.compute, "slow_drip"))
    return _rows(plan, injection, rng, k, np.array(by_host[host], dtype=np.int32), port=_https(k), node=node)


GENERATORS: dict[str, Generator] = {
    "foreign_storage": foreign_storage,
    "dns_tunnel": dns_tunnel,
    "paste_site": paste_site,
    "raw_ip_transfer": raw_ip_transfer,
    "no_sni": no_sni,
    "fqdn_off_port": fqdn_off_port,
    "spark_fqdn": spark_fqdn,
    "lookalike_host": lookalike_host,
    "storage_via_tag": storage_via_tag,
    "git_push": git_push,
    "model_hub_upload": model_hub_upload,
    "suffix_lookalike": suffix_lookalike,
    "front_door": front_door,
    "slow_drip": slow_drip,
}
# The catalog services each scenario draws its addresses from ("allowed" = services with allowed host names).
SERVICES_USED: dict[str, tuple[str, ...]] = {
    "foreign_storage": ("foreign_storage",),
    "dns_tunnel": ("public_dns",),
    "paste_site": ("paste_sites",),
    "raw_ip_transfer": ("hosting",),
    "lookalike_host": ("hosting",),
    "storage_via_tag": ("foreign_storage",),
    "git_push": ("github",),
    "model_hub_upload": ("huggingface",),
    "suffix_lookalike": ("hosting",),
    "front_door": ("customer_front_door",),
}
# Scenarios that draw on the host names the workspace allows (``Plan.allowed_host_endpoints``, look-alike bases).
HOST_NAME_SCENARIOS = ("no_sni", "fqdn_off_port", "spark_fqdn", "lookalike_host", "suffix_lookalike", "slow_drip")
