"""What each rule in force does: what it opens, whether any flow can ever be decided by it, and (given flows) what
it decided. Batfish's ``filterLineReachability`` for Azure ML managed networks.

Static, proved from the compiled ``RuleTable`` (no flows needed):

* a **service-tag rule is shadowed** when every (address, protocol, port) it opens is also opened by rules tried
  before it (the evaluator credits the first matching rule, spec §9): for every piece of the address space the
  rule covers, the earlier active rules covering that piece open all of its protocols and ports;
* an **FQDN rule is shadowed** when every one of its patterns is subsumed by a pattern of an earlier active FQDN
  rule, or by a host name of an active private endpoint (tried first, spec §9.2). Subsumption is decided per
  pair of patterns (``covers``), so a pattern covered only by several patterns together is not reported;
* a **private-endpoint rule is shadowed** by an earlier active one to the same resource and sub-resource;
* rules that can decide nothing else: inactive (spec §5), FQDN patterns that only name storage accounts
  (storage needs a private endpoint, spec §4), service-tag and FQDN rules in a mode that does not apply them.

What a rule opens is measured: addresses (IPv4 count, IPv6 in /64s), protocol and ports; for FQDN rules the names
and the kind of wildcard. A rule is **broad** past the thresholds below.

With flows, ``RuleUsage`` counts per rule the flows it decided, their bytes out, the compute types and the last hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..evaluation.evaluate import Verdicts
from ..flows.schema import COMPUTE_TYPES, FlowBatch
from ..model import IsolationMode, Protocol
from ..model.hostnames import FqdnPattern, PatternKind
from ..ruletable.compile import STORAGE_HOST_SUFFIXES, IntervalTable, RuleTable, is_storage_host
from ..ruletable.effective import TagRule

# Thresholds past which a rule is called broad. An IPv4 /12 (1,048,576 addresses) is larger than any one Azure
# service's regional tag in the bundled file except the AzureCloud and Storage families; 1,024 ports is a sixty-fourth
# of the port space. Project choices, not published figures.
BROAD_IPV4_ADDRESSES = 1 << 20
BROAD_PORTS = 1024
_PROTOCOL_ROWS = {Protocol.TCP: 0, Protocol.UDP: 1, Protocol.ICMP: 2}


@dataclass
class RuleCheck:
    """One rule in force, as ``rules`` reports it."""

    order: int  # position in the evaluator's order (private endpoints, then service tags, then FQDN)
    name: str
    type: str  # private_endpoint, service_tag, fqdn
    category: str
    active: bool
    opens: dict[str, object]
    broad: list[str] = field(default_factory=list)
    shadowed_by: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def shadowed(self) -> bool:
        return bool(self.shadowed_by)

    def to_dict(self) -> dict[str, object]:
        return {"order": self.order, "name": self.name, "type": self.type, "category": self.category,
                "active": self.active, "opens": self.opens, "broad": self.broad, "shadowed_by": self.shadowed_by,
                "notes": self.notes}


def check_rules(table: RuleTable) -> list[RuleCheck]:
    """Every rule in force, in the evaluator's order, with what it opens and why it may never decide a flow."""
    eff = table.effective
    mode = eff.mode
    out: list[RuleCheck] = []
    seen_endpoints: dict[tuple[str, str], str] = {}
    for i, endpoint in enumerate(eff.private_endpoints):
        rule = endpoint.rule
        check = RuleCheck(table.pe_offset + i, rule.name, "private_endpoint", rule.category.yaml, rule.is_active,
                          {"resource": rule.service_resource_id, "subresource": rule.subresource_target,
                           "spark_enabled": rule.spark_enabled, "names": [p.text for p in endpoint.patterns]})
        key = (rule.service_resource_id.lower(), rule.subresource_target.lower())
        if key in seen_endpoints:
            check.shadowed_by.append(seen_endpoints[key])
        elif rule.is_active:
            seen_endpoints[key] = rule.name
        if mode is IsolationMode.DISABLED:
            check.notes.append("not applied: isolation is disabled (every flow is allowed)")
        out.append(check)
    sizes = (_interval_sizes(table.ipv4), _interval_sizes(table.ipv6))
    for i, tag_rule in enumerate(eff.service_tags):
        out.append(_tag_check(table, i, tag_rule, sizes))
    endpoint_patterns = [(p, e.rule.name) for e in eff.private_endpoints if e.rule.is_active for p in e.patterns]
    earlier: list[tuple[FqdnPattern, str]] = []
    for i, rule in enumerate(eff.fqdns):
        check = RuleCheck(table.fqdn_offset + i, rule.name, "fqdn", rule.category.yaml, rule.is_active,
                          {"names": [p.text for p in rule.patterns],
                           "wildcards": sorted({p.kind.value for p in rule.patterns if p.is_wildcard}),
                           "ports": "TCP 80, 443"})
        check.broad = [f"{p.text}: " + ("every host name" if p.kind is PatternKind.ANY else
                                         "look-alike names too (no dot after the *)")
                       for p in rule.patterns if p.kind in (PatternKind.ANY, PatternKind.SUFFIX)]
        covering = [next((name for q, name in [*endpoint_patterns, *earlier] if covers(q, p)), None)
                    for p in rule.patterns]
        if rule.patterns and all(covering):
            check.shadowed_by = sorted(set(covering), key=covering.index)  # type: ignore[arg-type]
        for k, p in enumerate(rule.patterns):
            twin = next((q for j, q in enumerate(rule.patterns) if j != k and covers(q, p) and
                         (not covers(p, q) or j < k)), None)
            if twin is not None:
                check.notes.append(f"pattern {p.text} adds nothing: {twin.text} in the same rule covers it")
        storage_only = [p.text for p in rule.patterns if only_storage(p)]
        if storage_only and len(storage_only) == len(rule.patterns):
            check.notes.append("ineffective: names only storage accounts, which need a private endpoint (spec §4)")
        if rule.is_active:
            earlier.extend((p, rule.name) for p in rule.patterns)
        _mode_note(check, mode)
        out.append(check)
    for check in out:
        if not check.active:
            check.notes.append("inactive: decides no flow (it can only explain a denial, rule_inactive)")
    return out


