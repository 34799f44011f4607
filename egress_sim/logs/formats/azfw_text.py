"""The legacy Azure Firewall event text (``properties.msg`` / ``msg_s``) taken apart into a connection's fields.

The forms (see ``azfw``'s docstring for their sources): ``<PROTO>[ Type=<n>] request from <src>[:<port>][ to
<dst>[:<port>]][ was DNAT'ed to ...| was allowed]. Action: <action>. ...``, where ``<dst>`` is a host name for
HTTP/HTTPS/MSSQL (application rules) and a sentence may follow with ``Signature:`` (IDPS) or ``ThreatIntel:``.

The common shape (both endpoints with ports) is taken apart by one Arrow (RE2) call for a whole block; any other
shape goes through the general pattern record by record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .azfw_values import NULL_TEXT, Meanings, action, address, name, port, protocol

_MSG_COMMON = (r"^\s*(?P<proto>[A-Za-z]+)\s+request\s+from\s+(?P<src>[^\s:\[\]]+):(?P<sport>\d+)"
               r"\s+to\s+(?P<dst>[^\s:\[\]]+):(?P<dport>\d+)(?:[.,\s]|$)")
_MSG = re.compile(r"\s*([A-Za-z]+)(?:\s+Type=\d+)?\s+request\s+from\s+(\S+)(?:\s+to\s+(\S+))?")
_MSG_ACTION = r"Action:\s*(?P<action>[A-Za-z]*)"
_MSG_SPECIAL = r"DNAT'ed|Signature:|ThreatIntel:"  # DNAT (inbound), IDPS, threat intelligence


def endpoint(token: str | None) -> tuple[str | None, str | None]:
    """``host:port`` / ``[v6]:port`` / ``host`` (a trailing sentence dot removed) → (host, port text)."""
    if token is None:
        return None, None
    token = token.rstrip(".,;")
    if not token:
        return None, None
    if token[0] == "[":
        host, _, rest = token[1:].partition("]")
        return host or None, (rest[1:] or None) if rest.startswith(":") else None
    if token.count(":") == 1:
        host, _, number = token.partition(":")
        return host or None, number or None
    return token, None  # no port (ICMP), or a bare IPv6 address


@dataclass
class Messages:
    """Per record of a block, what its message says (meaningful where the record is a legacy one with a message):
    the meanings of its protocol word, source, ports, target (as an address and as a host name) and action, whether
    it is a DNAT, IDPS or threat-intelligence event, and whether it is no known form at all."""

    proto: np.ndarray
    default_port: np.ndarray
    named: np.ndarray
    src_state: np.ndarray
    src_text: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    ip_state: np.ndarray
    ip_text: np.ndarray
    name_state: np.ndarray
    name_text: np.ndarray
    action: np.ndarray
    dnat: np.ndarray
    idps: np.ndarray
    intel: np.ndarray
    unrecognised: np.ndarray


def read_messages(text: pa.Array, legacy: np.ndarray, has_msg: np.ndarray, meanings: Meanings) -> Messages:
    """Take apart the messages of the ``legacy`` records of a block (``text``: the message column)."""
    of = meanings.of
    parts = pc.extract_regex(text, _MSG_COMMON)
    word, src, sport, target, dport = (pc.struct_field(parts, [k]) for k in range(5))
    proto, default_port, named = of(word, protocol)
    src_state, src_text = of(src, address)
    (sport_value,), (dport_value,) = of(sport, port), of(dport, port)
    named_target = pa.array(named)
    ip_state, ip_text = of(pc.if_else(named_target, NULL_TEXT, target), address)
    name_state, name_text = of(pc.if_else(named_target, target, NULL_TEXT), name)
    (verdict,) = of(pc.struct_field(pc.extract_regex(text, _MSG_ACTION), [0]), action)
    special = pc.match_substring_regex(text, _MSG_SPECIAL).fill_null(False).to_numpy(zero_copy_only=False)
    n = len(text)
    dnat, idps, intel, unrecognised = (np.zeros(n, bool) for _ in range(4))
    other_shape = legacy & has_msg & ~parts.is_valid().to_numpy(zero_copy_only=False)
    for i in np.flatnonzero((legacy & special) | other_shape):
        message = text[i].as_py()
        dnat[i], idps[i], intel[i] = "DNAT'ed" in message, "Signature:" in message, "ThreatIntel:" in message
        if not other_shape[i]:
            continue
        match = _MSG.match(message)
        if match is None:
            unrecognised[i] = True
            continue
        proto_word, src_token, dst_token = match.groups()
        (host, host_port), (target_host, target_port) = endpoint(src_token), endpoint(dst_token)
        proto[i], default_port[i], named[i] = meanings.one(proto_word, protocol)
        src_state[i], src_text[i] = meanings.one(host, address)
        sport_value[i], dport_value[i] = meanings.one(host_port, port)[0], meanings.one(target_port, port)[0]
        ip_state[i], ip_text[i] = meanings.one(target_host, address)
        name_state[i], name_text[i] = meanings.one(target_host, name)
    return Messages(proto, default_port, named, src_state, src_text, sport_value, dport_value, ip_state, ip_text,
                    name_state, name_text, verdict, dnat, idps, intel, unrecognised)
