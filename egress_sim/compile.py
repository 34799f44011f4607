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

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .effective import EffectiveRules, effective_rules
from .hostindex import HostIndex
from .ipnum import MASK64, prefix_bounds
from .model import IsolationMode, Protocol, Workspace
from .model.hostnames import FqdnPattern, PatternKind
from .model.ports import MAX_PORT
from .servicetags import ServiceTagSet

STORAGE_HOST_SUFFIXES: tuple[str, ...] = tuple(
    f".{service}.core.windows.net" for service in ("blob", "file", "queue", "table", "dfs", "web")
)


def is_storage_host(host: str) -> bool:
    """``<account>.blob.core.windows.net`` and its file/queue/table/dfs/web siblings (spec §4)."""
    return host.endswith(STORAGE_HOST_SUFFIXES)


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
            "service_tag_prefixes": {
                "ipv4": sum(1 for t in eff.service_tags for p in t.prefixes if ":" not in p),
                "ipv6": sum(1 for t in eff.service_tags for p in t.prefixes if ":" in p),
            },
            "intervals": {"ipv4": len(self.ipv4), "ipv6": len(self.ipv6)},
            "fqdn_patterns": sum(len(r.patterns) for r in eff.fqdns),
            "private_endpoint_hosts": sum(len(p.patterns) for p in eff.private_endpoints),
        }


def compile_rules(
    workspace: Workspace, tags: ServiceTagSet, mode: IsolationMode | str | None = None
) -> RuleTable:
    """Compile a workspace (optionally under another isolation mode) against a service-tag file."""
    return compile_effective(effective_rules(workspace, tags, mode))


def compile_effective(eff: EffectiveRules) -> RuleTable:
    tag_rules = eff.service_tags
    words = max(1, -(-len(tag_rules) // 64))
    v4: list[list[tuple[int, int]]] = [[] for _ in tag_rules]
    v6: list[list[tuple[int, int]]] = [[] for _ in tag_rules]
    for i, tag_rule in enumerate(tag_rules):
        for prefix in tag_rule.prefixes:
            version, first, last = prefix_bounds(prefix)
            (v4 if version == 4 else v6)[i].append((first, last))

    port_masks = np.zeros((MAX_PORT + 1, words), dtype=np.uint64)
    protocol_masks = np.zeros((3, words), dtype=np.uint64)
    tag_active = np.zeros(words, dtype=np.uint64)
    rows = {Protocol.TCP: 0, Protocol.UDP: 1, Protocol.ICMP: 2}
    for i, tag_rule in enumerate(tag_rules):
        word, bit = divmod(i, 64)
        flag = np.uint64(1 << bit)
        for port_range in tag_rule.rule.port_ranges.ranges:
            port_masks[port_range.first : port_range.last + 1, word] |= flag
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
        ipv4=_intervals(v4, 32, words),
        ipv6=_intervals(v6, 128, words),
        port_masks=port_masks,
        protocol_masks=protocol_masks,
        tag_active=tag_active,
        hosts=HostIndex([questions[q] for q in HostQuestion]),
        pe_ips=ips[order],
        pe_ip_rule=order.astype(np.int32),
        pe_active_flags=pe_active,
        pe_spark_flags=pe_spark,
    )


def _intervals(per_rule: list[list[tuple[int, int]]], bits: int, words: int) -> IntervalTable:
    """Split the address space at every prefix edge; mark each piece with the rules covering it."""
    top = 1 << bits
    edges = {0}
    for ranges in per_rule:
        for first, last in ranges:
            edges.add(first)
            if last + 1 < top:
                edges.add(last + 1)
    starts = sorted(edges)
    position = {edge: i for i, edge in enumerate(starts)}
    n = len(starts)
    masks = np.zeros((n, words), dtype=np.uint64)
    for i, ranges in enumerate(per_rule):
        if not ranges:
            continue
        delta = np.zeros(n + 1, dtype=np.int32)
        begin = np.fromiter((position[f] for f, _ in ranges), dtype=np.int64, count=len(ranges))
        end = np.fromiter((position[l + 1] if l + 1 < top else n for _, l in ranges), dtype=np.int64, count=len(ranges))
        np.add.at(delta, begin, 1)
        np.add.at(delta, end, -1)
        covered = np.cumsum(delta[:n]) > 0
        word, bit = divmod(i, 64)
        masks[covered, word] |= np.uint64(1 << bit)
    # Merge neighbours that carry the same rules: fewer intervals, same answers.
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
