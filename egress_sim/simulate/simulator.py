"""A seeded, streaming generator of outbound flows from an Azure ML fleet.

``SimulationPlan`` resolves everything once: the fleet's nodes and source addresses, every service's endpoints
(addresses drawn from the prefixes the service stands for), and the selection tables of each mix. Flows are
then drawn block by block: the window is cut into hours, each hour gets its number of flows from the fleet's
time shapes, and each block of an hour draws from its own random stream, seeded by (seed, hour, block). So the
output depends only on the workspace, scenario, seed and flow count, never on how it is consumed, and memory
stays bounded by a block plus the writer's row group (about a million rows) whatever the total.

Every row carries two labels besides the flow schema: ``service`` (the catalog service whose address it
uses) and ``scenario`` (``benign``, or the exfiltration scenario that made it).
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from ..base.errors import ScenarioError
from ..model import ComputeType, Protocol, Workspace
from ..base.outputs import Outputs, staged
from ..net.servicetags import ServiceTagSet
from .catalog import WorkspaceContext, resolve_services
from .exfiltration import GENERATORS, HOST_NAME_SCENARIOS, SERVICES_USED, InjectedRows
from ..flows.io import TableWriter
from .scenario import Scenario, hour_weights
from .summary import SimulationSummary

BENIGN = "benign"
# Random streams, one kind each, so that no two ever share a seed sequence: [seed, kind, ...].
STREAM_SETUP, STREAM_HOURS, STREAM_BLOCK, STREAM_NAMES = 1, 2, 3, 4
BLOCK_ROWS = 500_000
COMPUTE_SUBNET_START = int(ipaddress.ip_address("10.0.8.4"))
FALLBACK_ALLOWED_SERVICES = ("pypi", "github", "huggingface", "conda")
SIM_PROTOCOLS = (Protocol.TCP, Protocol.UDP)  # the protocol column's codes

SCHEMA = pa.schema([
    ("ts", pa.timestamp("us", tz="UTC")),
    ("compute_type", pa.dictionary(pa.int8(), pa.string())),
    ("compute_name", pa.dictionary(pa.int16(), pa.string())),
    ("src_ip", pa.dictionary(pa.int16(), pa.string())),
    ("dst_ip", pa.dictionary(pa.int32(), pa.string())),
    ("dst_port", pa.int32()),
    ("protocol", pa.dictionary(pa.int8(), pa.string())),
    ("fqdn", pa.string()),  # plain: DNS-tunnel names make it high-cardinality, and a per-row-group dictionary
    # that large would be handed whole to every batch a reader takes from it
    ("bytes_out", pa.int64()),
    ("bytes_in", pa.int64()),
    ("service", pa.dictionary(pa.int16(), pa.string())),
    ("scenario", pa.dictionary(pa.int8(), pa.string())),
])


def _segments(groups: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """Cumulative weights laid out so that group g's items occupy (g, g+1]: ``searchsorted(cum, g + u)``
    then picks an item of group g with probability proportional to its weight, for all rows at once."""
    cum = np.empty(len(weights))
    for g in range(n_groups):
        idx = np.flatnonzero(groups == g)
        if len(idx):
            part = np.cumsum(weights[idx])
            cum[idx] = g + part / part[-1]
            cum[idx[-1]] = g + 1.0
    return cum


def _pick(cum: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, group + u, side="left"), len(cum) - 1).astype(np.int32)


class SimulationPlan:
    """Everything resolved for one (workspace, scenario, seed); draws blocks of flows on demand."""

    def __init__(self, workspace: Workspace, tags: ServiceTagSet, scenario: Scenario, seed: int):
        if not isinstance(seed, int) or seed < 0:
            raise ScenarioError(f"seed {seed!r} must be a non-negative integer")
        self.workspace, self.scenario, self.seed = workspace, scenario, seed
        self.ctx = WorkspaceContext.build(workspace, tags)
        self._allowed_endpoints: np.ndarray | None = None
        self._build_nodes()
        try:
            self._resolve(np.random.default_rng([seed, STREAM_SETUP]))
        except ScenarioError as exc:  # a catalog problem only visible against this workspace and tag file
            message = str(exc)
            raise ScenarioError(message if message.startswith(scenario.source) else f"{scenario.source}: {message}") from None
        self._build_mixes()

    # --- setup ------------------------------------------------------------------------------------------------

    def _build_nodes(self) -> None:
        self.compute_types: list[ComputeType] = [f.compute_type for f in self.scenario.fleet]
        names, types, ips = [], [], []
        for t, fleet in enumerate(self.scenario.fleet):
            for name in fleet.names:
                for _ in range(fleet.nodes):
                    names.append(name)
                    types.append(t)
                    ips.append(str(ipaddress.ip_address(COMPUTE_SUBNET_START + len(ips))))
        self.node_type = np.array(types, dtype=np.int32)
        self.compute_name_vocab = sorted(set(names))
        self.node_name = np.array([self.compute_name_vocab.index(n) for n in names], dtype=np.int32)
        self.src_ip_vocab = ips
        self._node_cum = _segments(self.node_type, np.ones(len(types)), len(self.compute_types))

    def _resolve(self, rng: np.random.Generator) -> None:
        scenario = self.scenario
        wanted = list(dict.fromkeys(s for f in scenario.fleet for s, w in f.mix.items() if w > 0))
        active = [i for i in scenario.injections if i.rate > 0]
        for injection in active:
            wanted.extend(s for s in SERVICES_USED.get(injection.name, ()) if s not in wanted)
        if any(i.name in HOST_NAME_SCENARIOS for i in active):
            wanted.extend(s for s in self._host_services() if s not in wanted)
        self.services, self.unavailable = resolve_services(scenario.services, wanted, self.ctx, rng)
        for injection in active:
            missing = [s for s in SERVICES_USED.get(injection.name, ()) if s not in self.services]
            if missing:
                raise ScenarioError(f"exfiltration {injection.name}: service {missing[0]} is unavailable: {self.unavailable[missing[0]]}")
        self.service_names = list(self.services)
        hosts: list[str] = []
        ips: list[str] = []
        rows = []  # (service, host code, ip code, protocol, weight)
        ports, port_weights, port_owner = [], [], []
        for s, name in enumerate(self.service_names):
            for endpoint in self.services[name].endpoints:
                host_code = -1
                if endpoint.host is not None:
                    if endpoint.host not in hosts:
                        hosts.append(endpoint.host)
                    host_code = hosts.index(endpoint.host)
                if endpoint.ip not in ips:
                    ips.append(endpoint.ip)
                rows.append((s, host_code, ips.index(endpoint.ip), SIM_PROTOCOLS.index(endpoint.protocol), endpoint.weight))
                for port, weight in zip(endpoint.ports, endpoint.port_weights):
                    ports.append(port)
                    port_weights.append(weight)
                    port_owner.append(len(rows) - 1)
        self.host_vocab, self.dst_ip_vocab = hosts, ips
        table = np.array(rows, dtype=float).reshape(-1, 5)
        self.ep_service = table[:, 0].astype(np.int32)
        self.ep_host = table[:, 1].astype(np.int32)
        self.ep_ip = table[:, 2].astype(np.int32)
        self.ep_protocol = table[:, 3].astype(np.int8)
        self._ep_cum = _segments(self.ep_service, table[:, 4], len(self.service_names))
        self._port_values = np.array(ports, dtype=np.int32)
        self._port_cum = _segments(np.array(port_owner), np.array(port_weights), len(rows))
        specs = [self.services[n].spec for n in self.service_names]
        self._log_out = np.log(np.array([s.bytes_out for s in specs], dtype=float))
        self._log_in = np.log(np.array([s.bytes_in for s in specs], dtype=float))

    def _build_mixes(self) -> None:
        """Per compute type, the mix over available services (unavailable ones dropped and reported)."""
        groups, members, weights = [], [], []
        self.mixes: dict[ComputeType, dict[str, float]] = {}
        for t, fleet in enumerate(self.scenario.fleet):
            mix = {s: w for s, w in fleet.mix.items() if w > 0 and s in self.services}
            if not mix and fleet.share > 0:
                dropped = "; ".join(self.unavailable.get(s, s) for s in fleet.mix)
                raise ScenarioError(f"fleet {fleet.compute_type.yaml}: no service of its mix can exist here ({dropped})")
            total = sum(mix.values())
            self.mixes[fleet.compute_type] = {s: w / total for s, w in mix.items()}
            for s, w in mix.items():
                groups.append(t)
                members.append(self.service_names.index(s))
                weights.append(w)
        self._mix_service = np.array(members, dtype=np.int32)
        self._mix_cum = _segments(np.array(groups), np.array(weights, dtype=float), len(self.compute_types))
        # Flows per hour of the window, and within each hour the compute-type probabilities.
        per_type = []
        for fleet in self.scenario.fleet:
            w = hour_weights(fleet, self.scenario.start, self.scenario.days)
            per_type.append(fleet.share * w / w.sum() if w.sum() > 0 else np.zeros_like(w))
        matrix = np.array(per_type).T  # hours x types
        if matrix.sum() <= 0:
            raise ScenarioError(f"{self.scenario.source}: no compute is active at any hour of the window")
        self.hour_share = matrix.sum(axis=1) / matrix.sum()
        self._type_cum_by_hour = np.cumsum(matrix, axis=1) / np.maximum(matrix.sum(axis=1, keepdims=True), 1e-300)
        self.injections = [i for i in self.scenario.injections if i.rate > 0]
        self.scenario_labels = [BENIGN, *[i.name for i in self.injections]]
        self._label_cum = np.cumsum([self.scenario.benign_rate, *[i.rate for i in self.injections]])
        self._label_cum[-1] = 1.0

    # --- helpers for the exfiltration generators ---------------------------------------------------------------

    def endpoints_of(self, service: str, hosts: tuple[str, ...] = ()) -> np.ndarray:
        """The service's endpoints; with ``hosts``, only those under one of these names (all of the service's
        named endpoints when a scenario's own catalog serves none of them)."""
        found = np.flatnonzero(self.ep_service == self.service_names.index(service))
        if hosts:
            named = found[self.ep_host[found] >= 0]
            chosen = named[np.isin(self.ep_host[named], [self.host_vocab.index(h) for h in hosts if h in self.host_vocab])]
            found = chosen if len(chosen) else (named if len(named) else found)
        return found.astype(np.int32)

    def endpoint_host(self, endpoint: int) -> str | None:
        code = int(self.ep_host[endpoint])
        return self.host_vocab[code] if code >= 0 else None

    def _host_services(self) -> list[str]:
        """Catalog services reached by fixed host names over the internet or service tags: where the host-name
        scenarios (no SNI, off-port, Spark, look-alikes) find the names the workspace allows."""
        names = []
        for name, spec in self.scenario.services.items():
            if spec.kind in ("service_tag", "prefixes") and spec.hosts and "{" not in "".join(spec.hosts):
                if any(self.ctx.allows_host(h) for h in spec.hosts):
                    names.append(name)
        return names or [n for n in FALLBACK_ALLOWED_SERVICES if n in self.scenario.services]

    def allowed_host_endpoints(self) -> np.ndarray:
        """Endpoints whose host an active FQDN rule allows; without such rules, those of common package hosts.
        Worked out once per plan: several scenarios ask in every block, and matching names is slow."""
        if self._allowed_endpoints is None:
            self._allowed_endpoints = self._find_allowed_host_endpoints()
        return self._allowed_endpoints

    def _find_allowed_host_endpoints(self) -> np.ndarray:
        with_host = np.flatnonzero(self.ep_host >= 0)
        allowed = np.array([self.ctx.allows_host(self.host_vocab[h]) for h in self.ep_host[with_host]], dtype=bool)
        found = with_host[allowed] if allowed.any() else with_host[
            np.isin(self.ep_service[with_host], [self.service_names.index(n) for n in FALLBACK_ALLOWED_SERVICES if n in self.services])]
        if not len(found):
            raise ScenarioError("no service with a host name is available for the host-name scenarios")
        return found.astype(np.int32)

    def lookalike_bases(self) -> list[str]:
        """What a ``*x`` rule would match: the rules' own ``*x`` tails, else the allowed hosts' domains."""
        bases = self.ctx.lookalike_suffixes
        if not bases:
            hosts = [self.host_vocab[h] for h in self.ep_host[self.allowed_host_endpoints()]]
            bases = sorted({".".join(h.split(".")[-2:]) for h in hosts})
        return bases

    def fixed_rng(self, purpose: str = "") -> np.random.Generator:
        """A random stream fixed per seed and purpose: for what stays the same all run long (made-up names)."""
        return np.random.default_rng([self.seed, STREAM_NAMES, *([zlib.crc32(purpose.encode())] if purpose else [])])

    def own_resource_names(self) -> set[str]:
        """The names of the resources the workspace reaches through private endpoints (its storage accounts...)."""
        return {p.rule.service_resource_id.rstrip("/").rsplit("/", 1)[-1].lower() for p in self.ctx.endpoints}

    def pick(self, options: tuple[str, ...]) -> str:
        return options[self.seed % len(options)]

    def fixed_node(self, types: tuple[ComputeType, ...], purpose: str) -> int:
        """One node of these compute types, the same for every block of a run (fixed per seed and purpose)."""
        candidates = np.flatnonzero(np.isin(self.node_type, [self.compute_types.index(t) for t in types]))
        return int(candidates[self.fixed_rng(f"node {purpose}").integers(len(candidates))])

    def draw_nodes(self, types: tuple[ComputeType, ...], k: int, rng: np.random.Generator) -> np.ndarray:
        candidates = np.flatnonzero(np.isin(self.node_type, [self.compute_types.index(t) for t in types]))
        return candidates[rng.integers(len(candidates), size=k)].astype(np.int32)

    def draw_ports(self, endpoint: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._port_values[_pick(self._port_cum, endpoint, rng.random(len(endpoint)))]

    def draw_bytes(self, endpoint: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        service = self.ep_service[endpoint]
        out = []
        for logs in (self._log_out, self._log_in):
            low, high = logs[service, 0], logs[service, 1]
            out.append(np.exp(low + rng.random(len(endpoint)) * (high - low)).astype(np.int64))
        return out[0], out[1]

    # --- drawing flows ---------------------------------------------------------------------------------------

    def hour_counts(self, n_flows: int) -> np.ndarray:
        return np.random.default_rng([self.seed, STREAM_HOURS]).multinomial(n_flows, self.hour_share)

    def blocks(self, n_flows: int) -> Iterator[pa.Table]:
        """The flows in time order, as Arrow tables of at most ``BLOCK_ROWS`` rows."""
        if n_flows < 0:
            raise ScenarioError(f"number of flows {n_flows} must be >= 0")
        start_us = int(self.scenario.start.timestamp() * 1_000_000)
        for hour, count in enumerate(self.hour_counts(n_flows).tolist()):
            for block, first in enumerate(range(0, count, BLOCK_ROWS)):
                rows = min(BLOCK_ROWS, count - first)
                rng = np.random.default_rng([self.seed, STREAM_BLOCK, hour, block])
                begin = start_us + hour * 3_600_000_000 + first * 3_600_000_000 // count
                end = start_us + hour * 3_600_000_000 + (first + rows) * 3_600_000_000 // count
                yield self._block(rng, hour, rows, begin, end)

    def _block(self, rng: np.random.Generator, hour: int, k: int, begin_us: int, end_us: int) -> pa.Table:
        ts = np.sort(rng.integers(begin_us, max(end_us, begin_us + 1), size=k))
        label = np.searchsorted(self._label_cum, rng.random(k), side="right").astype(np.int8)
        label = np.minimum(label, len(self._label_cum) - 1).astype(np.int8)
        # benign draws for every row (cheap, keeps the random streams aligned); injected rows overwrite theirs
        ctype = np.searchsorted(self._type_cum_by_hour[hour], rng.random(k), side="right").clip(0, len(self.compute_types) - 1)
        ctype = ctype.astype(np.int32)
        node = _pick(self._node_cum, ctype, rng.random(k))
        service = self._mix_service[_pick(self._mix_cum, ctype, rng.random(k))]
        endpoint = _pick(self._ep_cum, service, rng.random(k))
        port = self.draw_ports(endpoint, rng)
        bytes_out, bytes_in = self.draw_bytes(endpoint, rng)
        host = self.ep_host[endpoint].copy()
        extra_hosts: list[np.ndarray] = []
        n_base = len(self.host_vocab)
        for index, injection in enumerate(self.injections, start=1):
            rows = np.flatnonzero(label == index)
            if not len(rows):
                continue
            made: InjectedRows = GENERATORS[injection.name](injection, self, rng, len(rows))
            node[rows], endpoint[rows], port[rows] = made.node, made.endpoint, made.port
            bytes_out[rows], bytes_in[rows] = made.bytes_out, made.bytes_in
            if made.host is None:
                host[rows] = self.ep_host[made.endpoint]
            else:
                named = np.array([h is not None for h in made.host], dtype=bool)
                host[rows[~named]] = -1
                if named.any():
                    offset = n_base + sum(len(e) for e in extra_hosts)
                    uniques, inverse = np.unique(made.host[named].astype(str), return_inverse=True)
                    extra_hosts.append(uniques)
                    host[rows[named]] = offset + inverse
        return self._table(ts, node, endpoint, port, host, extra_hosts, bytes_out, bytes_in, label)

    def _table(self, ts, node, endpoint, port, host, extra_hosts, bytes_out, bytes_in, label) -> pa.Table:
        hosts = self.host_vocab + [h for e in extra_hosts for h in e.tolist()]
        columns = [
            pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            _dict(self.node_type[node], [t.yaml for t in self.compute_types], pa.int8()),
            _dict(self.node_name[node], self.compute_name_vocab, pa.int16()),
            _dict(node, self.src_ip_vocab, pa.int16()),
            _dict(self.ep_ip[endpoint], self.dst_ip_vocab, pa.int32()),
            pa.array(port, type=pa.int32()),
            _dict(self.ep_protocol[endpoint], [p.value for p in SIM_PROTOCOLS], pa.int8()),
            _dict(host, hosts, pa.int32(), nullable=True).cast(pa.string()),
            pa.array(bytes_out, type=pa.int64()),
            pa.array(bytes_in, type=pa.int64()),
            _dict(self.ep_service[endpoint], self.service_names, pa.int16()),
            _dict(label, self.scenario_labels, pa.int8()),
        ]
        return pa.Table.from_arrays(columns, schema=SCHEMA)

    # --- reporting ---------------------------------------------------------------------------------------------

    def inventory(self) -> dict[str, list[dict[str, object]]]:
        """The simulated fleet as a compute inventory (``flows/inventory.py`` format): lets ``replay`` map the
        source addresses of logs generated from these flows back to their computes."""
        computes: dict[tuple[str, str], list[str]] = {}
        for node in range(len(self.node_type)):
            key = (self.compute_name_vocab[self.node_name[node]], self.compute_types[self.node_type[node]].yaml)
            computes.setdefault(key, []).append(self.src_ip_vocab[node])
        return {"computes": [{"name": n, "type": t, "addresses": a} for (n, t), a in computes.items()]}

    def describe(self) -> dict[str, object]:
        """The resolved plan, for the simulation's side-car JSON and for people reading it."""
        return {
            "workspace": self.workspace.name,
            "seed": self.seed,
            "scenario": self.scenario.source,
            "window": {"start": self.scenario.start.isoformat(), "days": self.scenario.days},
            "services": {n: {"origin": s.origin, "endpoints": len(s.endpoints)} for n, s in self.services.items()},
            "unavailable_services": self.unavailable,
            "mix": {t.yaml: m for t, m in self.mixes.items()},
            "exfiltration_rates": {i.name: i.rate for i in self.injections},
        }


def _dict(codes: np.ndarray, vocab: list[str], index_type: pa.DataType, nullable: bool = False) -> pa.DictionaryArray:
    indices = np.asarray(codes)
    mask = indices < 0 if nullable else None
    return pa.DictionaryArray.from_arrays(
        pa.array(np.where(indices < 0, 0, indices) if nullable else indices, type=index_type, mask=mask),
        pa.array(vocab, type=pa.string()),
    )


def simulate(
    workspace: Workspace,
    tags: ServiceTagSet,
    scenario: Scenario,
    n_flows: int,
    seed: int,
    out_path: str | Path,
    progress: Callable[[int], None] | None = None,
    inventory_path: str | Path | None = None,
    outputs: Outputs | None = None,
) -> tuple[SimulationPlan, SimulationSummary]:
    """Write ``n_flows`` simulated flows to a Parquet or CSV file, block by block; return the plan and counts.

    With ``inventory_path``, the fleet is also written there as a compute inventory (YAML). Both files are
    checked before anything is drawn and appear together once the last flow is written (``egress_sim.base.outputs``);
    with ``outputs``, the caller publishes them together with its other files."""
    with staged(outputs, [out_path, inventory_path]) as files:
        plan = SimulationPlan(workspace, tags, scenario, seed)
        summary = SimulationSummary()
        with TableWriter(out_path, SCHEMA, outputs=files) as writer:
            for table in plan.blocks(n_flows):
                writer.write(table)
                summary.add(table)
                if progress is not None:
                    progress(table.num_rows)
        if inventory_path is not None:
            files.write_text(inventory_path, yaml.safe_dump(plan.inventory(), sort_keys=False))
    return plan, summary
