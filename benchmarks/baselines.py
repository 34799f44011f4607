"""The plain per-flow pytricia loop that benchmark ratios are quoted against.

It is what one would write first: for each flow, a longest-prefix match in a pytricia trie, then the port and
protocol checks, in Python. It decides only the service-tag step (no private endpoints, no host names, no
compute checks), so ratios against it understate how much faster the evaluator is at the whole decision.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pytricia

from egress_sim.ruletable.compile import RuleTable
from egress_sim.flows.schema import PROTOCOLS, parse_port, parse_protocol


class PytriciaLoop:
    def __init__(self, table: RuleTable):
        """One trie per address family; each prefix holds the rules of every prefix that contains it."""
        self.tries = {4: pytricia.PyTricia(32), 6: pytricia.PyTricia(128)}
        own: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, int] = {}
        for i, rule in enumerate(table.effective.service_tags):
            for prefix in rule.prefixes:
                network = ipaddress.ip_network(prefix, strict=False)
                own[network] = own.get(network, 0) | (1 << i)
        for network in sorted(own, key=lambda n: (n.version, n.prefixlen)):  # parents first
            trie = self.tries[network.version]
            inherited = trie.get(str(network)) or 0
            trie[str(network)] = own[network] | inherited
        words = table.port_masks.shape[1]

        def as_int(row: np.ndarray) -> int:
            return sum(int(row[w]) << (64 * w) for w in range(words))

        self.port_masks = [as_int(row) for row in table.port_masks]
        self.protocol_masks = [as_int(row) for row in table.protocol_masks]
        self.active = as_int(table.tag_active)
        self.icmp = PROTOCOLS.index(next(p for p in PROTOCOLS if p.value == "ICMP"))

    def first_active_tag(self, frame: pd.DataFrame) -> np.ndarray:
        """Per flow, the first active service-tag rule allowing it (index among tag rules), -1 for none."""
        out = np.full(len(frame), -1, dtype=np.int32)
        rows = zip(frame["dst_ip"].astype(object), frame["dst_port"].astype(object), frame["protocol"].astype(object))
        for i, (ip, port, protocol) in enumerate(rows):
            try:
                address = ipaddress.ip_address(ip)
            except (TypeError, ValueError):
                continue
            covering = self.tries[address.version].get(str(address))
            code = parse_protocol(protocol)
            if not covering or code < 0:
                continue
            candidates = covering & self.protocol_masks[code] & self.active
            if code != self.icmp:
                number = parse_port(port)
                if number < 0:
                    continue
                candidates &= self.port_masks[number]
            if candidates:
                out[i] = (candidates & -candidates).bit_length() - 1
        return out
