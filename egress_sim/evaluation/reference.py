"""The reference evaluator: a plain, per-flow, literal reading of spec §9, with a trace of every check.

It is deliberately simple and independent of the vectorized evaluator's data structures: service tags are
matched with a plain longest-prefix map (``prefixmap``; one per prefix set, parsed with ``ipaddress``), host
names with ``fnmatch`` on the rule's patterns, rules are tried one by one in order. It is the oracle of the property tests and the engine behind ``explain``.
Only the row parsers (``flows.schema``) are shared, so both engines agree on what a valid cell is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import pandas as pd

from ..ruletable.compile import is_storage_host
from .evaluate import with_verdicts
from ..ruletable.effective import EffectiveRules, PrivateEndpoint, TagRule
from ..flows.schema import (
    COMPUTE_TYPES, PROTOCOLS, parse_flag, is_missing, parse_compute, parse_fqdn, parse_port, parse_protocol,
)
from ..net.ipnum import parse_ip
from ..model import ComputeType, FqdnDestination, IsolationMode, Protocol
from ..net.prefixmap import PrefixMap
from ..flows.verdicts import Reason, Verdict


@dataclass(frozen=True, slots=True)
class Check:
    """One step of a decision: a rule (or a mode/input check), whether it matched, and why."""

    step: str  # "input", "mode", "private_endpoint", "service_tag", "fqdn"
    rule: str | None
    matched: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    reason: Reason
    rule: str | None = None
    checks: tuple[Check, ...] = field(default=(), compare=False)

    @property
    def verdict(self) -> Verdict:
        return self.reason.verdict


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated flow."""

    compute: ComputeType
    protocol: Protocol
    port: int | None  # None for ICMP
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    host: str | None
    name_logged: bool = True  # False: the log cannot record host names, so a missing one is unknown, not absent


def parse_row(row: Mapping[str, Any], default_compute: ComputeType | None = None) -> Flow | Reason:
    """Validate one raw row (column → value) in the same order as ``FlowBatch``; a ``Reason`` on failure."""
    compute = parse_compute(row["compute_type"]) if "compute_type" in row else parse_compute(str(default_compute))
    if compute == -2:
        return Reason.MISSING_COMPUTE_TYPE
    if compute == -1:
        return Reason.INVALID_COMPUTE_TYPE
    protocol = parse_protocol(row.get("protocol"))
    if protocol == -2:
        return Reason.MISSING_PROTOCOL
    if protocol == -1:
        return Reason.INVALID_PROTOCOL
    proto = PROTOCOLS[protocol]
    port: int | None = None
    if proto is not Protocol.ICMP:
        port = parse_port(row.get("dst_port"))
        if port == -2:
            return Reason.MISSING_DST_PORT
        if port == -1:
            return Reason.INVALID_DST_PORT
    raw_ip = row.get("dst_ip")
    ip = None
    if not is_missing(raw_ip):
        ip = parse_ip(raw_ip)
        if ip is None:
            return Reason.INVALID_DST_IP
    host = parse_fqdn(row.get("fqdn"))
    if host == -1:
        return Reason.INVALID_FQDN
    if ip is None and host is None:
        return Reason.MISSING_DESTINATION
    logged = parse_flag(row.get("name_logged"))
    return Flow(COMPUTE_TYPES[compute], proto, port, ip, host, logged != 0)  # type: ignore[arg-type]


