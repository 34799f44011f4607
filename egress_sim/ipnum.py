"""IP addresses and prefixes as integers: IPv4 as one ``uint32``, IPv6 as two ``uint64`` words (hi, lo).

Parsing uses :mod:`ipaddress` on purpose: one strict parser for every path (the vectorized evaluator parses
each *unique* address once, the reference evaluator each flow), so both agree on what counts as valid.
"""

from __future__ import annotations

import ipaddress

import numpy as np

MASK64 = (1 << 64) - 1


def prefix_bounds(prefix: str | ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    """``"10.0.0.0/24"`` → ``(4, first, last)`` as integers (host bits ignored)."""
    net = prefix if not isinstance(prefix, str) else ipaddress.ip_network(prefix.strip(), strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


def parse_ip(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A flow's destination address, or None when it is not an IP literal."""
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return text
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def parse_ip_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse an object array of address strings (typically the *unique* ones).

    Returns ``(version, hi, lo)``: version 4, 6 or 0 (unparseable); IPv4 in ``lo``; IPv6 split in two words.
    """
    n = len(values)
    version = np.zeros(n, dtype=np.uint8)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint64)
    for i, text in enumerate(values):
        addr = parse_ip(text)
        if addr is None:
            continue
        value = int(addr)
        version[i] = addr.version
        hi[i] = value >> 64
        lo[i] = value & MASK64
    return version, hi, lo


def ipv4_text(value: int) -> str:
    return str(ipaddress.IPv4Address(value))
