"""IP addresses and prefixes as integers: IPv4 as one ``uint32``, IPv6 as two ``uint64`` words (hi, lo).

:mod:`ipaddress` is the definition of a valid address for every path (the vectorized evaluator parses each
*unique* address once, the reference evaluator each flow), so both agree on what counts as valid. The one
shortcut, ``parse_ip_array``'s dotted quads, accepts exactly what ``ipaddress`` accepts (``IPV4_PATTERN``;
tested against it) and hands everything else to ``ipaddress``.

Two things ``ipaddress`` accepts are not destination addresses, and every path here treats them alike:

* an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) *is* the IPv4 address it carries (a dual-stack socket
  reports IPv4 peers in that form): it is read as that IPv4 address, so it decides exactly as it;
* an IPv6 zone id (``fe80::1%eth0``) names an interface of the machine that logged it, not a destination;
  such text is not an address (a flow row with it is rejected as ``invalid_dst_ip``). Its zone text may
  carry any byte, a NUL included, which crashed the C prefix tree downstream.

Only ASCII blanks (space, tab, CR, LF) around the text are ignored; any other character is part of it.
"""

from __future__ import annotations

import ipaddress
import re
import socket

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..base.errors import EgressSimError

MASK64 = (1 << 64) - 1
# A dotted quad exactly as ``ipaddress`` accepts it (decimal octets 0-255, no leading zeros).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_LEADING_ZERO = re.compile(r"(?:^|\.)0[0-9]")
BLANKS = " \t\r\n"  # the only characters stripped around an address (or a port, in ``flows.schema``)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressError(EgressSimError, ValueError):
    """Text given as a destination that is neither an address nor a host name (a zone id, a control byte)."""

    code = "bad_address"


def prefix_bounds(prefix: str | ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int, int]:
    """``"10.0.0.0/24"`` → ``(4, first, last)`` as integers (host bits ignored).

    Text goes through ``socket.inet_pton`` (~20x faster than ``ipaddress``, which is what makes compiling
    tens of thousands of service-tag prefixes take tens of milliseconds); anything it does not take plainly
    (a leading zero, a bad length, ...) goes to ``ipaddress``, which decides and names the error."""
    if isinstance(prefix, str):
        address, slash, length = prefix.strip().partition("/")
        family, bits, version = (socket.AF_INET6, 128, 6) if ":" in address else (socket.AF_INET, 32, 4)
        try:
            value = int.from_bytes(socket.inet_pton(family, address), "big")
            size = int(length) if slash else bits
        except (OSError, ValueError):
            size = -1
        plain_length = not slash or (length.isdigit() and length.isascii() and (length == "0" or length[0] != "0"))
        if 0 <= size <= bits and plain_length and (version == 6 or _plain_quad(address)):
            host = (1 << (bits - size)) - 1
            return version, value & ~host, (value & ~host) | host
    net = prefix if not isinstance(prefix, str) else ipaddress.ip_network(prefix.strip(), strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


def _plain_quad(address: str) -> bool:
    """No octet with a leading zero (``inet_pton`` would read ``010`` as 10, ``ipaddress`` refuses it)."""
    return _LEADING_ZERO.search(address) is None


def parse_ip(text: object) -> Address | None:
    """A flow's destination address, or None when it is not an IP literal (see the module docstring: an
    IPv4-mapped address comes back as its IPv4 address, text with a zone id is not an address)."""
    if isinstance(text, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return None if getattr(text, "scope_id", None) else unmapped(text)
    if not isinstance(text, str) or "%" in text:
        return None
    try:
        return unmapped(ipaddress.ip_address(text.strip(BLANKS)))
    except ValueError:
        return None


def unmapped(address: Address) -> Address:
    """``::ffff:a.b.c.d`` as ``a.b.c.d``; any other address as it is."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def parse_network(text: str) -> Network:
    """An IP address or CIDR prefix written by a user (an inventory entry), host bits not allowed.

    A prefix inside ``::ffff:0:0/96`` becomes the IPv4 prefix it maps (``::ffff:10.0.8.0/120`` is
    ``10.0.8.0/24``), as addresses do. Raises ``ValueError`` naming the problem: a zone id, host bits set,
    or text that is no address at all."""
    if "%" in text:
        raise ValueError("an IPv6 zone id (%...) names a local interface, not an address")
    network = ipaddress.ip_network(text.strip(BLANKS))  # strict: host bits set is an error
    if network.version == 6 and network.subnet_of(_MAPPED):  # type: ignore[arg-type]
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return network


def destination_address(text: str, option: str = "--dst") -> Address | None:
    """A destination typed on the command line: its address, or None when it is a host name.

    Refuses, with one line naming ``option`` and the text, what a flow table would count as a bad cell but a
    person must hear about: an IPv6 zone id, control characters (a NUL byte included), and dotted numbers
    that are no address (``010.1.1.1``, ``1.2.3``): meant as an address, not as a host name."""
    if not text.isprintable():
        raise AddressError(f"{option} {text!r}: contains a control character; give an address or a host name")
    if "%" in text:
        address, _, zone = text.partition("%")
        if parse_ip(address) is not None:
            raise AddressError(f"{option} {text!r}: an IPv6 zone id (%{zone}) names a local interface, not a "
                               f"destination; give the address without it ({address.strip(BLANKS)})")
    address = parse_ip(text)
    if address is None and text.strip(BLANKS) and not text.strip(BLANKS).strip("0123456789."):
        raise AddressError(f"{option} {text!r} is not a valid IPv4 address (four numbers 0-255, no leading zeros)")
    return address


def parse_ip_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse an object array of address strings (typically the *unique* ones).

    Returns ``(version, hi, lo)``: version 4, 6 or 0 (unparseable); IPv4 in ``lo``; IPv6 split in two words.
    Dotted quads are parsed with Arrow kernels, all at once (~20x faster than ``ipaddress`` per value, which
    matters with 10^4-10^5 distinct addresses per chunk); anything else goes through ``parse_ip``.
    """
    n = len(values)
    version = np.zeros(n, dtype=np.uint8)
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint64)
    texts = np.flatnonzero(np.fromiter((type(v) is str and v.isascii() for v in values), dtype=bool, count=n))
    quads = np.zeros(n, dtype=bool)
    if texts.size:
        column = pa.array(values[texts], type=pa.string())
        matched = pc.match_substring_regex(column, IPV4_PATTERN).to_numpy(zero_copy_only=False)
        if matched.any():
            octets = pc.cast(pc.list_flatten(pc.split_pattern(column.filter(matched), ".")), pa.uint64())
            octets = octets.to_numpy().reshape(-1, 4)
            rows = texts[matched]
            lo[rows] = (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
            version[rows] = 4
            quads[rows] = True
    for i in np.flatnonzero(~quads):
        addr = parse_ip(values[i])
        if addr is None:
            continue
        value = int(addr)
        version[i] = addr.version
        hi[i] = value >> 64
        lo[i] = value & MASK64
    return version, hi, lo


def ipv4_text(value: int) -> str:
    return str(ipaddress.IPv4Address(value))