def _mode_note(check: RuleCheck, mode: IsolationMode) -> None:
    if mode is IsolationMode.DISABLED:
        check.notes.append("not applied: isolation is disabled (every flow is allowed)")
    elif mode is IsolationMode.ALLOW_INTERNET_OUTBOUND:
        check.notes.append("not applied in allow_internet_outbound (only private endpoints are, spec §1)")


def _tag_check(table: RuleTable, i: int, tag_rule: TagRule, sizes: tuple[list[int], list[int]]) -> RuleCheck:
    rule = tag_rule.rule
    word, bit = divmod(i, 64)
    flag = np.uint64(1 << bit)
    ports = (table.port_masks[:, word] & flag) != 0
    v4 = _covered_size(table.ipv4, sizes[0], word, flag)
    v6 = _covered_size(table.ipv6, sizes[1], word, flag) >> 64
    opens = {"service_tag": None if rule.uses_address_prefixes else rule.service_tag,
             "address_prefixes": list(rule.address_prefixes) if rule.uses_address_prefixes else None,
             "protocol": rule.protocol.value, "ports": str(rule.port_ranges), "port_count": int(ports.sum()),
             "ipv4_addresses": v4, "ipv6_64s": v6}
    check = RuleCheck(table.tag_offset + i, rule.name, "service_tag", rule.category.yaml, rule.is_active, opens)
    if v4 > BROAD_IPV4_ADDRESSES:
        check.broad.append(f"{v4:,} IPv4 addresses (over {BROAD_IPV4_ADDRESSES:,})")
    if rule.protocol is not Protocol.ICMP and ports.sum() > BROAD_PORTS:
        check.broad.append(f"{int(ports.sum()):,} ports (over {BROAD_PORTS:,})")
    if v4 == 0 and v6 == 0:
        check.notes.append("opens no address: the tag has no prefixes in this service-tag file")
    elif rule.is_active:
        check.shadowed_by = _tag_shadowers(table, i, ports)
    _mode_note(check, table.mode)
    return check


def _interval_sizes(intervals: IntervalTable) -> list[int]:
    """How many addresses each interval holds (Python integers: IPv6 sizes pass 2**64)."""
    starts = [(int(h) << 64) | int(lo) for h, lo in zip(intervals.starts_hi.tolist(), intervals.starts_lo.tolist())]
    return [end - start for start, end in zip(starts, [*starts[1:], 1 << intervals.bits])]


def _covered_size(intervals: IntervalTable, sizes: list[int], word: int, flag: np.uint64) -> int:
    """How many addresses the intervals carrying ``flag`` hold."""
    return sum(sizes[k] for k in np.flatnonzero(intervals.masks[:, word] & flag).tolist())


