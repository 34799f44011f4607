"""Longest-prefix match in plain Python: CIDR prefixes cut into sorted integer pieces, found with ``bisect``.

The prefixes of one address family split the address space into pieces at every prefix edge. CIDR prefixes
are either nested or disjoint, so the prefixes holding a point form a chain and the longest one is the same
across a whole piece: each piece remembers it, and a look-up is one binary search over the piece starts.
Building paints the pieces shortest prefix first, so a longer prefix overwrites the shorter one it sits in.

This replaced pytricia at run time (it ships no wheels, so installing needed a C compiler); the tests keep
pytricia as the independent oracle this is compared with.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from typing import Generic, TypeVar

V = TypeVar("V")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Family(Generic[V]):
    """The pieces of one address family: ``starts`` sorted, ``owners[k]`` the longest prefix over piece ``k``."""

    def __init__(self, bits: int, items: dict[Network, V]) -> None:
        top = 1 << bits
        edges = {0}
        for network in items:
            first = int(network.network_address)
            edges.add(first)
            if first + network.num_addresses < top:
                edges.add(first + network.num_addresses)
        self.starts = sorted(edges)
        position = {start: k for k, start in enumerate(self.starts)}
        position[top] = len(self.starts)
        self.owners: list[tuple[Network, V] | None] = [None] * len(self.starts)
        for network, value in sorted(items.items(), key=lambda item: item[0].prefixlen):
            first = int(network.network_address)
            for k in range(position[first], position[first + network.num_addresses]):
                self.owners[k] = (network, value)

    def find(self, value: int) -> tuple[Network, V] | None:
        return self.owners[bisect_right(self.starts, value) - 1]


class PrefixMap(Generic[V]):
    """Prefixes (IPv4 and IPv6) with a value each; ``longest_match`` finds the longest prefix holding an address.

    A prefix given twice keeps its last value, as assigning a key of a dict does."""

    def __init__(self, items: Iterable[tuple[Network, V]]) -> None:
        by_family: dict[int, dict[Network, V]] = {4: {}, 6: {}}
        for network, value in items:
            by_family[network.version][network] = value
        self._size = len(by_family[4]) + len(by_family[6])
        self._families = {4: _Family(32, by_family[4]), 6: _Family(128, by_family[6])}

    def longest_match(self, address: Address) -> tuple[Network, V] | None:
        """The longest prefix holding ``address`` and its value, or None. An IPv6 zone (``%eth0``) is ignored."""
        return self._families[address.version].find(int(address))

    def __contains__(self, address: Address) -> bool:
        return self.longest_match(address) is not None

    def __len__(self) -> int:
        return self._size
