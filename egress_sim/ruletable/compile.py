"""Compile the rules in force into a ``RuleTable``: the data structures the vectorized evaluator reads.

* Service-tag rules → per address family, disjoint sorted intervals covering the whole address space, each
  with a bitmask (``W`` 64-bit words) of the rules whose prefixes cover it; plus a port → rules bitmask
  table and a protocol → rules bitmask. A flow's candidate rules are ``interval & port & protocol``; the
  lowest set bit is the first rule in evaluation order.
* FQDN rules, private-endpoint host names and the storage suffixes → one ``HostIndex`` that answers every
  question the evaluator asks of a host name (``HostQuestion``: first active FQDN rule, first inactive one,
  first Spark-enabled endpoint, ..., is it a storage host) in one pass.
* Private endpoints → their simulated private IPv4 addresses, sorted, for flows that carry no host name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .effective import EffectiveRules, TagRule, effective_rules
from ..base.errors import LimitExceeded
from .hostindex import HostIndex
from ..net.ipnum import MASK64, prefix_bounds
from ..base.limits import MAX_RULES_PER_WORKSPACE
from ..model import IsolationMode, Protocol, Workspace
from ..model.hostnames import FqdnPattern, PatternKind
from ..model.ports import MAX_PORT, PortRange
from ..net.servicetags import ServiceTagSet

STORAGE_HOST_SUFFIXES: tuple[str, ...] = tuple(
    f".{service}.core.windows.net" for service in ("blob", "file", "queue", "table", "dfs", "web")
)


def is_storage_host(host: str) -> bool:
    """``<account>.blob.core.windows.net`` and its file/queue/table/dfs/web siblings (spec §4)."""
    return host.endswith(STORAGE_HOST_SUFFIXES)


def targets_storage(pattern: FqdnPattern) -> bool:
    """Whether an FQDN pattern can match an Azure Storage account host (which an FQDN rule cannot reach, spec §4)."""
    if is_storage_host(pattern.suffix):
        return True
    if pattern.kind is PatternKind.EXACT:
        return False
    return any(pattern.matches("account" + suffix) for suffix in STORAGE_HOST_SUFFIXES)


class HostQuestion(IntEnum):
    """The columns of ``RuleTable.hosts.match(names)``: what the evaluator asks of each host name."""

    FQDN_ACTIVE = 0  # first active FQDN rule
    FQDN_INACTIVE = 1  # first inactive FQDN rule
    PE_ACTIVE = 2  # first active private endpoint (by host)
    PE_ACTIVE_SPARK = 3  # ... that is also Spark-enabled
    PE_INACTIVE = 4
    PE_INACTIVE_SPARK = 5
    STORAGE = 6  # 0 when the host is a storage host (``is_storage_host``), else NO_MATCH


@dataclass(frozen=True)
class IntervalTable:
    """Disjoint intervals ``[starts[i], starts[i+1])`` over one address family, ``starts[0] == 0``.

    IPv4 uses ``starts_lo`` only; IPv6 compares (``starts_hi``, ``starts_lo``) lexicographically.
    """

    bits: int  # 32 or 128
    starts_hi: np.ndarray  # uint64
    starts_lo: np.ndarray  # uint64
    masks: np.ndarray  # uint64 (n_intervals, W)
    max_run: int  # longest run of equal starts_hi (bounds the IPv6 inner binary search)

    def lookup(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Index of the interval holding each address."""
        if self.bits == 32:
            return np.searchsorted(self.starts_lo, lo, side="right") - 1
        left = np.searchsorted(self.starts_hi, hi, side="left")
        right = np.searchsorted(self.starts_hi, hi, side="right")
        # Count the starts with the same hi word whose lo word is <= the address: binary search in [left, right).
        low, high = left.copy(), right.copy()
        for _ in range(max(1, int(self.max_run).bit_length())):
            active = low < high
            if not active.any():
                break
            mid = (low + high) // 2
            le = active & (self.starts_lo[np.minimum(mid, len(self.starts_lo) - 1)] <= lo)
            low = np.where(le, mid + 1, low)
            high = np.where(active & ~le, mid, high)
        return low - 1

    def __len__(self) -> int:
        return len(self.starts_lo)