def _tag_shadowers(table: RuleTable, i: int, ports: np.ndarray) -> list[str]:
    """The earlier active rules that together open everything rule ``i`` opens, or [] when some of it is its own."""
    eff = table.effective
    word, bit = divmod(i, 64)
    flag = np.uint64(1 << bit)
    earlier = np.zeros(table.words, dtype=np.uint64)
    earlier[:word] = ~np.uint64(0)
    earlier[word] = np.uint64((1 << bit) - 1)
    earlier &= table.tag_active
    protocols = [row for proto, row in _PROTOCOL_ROWS.items() if eff.service_tags[i].rule.protocol in (proto, Protocol.ANY)]
    involved = np.zeros(table.words, dtype=np.uint64)
    verdicts: dict[bytes, bool] = {}
    for intervals in (table.ipv4, table.ipv6):
        rows = intervals.masks[(intervals.masks[:, word] & flag) != 0] & earlier
        for row in np.unique(rows, axis=0) if len(rows) else []:
            key = row.tobytes()
            if key not in verdicts:
                verdicts[key] = _opens_all(table, row, protocols, ports)
            if not verdicts[key]:
                return []
            involved |= row
    return [eff.service_tags[j].name for j in range(i) if involved[j // 64] & np.uint64(1 << (j % 64))]


def _opens_all(table: RuleTable, rules: np.ndarray, protocols: list[int], ports: np.ndarray) -> bool:
    """Whether ``rules`` (a bitmask) open every protocol of ``protocols`` on every port of ``ports``."""
    for row in protocols:
        with_protocol = rules & table.protocol_masks[row]
        if not with_protocol.any():
            return False
        if row == _PROTOCOL_ROWS[Protocol.ICMP]:
            continue  # ICMP has no ports
        opened = np.any(table.port_masks & with_protocol, axis=1)
        if np.any(ports & ~opened):
            return False
    return True


def covers(a: FqdnPattern, b: FqdnPattern) -> bool:
    """Whether every host name ``b`` matches is matched by ``a`` (spec §8's matching)."""
    if a.kind is PatternKind.ANY:
        return True
    if b.kind is PatternKind.ANY:
        return False
    if b.kind is PatternKind.EXACT:
        return a.matches(b.suffix)
    # b is *.t (every match ends with ".t") or *t (every match ends with "t", t itself included)
    tail = "." + b.suffix if b.kind is PatternKind.SUBDOMAINS else b.suffix
    if a.kind is PatternKind.EXACT:
        return False
    if a.kind is PatternKind.SUBDOMAINS:
        return tail.endswith("." + a.suffix) and (b.kind is PatternKind.SUBDOMAINS or b.suffix != a.suffix)
    return tail.endswith(a.suffix)  # a is *s


def only_storage(pattern: FqdnPattern) -> bool:
    """Whether every name the pattern matches is a storage account's (``<account>.blob.core.windows.net``...)."""
    if pattern.kind is PatternKind.EXACT:
        return is_storage_host(pattern.suffix)
    if pattern.kind is PatternKind.SUBDOMAINS:
        return any(("." + pattern.suffix).endswith(s) for s in STORAGE_HOST_SUFFIXES)
    return False


# ---------------------------------------------------------------------------------------------------- with flows

@dataclass
class RuleUsage:
    """Per rule (by its position in ``table.rule_names``): flows decided, bytes out, compute types, last hit."""

    n_rules: int
    hits: np.ndarray = field(init=False)
    bytes_out: np.ndarray = field(init=False)
    computes: np.ndarray = field(init=False)  # (rules, compute types) flow counts
    last_hit: list = field(init=False)
    flows: int = 0

    def __post_init__(self) -> None:
        self.hits = np.zeros(self.n_rules, dtype=np.int64)
        self.bytes_out = np.zeros(self.n_rules, dtype=np.int64)
        self.computes = np.zeros((self.n_rules, len(COMPUTE_TYPES)), dtype=np.int64)
        self.last_hit = [None] * self.n_rules

    def add(self, batch: FlowBatch, verdicts: Verdicts, bytes_out: np.ndarray | None = None,
            ts: pd.Series | None = None) -> None:
        self.flows += batch.n
        decided = verdicts.rule >= 0
        rules = verdicts.rule[decided]
        self.hits += np.bincount(rules, minlength=self.n_rules)
        if bytes_out is not None:
            self.bytes_out += np.bincount(rules, weights=bytes_out[decided], minlength=self.n_rules).astype(np.int64)
        known = batch.compute[decided] >= 0
        cells = rules[known] * len(COMPUTE_TYPES) + batch.compute[decided][known]
        self.computes += np.bincount(cells, minlength=self.n_rules * len(COMPUTE_TYPES)).reshape(self.computes.shape)
        if ts is not None and decided.any():
            latest = pd.Series(ts.to_numpy()[decided]).groupby(rules).max()
            for rule, when in latest.items():
                if pd.notna(when) and (self.last_hit[rule] is None or when > self.last_hit[rule]):
                    self.last_hit[rule] = when

    def of(self, order: int) -> dict[str, object]:
        computes = [c.yaml for k, c in enumerate(COMPUTE_TYPES) if self.computes[order, k]]
        last = self.last_hit[order]
        return {"hits": int(self.hits[order]), "bytes_out": int(self.bytes_out[order]), "computes": computes,
                "last_hit": None if last is None else str(last)}
