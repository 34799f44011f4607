"""The simulator's destination services: what each kind of outbound connection looks like, and where it goes.

A *service* (``pypi``, ``aml_api``, ``workspace_blob``, ...) is read from ``data/simulation/services.yaml``
(or a scenario's own ``services:``) into a ``ServiceSpec``. ``resolve_services`` then binds each spec to one
workspace and one service-tag file: it picks the concrete endpoints (host name + address) the simulated
fleet talks to, with addresses drawn from the very prefixes the service stands for, so that a verdict on a
simulated flow means what it would mean on real traffic. The ``prefixes`` kept on each resolved service are
the ground truth tests check every simulated address against.
"""

from __future__ import annotations

import ipaddress
import math
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..base.datafiles import bundled_path
from ..ruletable.effective import PrivateEndpoint, fqdn_rules_allow, private_endpoints, workspace_resource_id
from ..base.errors import EgressSimError, ScenarioError
from ..model import FqdnDestination, IsolationMode, Protocol, ServiceTagDestination, Workspace
from ..model.hostnames import PatternKind, normalize_host
from ..net.servicetags import ServiceTagSet
from ..base.yamlfile import read_yaml

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

BUNDLED_CATALOG = "services.yaml"
DEFAULT_ENDPOINTS_PER_HOST = 4
# The workspace resources a ``private_endpoint: R/S`` destination may name.
WORKSPACE_RESOURCES = ("workspace", "storage_account", "key_vault", "container_registry")
# Ports clients use for a private endpoint's sub-resource when it is not HTTPS (user data sources).
SUBRESOURCE_PORTS = {
    "file": 445, "sqlserver": 1433, "postgresqlserver": 5432, "mysqlserver": 3306, "mariadbserver": 3306,
    "rediscache": 6380, "mongodb": 10255, "cassandra": 10350,
}
_KEYS = {"description", "destination", "hosts", "protocol", "ports", "bytes_out", "bytes_in", "endpoints"}


@dataclass(frozen=True)
class ServiceSpec:
    """One service as written in a catalog (nothing resolved yet)."""

    name: str
    description: str
    destination: dict[str, Any]  # exactly one of service_tag / prefixes / private_endpoint / user_rules
    hosts: tuple[str, ...]  # templates
    protocol: Protocol
    ports: tuple[int, ...]
    port_weights: tuple[float, ...]
    bytes_out: tuple[int, int]
    bytes_in: tuple[int, int]
    endpoints_per_host: int

    @property
    def kind(self) -> str:
        return next(k for k in ("service_tag", "prefixes", "private_endpoint", "user_rules") if k in self.destination)


@dataclass(frozen=True)
class Endpoint:
    """One concrete destination: a host name (None: by address only), an address, a protocol and ports."""

    host: str | None
    ip: str
    protocol: Protocol
    ports: tuple[int, ...]
    port_weights: tuple[float, ...]
    weight: float


@dataclass(frozen=True)
class ResolvedService:
    """A service bound to one workspace: its endpoints, and the prefixes every endpoint address lies in."""

    spec: ServiceSpec
    endpoints: tuple[Endpoint, ...]
    prefixes: tuple[str, ...]
    origin: str  # where the addresses come from, for reports: "service tag Storage.EastUS", ...

    @property
    def name(self) -> str:
        return self.spec.name


class ServiceUnavailable(EgressSimError):
    """A service cannot exist for this workspace (no key vault named, no user data rule, ...)."""


# --- reading a catalog ----------------------------------------------------------------------------------------


def bundled_catalog_path() -> Path:
    return bundled_path("simulation", BUNDLED_CATALOG)


def load_catalog(path: str | Path | None = None) -> dict[str, ServiceSpec]:
    """Read a service catalog file (the bundled one by default)."""
    file = Path(path) if path is not None else bundled_catalog_path()
    data = read_yaml(file, "service catalog", ScenarioError)
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise ScenarioError(f"{file}: a service catalog is a mapping with a 'services:' mapping")
    return parse_services(data["services"], str(file))


def parse_services(entries: dict[str, Any], where: str) -> dict[str, ServiceSpec]:
    if not isinstance(entries, dict):
        raise ScenarioError(f"{where}: 'services' must be a mapping of service name to its definition")
    return {str(name): parse_service(str(name), body, where) for name, body in entries.items()}


