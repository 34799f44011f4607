"""A compiled index of FQDN patterns: the first matching rule for a host name in a few dict look-ups.

Exact names and ``*.x`` patterns are looked up per label boundary of the host (``a.b.x.com`` tries
``b.x.com``, ``x.com``, ``com``); ``*x`` patterns per distinct suffix length; ``*`` matches everything. The
answer is the smallest rule order among all hits, i.e. the first rule in evaluation order.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .model.hostnames import FqdnPattern, PatternKind

NO_MATCH = -1


class HostIndex:
    def __init__(self, entries: Iterable[tuple[FqdnPattern, int]]):
        """``entries``: (pattern, rule order) pairs; a lower order wins."""
        self.exact: dict[str, int] = {}
        self.subdomains: dict[str, int] = {}
        self.suffixes: dict[int, dict[str, int]] = {}
        self.any_rule = NO_MATCH
        for pattern, order in entries:
            if pattern.kind is PatternKind.EXACT:
                _keep_first(self.exact, pattern.suffix, order)
            elif pattern.kind is PatternKind.SUBDOMAINS:
                _keep_first(self.subdomains, pattern.suffix, order)
            elif pattern.kind is PatternKind.SUFFIX:
                _keep_first(self.suffixes.setdefault(len(pattern.suffix), {}), pattern.suffix, order)
            elif self.any_rule == NO_MATCH or order < self.any_rule:
                self.any_rule = order
        self._suffix_lengths = sorted(self.suffixes)
        self.empty = not (self.exact or self.subdomains or self.suffixes) and self.any_rule == NO_MATCH

    def first(self, host: str) -> int:
        """Order of the first rule matching a normalized host, or ``NO_MATCH``."""
        if self.empty:
            return NO_MATCH
        hits = [self.exact.get(host, NO_MATCH), self.any_rule]
        if self.subdomains:
            dot = host.find(".")
            while dot != -1:
                hits.append(self.subdomains.get(host[dot + 1 :], NO_MATCH))
                dot = host.find(".", dot + 1)
        for length in self._suffix_lengths:
            if length > len(host):
                break
            hits.append(self.suffixes[length].get(host[-length:], NO_MATCH))
        found = [h for h in hits if h != NO_MATCH]
        return min(found) if found else NO_MATCH

    def first_many(self, hosts: np.ndarray) -> np.ndarray:
        """``first`` for each host of an object array (call it on unique names)."""
        if self.empty:
            return np.full(len(hosts), NO_MATCH, dtype=np.int32)
        return np.fromiter((self.first(h) for h in hosts), dtype=np.int32, count=len(hosts))


def _keep_first(table: dict[str, int], key: str, order: int) -> None:
    if key not in table or order < table[key]:
        table[key] = order
