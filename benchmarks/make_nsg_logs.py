"""Write a directory of NSG flow logs (version 2), or VNet flow logs (version 4), from simulated flows, for
replay benchmarks.

Usage::

    egress-sim simulate data/workspaces/contoso-research.yaml --flows 2000000 -o /tmp/sim.parquet
    python benchmarks/make_nsg_logs.py /tmp/sim.parquet /tmp/nsg --size-gb 0.2

The files follow the blob layout of Network Watcher (one ``PT1H.json`` per NSG, hour and NIC MAC)::

    resourceId=/SUBSCRIPTIONS/<sub>/RESOURCEGROUPS/<rg>/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/<NSG>/
        y=2026/m=11/d=16/h=00/m=00/macAddress=<MAC>/PT1H.json

Each file holds ``{"records": [...]}``, one record per NIC and minute, its tuples grouped by rule. Every
simulated TCP/UDP flow becomes an outbound ``E`` tuple with its byte counts (``--begin-share`` of them are
preceded by a ``B`` tuple); NSG flow logs have no protocol letter for ICMP, so ICMP flows are left out
(as are flows without an address: a simulated flow may name only a host).
``--format vnet`` writes virtual network flow logs (version 4) from the same tuples instead: the same grouping
into one record per NIC and minute, under ``flowLogResourceID=/.../FLOWLOGS/<name>/y=.../macAddress=<MAC>/PT1H.json``
with ``flowRecords.flows[].flowGroups[].flowTuples``; a tuple's time stamp is in milliseconds, its protocol the
IANA number, its state B/E (D for a denied inbound tuple) and its encryption ``NX``.
``--inbound-share`` adds that many denied inbound scan tuples per flow. The NSG is named after the source
/24, the MAC after the source address. ``--speedup N`` plays the simulated period N times faster (a week
of flows in 1/N of a week), which packs N times more tuples into each per-minute record: the simulator
spreads flows thinly (a handful per NIC and minute), while a busy VM logs hundreds. When the simulated flows
are used up before ``--size-gb`` is reached they are written again, shifted by the (sped-up) period rounded
up to whole hours. Memory stays flat whatever ``--size-gb``: the Parquet file is read in batches (peak
RSS about 0.5 GB with the simulator's 1 M-row row groups), and at most ``--max-open`` output files are open
at a time (the others are reopened to append). Generated data belongs in /tmp, not in the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import sys
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "RG-ML"
SYSTEM_ID = "5b1e0c8a-2f8d-4e55-9d7e-0a1b2c3d4e5f"
RULES = ("DefaultRule_AllowInternetOutBound", "DefaultRule_AllowVnetOutBound", "DefaultRule_DenyAllInBound")


class Blobs:
    """The output files: each opened with ``{"records":[`` and closed with ``]}``; at most ``max_open``
    kept open at a time."""

    def __init__(self, root: Path, max_open: int):
        self.root = root
        self.max_open = max_open
        self.open: OrderedDict[Path, object] = OrderedDict()
        self.started: set[Path] = set()
        self.bytes = 0
        self.records = 0

    def append(self, path: Path, record: str) -> None:
        handle = self.open.pop(path, None)
        if handle is None:
            if len(self.open) >= self.max_open:
                self.open.popitem(last=False)[1].close()
            new = path not in self.started
            if new:
                path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a" if not new else "w", encoding="utf-8")  # noqa: SIM115 (kept open across calls)
            if new:
                self.started.add(path)
                handle.write('{"records":[\n')
                self.bytes += 13
            else:
                handle.write(",\n")
                self.bytes += 2
        else:
            handle.write(",\n")
            self.bytes += 2
        self.open[path] = handle
        self.records += 1
        handle.write(record)
        self.bytes += len(record)

    def close(self) -> None:
        for handle in self.open.values():
            handle.close()
        self.open.clear()
        for path in self.started:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n]}\n")
            self.bytes += 4


def mac_of(ip: str) -> str:
    try:
        low = int(ipaddress.ip_address(ip)) & 0xFFFFFF
    except ValueError:
        low = int(hashlib.sha1(ip.encode()).hexdigest()[:6], 16)
    return f"000D3A{low:06X}"


def nsg_of(ip: str) -> str:
    parts = ip.split(".")
    return "NSG-" + "-".join(parts[:3]) if len(parts) == 4 else "NSG-V6"


def blob_path(root: Path, nsg: str, hour_start: int, mac: str) -> Path:
    t = datetime.fromtimestamp(hour_start, UTC)
    return (root / "resourceId=" / "SUBSCRIPTIONS" / SUBSCRIPTION / "RESOURCEGROUPS" / RESOURCE_GROUP / "PROVIDERS"
            / "MICROSOFT.NETWORK" / "NETWORKSECURITYGROUPS" / nsg / f"y={t.year}" / f"m={t.month:02d}"
            / f"d={t.day:02d}" / f"h={t.hour:02d}" / "m=00" / f"macAddress={mac}" / "PT1H.json")


def record_text(nsg: str, mac: str, minute: int, groups: dict[int, list[str]]) -> str:
    time_text = datetime.fromtimestamp(minute + 60, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    record = {
        "time": time_text,
        "systemId": SYSTEM_ID,
        "macAddress": mac,
        "category": "NetworkSecurityGroupFlowEvent",
        "resourceId": f"/SUBSCRIPTIONS/{SUBSCRIPTION}/RESOURCEGROUPS/{RESOURCE_GROUP}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{nsg}",
        "operationName": "NetworkSecurityGroupFlowEvents",
        "properties": {"Version": 2, "flows": [
            {"rule": RULES[rule], "flows": [{"mac": mac, "flowTuples": tuples}]} for rule, tuples in sorted(groups.items())
        ]},
    }
    return json.dumps(record, separators=(",", ":"))


FLOW_LOG_ID = f"/{SUBSCRIPTION}/NETWORKWATCHERRG/NETWORKWATCHER_EASTUS/VNETFLOWLOG-ML"
FLOW_LOG_GUID = "6b3a9f1e-0c2d-4a5b-8e7f-112233445566"
ACL_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
# An NSG v2 tuple (sec,src,dst,sport,dport,T|U,I|O,A|D,B|C|E,counters) as a VNet v4 one (ms, IANA number, state
# D for a denial, encryption NX): one RE2 call per batch.
def vnet_tuples(tuples: pa.Array) -> pa.Array:
    """NSG v2 tuples rewritten as VNet v4 ones (same flows, same counters)."""
    text = pc.replace_substring_regex(tuples, r"^(\d+),", r"\1000,", max_replacements=1)
    text = pc.replace_substring_regex(text, r",T,([IO]),", r",6,\1,", max_replacements=1)
    text = pc.replace_substring_regex(text, r",U,([IO]),", r",17,\1,", max_replacements=1)
    text = pc.replace_substring_regex(text, r",([IO]),D,[BCE],", r",\1,D,NX,", max_replacements=1)
    return pc.replace_substring_regex(text, r",([IO]),A,([BCE]),", r",\1,\2,NX,", max_replacements=1)


def vnet_blob_path(root: Path, nsg: str, hour_start: int, mac: str) -> Path:
    t = datetime.fromtimestamp(hour_start, UTC)
    return (root / "flowLogResourceID=" / SUBSCRIPTION / "NETWORKWATCHERRG" / "NETWORKWATCHER_EASTUS" / "VNETFLOWLOG-ML"
            / f"y={t.year}" / f"m={t.month:02d}" / f"d={t.day:02d}" / f"h={t.hour:02d}" / "m=00"
            / f"macAddress={mac}" / "PT1H.json")


def vnet_record_text(nsg: str, mac: str, minute: int, groups: dict[int, list[str]]) -> str:
    time_text = datetime.fromtimestamp(minute + 60, UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    record = {
        "time": time_text,
        "flowLogVersion": 4,
        "flowLogGUID": FLOW_LOG_GUID,
        "macAddress": mac,
        "category": "FlowLogFlowEvent",
        "flowLogResourceID": FLOW_LOG_ID,
        "targetResourceID": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ml/providers/Microsoft.Network/virtualNetworks/vnet-ml",
        "operationName": "FlowLogFlowEvent",
        "flowRecords": {"flows": [{"aclID": ACL_ID, "flowGroups": [
            {"rule": RULES[rule], "flowTuples": tuples} for rule, tuples in sorted(groups.items())
        ]}]},
    }
    return json.dumps(record, separators=(",", ":"))


def _text(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.cast(values, pa.string()), "")


def tuples_of(batch: pa.RecordBatch, start_us: int, speedup: float, shift_s: int, rng: np.random.Generator,
              begin_share: float, inbound_share: float) -> tuple[pa.Table, int]:
    """One batch of simulated flows → a table (src_ip, second, rule, tuple), and how many flows were left
    out (ICMP, or no source or destination address)."""
    table = pa.Table.from_batches([batch]).select(["ts", "src_ip", "dst_ip", "dst_port", "protocol", "bytes_out", "bytes_in"])
    table = table.combine_chunks()
    proto = pc.cast(table["protocol"], pa.string())
    letter = pc.if_else(pc.equal(proto, "TCP"), "T", pc.if_else(pc.equal(proto, "UDP"), "U", None))
    keep = pc.and_(pc.is_valid(letter), pc.and_(pc.is_valid(table["src_ip"]), pc.and_(pc.is_valid(table["dst_ip"]), pc.is_valid(table["dst_port"]))))
    left_out = len(table) - (pc.sum(keep).as_py() or 0)
    table, letter = table.filter(keep), letter.filter(keep)
    n = len(table)
    offset_us = pc.subtract(pc.cast(table["ts"], pa.int64()), start_us)
    seconds = pc.add(pc.cast(pc.floor(pc.divide(pc.cast(offset_us, pa.float64()), 1e6 * speedup)), pa.int64()), start_us // 1_000_000 + shift_s)
    src = pc.cast(table["src_ip"], pa.string())
    dst = pc.cast(table["dst_ip"], pa.string())
    sport = pa.array(rng.integers(49152, 65536, n))
    bout = pc.fill_null(table["bytes_out"], 0)
    bin_ = pc.fill_null(table["bytes_in"], 0)
    pout = pc.add(pc.divide(bout, 1400), 1)
    pin = pc.add(pc.divide(bin_, 1400), 1)
    private = pc.or_(pc.starts_with(dst, "10."), pc.or_(pc.starts_with(dst, "192.168."), pc.match_substring_regex(dst, r"^172\.(1[6-9]|2[0-9]|3[01])\.")))
    rule = pc.cast(private, pa.int8())
    ends = pc.binary_join_element_wise(
        _text(seconds), src, dst, _text(sport), _text(table["dst_port"]), letter, "O", "A", "E",
        _text(pout), _text(bout), _text(pin), _text(bin_), ",")
    parts = [pa.table({"src": src, "second": seconds, "rule": rule, "tuple": ends})]

    begin = pa.array(rng.random(n) < begin_share)
    if begin_share > 0 and pc.any(begin).as_py():
        b = pc.binary_join_element_wise(
            _text(seconds), src, dst, _text(sport), _text(table["dst_port"]), letter, "O", "A", "B,,,,", ",")
        parts.append(pa.table({"src": src, "second": seconds, "rule": rule, "tuple": b}).filter(begin))

    n_in = int(rng.binomial(n, inbound_share)) if inbound_share > 0 and n else 0
    if n_in:
        pick = pa.array(rng.integers(0, n, n_in))
        octets = [_text(pa.array(rng.integers(1, 255, n_in))) for _ in range(4)]
        scanner = pc.binary_join_element_wise(*octets, ".")
        when = pc.add(seconds.take(pick), pa.array(rng.integers(0, 60, n_in)))
        dport = pa.array(rng.choice([22, 23, 445, 1433, 3389, 5900, 8080], n_in))
        inbound = pc.binary_join_element_wise(
            _text(when), scanner, src.take(pick), _text(pa.array(rng.integers(1024, 65536, n_in))), _text(dport),
            "T", "I", "D", "B,,,,", ",")
        parts.append(pa.table({"src": src.take(pick), "second": when, "rule": pa.array(np.full(n_in, 2, np.int8)), "tuple": inbound}))
    return pa.concat_tables(parts), left_out


def write_batch(blobs: Blobs, root: Path, rows: pa.Table, limit: int, vnet: bool = False) -> tuple[bool, int, int]:
    """Group a batch's tuples into one record per (NIC, minute) and append them. Returns whether to go on
    (False once the size is reached) and the outbound and inbound tuples written."""
    minute = pc.multiply(pc.divide(rows["second"], 60), 60)
    rows = rows.append_column("minute", minute).sort_by([("src", "ascending"), ("minute", "ascending"), ("rule", "ascending")])
    src = rows["src"].to_numpy()
    minutes = rows["minute"].to_numpy()
    rules = rows["rule"].to_numpy()
    tuples = rows["tuple"].to_pylist()
    cut = np.flatnonzero((src[1:] != src[:-1]) | (minutes[1:] != minutes[:-1])) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [len(src)]))
    written_out = written_in = 0
    for a, b in zip(starts, ends):
        ip, m = src[a], int(minutes[a])
        groups: dict[int, list[str]] = {}
        for rule in np.unique(rules[a:b]):
            sel = np.flatnonzero(rules[a:b] == rule) + a
            groups[int(rule)] = [tuples[i] for i in sel]
        nsg, mac = nsg_of(ip), mac_of(ip)
        if vnet:
            blobs.append(vnet_blob_path(root, nsg, m - m % 3600, mac), vnet_record_text(nsg, mac, m, groups))
        else:
            blobs.append(blob_path(root, nsg, m - m % 3600, mac), record_text(nsg, mac, m, groups))
        n_in = len(groups.get(2, ()))
        written_out, written_in = written_out + (b - a - n_in), written_in + n_in
        if blobs.bytes >= limit:
            return False, written_out, written_in
    return True, written_out, written_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parquet", type=Path, help="flows written by `egress-sim simulate`")
    parser.add_argument("out", type=Path, help="output directory (created)")
    parser.add_argument("--size-gb", type=float, default=5.0, help="stop once this many GB (10^9 bytes) are written")
    parser.add_argument("--inbound-share", type=float, default=0.1, help="inbound scan tuples per outbound flow")
    parser.add_argument("--begin-share", type=float, default=0.2, help="share of flows that also get a B tuple")
    parser.add_argument("--speedup", type=float, default=1.0, help="play the simulated period this many times faster")
    parser.add_argument("--batch-rows", type=int, default=250_000)
    parser.add_argument("--max-open", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("nsg", "vnet"), default="nsg", help="NSG v2 (default) or VNet v4 flow logs")
    args = parser.parse_args(argv)

    source = pq.ParquetFile(args.parquet, pre_buffer=False)
    if source.metadata.num_rows == 0:
        sys.exit(f"{args.parquet}: no flows")
    stats = [source.metadata.row_group(i).column(source.schema_arrow.get_field_index("ts")).statistics
             for i in range(source.metadata.num_row_groups)]
    if all(s is not None and s.has_min_max for s in stats):
        low = min(s.min for s in stats).timestamp()
        high = max(s.max for s in stats).timestamp()
    else:  # no statistics: read the time column once
        ts = pc.cast(source.read(columns=["ts"])["ts"], pa.int64())
        low, high = pc.min(ts).as_py() / 1e6, pc.max(ts).as_py() / 1e6
    start_us = int(low * 1e6)
    period = int(-(-((high - low) / args.speedup + 1) // 3600) * 3600)  # whole hours
    limit = int(args.size_gb * 1e9)
    rng = np.random.default_rng(args.seed)
    blobs = Blobs(args.out, args.max_open)
    outbound = inbound = left_out = passes = 0
    started = time.perf_counter()
    going = True
    try:
        while going:
            shift = passes * period
            for batch in source.iter_batches(batch_size=args.batch_rows):
                rows, n_left = tuples_of(batch, start_us, args.speedup, shift, rng, args.begin_share, args.inbound_share)
                if args.format == "vnet":
                    rows = rows.set_column(rows.schema.get_field_index("tuple"), "tuple", vnet_tuples(rows["tuple"]))
                going, n_out, n_in = write_batch(blobs, args.out, rows, limit, vnet=args.format == "vnet")
                outbound, inbound, left_out = outbound + int(n_out), inbound + int(n_in), left_out + int(n_left)
                if not going:
                    break
            passes += 1
    finally:
        blobs.close()
    seconds = time.perf_counter() - started
    summary = {
        "files": len(blobs.started), "bytes": blobs.bytes, "passes": passes,
        "tuples_outbound": outbound, "tuples_inbound": inbound, "flows_left_out": left_out, "records": blobs.records,
        "seconds": round(seconds, 1), "mb_per_s": round(blobs.bytes / 1e6 / seconds, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
