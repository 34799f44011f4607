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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from ..model import ComputeType

if TYPE_CHECKING:
    from .scenario import Injection

_BASE32 = np.array(list("abcdefghijklmnopqrstuvwxyz234567"))
OFF_PORTS = (22, 8080, 9418, 21, 8443)
OFF_PORT_WEIGHTS = (0.4, 0.2, 0.2, 0.1, 0.1)
LOOKALIKE_PREFIXES = ("secure", "th3", "cdn-", "get", "my")
TUNNEL_DOMAINS = ("updates-cdn-sync.net", "telemetry-metrics.io", "static-edge-cache.com")


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

    def endpoints_of(self, service: str) -> np.ndarray: ...
    def allowed_host_endpoints(self) -> np.ndarray: ...
    def lookalike_bases(self) -> list[str]: ...
    def foreign_accounts(self, count: int) -> list[str]: ...
    def pick(self, options: tuple[str, ...]) -> str: ...
    def draw_nodes(self, types: tuple[ComputeType, ...], k: int, rng: np.random.Generator) -> np.ndarray: ...
    def draw_ports(self, endpoint: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...
    def draw_bytes(self, endpoint: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


Generator = Callable[["Injection", Plan, np.random.Generator, int], InjectedRows]


def _rows(plan: Plan, injection: "Injection", rng: np.random.Generator, k: int, endpoints: np.ndarray,
          host: np.ndarray | None = None, port: np.ndarray | None = None) -> InjectedRows:
    """Rows from ``injection``'s compute types to endpoints drawn uniformly from ``endpoints``."""
    endpoint = endpoints[rng.integers(len(endpoints), size=k)].astype(np.int32)
    out, inn = plan.draw_bytes(endpoint, rng)
    return InjectedRows(
        node=plan.draw_nodes(injection.compute, k, rng),
        endpoint=endpoint,
        port=plan.draw_ports(endpoint, rng) if port is None else port.astype(np.int32),
        host=host,
        bytes_out=out,
        bytes_in=inn,
    )


def foreign_storage(injection: "Injection", plan: Plan, rng: np.random.Generator, k: int) -> InjectedRows:
    accounts = plan.foreign_accounts(int(injection.options["accounts"]))
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


GENERATORS: dict[str, Generator] = {
    "foreign_storage": foreign_storage,
    "dns_tunnel": dns_tunnel,
    "paste_site": paste_site,
    "raw_ip_transfer": raw_ip_transfer,
    "no_sni": no_sni,
    "fqdn_off_port": fqdn_off_port,
    "spark_fqdn": spark_fqdn,
    "lookalike_host": lookalike_host,
}
# The catalog services each scenario draws its addresses from ("allowed" = services with allowed host names).
SERVICES_USED: dict[str, tuple[str, ...]] = {
    "foreign_storage": ("foreign_storage",),
    "dns_tunnel": ("public_dns",),
    "paste_site": ("paste_sites",),
    "raw_ip_transfer": ("hosting",),
    "lookalike_host": ("hosting",),
}