class ReferenceEvaluator:
    def __init__(self, effective: EffectiveRules):
        self.eff = effective
        # one map per prefix set: rules on the same tag share the tag's tuple of prefixes
        maps: dict[int, PrefixMap[bool]] = {}
        for tag_rule in effective.service_tags:
            if id(tag_rule.prefixes) not in maps:
                maps[id(tag_rule.prefixes)] = PrefixMap((ipaddress.ip_network(p, strict=False), True) for p in tag_rule.prefixes)
        self._maps = [maps[id(tag_rule.prefixes)] for tag_rule in effective.service_tags]

    # --------------------------------------------------------------------------------------------- matching
    def _tag_matches(self, index: int, tag_rule: TagRule, flow: Flow) -> tuple[bool, str]:
        rule = tag_rule.rule
        if flow.ip is None:
            return False, "the flow has no destination IP"
        match = self._maps[index].longest_match(flow.ip)
        if match is None:
            what = "address_prefixes" if rule.uses_address_prefixes else f"service tag {rule.service_tag}"
            return False, f"{flow.ip} is not in {what}"
        if rule.protocol is not Protocol.ANY and rule.protocol is not flow.protocol:
            return False, f"protocol {flow.protocol.value} is not {rule.protocol.value}"
        if flow.port is not None and flow.port not in rule.port_ranges:
            return False, f"port {flow.port} is not in {rule.port_ranges.normalized}"
        return True, f"{flow.ip} is in {match[0]}, {flow.protocol.value}/{flow.port if flow.port is not None else '-'} allowed"

    @staticmethod
    def _pe_matches(endpoint: PrivateEndpoint, flow: Flow) -> tuple[bool, str]:
        if flow.host is not None:
            for pattern in endpoint.patterns:
                if fnmatchcase(flow.host, pattern.text):
                    return True, f"{flow.host} resolves to the endpoint ({pattern.text})"
            target = endpoint.rule.service_resource_id.rstrip("/").rsplit("/", 1)[-1]
            return False, f"{flow.host} is not a host name of {target} ({endpoint.rule.subresource_target})"
        if flow.ip == endpoint.private_ip:
            return True, f"{flow.ip} is the endpoint's private address"
        return False, f"{flow.ip} is not the endpoint's private address {endpoint.private_ip}"

    @staticmethod
    def _fqdn_matches(rule: FqdnDestination, host: str) -> tuple[bool, str]:
        for pattern in rule.patterns:
            if fnmatchcase(host, pattern.text):
                return True, f"{host} matches {pattern.text}"
        return False, f"{host} matches none of {', '.join(p.text for p in rule.patterns)}"

    # --------------------------------------------------------------------------------------------- decision
    def decide(self, flow: Flow) -> Decision:
        eff = self.eff
        checks: list[Check] = []

        def done(reason: Reason, rule: str | None = None) -> Decision:
            return Decision(reason, rule, tuple(checks))

        if eff.mode is IsolationMode.DISABLED:
            checks.append(Check("mode", None, True, "isolation mode is disabled: no managed network"))
            return done(Reason.NOT_ISOLATED)
        if not flow.compute.supports_managed_network:
            checks.append(Check("mode", None, True, f"{flow.compute.yaml} cannot run in a managed network"))
            return done(Reason.UNSUPPORTED_COMPUTE)
        if not eff.provisioned and not flow.compute.provisions_network:
            checks.append(Check("mode", None, True, "the managed network is not provisioned"))
            return done(Reason.NETWORK_NOT_PROVISIONED)
        spark = flow.compute is ComputeType.SERVERLESS_SPARK
        if spark and not eff.spark_ready:
            checks.append(Check("mode", None, True, "the network was provisioned without Spark"))
            return done(Reason.SPARK_NOT_PROVISIONED)

        # 2. private endpoints
        pe_candidates: list[PrivateEndpoint] = []
        for endpoint in eff.private_endpoints:
            matched, why = self._pe_matches(endpoint, flow)
            if matched:
                pe_candidates.append(endpoint)
                if not endpoint.rule.is_active:
                    why += "; but the rule is not active"
                elif spark and not endpoint.rule.spark_enabled:
                    why += "; but the endpoint is not spark_enabled"
                else:
                    checks.append(Check("private_endpoint", endpoint.name, True, why))
                    return done(Reason.PRIVATE_ENDPOINT, endpoint.name)
            checks.append(Check("private_endpoint", endpoint.name, False, why))

        # 3. internet outbound
        if eff.mode is IsolationMode.ALLOW_INTERNET_OUTBOUND:
            checks.append(Check("mode", None, True, "allow_internet_outbound: all internet outbound is allowed"))
            return done(Reason.INTERNET_OUTBOUND)

        # 4. service tags (network rules), required first
        inactive_tag: str | None = None
        for index, tag_rule in enumerate(eff.service_tags):
            matched, why = self._tag_matches(index, tag_rule, flow)
            if matched and tag_rule.rule.is_active:
                checks.append(Check("service_tag", tag_rule.name, True, why))
                return done(Reason.SERVICE_TAG, tag_rule.name)
            if matched:
                inactive_tag = inactive_tag or tag_rule.name
                why += "; but the rule is not active"
            checks.append(Check("service_tag", tag_rule.name, False, why))

        # 5. FQDN rules (application rules)
        web = flow.protocol is Protocol.TCP and flow.port in (80, 443) and eff.has_firewall
        active_fqdn: str | None = None
        inactive_fqdn: str | None = None
        if not eff.has_firewall:
            checks.append(Check("fqdn", None, False, "no FQDN rule, so no managed firewall"))
        elif not web:
            checks.append(Check("fqdn", None, False, "FQDN rules apply to TCP 80/443 only"))
        elif flow.host is None:
            if not spark and not flow.name_logged:
                checks.append(Check("fqdn", None, False, "the log does not record host names: only an FQDN rule could allow it"))
                return done(Reason.NAME_NOT_LOGGED)
            if not spark and flow.port == 443:
                checks.append(Check("fqdn", None, False, "HTTPS without SNI: the firewall has no name to match"))
                return done(Reason.NO_SNI)
            checks.append(Check("fqdn", None, False, "no host name to match FQDN rules against"))
        else:
            for rule in eff.fqdns:
                matched, why = self._fqdn_matches(rule, flow.host)
                if matched and rule.is_active:
                    active_fqdn = active_fqdn or rule.name
                    if not spark:
                        if is_storage_host(flow.host):
                            checks.append(Check("fqdn", rule.name, False, why + "; but storage needs a private endpoint"))
                            return done(Reason.STORAGE_REQUIRES_PE, rule.name)
                        checks.append(Check("fqdn", rule.name, True, why))
                        return done(Reason.FQDN, rule.name)
                    why += "; but FQDN rules do not apply to serverless Spark"
                elif matched:
                    inactive_fqdn = inactive_fqdn or rule.name
                    why += "; but the rule is not active"
                checks.append(Check("fqdn", rule.name, False, why))

        # 6. denied: the most precise reason
        if spark:
            active_pe = next((p for p in pe_candidates if p.rule.is_active), None)
            if active_pe is not None:
                return done(Reason.PE_NOT_SPARK_ENABLED, active_pe.name)
            if active_fqdn is not None:
                return done(Reason.SPARK_FQDN_IGNORED, active_fqdn)
        inactive_pe = next(
            (p for p in pe_candidates if not p.rule.is_active and (not spark or p.rule.spark_enabled)), None
        )
        if inactive_pe is not None:
            return done(Reason.RULE_INACTIVE, inactive_pe.name)
        if inactive_tag is not None:
            return done(Reason.RULE_INACTIVE, inactive_tag)
        if inactive_fqdn is not None and not spark and flow.host is not None and not is_storage_host(flow.host):
            return done(Reason.RULE_INACTIVE, inactive_fqdn)
        return done(Reason.DEFAULT_DENY)

    def evaluate_row(self, row: Mapping[str, Any], default_compute: ComputeType | None = None) -> Decision:
        flow = parse_row(row, default_compute)
        if isinstance(flow, Reason):
            return Decision(flow, None, (Check("input", None, True, f"row rejected: {flow.code}"),))
        return self.decide(flow)

    def evaluate_records(
        self, rows: Iterable[Mapping[str, Any]], default_compute: ComputeType | None = None
    ) -> list[Decision]:
        return [self.evaluate_row(row, default_compute) for row in rows]

    def evaluate_frame(self, frame: pd.DataFrame, default_compute: ComputeType | None = None) -> pd.DataFrame:
        """Same output shape as ``evaluate.evaluate_frame``."""
        decisions = self.evaluate_records(frame.to_dict("records"), default_compute)
        added = pd.DataFrame(
            {
                "verdict": [d.verdict.label for d in decisions],
                "reason": [d.reason.code for d in decisions],
                "rule": pd.array([d.rule for d in decisions], dtype="string"),
            },
            index=frame.index,
        )
        return with_verdicts(frame, added)
