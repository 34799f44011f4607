"""Suricata EVE JSON ``flow`` events (``eve.json``), one JSON object per line.

Format facts (Suricata documentation, "Eve JSON Format", event type ``flow``): each line is an object with
``timestamp``, ``event_type``, ``src_ip``, ``src_port``, ``dest_ip``, ``dest_port``, ``proto`` and a ``flow``
object holding ``bytes_toserver`` and ``bytes_toclient``. Other event types (``alert``, ``dns``, ``tls``, ...)
share the file.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import orjson
import pyarrow as pa

from egress_sim.logs.engine.blocks import LineBlock
from egress_sim.logs.engine.cells import is_ip_text
from egress_sim.logs.engine.format import LineFormat, ParsedLines
from egress_sim.logs.engine.ledger import Outcomes

OUTCOMES = Outcomes(skips=("not_a_flow_event",),  # in check order: the first check that fails names the line
                    rejects=("invalid_json", "invalid_timestamp", "invalid_ip", "invalid_port", "unknown_protocol"))
PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "ICMP": "ICMP", "IPV6-ICMP": "ICMP"}


class SuricataEveFormat(LineFormat):
    name = "suricata"
    description = "Suricata EVE JSON flow events (eve.json)"
    outcomes = OUTCOMES
    names_logged = False  # flow events carry no host name: such a flow is "name not logged", not "no SNI"

    def sniff(self, head: bytes, file_name: str) -> bool:
        first = head.lstrip().split(b"\n", 1)[0]
        return first.startswith(b"{") and b'"event_type"' in first and b'"flow_id"' in first

    def parse(self, block: LineBlock, state: object) -> ParsedLines:
        codes = np.zeros(block.n, dtype=np.int64)
        rows: dict[str, list] = {c: [] for c in ("ts", "src_ip", "dst_ip", "dst_port", "protocol",
                                                 "bytes_out", "bytes_in")}
        for i in range(block.n):
            codes[i] = self._one(block.raw(i), rows)
        return ParsedLines(codes, {
            "ts": pa.array(rows["ts"], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "src_ip": pa.array(rows["src_ip"], pa.string()),
            "dst_ip": pa.array(rows["dst_ip"], pa.string()),
            "dst_port": pa.array(rows["dst_port"], pa.int32()),
            "protocol": pa.array(rows["protocol"], pa.string()),
            "bytes_out": pa.array(rows["bytes_out"], pa.int64()),
            "bytes_in": pa.array(rows["bytes_in"], pa.int64()),
        })

    def _one(self, line: bytes, rows: dict[str, list]) -> int:
        """The checks in order; the first that fails names the line's outcome."""
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            return OUTCOMES["invalid_json"]
        if not isinstance(event, dict) or event.get("event_type") != "flow":
            return OUTCOMES["not_a_flow_event"]
        try:
            ts = datetime.fromisoformat(event["timestamp"])
        except (KeyError, TypeError, ValueError):
            return OUTCOMES["invalid_timestamp"]
        if ts.tzinfo is None:
            return OUTCOMES["invalid_timestamp"]  # a time without its offset is ambiguous
        src, dst = event.get("src_ip"), event.get("dest_ip")
        if not (isinstance(src, str) and is_ip_text(src) and isinstance(dst, str) and is_ip_text(dst)):
            return OUTCOMES["invalid_ip"]
        port = event.get("dest_port")
        if type(port) is not int or not 0 <= port <= 65535:
            return OUTCOMES["invalid_port"]
        protocol = PROTOCOLS.get(str(event.get("proto", "")).upper())
        if protocol is None:
            return OUTCOMES["unknown_protocol"]
        counters = event.get("flow") if isinstance(event.get("flow"), dict) else {}
        rows["ts"].append(int(ts.timestamp() * 1_000_000))
        rows["src_ip"].append(src)
        rows["dst_ip"].append(dst)
        rows["dst_port"].append(port)
        rows["protocol"].append(protocol)
        rows["bytes_out"].append(counters.get("bytes_toserver"))
        rows["bytes_in"].append(counters.get("bytes_toclient"))
        return OUTCOMES.FLOW


FORMAT = SuricataEveFormat()