def parse_service(name: str, body: Any, where: str) -> ServiceSpec:
    def fail(message: str) -> ScenarioError:
        return ScenarioError(f"{where}: service {name!r}: {message}")

    if not isinstance(body, dict):
        raise fail("must be a mapping")
    unknown = sorted(str(k) for k in set(body) - _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    destination = body.get("destination")
    if not isinstance(destination, dict):
        raise fail("needs 'destination' (service_tag, prefixes, private_endpoint or user_rules)")
    kinds = [k for k in ("service_tag", "prefixes", "private_endpoint", "user_rules") if k in destination]
    if len(kinds) != 1:
        raise fail("'destination' needs exactly one of service_tag, prefixes, private_endpoint, user_rules")
    if "prefixes" in destination:
        prefixes = destination["prefixes"]
        if not isinstance(prefixes, list) or not prefixes:
            raise fail("'prefixes' must be a non-empty list of CIDR prefixes")
        for prefix in prefixes:
            try:
                ipaddress.ip_network(str(prefix), strict=False)
            except ValueError:
                raise fail(f"{prefix!r} is not a CIDR prefix") from None
    if "private_endpoint" in destination:
        target = str(destination["private_endpoint"])
        resource, _, sub = target.partition("/")
        if resource not in WORKSPACE_RESOURCES or not sub:
            raise fail(f"private_endpoint {target!r} must be R/S with R one of {', '.join(WORKSPACE_RESOURCES)}")
    hosts = body.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise fail("'hosts' must be a list of host names")
    for host in hosts:
        _check_template(host, fail)
    try:
        protocol = Protocol.parse(body.get("protocol", "TCP"), "protocol")
    except EgressSimError as exc:
        raise fail(str(exc)) from None
    if protocol not in (Protocol.TCP, Protocol.UDP):
        raise fail("protocol must be TCP or UDP")
    ports = body.get("ports", {443: 1})
    if not isinstance(ports, dict) or not ports:
        raise fail("'ports' must be a mapping of port to weight, e.g. {443: 0.9, 80: 0.1}")
    port_list, weights = [], []
    for port, weight in ports.items():
        if not is_integer(port) or not 0 < port <= 65535:
            raise fail(f"port {port!r} is not 1-65535")
        if not is_number(weight) or weight <= 0:
            raise fail(f"weight {weight!r} of port {port} must be a positive number")
        port_list.append(port)
        weights.append(float(weight))
    endpoints = body.get("endpoints", DEFAULT_ENDPOINTS_PER_HOST)
    if not is_integer(endpoints) or not 1 <= endpoints <= 1024:
        raise fail(f"endpoints {endpoints!r} must be an integer 1-1024")
    return ServiceSpec(
        name=name,
        description=str(body.get("description", "")),
        destination=dict(destination),
        hosts=tuple(hosts),
        protocol=protocol,
        ports=tuple(port_list),
        port_weights=tuple(w / sum(weights) for w in weights),
        bytes_out=_byte_range(body.get("bytes_out", [100, 10000]), "bytes_out", fail),
        bytes_in=_byte_range(body.get("bytes_in", [100, 10000]), "bytes_in", fail),
        endpoints_per_host=endpoints,
    )


def is_integer(value: Any) -> bool:
    """An integer as YAML gives it (``true`` is not a port, a count or a size)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (``.nan``, ``.inf`` and booleans are not weights)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


TEMPLATE_FIELDS = ("region", "workspace_id", "storage", "key_vault", "registry")


def _check_template(host: str, fail) -> None:
    """A host template may use only the documented fields, and must be a host name once filled in."""
    try:
        filled = host.format(**{f: "x" for f in TEMPLATE_FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        raise fail(f"host {host!r}: bad template ({exc}); fields are {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}") from None
    try:
        normalize_host(filled)
    except EgressSimError as exc:
        raise fail(f"host {host!r}: {exc}") from None


def _byte_range(value: Any, key: str, fail) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(is_integer(v) and v > 0 for v in value)):
        raise fail(f"'{key}' must be [low, high], two positive integers")
    low, high = value
    if low > high:
        raise fail(f"'{key}' low {low} is above high {high}")
    return low, high


# --- binding a catalog to a workspace -------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceContext:
    """What resolving a service needs to know about the workspace, computed once.

    Names resolve as they would inside the managed VNet in approved-only mode, where every required private
    endpoint exists; endpoint addresses are the same in every mode (``effective.private_endpoints``)."""

    workspace: Workspace
    tags: ServiceTagSet
    endpoints: tuple[PrivateEndpoint, ...]
    fqdn_rules: tuple[FqdnDestination, ...]
    template_values: dict[str, str]

    @classmethod
    def build(cls, workspace: Workspace, tags: ServiceTagSet) -> "WorkspaceContext":
        values = {"workspace_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"egress-sim/{workspace.name}"))}
        if workspace.region:
            values["region"] = workspace.region
        for key, resource in (("storage", workspace.storage_account), ("key_vault", workspace.key_vault),
                              ("registry", workspace.container_registry)):
            if resource:
                values[key] = resource.rstrip("/").rsplit("/", 1)[-1].lower()
        network = workspace.managed_network
        approved = replace(workspace, managed_network=replace(network, isolation_mode=IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND))
        return cls(workspace, tags, private_endpoints(approved), network.fqdn_rules, values)

    def expand(self, template: str, service: str) -> str:
        try:
            host = template.format(**self.template_values)
        except KeyError as exc:
            raise ServiceUnavailable(f"service {service!r}: the workspace names no {exc.args[0]} for host {template!r}") from None
        return normalize_host(host)

    def private_endpoint(self, resource_id: str, subresource: str) -> PrivateEndpoint | None:
        for endpoint in self.endpoints:
            if (endpoint.rule.service_resource_id.lower() == resource_id.lower()
                    and endpoint.rule.subresource_target.lower() == subresource.lower()):
                return endpoint
        return None

    def allows_host(self, host: str) -> bool:
        """Whether one of the workspace's active FQDN rules matches ``host``."""
        return fqdn_rules_allow(self.fqdn_rules, host)

    @property
    def lookalike_suffixes(self) -> list[str]:
        """The tails of active ``*x`` patterns (no dot after the star): what look-alike names can match."""
        return [p.suffix for r in self.fqdn_rules if r.is_active for p in r.patterns if p.kind is PatternKind.SUFFIX]


def resolve_services(specs: dict[str, ServiceSpec], names: list[str], ctx: WorkspaceContext,
                     rng: np.random.Generator) -> tuple[dict[str, ResolvedService], dict[str, str]]:
    """Resolve the named services; return them and, for those that cannot exist here, the reason why."""
    resolved: dict[str, ResolvedService] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            resolved[name] = resolve_service(specs[name], ctx, rng)
        except ServiceUnavailable as exc:
            unavailable[name] = str(exc)
    return resolved, unavailable


def resolve_service(spec: ServiceSpec, ctx: WorkspaceContext, rng: np.random.Generator) -> ResolvedService:
    kind = spec.kind
    if kind == "user_rules":
        return _resolve_user_rules(spec, ctx, rng)
    hosts = [ctx.expand(h, spec.name) for h in spec.hosts] or [None]
    if kind == "private_endpoint":
        resource, _, sub = str(spec.destination["private_endpoint"]).partition("/")
        resource_id = workspace_resource_id(ctx.workspace) if resource == "workspace" else getattr(ctx.workspace, resource)
        if not resource_id:
            raise ServiceUnavailable(f"service {spec.name!r}: the workspace names no {resource}")
        endpoint = ctx.private_endpoint(resource_id, sub)
        if endpoint is None:
            raise ServiceUnavailable(f"service {spec.name!r}: no private endpoint to {resource} sub-resource {sub!r}")
        ip = str(endpoint.private_ip)
        endpoints = [_endpoint(spec, host, ip, 1 / (rank + 1)) for rank, host in enumerate(hosts)]
        return ResolvedService(spec, _normalized(endpoints), (f"{ip}/32",), f"private endpoint {endpoint.name}")
    networks, origin = _networks_of(spec, ctx)
    endpoints = []
    for rank, host in enumerate(hosts):
        for ip in draw_addresses(networks, spec.endpoints_per_host, rng):
            endpoints.append(_endpoint(spec, host, ip, 1 / (rank + 1) / spec.endpoints_per_host))
    return ResolvedService(spec, _normalized(endpoints), tuple(str(n) for n in networks), origin)


def _networks_of(spec: ServiceSpec, ctx: WorkspaceContext) -> tuple[list[IpNetwork], str]:
    if "prefixes" in spec.destination:
        source = spec.destination.get("source", "published ranges")
        return [ipaddress.ip_network(str(p), strict=False) for p in spec.destination["prefixes"]], str(source)
    base = str(spec.destination["service_tag"])
    tag = None
    if spec.destination.get("regional"):
        if ctx.workspace.region:
            tag = ctx.tags.regional(base, ctx.workspace.region)
        if tag is None and ctx.tags.get(base) is None:
            raise ServiceUnavailable(f"service {spec.name!r}: no {base}.<region> tag for location {ctx.workspace.location!r}")
    tag = tag or ctx.tags.get(base)
    if tag is None:
        raise ScenarioError(f"service {spec.name!r}: unknown service tag {base!r}{ctx.tags.suggestion(base)}")
    networks = _usable_networks(tag.ipv4_prefixes or tag.address_prefixes)
    if not networks:
        raise ServiceUnavailable(f"service {spec.name!r}: service tag {tag.name} has no address prefixes")
    return networks, f"service tag {tag.name}"


def _resolve_user_rules(spec: ServiceSpec, ctx: WorkspaceContext, rng: np.random.Generator) -> ResolvedService:
    """One destination per user private-endpoint or service-tag rule: the team's own data sources."""
    endpoints: list[Endpoint] = []
    prefixes: list[str] = []
    network = ctx.workspace.managed_network
    for rule in network.private_endpoint_rules:
        endpoint = ctx.private_endpoint(rule.service_resource_id, rule.subresource_target)
        if endpoint is None:
            continue
        host = _concrete_host(endpoint.patterns)
        port = SUBRESOURCE_PORTS.get(rule.subresource_target.lower(), 443)
        endpoints.append(Endpoint(host, str(endpoint.private_ip), Protocol.TCP, (port,), (1.0,), 1.0))
        prefixes.append(f"{endpoint.private_ip}/32")
    for rule in network.service_tag_rules:
        if rule.protocol is Protocol.ICMP:  # not a data source: nothing to send to it
            continue
        networks = _rule_networks(rule, ctx)
        if not networks:
            continue
        protocol = Protocol.UDP if rule.protocol is Protocol.UDP else Protocol.TCP
        ports = _client_ports(rule)
        for ip in draw_addresses(networks, spec.endpoints_per_host, rng):
            endpoints.append(Endpoint(None, ip, protocol, ports, tuple(1 / len(ports) for _ in ports), 1 / spec.endpoints_per_host))
        prefixes.extend(str(n) for n in networks)
    if not endpoints:
        raise ServiceUnavailable(f"service {spec.name!r}: the workspace has no user private-endpoint or service-tag rule")
    return ResolvedService(spec, _normalized(endpoints), tuple(prefixes), "the workspace's user rules")


def _client_ports(rule: ServiceTagDestination) -> tuple[int, ...]:
    """A port per range the rule opens: 443 when the range holds it (``*`` does), else the range's first port."""
    return tuple(dict.fromkeys(443 if 443 in r else max(r.first, 1) for r in rule.port_ranges.ranges)) or (443,)


def _rule_networks(rule: ServiceTagDestination, ctx: WorkspaceContext) -> list[IpNetwork]:
    if rule.uses_address_prefixes:
        return _usable_networks([str(n) for n in rule.networks])
    tag = ctx.tags.get(rule.service_tag or "")
    if tag is None:
        raise ScenarioError(f"rule {rule.name!r}: unknown service tag {rule.service_tag!r}")
    return _usable_networks(tag.ipv4_prefixes or tag.address_prefixes)


def _concrete_host(patterns) -> str | None:
    """A host a client would use for a private endpoint: its first exact name, else a wildcard filled in."""
    for pattern in patterns:
        if pattern.kind is PatternKind.EXACT and ".privatelink." not in pattern.suffix:
            return pattern.suffix
    for pattern in patterns:
        if pattern.kind is PatternKind.SUBDOMAINS:
            return "data." + pattern.suffix
    return None


def _endpoint(spec: ServiceSpec, host: str | None, ip: str, weight: float) -> Endpoint:
    return Endpoint(host, ip, spec.protocol, spec.ports, spec.port_weights, weight)


def _normalized(endpoints: list[Endpoint]) -> tuple[Endpoint, ...]:
    total = sum(e.weight for e in endpoints)
    return tuple(Endpoint(e.host, e.ip, e.protocol, e.ports, e.port_weights, e.weight / total) for e in endpoints)


def _usable_networks(prefixes) -> list[IpNetwork]:
    return [ipaddress.ip_network(str(p), strict=False) for p in prefixes]


def draw_addresses(networks: list[IpNetwork], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` addresses, each from a prefix chosen uniformly; in prefixes larger than /30 never the network or
    broadcast address."""
    out = []
    for _ in range(count):
        network = networks[int(rng.integers(len(networks)))]
        size = network.num_addresses
        random = int.from_bytes(rng.bytes(16), "big")  # 128 random bits: IPv6 prefixes exceed int64
        offset = 1 + random % (size - 2) if size > 4 else random % size
        out.append(str(network.network_address + offset))
    return out