@dataclass(frozen=True)
class RuleTable:
    effective: EffectiveRules
    rule_names: tuple[str, ...]  # every rule in force: private endpoints, then service tags, then FQDN
    pe_offset: int
    tag_offset: int
    fqdn_offset: int
    # service tags
    words: int
    ipv4: IntervalTable
    ipv6: IntervalTable
    port_masks: np.ndarray  # (65536, W) uint64
    protocol_masks: np.ndarray  # (3, W) uint64, rows in flows.schema.PROTOCOLS order
    tag_active: np.ndarray  # (W,) uint64
    # host names: one column per HostQuestion
    hosts: HostIndex
    # private endpoint addresses (IPv4), sorted, with the endpoint's position
    pe_ips: np.ndarray  # uint64
    pe_ip_rule: np.ndarray  # int32 index into private_endpoints
    pe_active_flags: np.ndarray  # bool per private endpoint
    pe_spark_flags: np.ndarray  # bool per private endpoint

    @property
    def mode(self) -> IsolationMode:
        return self.effective.mode

    def summary(self) -> dict[str, object]:
        eff = self.effective
        return {
            "isolation_mode": eff.mode.yaml,
            "provisioned": eff.provisioned,
            "spark_ready": eff.spark_ready,
            "firewall": eff.has_firewall,
            "rules": {
                "private_endpoint": len(eff.private_endpoints),
                "service_tag": len(eff.service_tags),
                "fqdn": len(eff.fqdns),
                "required": sum(1 for r in eff.all_rules if r.category.yaml == "required"),
                "inactive": sum(1 for r in eff.all_rules if not r.is_active),
            },
            "service_tag_prefixes": _prefix_counts(eff.service_tags),
            "intervals": {"ipv4": len(self.ipv4), "ipv6": len(self.ipv6)},
            "fqdn_patterns": sum(len(r.patterns) for r in eff.fqdns),
            "private_endpoint_hosts": sum(len(p.patterns) for p in eff.private_endpoints),
        }


def _prefix_counts(tag_rules: tuple[TagRule, ...]) -> dict[str, int]:
    """IPv4 and IPv6 prefixes summed over the rules, each distinct prefix set counted once and multiplied."""
    per_set: dict[int, tuple[int, int]] = {}
    v4 = v6 = 0
    for tag_rule in tag_rules:
        counts = per_set.get(id(tag_rule.prefixes))
        if counts is None:
            six = sum(1 for p in tag_rule.prefixes if ":" in p)
            counts = per_set[id(tag_rule.prefixes)] = (len(tag_rule.prefixes) - six, six)
        v4, v6 = v4 + counts[0], v6 + counts[1]
    return {"ipv4": v4, "ipv6": v6}


def compile_rules(
    workspace: Workspace, tags: ServiceTagSet, mode: IsolationMode | str | None = None,
    addresses: dict | None = None,
) -> RuleTable:
    """Compile a workspace (optionally under another isolation mode, or with its private endpoints at another rule
    set's simulated addresses: ``effective.private_endpoints``) against a service-tag file."""
    return compile_effective(effective_rules(workspace, tags, mode, addresses))


