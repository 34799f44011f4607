"""Generated inputs for the golden test: small logs of every format with the edge cases the readers must keep
handling the same way (gzip, cut gzip, truncated JSON, bad and inbound tuples, over-long lines, directories).

Deterministic (fixed seeds, gzip with mtime 0), so a failure reproduces. Delete with the golden test.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from egress_sim.base import limits

LONG = "x" * (limits.MAX_LINE_BYTES + 100)  # over the line limit of the line-based readers
AWS_LONG = "y" * (64 * 1024 + 100)  # over awsvpc's own tighter line limit

# --- NSG (v1/v2) and VNet (v4) ------------------------------------------------------------------------------

_NSG_BAD = ["1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A",  # too few fields for v2
            "1794823202,10.0.8.999,20.60.1.4,50001,443,T,O,A,B,,,,",  # bad address
            "1794823202,10.0.8.4,20.60.1.4,50001,99999,T,O,A,B,,,,",  # port out of range
            "1794823202,10.0.8.4,20.60.1.4,50001,443,Q,O,A,B,,,,",  # unknown protocol
            "1794823202,10.0.8.4,20.60.1.4,50001,443,T,X,A,B,,,,",  # unknown direction
            "1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,Z,B,,,,",  # unknown decision
            "17948x3202,10.0.8.4,20.60.1.4,50001,443,T,O,A,B,,,,",  # bad time
            "1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A,C,1,2,3,-4",  # negative counter
            "1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A,C,1,2.5,3,4",  # fractional counter
            "1794823202,10.0.8.4,2001:db8::1,50001,443,T,O,A,E,1,2,3,4",  # IPv6 destination
            "",  # empty tuple
            "1794823202,10.0.8.4,20.60.1.4,50001,443,T,O,A,B,,,,\n"]  # a line break inside


def _counters(rng: random.Random, packets: int, octets: int) -> str:
    """Packet and byte counters of a tuple, out then in."""
    return f"{rng.randint(1, packets)},{rng.randint(40, octets)},{rng.randint(0, packets)},{rng.randint(0, octets)}"


def _nsg_tuple(rng: random.Random, i: int) -> str:
    if rng.random() < 0.12:
        return rng.choice(_NSG_BAD)
    direction = "I" if rng.random() < 0.15 else "O"
    state = rng.choice("BCE")
    counters = ",,," if state == "B" else _counters(rng, 50, 90000)
    dst = rng.choice(["20.60.1.4", "151.101.0.223", "52.180.181.61", "13.107.42.14", "192.0.2.9", "8.8.8.8"])
    port = rng.choice([443, 443, 80, 22, 53, 123, 445])
    return (f"{1794823200 + i},10.0.8.{rng.randint(1, 40)},{dst},{40000 + i % 20000},{port},"
            f"{rng.choice('TTTU')},{direction},{rng.choice('AAD')},{state},{counters}")


def _nsg_record(rng: random.Random, start: int, tuples: int, version: int = 2) -> dict:
    groups = []
    for g in range(1 + tuples // 40):
        flow_tuples = [_nsg_tuple(rng, start + g * 40 + k) for k in range(min(40, tuples - g * 40))]
        if version == 1:
            flow_tuples = [",".join(t.split(",")[:8]) for t in flow_tuples]
        groups.append({"rule": rng.choice(["DefaultRule_AllowInternetOutBound", "UserRule_deny-smtp"]),
                       "flows": [{"mac": "000D3A1B2C3D", "flowTuples": flow_tuples}]})
    return {"time": "2026-11-16T10:01:00.1234567Z", "macAddress": "000D3A1B2C3D",
            "category": "NetworkSecurityGroupFlowEvent", "resourceId": "/SUBSCRIPTIONS/X/NSG-GOLDEN",
            "operationName": "NetworkSecurityGroupFlowEvents", "properties": {"Version": version, "flows": groups}}


def nsg_text(seed: int, records: int = 12, busy: int = 120) -> str:
    rng = random.Random(seed)
    recs = [_nsg_record(rng, r * 1000, rng.choice([0, 3, 17, busy]), version=rng.choice([2, 2, 2, 1]))
            for r in range(records)]
    recs.insert(3, {"time": "2026-11-16T10:01:00Z", "category": "NetworkSecurityGroupFlowEvent",
                    "properties": {"Version": 7, "flows": []}})  # unknown version
    recs.insert(5, {"time": "2026-11-16T10:01:00Z", "properties": {"Version": 2}})  # no flows
    return '{"records":[' + ",\n".join(json.dumps(r) for r in recs) + "]}\n"


_VNET_BAD = ["1794823201599,10.0.8.4,20.60.1.4,23956,443,6,O,B,NX,0,0,0",  # too few fields
             "1794823201599,10.0.8.4,20.60.1.4,23956,443,6,O,Q,NX,0,0,0,0",  # unknown state
             "1794823201599,10.0.8.4,20.60.1.4,23956,443,6,O,E,ZZ,1,2,3,4",  # unknown encryption
             "1794823201599,10.0.8.4,20.60.1.4,23956,443,xx,O,E,NX,1,2,3,4",  # bad protocol
             "179482320159x,10.0.8.4,20.60.1.4,23956,443,6,O,E,NX,1,2,3,4"]  # bad time


def vnet_text(seed: int, records: int = 8) -> str:
    rng = random.Random(seed)
    recs = []
    for r in range(records):
        tuples = []
        for k in range(rng.choice([1, 5, 60])):
            if rng.random() < 0.1:
                tuples.append(rng.choice(_VNET_BAD))
                continue
            state = rng.choice("BCED")
            counters = "0,0,0,0" if state == "B" else _counters(rng, 9, 9000)
            ms = 1794823201000 + r * 60000 + k if rng.random() < 0.8 else 1794823201 + r * 60 + k  # ms or s
            dst = rng.choice(['20.60.1.4', '151.101.0.223', '2001:db8::53'])
            tuples.append(f"{ms},10.0.8.{rng.randint(1, 30)},{dst},"
                          f"{30000 + k},{rng.choice([443, 80, 53, 0])},{rng.choice([6, 6, 17, 1])},"
                          f"{'I' if rng.random() < 0.15 else 'O'},{state},"
                          f"{rng.choice(['NX', 'X', 'NX_HW_NOT_SUPPORTED'])},{counters}")
        recs.append({"time": "2026-11-16T10:01:00.5625085Z", "flowLogVersion": 4, "macAddress": "000D3A1B2C3D",
                     "category": "FlowLogFlowEvent", "operationName": "FlowLogFlowEvent",
                     "flowRecords": {"flows": [{"aclID": "a", "flowGroups": [
                         {"rule": "DefaultRule_AllowInternetOutBound", "flowTuples": tuples}]}]}})
    return json.dumps({"records": recs}, indent=2) + "\n"


# --- Azure Firewall -----------------------------------------------------------------------------------------

def _azfw_record(rng: random.Random, i: int) -> dict | str:
    pick = rng.random()
    if pick < 0.05:
        return '{"category": "AzureFirewallNetworkRule", "properties": {"msg": "TCP req'  # bad JSON
    if pick < 0.08:
        return "[1, 2, 3]"  # not an object
    if pick < 0.45:
        msg = rng.choice([
            f"TCP request from 10.0.8.{i % 50}:{40000 + i} to 20.60.1.4:443. Action: Allow. "
            "Rule Collection: rc. Rule: r",
            f"UDP request from 10.0.8.{i % 50}:{40000 + i} to 8.8.8.8:53. Action: Deny. No rule matched.",
            f"HTTPS request from 10.0.8.{i % 50}:{40000 + i} to pypi.org:443. Action: Allow. "
            "Rule Collection: a. Rule: b",
            f"ICMP Type=8 request from 10.0.8.{i % 50} to 13.107.42.14. Action: Deny. ",
            f"TCP request from 203.0.113.5:{40000 + i} to 52.1.1.1:3389 was DNAT'ed to 10.0.8.4:3389",
            "garbled message with no request in it",
        ])
        return {"category": rng.choice(["AzureFirewallNetworkRule", "AzureFirewallApplicationRule"]),
                "time": f"2024-03-01T10:00:{i % 60:02d}Z", "operationName": "AzureFirewallNetworkRuleLog",
                "properties": {"msg": msg}}
    props = {"Protocol": rng.choice(["TCP", "UDP", "HTTPS", "ICMP", "GRE"]), "SourceIp": rng.choice(
        [f"10.0.8.{i % 50}", "10.0.8.300", "not-an-ip"]), "SourcePort": 40000 + i,
        "DestinationIp": rng.choice(["20.60.1.4", "151.101.0.223", "2001:db8::1", ""]),
        "DestinationPort": rng.choice([443, "443", 80, -1, "https", 70000]), "Action": rng.choice(
            ["Allow", "Deny", "Alert", "Drop", "Unknown"])}
    category = rng.choice(["AZFWNetworkRule", "AZFWApplicationRule", "AZFWNatRule", "AZFWDnsQuery",
                           "AZFWIdpsSignature"])
    if category == "AZFWApplicationRule":
        props["Fqdn"] = rng.choice(["pypi.org", "PYPI.ORG.", "a..b", ""])
    return {"category": category, "time": f"2024-03-02T09:00:{i % 60:02d}.0000000Z", "properties": props}


def azfw_lines(seed: int, n: int = 300, long_line: bool = True) -> str:
    rng = random.Random(seed)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in (_azfw_record(rng, i) for i in range(n))]
    if long_line:
        lines.insert(n // 2, json.dumps({"category": "AzureFirewallNetworkRule", "properties": {"msg": LONG}}))
    lines.insert(7, "")
    return "\n".join(lines) + "\n"


def azfw_document(seed: int, n: int = 200) -> str:
    rng = random.Random(seed)
    records = [r for r in (_azfw_record(rng, i) for i in range(n)) if not isinstance(r, str)]
    return json.dumps({"records": records}, indent=1) + "\n"


# --- Zeek ---------------------------------------------------------------------------------------------------

ZEEK_HEADER = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n"
               "#open\t2023-11-14-22-00-00\n#fields\t{fields}\n#types\t{types}\n")
CONN_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
               "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp"]
CONN_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count",
              "string", "bool", "bool"]
SSL_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "server_name"]
SSL_TYPES = ["time", "string", "addr", "port", "addr", "port", "string"]
DNS_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "query", "answers"]
DNS_TYPES = ["time", "string", "addr", "port", "addr", "port", "string", "vector[string]"]
HTTP_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "host"]
HTTP_TYPES = ["time", "string", "addr", "port", "addr", "port", "string"]
_ZEEK_DST = ["20.60.1.2", "93.184.216.34", "104.16.1.1", "13.107.42.14", "2001:db8::5"]
_ZEEK_NAMES = {"20.60.1.2": "storage.blob.core.windows.net", "93.184.216.34": "pypi.org",
               "104.16.1.1": "files.pythonhosted.org", "13.107.42.14": "-", "2001:db8::5": "v6.example"}


def _tsv(path: str, fields: list[str], types: list[str], rows: list[str]) -> str:
    return ZEEK_HEADER.format(path=path, fields="\t".join(fields), types="\t".join(types)) + "\n".join(rows) + \
        "\n#close\t2023-11-14-23-00-00\n"


def zeek_tsv(seed: int, n: int = 300, long_line: bool = True) -> dict[str, str]:
    """conn, ssl, dns and http logs of one hour (file name → text)."""
    rng = random.Random(seed)
    conn, ssl, dns, http = [], [], [], []
    for i in range(n):
        ts = 1700000000 + i * 0.5
        dst = rng.choice(_ZEEK_DST)
        port = rng.choice([443, 443, 80, 53, 22])
        uid = f"C{seed}x{i}"
        local = rng.choice(["T", "T", "T", "F", "-"])
        orig, resp = rng.choice([("517", "4410"), ("-", "-"), ("0", "0")])
        proto = rng.choice(["tcp", "tcp", "udp", "icmp"])
        row = [f"{ts:.6f}", uid, f"10.0.0.{i % 30}", str(50000 + i), dst, str(port), proto, "ssl", "1.2", orig,
               resp, "SF", local, "F"]
        if rng.random() < 0.06:
            row = rng.choice([row[:5], row[:3] + ["10.0.0.300"] + row[4:], row[:5] + ["http"] + row[6:],
                              ["notatime"] + row[1:], row[:6] + ["gre"] + row[7:]])
        conn.append("\t".join(row))
        if port == 443 and rng.random() < 0.7:
            ssl.append("\t".join([f"{ts + 0.01:.6f}", uid, f"10.0.0.{i % 30}", str(50000 + i), dst, str(port),
                                  _ZEEK_NAMES[dst]]))
        if port == 80 and rng.random() < 0.7:
            http.append("\t".join([f"{ts + 0.01:.6f}", uid, f"10.0.0.{i % 30}", str(50000 + i), dst, str(port),
                                   rng.choice([_ZEEK_NAMES[dst], dst, "pypi.org:8080"])]))
        if rng.random() < 0.3:
            dns.append("\t".join([f"{ts - 0.2:.6f}", f"D{i}", f"10.0.0.{i % 30}", "41000", "168.63.129.16", "53",
                                  _ZEEK_NAMES[dst], f"cname.example,{dst}"]))
    if long_line:
        conn.insert(n // 3, LONG)
    conn.insert(10, "")
    return {"conn.log": _tsv("conn", CONN_FIELDS, CONN_TYPES, conn), "ssl.log": _tsv("ssl", SSL_FIELDS, SSL_TYPES, ssl),
            "dns.log": _tsv("dns", DNS_FIELDS, DNS_TYPES, dns), "http.log": _tsv("http", HTTP_FIELDS, HTTP_TYPES, http)}


def zeek_json(seed: int, n: int = 200) -> dict[str, str]:
    rng = random.Random(seed)
    conn, ssl = [], []
    for i in range(n):
        dst = rng.choice(_ZEEK_DST)
        uid = f"J{seed}x{i}"
        record = {"ts": 1700000000 + i * 0.25, "uid": uid, "id.orig_h": f"10.0.0.{i % 30}", "id.orig_p": 50000 + i,
                  "id.resp_h": dst, "id.resp_p": rng.choice([443, 80, 53]), "proto": rng.choice(["tcp", "udp"]),
                  "service": "ssl", "duration": 1.5, "conn_state": "SF",
                  "orig_bytes": rng.choice([517, None]), "resp_bytes": 4410, "local_orig": rng.choice([True, False])}
        line = json.dumps({k: v for k, v in record.items() if v is not None})
        if rng.random() < 0.05:
            line = rng.choice([line[: len(line) // 2], '{"ts": "x"}', "[]", line.replace('"10.0.0', '"10.0.999')])
        conn.append(line)
        if rng.random() < 0.5:
            ssl.append(json.dumps({"ts": record["ts"] + 0.01, "uid": uid, "id.orig_h": record["id.orig_h"],
                                   "id.orig_p": record["id.orig_p"], "id.resp_h": dst, "id.resp_p": 443,
                                   "server_name": _ZEEK_NAMES[dst]}))
    return {"conn.log": "\n".join(conn) + "\n", "ssl.log": "\n".join(ssl) + "\n"}


# --- AWS VPC ------------------------------------------------------------------------------------------------

AWS_HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
              "action log-status")
AWS_GOOD = ("2 123456789010 eni-1235b8ca123456789 10.0.8.12 151.101.0.223 49152 443 6 20 4249 1418530010 1418530070 "
            "ACCEPT OK")


def aws_text(seed: int, n: int = 600, long_line: bool = True) -> bytes:
    """Good records with every kind of fault sprinkled in (as in test_log_awsvpc's mixed log), one over-long line."""
    rng = random.Random(seed)
    faults = [
        AWS_GOOD.replace("10.0.8.12", "10.0.8.256"), AWS_GOOD.replace(" 443 ", " - "), AWS_GOOD.replace(" 6 ", " 50 "),
        AWS_GOOD.replace(" OK", " NODATA"), AWS_GOOD.replace(" OK", " SKIPDATA"), AWS_GOOD.replace(" OK", ""),
        AWS_GOOD.replace("ACCEPT", "REJECT"), AWS_GOOD.replace("10.0.8.12", "2001:db8::7"),
        AWS_GOOD.replace("10.0.8.12", "10.0.8.1\udcff"), "", "  ", AWS_HEADER, AWS_GOOD.replace(" 443 ", " 443\r"),
        AWS_GOOD.replace(" 6 ", " 1 ").replace(" 443 ", " - "), AWS_GOOD.replace("2 ", "1 ", 1),
        AWS_GOOD.replace(" 49152 443 ", " 443 49152 "), AWS_GOOD.replace(" 4249 ", " -5 "),
    ]
    lines = [AWS_HEADER]
    for i in range(n):
        lines.append(rng.choice(faults) if rng.random() < 0.08 else AWS_GOOD.replace("49152", str(1024 + i)))
    if long_line:
        lines.insert(n // 2, AWS_LONG)
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape")


# --- our own flow tables ------------------------------------------------------------------------------------

def flows_csv(seed: int, n: int = 200, long_line: bool = True) -> str:
    rng = random.Random(seed)
    rows = ["ts,compute_type,src_ip,dst_ip,dst_port,protocol,fqdn"]
    for i in range(n):
        row = [f"2026-11-20T09:00:{i % 60:02d}Z", rng.choice(["compute_cluster", "compute_instance", "", "laptop"]),
               f"10.0.3.{i % 50}", rng.choice(["151.101.0.223", "52.180.181.61", "", "1.2.3"]),
               rng.choice(["443", "80", "443.5", "", "https"]), rng.choice(["TCP", "udp", "6", ""]),
               rng.choice(["pypi.org", "", "download.pytorch.org", '"a,b"'])]
        line = ",".join(row)
        if rng.random() < 0.04:
            line = rng.choice([line + ",extra", ",".join(row[:3])])
        rows.append(line)
    if long_line:
        rows.insert(n // 2, LONG)
    return "\n".join(rows) + "\n"


def flows_parquet(path: Path, seed: int, n: int = 150) -> None:
    rng = random.Random(seed)
    pq.write_table(pa.table({
        "ts": pa.array([1_700_000_000_000_000 + i for i in range(n)], pa.timestamp("us", tz="UTC")),
        "compute_type": [rng.choice(["compute_cluster", "serverless_spark", None]) for _ in range(n)],
        "dst_ip": [rng.choice(["151.101.0.223", "52.180.181.61", None]) for _ in range(n)],
        "dst_port": pa.array([rng.choice([443, 80, None]) for _ in range(n)], pa.int64()),
        "protocol": [rng.choice(["TCP", "UDP"]) for _ in range(n)],
        "fqdn": [rng.choice(["pypi.org", None]) for _ in range(n)]}), path)


# --- the cases ----------------------------------------------------------------------------------------------

def _gz(data: str | bytes) -> bytes:
    return gzip.compress(data.encode() if isinstance(data, str) else data, mtime=0)


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _zeek_dir(root: Path, files: dict[str, str], gz: bool = False, cut: float | None = None) -> Path:
    for name, text in files.items():
        data = text.encode()
        if gz:
            data = _gz(data)
            name = name.replace(".log", ".00:00:00-01:00:00.log.gz")
            if cut is not None and name.startswith("conn"):
                data = _cut(data, cut)
        _write(root / name, data)
    return root / next(n for n in sorted(p.name for p in root.iterdir()) if n.startswith("conn"))


def _mixed_dir(root: Path) -> Path:
    _write(root / "a" / "PT1H.json", nsg_text(21))
    _write(root / "a" / "PT1H.json.gz", _gz(nsg_text(22)))
    _write(root / "b" / "flows.log", aws_text(23, 100, long_line=False))
    _write(root / "b" / "fw.json", azfw_lines(24, 80, long_line=False))
    _zeek_dir(root / "c", zeek_tsv(25, 60, long_line=False))
    _write(root / "c" / "weird.txt", "nothing anyone logs\n")
    _write(root / "c" / "empty.log", "")
    _write(root / "d" / "cut.json.gz", _cut(_gz(vnet_text(26)), 0.5))
    _write(root / "flows.csv", flows_csv(27, 40, long_line=False))
    return root


# name → builder(dir) → the path to replay (a file or a directory)
GENERATED: dict[str, Callable[[Path], Path]] = {
    "nsg_mixed.json": lambda d: _write(d / "PT1H.json", nsg_text(1)),
    "nsg_mixed.json.gz": lambda d: _write(d / "PT1H.json.gz", _gz(nsg_text(2))),
    "nsg_cut_gzip.json.gz": lambda d: _write(d / "PT1H.json.gz", _cut(_gz(nsg_text(3, records=30)), 0.6)),
    "nsg_truncated.json": lambda d: _write(d / "PT1H.json", _cut(nsg_text(4).encode(), 0.7)),
    "nsg_busy.json": lambda d: _write(d / "PT1H.json", nsg_text(5, records=6, busy=2500)),
    "vnet_mixed.json": lambda d: _write(d / "flowlog.json", vnet_text(6)),
    "vnet_cut_gzip.json.gz": lambda d: _write(d / "flowlog.json.gz", _cut(_gz(vnet_text(7, 20)), 0.5)),
    "vnet_truncated.json": lambda d: _write(d / "flowlog.json", _cut(vnet_text(8).encode(), 0.8)),
    "azfw_lines.json": lambda d: _write(d / "fw.json", azfw_lines(9)),
    "azfw_lines_cut_gzip.json.gz": lambda d: _write(d / "fw.json.gz", _cut(_gz(azfw_lines(10, long_line=False)), 0.55)),
    "azfw_document.json": lambda d: _write(d / "fw.json", azfw_document(11)),
    "azfw_document_truncated.json": lambda d: _write(d / "fw.json", _cut(azfw_document(12).encode(), 0.6)),
    "zeek_tsv": lambda d: _zeek_dir(d, zeek_tsv(13)),
    "zeek_tsv_cut_gzip": lambda d: _zeek_dir(d, zeek_tsv(14, long_line=False), gz=True, cut=0.5),
    "zeek_json": lambda d: _zeek_dir(d, zeek_json(15)),
    "aws_mixed.log": lambda d: _write(d / "flows.log", aws_text(16)),
    "aws_mixed.log.gz": lambda d: _write(d / "flows.log.gz", _gz(aws_text(17, long_line=False))),
    "aws_cut_gzip.log.gz": lambda d: _write(d / "flows.log.gz", _cut(_gz(aws_text(18, 3000, long_line=False)), 0.5)),
    "flows.csv": lambda d: _write(d / "flows.csv", flows_csv(19)),
    "flows.parquet": lambda d: (flows_parquet(d / "flows.parquet", 20), d / "flows.parquet")[1],
    "mixed_directory": lambda d: _mixed_dir(d / "logs"),
}
