"""The simulation scenario file: the fleet, its traffic mix per compute type, the time shape, and the injected
exfiltration scenarios (``data/simulation/default.yaml`` is the documented example).

Loading checks everything up front and names the bad key, so a typo never turns into silently missing traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..base.datafiles import bundled_path
from ..base.errors import EgressSimError, ScenarioError
from ..model import ComputeType
from ..model.hostnames import normalize_host
from ..base.yamlfile import read_yaml
from .catalog import ServiceSpec, is_integer, is_number, load_catalog, parse_services

BUNDLED_SCENARIO = "default.yaml"
MAX_NODES = 2000
MAX_TUNNEL_DOMAIN = 253 - 61  # room for the longest tunnel label (60 characters) and its dot  # source addresses 10.0.8.4 upwards stay inside the simulated 10.0.8.0/21 compute subnet

# Time-of-day shapes: 24 hourly weights (UTC) and a weekend factor.
_OFFICE = [0.03] * 7 + [0.5] + [1.0] * 10 + [0.5, 0.2] + [0.05] * 4
HOUR_SHAPES: dict[str, tuple[tuple[float, ...], float]] = {
    "office": (tuple(_OFFICE), 0.05),  # people at work on weekdays
    "flat": (tuple([1.0] * 24), 1.0),  # jobs at any hour
    "nightly": (tuple([1.0] * 6 + [0.4] * 16 + [1.0] * 2), 0.8),  # training launched for the night
    "diurnal": (tuple(0.6 + 0.4 * math.cos(2 * math.pi * (h - 15) / 24) for h in range(24)), 0.7),  # inference
}

# Which compute types each exfiltration scenario comes from by default (spark_fqdn is Spark by definition).
_NOT_SPARK = ("compute_instance", "compute_cluster", "serverless", "managed_online_endpoint")
SCENARIOS: dict[str, dict[str, Any]] = {
    "foreign_storage": {"compute": _NOT_SPARK, "accounts": 6},
    "dns_tunnel": {"compute": _NOT_SPARK, "domain": None},
    "paste_site": {"compute": _NOT_SPARK},
    "raw_ip_transfer": {"compute": _NOT_SPARK},
    "no_sni": {"compute": _NOT_SPARK},
    "fqdn_off_port": {"compute": _NOT_SPARK},
    "spark_fqdn": {"compute": ("serverless_spark",)},
    "lookalike_host": {"compute": _NOT_SPARK},
    # through channels approved-only mode can allow (exfiltration.py's second table)
    "storage_via_tag": {"compute": _NOT_SPARK, "accounts": 3},
    "git_push": {"compute": _NOT_SPARK},
    "model_hub_upload": {"compute": _NOT_SPARK},
    "suffix_lookalike": {"compute": _NOT_SPARK},
    "front_door": {"compute": _NOT_SPARK},
    "slow_drip": {"compute": _NOT_SPARK},
}


@dataclass(frozen=True)
class ComputeFleet:
    """The computes of one type: names, nodes per name, share of benign flows, time shape and service mix."""

    compute_type: ComputeType
    names: tuple[str, ...]
    nodes: int
    share: float
    hours: tuple[float, ...]
    weekend: float
    mix: dict[str, float]  # service -> weight, as written


@dataclass(frozen=True)
class Injection:
    """One exfiltration scenario: the fraction of all flows it makes, its source types and options."""

    name: str
    rate: float
    compute: tuple[ComputeType, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    source: str
    start: datetime
    days: int
    fleet: tuple[ComputeFleet, ...]
    injections: tuple[Injection, ...]
    services: dict[str, ServiceSpec]

    @property
    def benign_rate(self) -> float:
        return 1.0 - sum(i.rate for i in self.injections)

    def fleet_of(self, compute_type: ComputeType) -> ComputeFleet | None:
        return next((f for f in self.fleet if f.compute_type is compute_type), None)


def bundled_scenario_path() -> Path:
    return bundled_path("simulation", BUNDLED_SCENARIO)


def load_scenario(path: str | Path | None = None, catalog: dict[str, ServiceSpec] | None = None) -> Scenario:
    """Read and check a scenario file (the bundled default when ``path`` is None)."""
    file = Path(path) if path is not None else bundled_scenario_path()
    data = read_yaml(file, "scenario", ScenarioError)
    return scenario_from_dict(data, str(file), catalog)


def scenario_from_dict(data: Any, where: str = "<scenario>", catalog: dict[str, ServiceSpec] | None = None) -> Scenario:
    def fail(message: str) -> ScenarioError:
        return ScenarioError(f"{where}: {message}")

    if not isinstance(data, dict):
        raise fail("a scenario is a mapping with 'window', 'fleet' and 'exfiltration'")
    unknown = sorted(set(data) - {"window", "fleet", "exfiltration", "services"})
    if unknown:
        raise fail(f"unknown key(s) {', '.join(map(str, unknown))} (known: window, fleet, exfiltration, services)")
    services = dict(catalog if catalog is not None else load_catalog())
    services.update(parse_services(data.get("services", {}), where))
    start, days = _window(data.get("window", {}), fail)
    fleet_data = data.get("fleet")
    if not isinstance(fleet_data, dict) or not fleet_data:
        raise fail("'fleet' must map compute types to their computes")
    fleet = tuple(_fleet(key, body, services, fail) for key, body in fleet_data.items())
    seen = [f.compute_type for f in fleet]
    for compute_type in set(seen):
        if seen.count(compute_type) > 1:
            raise fail(f"fleet: {compute_type.yaml} is listed {seen.count(compute_type)} times (under different spellings)")
    if sum(f.share for f in fleet) <= 0:
        raise fail("the fleet's shares add up to 0: no compute would send anything")
    exfiltration = data.get("exfiltration") or {}
    if not isinstance(exfiltration, dict):
        raise fail("'exfiltration' must map scenario names to rates, e.g. {dns_tunnel: 0.002}")
    injections = tuple(_injection(name, body, fleet, fail) for name, body in exfiltration.items())
    total = sum(i.rate for i in injections)
    if total >= 1:
        raise fail(f"the exfiltration rates add up to {total:g}; they must leave room for benign traffic (< 1)")
    nodes = sum(len(f.names) * f.nodes for f in fleet)
    if nodes > MAX_NODES:
        raise fail(f"the fleet has {nodes} nodes; at most {MAX_NODES} are simulated")
    return Scenario(where, start, days, fleet, injections, services)


def _window(body: Any, fail) -> tuple[datetime, int]:
    if not isinstance(body, dict):
        raise fail("'window' must be a mapping with 'start' and 'days'")
    raw = body.get("start", "2026-01-05T00:00:00Z")
    try:
        start = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"window start {raw!r} is not an ISO 8601 time such as 2026-11-16T00:00:00Z") from None
    start = start.replace(tzinfo=timezone.utc) if start.tzinfo is None else start.astimezone(timezone.utc)
    days = body.get("days", 7)
    if not is_integer(days) or not 1 <= days <= 366:
        raise fail(f"window days {days!r} must be an integer 1-366")
    return start, days


def _fleet(key: Any, body: Any, services: dict[str, ServiceSpec], fail) -> ComputeFleet:
    try:
        compute_type = ComputeType.parse(key, "compute type")
    except EgressSimError as exc:
        raise fail(f"fleet: {exc}") from None
    where = f"fleet {compute_type.yaml}"
    if not compute_type.supports_managed_network:
        raise fail(f"{where}: this compute type cannot run in a managed network (spec §6)")
    if not isinstance(body, dict):
        raise fail(f"{where}: must be a mapping with names, share, hours and mix")
    unknown = sorted(set(body) - {"names", "nodes", "share", "hours", "weekend", "mix"})
    if unknown:
        raise fail(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    names = body.get("names", [compute_type.yaml])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise fail(f"{where}: 'names' must be a non-empty list of compute names")
    nodes = body.get("nodes", 1)
    if not is_integer(nodes) or nodes < 1:
        raise fail(f"{where}: 'nodes' must be a positive integer")
    share = body.get("share")
    if not is_number(share) or share < 0:
        raise fail(f"{where}: 'share' must be a number >= 0 (its part of the benign flows)")
    hours, weekend = _hours(body.get("hours", "flat"), where, fail)
    if "weekend" in body:
        weekend = body["weekend"]
        if not is_number(weekend) or weekend < 0:
            raise fail(f"{where}: 'weekend' must be a number >= 0")
    mix = body.get("mix")
    if not isinstance(mix, dict) or not mix:
        raise fail(f"{where}: 'mix' must map destination services to weights")
    for service, weight in mix.items():
        if not isinstance(service, str):
            raise fail(f"{where}: mix key {service!r} is not a service name")
        if service not in services:
            raise fail(f"{where}: unknown service {service!r}{_closest(service, services)}")
        if not is_number(weight) or weight < 0:
            raise fail(f"{where}: weight {weight!r} of {service!r} must be a number >= 0")
    if sum(mix.values()) <= 0:
        raise fail(f"{where}: the mix's weights add up to 0")
    return ComputeFleet(compute_type, tuple(n.strip() for n in names), nodes, float(share), hours, float(weekend),
                        {str(k): float(v) for k, v in mix.items()})


def _hours(value: Any, where: str, fail) -> tuple[tuple[float, ...], float]:
    if isinstance(value, str):
        if value not in HOUR_SHAPES:
            raise fail(f"{where}: hours {value!r} is not one of {', '.join(HOUR_SHAPES)} (or 24 hourly weights)")
        return HOUR_SHAPES[value]
    if (isinstance(value, list) and len(value) == 24 and all(is_number(v) and v >= 0 for v in value)
            and sum(value) > 0):
        return tuple(float(v) for v in value), 1.0
    raise fail(f"{where}: hours must be a shape name or a list of 24 non-negative weights, not {value!r}")


def _injection(name: Any, body: Any, fleet: tuple[ComputeFleet, ...], fail) -> Injection:
    if name not in SCENARIOS:
        raise fail(f"exfiltration: unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    defaults = dict(SCENARIOS[name])
    options = {"rate": body} if not isinstance(body, dict) else dict(body)
    unknown = sorted(set(options) - {"rate", *defaults})
    if unknown:
        raise fail(f"exfiltration {name}: unknown option(s) {', '.join(map(str, unknown))} (known: rate, {', '.join(defaults)})")
    rate = options.pop("rate", None)
    if not is_number(rate) or not 0 <= rate < 1:
        raise fail(f"exfiltration {name}: rate {rate!r} must be a fraction of all flows, 0 <= rate < 1")
    computes = options.pop("compute", defaults.pop("compute"))
    defaults.pop("compute", None)
    if isinstance(computes, str):
        computes = [computes]
    if not isinstance(computes, (list, tuple)) or not computes:
        raise fail(f"exfiltration {name}: compute {computes!r} must be a compute type or a list of them")
    try:
        types = tuple(ComputeType.parse(c, "compute type") for c in computes)
    except EgressSimError as exc:
        raise fail(f"exfiltration {name}: compute: {exc}") from None
    _check_options(name, options, fail)
    present = tuple(t for t in types if any(f.compute_type is t and f.nodes for f in fleet))
    if rate > 0 and not present:
        raise fail(f"exfiltration {name}: comes from {', '.join(t.yaml for t in types)}, and the fleet has none of them")
    return Injection(name, float(rate), present, {**defaults, **options})


def _check_options(name: str, options: dict[str, Any], fail) -> None:
    """The scenario-specific options: how many foreign accounts, which tunnel domain."""
    if "accounts" in options and (not is_integer(options["accounts"]) or not 1 <= options["accounts"] <= 1000):
        raise fail(f"exfiltration {name}: accounts {options['accounts']!r} must be an integer 1-1000")
    if options.get("domain") is not None:
        try:
            options["domain"] = normalize_host(options["domain"])
        except EgressSimError as exc:
            raise fail(f"exfiltration {name}: domain: {exc}") from None
        if len(options["domain"]) > MAX_TUNNEL_DOMAIN:
            raise fail(f"exfiltration {name}: domain {options['domain']!r} is longer than {MAX_TUNNEL_DOMAIN} characters "
                       "(a 60-character query label must still fit in a 253-character name)")


def _closest(name: str, services: dict[str, Any]) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(services), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def hour_weights(fleet: ComputeFleet, start: datetime, days: int) -> np.ndarray:
    """The fleet's relative activity in each hour of the window (length days * 24)."""
    hours = np.arange(days * 24)
    stamps = start.timestamp() + hours * 3600.0
    hour_of_day = ((stamps // 3600) % 24).astype(int)
    weekday = ((stamps // 86400 + 3) % 7).astype(int)  # 1970-01-01 was a Thursday: +3 makes Monday 0
    weights = np.asarray(fleet.hours)[hour_of_day]
    return np.where(weekday >= 5, weights * fleet.weekend, weights)