def compile_effective(eff: EffectiveRules, max_rules: int | None = MAX_RULES_PER_WORKSPACE) -> RuleTable:
    """Build the evaluator's tables from the rules in force.

    A workspace with more than ``max_rules`` outbound rules is refused (``LimitExceeded``); None lifts the limit
    (the compile benchmark measures past it). Work is linear in rules and in distinct prefixes: rules that
    share a prefix set (every rule on ``AzureCloud``, say) share one parse and one sweep of it, rules that
    share port ranges share one row of the port table; only the final tables hold one bit per rule."""
    if max_rules is not None:
        check_rule_count(eff, max_rules)
    tag_rules = eff.service_tags
    words = max(1, -(-len(tag_rules) // 64))
    ipv4, ipv6 = _tag_intervals(tag_rules, words)
    port_masks = _port_masks(tag_rules, words)
    protocol_masks = np.zeros((3, words), dtype=np.uint64)
    tag_active = np.zeros(words, dtype=np.uint64)
    rows = {Protocol.TCP: 0, Protocol.UDP: 1, Protocol.ICMP: 2}
    for i, tag_rule in enumerate(tag_rules):
        word, bit = divmod(i, 64)
        flag = np.uint64(1 << bit)
        for proto, row in rows.items():
            if tag_rule.rule.protocol in (proto, Protocol.ANY):
                protocol_masks[row, word] |= flag
        if tag_rule.rule.is_active:
            tag_active[word] |= flag

    endpoints = eff.private_endpoints
    pe_active = np.array([p.rule.is_active for p in endpoints], dtype=bool)
    pe_spark = np.array([p.rule.spark_enabled for p in endpoints], dtype=bool)

    def endpoints_where(keep) -> list[tuple[FqdnPattern, int]]:
        return [(pattern, i) for i, p in enumerate(endpoints) if keep(i) for pattern in p.patterns]

    def fqdn_rules(active: bool) -> list[tuple[FqdnPattern, int]]:
        return [(pattern, i) for i, rule in enumerate(eff.fqdns) if rule.is_active == active for pattern in rule.patterns]

    questions = {
        HostQuestion.FQDN_ACTIVE: fqdn_rules(True),
        HostQuestion.FQDN_INACTIVE: fqdn_rules(False),
        HostQuestion.PE_ACTIVE: endpoints_where(lambda i: pe_active[i]),
        HostQuestion.PE_ACTIVE_SPARK: endpoints_where(lambda i: pe_active[i] and pe_spark[i]),
        HostQuestion.PE_INACTIVE: endpoints_where(lambda i: not pe_active[i]),
        HostQuestion.PE_INACTIVE_SPARK: endpoints_where(lambda i: not pe_active[i] and pe_spark[i]),
        HostQuestion.STORAGE: [(FqdnPattern(PatternKind.SUBDOMAINS, s[1:]), 0) for s in STORAGE_HOST_SUFFIXES],
    }

    ips = np.array([int(p.private_ip) for p in endpoints], dtype=np.uint64)
    order = np.argsort(ips, kind="stable")
    names = tuple(r.name for r in eff.all_rules)
    return RuleTable(
        effective=eff,
        rule_names=names,
        pe_offset=0,
        tag_offset=len(endpoints),
        fqdn_offset=len(endpoints) + len(tag_rules),
        words=words,
        ipv4=ipv4,
        ipv6=ipv6,
        port_masks=port_masks,
        protocol_masks=protocol_masks,
        tag_active=tag_active,
        hosts=HostIndex([questions[q] for q in HostQuestion]),
        pe_ips=ips[order],
        pe_ip_rule=order.astype(np.int32),
        pe_active_flags=pe_active,
        pe_spark_flags=pe_spark,
    )


Span = tuple[int, int]  # a half-open range [start, end) of integers (addresses or ports)


def check_rule_count(eff: EffectiveRules, limit: int = MAX_RULES_PER_WORKSPACE) -> None:
    """Refuse a workspace with more than ``limit`` outbound rules of its own (the rules Azure adds not counted)."""
    count = len(eff.workspace.managed_network.outbound_rules)
    if count > limit:
        raise LimitExceeded(
            f"workspace {eff.workspace.name!r}: {count:,} outbound rules, above the limit of {limit:,} rules per "
            "workspace (MAX_RULES_PER_WORKSPACE)"
        )


def _tag_intervals(tag_rules: tuple[TagRule, ...], words: int) -> tuple[IntervalTable, IntervalTable]:
    """The IPv4 and IPv6 interval tables of the service-tag rules.

    Rules are grouped by prefix set first (rules on one tag share its tuple, so identity finds them without
    hashing thousands of strings per rule), and each distinct set is parsed and merged once: a thousand
    rules on ``AzureCloud`` cost one sweep of its 13 k prefixes, not a thousand."""
    by_object: dict[int, list[int]] = {}
    for i, tag_rule in enumerate(tag_rules):
        by_object.setdefault(id(tag_rule.prefixes), []).append(i)
    by_content: dict[tuple[str, ...], list[int]] = {}
    for members in by_object.values():
        by_content.setdefault(tag_rules[members[0]].prefixes, []).extend(members)
    parsed: dict[str, tuple[int, int, int]] = {}
    groups: dict[int, list[tuple[list[Span], np.ndarray]]] = {4: [], 6: []}
    for prefixes, members in by_content.items():
        spans: dict[int, list[Span]] = {4: [], 6: []}
        for prefix in prefixes:
            bounds = parsed.get(prefix)
            if bounds is None:
                bounds = parsed[prefix] = prefix_bounds(prefix)
            version, first, last = bounds
            spans[version].append((first, last + 1))
        row = _rule_bits(members, words)
        for version in (4, 6):
            if spans[version]:
                groups[version].append((_merged(spans[version]), row))
    return _intervals(groups[4], 32, words), _intervals(groups[6], 128, words)


def _port_masks(tag_rules: tuple[TagRule, ...], words: int) -> np.ndarray:
    """``(65536, W)``: per port, the rules whose port ranges hold it. Rules with the same ranges share a row."""
    by_ports: dict[tuple[PortRange, ...], list[int]] = {}
    for i, tag_rule in enumerate(tag_rules):
        by_ports.setdefault(tag_rule.rule.port_ranges.ranges, []).append(i)
    groups = [(_merged((r.first, r.last + 1) for r in ranges), _rule_bits(members, words))
              for ranges, members in by_ports.items()]
    top = MAX_PORT + 1
    starts = _piece_starts(groups, top)
    pieces = _sweep(starts, top, groups, words)
    piece_of_port = np.searchsorted(np.array(starts, dtype=np.int64), np.arange(top), side="right") - 1
    return pieces[piece_of_port]


def _intervals(groups: list[tuple[list[Span], np.ndarray]], bits: int, words: int) -> IntervalTable:
    """Split the address space at every span edge; mark each piece with the rules covering it."""
    top = 1 << bits
    starts = _piece_starts(groups, top)
    masks = _sweep(starts, top, groups, words)
    # Merge neighbours that carry the same rules: fewer intervals, same answers.
    n = len(starts)
    keep = np.ones(n, dtype=bool)
    if n > 1:
        keep[1:] = np.any(masks[1:] != masks[:-1], axis=1)
    starts_kept = [s for s, k in zip(starts, keep) if k]
    hi = np.array([s >> 64 for s in starts_kept], dtype=np.uint64)
    lo = np.array([s & MASK64 for s in starts_kept], dtype=np.uint64)
    max_run = 1
    if bits == 128 and len(hi) > 1:
        change = np.flatnonzero(np.diff(hi) != 0)
        bounds = np.concatenate(([0], change + 1, [len(hi)]))
        max_run = int(np.max(np.diff(bounds)))
    return IntervalTable(bits, hi, lo, masks[keep], max_run)


def _piece_starts(groups: list[tuple[list[Span], np.ndarray]], top: int) -> list[int]:
    """Where the pieces begin: 0 and every span edge below ``top``, sorted."""
    edges = {0}
    for spans, _ in groups:
        for start, end in spans:
            edges.add(start)
            if end < top:
                edges.add(end)
    return sorted(edges)


def _sweep(starts: list[int], top: int, groups: list[tuple[list[Span], np.ndarray]], words: int) -> np.ndarray:
    """``(len(starts), W)``: per piece ``[starts[k], starts[k+1])``, the OR of the rows of the groups covering it.

    A group's spans are disjoint and never touch (``_merged``), and each begins and ends on a piece start
    (or at ``top``), so its row is toggled once where each span begins and once where it ends; a running XOR
    down the pieces then holds the row exactly on the pieces inside a span. Work: one toggle per span edge
    plus one pass over the table, whatever the number of rules."""
    n = len(starts)
    position = {start: k for k, start in enumerate(starts)}
    position[top] = n
    toggles = np.zeros((n + 1, words), dtype=np.uint64)
    for spans, row in groups:
        edges = [position[start] for start, _ in spans] + [position[end] for _, end in spans]
        toggles[edges] ^= row  # distinct edges: spans neither overlap nor touch
    return np.bitwise_xor.accumulate(toggles[:n], axis=0)


def _merged(spans: Iterable[Span]) -> list[Span]:
    """The union of ``spans`` as sorted spans that neither overlap nor touch."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(start, end) for start, end in out]


def _rule_bits(indices: Iterable[int], words: int) -> np.ndarray:
    """A ``(W,)`` row with the bits of these rules set."""
    row = np.zeros(words, dtype=np.uint64)
    for i in indices:
        word, bit = divmod(i, 64)
        row[word] |= np.uint64(1 << bit)
    return row
