"""Log directories for the replay benchmarks, one per format, made from simulated flows and kept between runs.

Usage::

    python benchmarks/make_replay_logs.py azfw /tmp/azfw --size-gb 0.15     # write one directory
    python benchmarks/make_replay_logs.py --list                            # the cases and their sizes

``cached(case, quick)`` (what ``replay_formats.py`` calls) makes a case's directory once under
``<system temp>/egress_sim_replay_bench/`` and reuses it (a ``.done`` marker says it is complete). Every case
starts from the same 2 M flows of ``egress-sim simulate`` of the contoso workspace (the file
``nsg_replay.py`` makes and keeps), so the same connections appear in every format:

* ``nsg``: ``nsg_replay.py``'s own directory (``make_nsg_logs.py``, one small blob per NSG, hour and NIC).
* ``nsg-busy``: the same flows played 60 times faster (``--speedup 60``): records of ~100+ tuples, as a busy
  VM logs them.
* ``vnet``: ``make_nsg_logs.py --format vnet --speedup 60``: VNet flow logs v4, busy records.
* ``azfw``: Azure Firewall resource-specific records as Azure writes them to a storage account: one JSON
  object per line in ``resourceId=/.../AZUREFIREWALLS/FW-HUB/y=/m=/d=/h=/m=00/PT1H.json``. A flow with a host
  name to port 80/443 is an ``AZFWApplicationRule`` record (``Fqdn``, no destination address), any other an
  ``AZFWNetworkRule`` record; 3% are denied by the default action.
* ``zeek``: hourly Zeek TSV sets ``<day>/conn.HH:00:00-HH:00:00.log`` with ``ssl.*`` (SNI of every TLS
  connection with a host name) and ``dns.*`` (one A query per host name and address per hour) next to them,
  joined by ``uid``; plus 10% inbound scans (``local_orig`` F).
* ``awsvpc``: AWS VPC flow logs, default version 2 format with its header line (as delivered to S3, not
  compressed here so the parse is what is measured), one file per hour; half the TCP flows also get their
  reply record (skipped by the reader), 2% are rejected, and one ``NODATA`` record per 200 flows.

Deterministic: a fixed seed per case; when the simulated flows are used up before the size is reached they
are written again, shifted by the simulated week.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from nsg_replay import SIMULATED_FLOWS, WORKSPACE, generated_logs  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "egress_sim_replay_bench"
SIMULATED = Path(tempfile.gettempdir()) / "egress_sim_nsg_bench" / f"sim-{SIMULATED_FLOWS}.parquet"  # nsg_replay's
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
WEEK_S = 7 * 24 * 3600
# case -> size in GB (10^9 bytes): the full run, then --quick
SIZES: dict[str, tuple[float, float]] = {
    "nsg": (0.3, 0.01), "nsg-busy": (0.3, 0.01), "vnet": (0.15, 0.01), "azfw": (0.15, 0.01),
    "zeek": (0.15, 0.01), "awsvpc": (0.15, 0.01),
}
SEEDS = {"nsg-busy": 1, "vnet": 2, "azfw": 3, "zeek": 4, "awsvpc": 5}
BUSY_SPEEDUP = 60


def simulated_parquet() -> Path:
    """The 2 M simulated contoso flows every case is made from (shared with ``nsg_replay.py``)."""
    if not SIMULATED.exists():
        SIMULATED.parent.mkdir(parents=True, exist_ok=True)
        partial = SIMULATED.with_suffix(".partial.parquet")
        subprocess.run([sys.executable, "-m", "egress_sim.cli", "simulate", str(WORKSPACE), "--flows",
                        str(SIMULATED_FLOWS), "-o", str(partial)], check=True, stdout=subprocess.DEVNULL)
        partial.rename(SIMULATED)
    return SIMULATED


def cached(case: str, quick: bool) -> Path:
    """The directory of ``case`` at its full or quick size, made on first use."""
    size = SIZES[case][1 if quick else 0]
    if case == "nsg":
        return generated_logs(size)
    out = CACHE / f"{case}-{size}"
    done = CACHE / f"{case}-{size}.done"
    if done.exists():
        return out
    if out.exists():
        shutil.rmtree(out)  # a run stopped half way
    make(case, out, size)
    done.touch()
    return out


def make(case: str, out: Path, size_gb: float) -> None:
    source = simulated_parquet()
    if case in ("nsg-busy", "vnet"):
        subprocess.run([sys.executable, str(HERE / "make_nsg_logs.py"), str(source), str(out), "--size-gb",
                        str(size_gb), "--speedup", str(BUSY_SPEEDUP), "--seed", str(SEEDS[case]),
                        "--format", "vnet" if case == "vnet" else "nsg"], check=True, stdout=subprocess.DEVNULL)
        return
    writer = {"azfw": write_azfw, "zeek": write_zeek, "awsvpc": write_awsvpc}[case]
    files = HourFiles(out, int(size_gb * 1e9))
    rng = np.random.default_rng(SEEDS[case])
    write_zeek.uids = _Uids("C")  # type: ignore[attr-defined]  # the same ids whatever ran before
    try:
        for batch in flows(source):
            writer(files, batch, rng)
            if files.full:
                break
    finally:
        files.close()


def flows(source: Path) -> Iterator[pa.RecordBatch]:
    """The simulated flows as plain columns (``ts`` as integer microseconds), batch by batch, again and again
    (each pass a week later)."""
    parquet = pq.ParquetFile(source, pre_buffer=False)
    shift = 0
    while True:
        for batch in parquet.iter_batches(batch_size=50_000, columns=[
                "ts", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "bytes_out", "bytes_in"]):
            t = batch
            keep = pc.and_(pc.is_valid(t["src_ip"]), pc.is_valid(t["dst_ip"]))
            t = t.filter(keep)
            yield pa.record_batch({
                "ts": pc.add(pc.cast(t["ts"], pa.int64()), shift * 1_000_000),
                **{c: pc.cast(t[c], pa.string()) for c in ("src_ip", "dst_ip", "protocol", "fqdn")},
                "dst_port": t["dst_port"], "bytes_out": pc.fill_null(t["bytes_out"], 0),
                "bytes_in": pc.fill_null(t["bytes_in"], 0),
            })
        shift += WEEK_S


class HourFiles:
    """Output files appended to by hour; ``header`` writes a file's first lines, ``footer`` its last."""

    def __init__(self, root: Path, limit: int):
        self.root, self.limit, self.bytes = root, limit, 0
        self.footers: dict[Path, str] = {}

    @property
    def full(self) -> bool:
        return self.bytes >= self.limit

    def append(self, path: Path, text: str, header: Callable[[], str] | None = None, footer: str = "") -> None:
        if path not in self.footers:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.footers[path] = footer
            text = (header() if header else "") + text
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
        self.bytes += len(text)

    def close(self) -> None:
        for path, footer in self.footers.items():
            if footer:
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write(footer)


def by_hour(ts_us: pa.Array) -> Iterator[tuple[int, np.ndarray]]:
    """(hour start in seconds, row positions in time order) for each hour of a batch."""
    order = np.argsort(ts_us.to_numpy(), kind="stable")
    hours = ts_us.to_numpy()[order] // 3_600_000_000
    cut = np.flatnonzero(hours[1:] != hours[:-1]) + 1
    for part in np.split(order, cut):
        yield int(ts_us[int(part[0])].as_py() // 3_600_000_000 * 3600), part


def _text(values: pa.Array | np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values) if isinstance(values, np.ndarray) else values, pa.string())


def _join(*parts: object) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _iso(ts_us: pa.Array) -> pa.Array:
    """``2026-11-16T10:00:01.2178310Z``: seven decimals, as Azure writes them."""
    return pc.strftime(pc.cast(ts_us, pa.timestamp("us", tz="UTC")), format="%Y-%m-%dT%H:%M:%S")


def _hour_parts(hour_start: int) -> tuple[str, ...]:
    t = time.gmtime(hour_start)
    return f"y={t.tm_year}", f"m={t.tm_mon:02d}", f"d={t.tm_mday:02d}", f"h={t.tm_hour:02d}", "m=00"


def write_azfw(files: HourFiles, t: pa.RecordBatch, rng: np.random.Generator) -> None:
    n = len(t)
    resource = (f"/SUBSCRIPTIONS/{SUBSCRIPTION}/RESOURCEGROUPS/RG-HUB/PROVIDERS/MICROSOFT.NETWORK/AZUREFIREWALLS/"
                "FW-HUB")
    deny = rng.random(n) < 0.03
    sport = _text(rng.integers(49152, 65536, n))
    port = t["dst_port"]
    app = pc.and_(pc.and_(pc.is_valid(t["fqdn"]), pc.equal(t["protocol"], "TCP")),
                  pc.is_in(port, pa.array([80, 443], pa.int32()))).to_numpy(zero_copy_only=False)
    action = pc.if_else(pa.array(deny), "Deny", "Allow")
    reason = pc.if_else(pa.array(deny), "Default Action", "")
    policy = pc.if_else(pa.array(deny), "", "fwp-hub")
    head = _join('{ "time": "', _iso(t["ts"]), '0Z", "resourceId": "', resource, '", "category": "')
    network = _join(
        head, 'AZFWNetworkRule", "operationName": "AzureFirewallNetworkRuleLog", "properties": {"Protocol": "',
        t["protocol"], '", "SourceIp": "', t["src_ip"], '", "SourcePort": ', sport, ', "DestinationIp": "',
        t["dst_ip"], '", "DestinationPort": ', _text(port), ', "Action": "', action, '", "Policy": "', policy,
        '", "RuleCollectionGroup": "', pc.if_else(pa.array(deny), "", "rcg-net"), '", "RuleCollection": "',
        pc.if_else(pa.array(deny), "", "rc-ml"), '", "Rule": "', pc.if_else(pa.array(deny), "", "allow-ml-net"),
        '", "ActionReason": "', reason, '"}}')
    application = _join(
        head, 'AZFWApplicationRule", "operationName": "AzureFirewallApplicationRuleLog", "properties": {"Protocol": "',
        pc.if_else(pc.equal(port, 443), "HTTPS", "HTTP"), '", "SourceIp": "', t["src_ip"], '", "SourcePort": ',
        sport, ', "DestinationPort": ', _text(port), ', "Fqdn": "', pc.fill_null(t["fqdn"], ""),
        '", "TargetUrl": "", "Action": "', action, '", "ActionReason": "', reason, '", "Policy": "', policy,
        '", "RuleCollectionGroup": "', pc.if_else(pa.array(deny), "", "rcg-app"), '", "RuleCollection": "',
        pc.if_else(pa.array(deny), "", "rc-ml"), '", "Rule": "', pc.if_else(pa.array(deny), "", "allow-ml-fqdn"),
        '", "IsTlsInspected": false, "WebCategory": "", "IsExplicitProxyRequest": false}}')
    lines = pc.if_else(pa.array(app), application, network)
    for hour, rows in by_hour(t["ts"]):
        if files.full:
            return
        path = files.root.joinpath("resourceId=", resource.lstrip("/"), *_hour_parts(hour), "PT1H.json")
        files.append(path, "\n".join(lines.take(pa.array(rows)).to_pylist()) + "\n")


ZEEK_META = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n#open\t{opened}\n"
CONN_FIELDS = ("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\t"
               "resp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\t"
               "resp_pkts\tresp_ip_bytes\ttunnel_parents",
               "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\t"
               "count\tstring\tcount\tcount\tcount\tcount\tset[string]")
SSL_FIELDS = ("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tcurve\tserver_name\tresumed\t"
              "last_alert\tnext_protocol\testablished\tssl_history\tcert_chain_fps\tclient_cert_chain_fps\t"
              "sni_matches_cert",
              "time\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tbool\tstring\tstring\tbool\t"
              "string\tvector[string]\tvector[string]\tbool")
DNS_FIELDS = ("ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\t"
              "qclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected",
              "time\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\t"
              "count\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool")


def _zeek_ts(ts_us: pa.Array) -> pa.Array:
    """Epoch seconds with six decimals, as Zeek's TSV writer prints ``time`` fields."""
    return _join(_text(pc.divide(ts_us, 1_000_000)), ".", pc.utf8_lpad(_text(pc.remainder(ts_us, 1_000_000)), 6, "0"))


class _Uids:
    """Zeek-like connection ids (``C`` + 17 characters), unique over the whole directory."""

    def __init__(self, prefix: str):
        self.prefix, self.next = prefix, 0

    def take(self, n: int) -> pa.Array:
        numbers = _text(np.arange(self.next, self.next + n, dtype=np.int64) * 7919 + 1_000_003)
        self.next += n
        return _join(self.prefix, pc.utf8_lpad(numbers, 17, "0"))


def write_zeek(files: HourFiles, t: pa.RecordBatch, rng: np.random.Generator) -> None:
    uids = write_zeek.uids  # type: ignore[attr-defined]
    n = len(t)
    n_in = int(rng.binomial(n, 0.1))
    pick = rng.integers(0, n, n_in)
    octets = [_text(rng.integers(1, 255, n_in)) for _ in range(4)]
    conn = pa.record_batch({
        "ts": pa.concat_arrays([t["ts"],
                                pa.array(t["ts"].to_numpy()[pick] + rng.integers(0, 60_000_000, n_in))]),
        "orig_h": pa.concat_arrays([t["src_ip"], pc.binary_join_element_wise(*octets, ".")]),
        "orig_p": pa.array(np.concatenate([rng.integers(49152, 65536, n), rng.integers(1024, 65536, n_in)])),
        "resp_h": pa.concat_arrays([t["dst_ip"], t["src_ip"].take(pa.array(pick))]),
        "resp_p": pa.concat_arrays([t["dst_port"].cast(pa.int64()),
                                    pa.array(rng.choice([22, 23, 445, 1433, 3389], n_in))]),
        "proto": pa.concat_arrays([pc.utf8_lower(t["protocol"]), pa.array(["tcp"] * n_in)]),
        "fqdn": pa.concat_arrays([t["fqdn"], pa.nulls(n_in, pa.string())]),
        "orig_bytes": pa.concat_arrays([t["bytes_out"], pa.array(np.zeros(n_in, np.int64))]),
        "resp_bytes": pa.concat_arrays([t["bytes_in"], pa.array(np.zeros(n_in, np.int64))]),
        "inbound": pa.array(np.concatenate([np.zeros(n, bool), np.ones(n_in, bool)])),
    })
    conn = conn.append_column("uid", uids.take(len(conn)))
    ts = _zeek_ts(conn["ts"])
    inbound = conn["inbound"]
    tls = pc.and_(pc.and_(pc.equal(conn["resp_p"], 443), pc.is_valid(conn["fqdn"])), pc.invert(inbound))
    service = pc.if_else(tls, "ssl", pc.if_else(pc.equal(conn["resp_p"], 53), "dns",
                                                pc.if_else(pc.equal(conn["resp_p"], 80), "http", "-")))
    pkts_out = pc.add(pc.divide(conn["orig_bytes"], 1400), 1)
    pkts_in = pc.add(pc.divide(conn["resp_bytes"], 1400), 1)
    conn_lines = _join(
        ts, "\t", conn["uid"], "\t", conn["orig_h"], "\t", _text(conn["orig_p"]), "\t", conn["resp_h"], "\t",
        _text(conn["resp_p"]), "\t", conn["proto"], "\t", service, "\t",
        pc.if_else(inbound, "-", _text(pa.array(np.round(rng.random(len(conn)) * 5, 6)))), "\t",
        pc.if_else(inbound, "0", _text(conn["orig_bytes"])), "\t", pc.if_else(inbound, "0", _text(conn["resp_bytes"])),
        "\t", pc.if_else(inbound, "S0", "SF"), "\t", pc.if_else(inbound, "F", "T"), "\t",
        pc.if_else(inbound, "T", "F"), "\t0\t", pc.if_else(inbound, "S", "ShADadFf"), "\t", _text(pkts_out), "\t",
        _text(pc.add(pc.multiply(pkts_out, 40), conn["orig_bytes"])), "\t", _text(pkts_in), "\t",
        _text(pc.add(pc.multiply(pkts_in, 40), conn["resp_bytes"])), "\t(empty)")
    ssl_rows = conn.filter(tls)
    ssl_lines = _join(
        _zeek_ts(pc.add(ssl_rows["ts"], 40_000)), "\t", ssl_rows["uid"], "\t", ssl_rows["orig_h"], "\t",
        _text(ssl_rows["orig_p"]), "\t", ssl_rows["resp_h"], "\t", _text(ssl_rows["resp_p"]),
        "\tTLSv13\tTLS_AES_128_GCM_SHA256\tx25519\t", ssl_rows["fqdn"], "\tF\t-\th2\tT\tCsiI\t(empty)\t(empty)\tT")
    named = conn.filter(pc.is_valid(conn["fqdn"]))
    named = named.append_column("hour", pc.divide(named["ts"], 3_600_000_000))
    queries = pa.Table.from_batches([named]).group_by(["hour", "fqdn", "resp_h"]).aggregate(
        [("ts", "min"), ("orig_h", "min")]).sort_by("ts_min").combine_chunks()
    queries = pa.record_batch({c: queries[c].combine_chunks() for c in queries.column_names})
    m = len(queries)
    dns_lines = _join(
        _zeek_ts(pc.subtract(queries["ts_min"], 12_000)), "\t", uids.take(m), "\t", queries["orig_h_min"], "\t",
        _text(rng.integers(1024, 65536, m)), "\t168.63.129.16\t53\tudp\t", _text(rng.integers(0, 65536, m)),
        "\t0.001200\t", queries["fqdn"], "\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t", queries["resp_h"],
        "\t60.000000\tF")
    last = -1
    for name, fields, lines, when in (("conn", CONN_FIELDS, conn_lines, conn["ts"]),
                                      ("ssl", SSL_FIELDS, ssl_lines, ssl_rows["ts"]),
                                      ("dns", DNS_FIELDS, dns_lines, queries["ts_min"])):
        if not len(lines):
            continue
        for hour, rows in by_hour(when):
            if name == "conn" and files.full:
                break  # the companions are written up to the last conn hour
            if name == "conn":
                last = hour
            elif hour > last:
                break
            day = time.strftime("%Y-%m-%d", time.gmtime(hour))
            span = f"{time.strftime('%H:%M:%S', time.gmtime(hour))}-{time.strftime('%H:%M:%S', time.gmtime(hour + 3600))}"
            opened = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(hour))
            closed = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(hour + 3600))
            header = ZEEK_META.format(path=name, opened=opened) + f"#fields\t{fields[0]}\n#types\t{fields[1]}\n"
            files.append(files.root / day / f"{name}.{span}.log", "\n".join(lines.take(pa.array(rows)).to_pylist()) + "\n",
                         header=lambda h=header: h, footer=f"#close\t{closed}\n")


write_zeek.uids = _Uids("C")  # type: ignore[attr-defined]

AWS_ACCOUNT = "123456789012"
AWS_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"


def write_awsvpc(files: HourFiles, t: pa.RecordBatch, rng: np.random.Generator) -> None:
    n = len(t)
    src = t["src_ip"].dictionary_encode()
    enis = pa.array([f"eni-0{abs(hash_text(ip)) % 16**16:016x}" for ip in src.dictionary.to_pylist()]).take(src.indices)
    start = pc.divide(t["ts"], 1_000_000)
    proto = pc.if_else(pc.equal(t["protocol"], "TCP"), "6", "17")
    sport = _text(rng.integers(49152, 65536, n))
    action = pc.if_else(pa.array(rng.random(n) < 0.02), "REJECT", "ACCEPT")
    packets_out = pc.add(pc.divide(t["bytes_out"], 1400), 1)
    packets_in = pc.add(pc.divide(t["bytes_in"], 1400), 1)
    head = _join("2 ", AWS_ACCOUNT, " ", enis, " ")
    tail = _join(" ", _text(start), " ", _text(pc.add(start, 60)), " ")
    out = _join(head, t["src_ip"], " ", t["dst_ip"], " ", sport, " ", _text(t["dst_port"]), " ", proto, " ",
                _text(packets_out), " ", _text(t["bytes_out"]), tail, action, " OK")
    reply_rows = pa.array((rng.random(n) < 0.5) & pc.equal(proto, "6").to_numpy(zero_copy_only=False))
    reply = _join(head, t["dst_ip"], " ", t["src_ip"], " ", _text(t["dst_port"]), " ", sport, " ", proto, " ",
                  _text(packets_in), " ", _text(t["bytes_in"]), tail, "ACCEPT OK").filter(reply_rows)
    quiet = pa.array(rng.random(n) < 0.005)
    nodata = _join(head, "- - - - - - - ", _text(start), " ", _text(pc.add(start, 60)), " - NODATA").filter(quiet)
    lines = pa.concat_arrays([out, reply, nodata])
    when = pa.concat_arrays([t["ts"], t["ts"].filter(reply_rows),
                             t["ts"].filter(quiet)])
    for hour, rows in by_hour(when):
        if files.full:
            return
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(hour))
        day = time.strftime("%Y/%m/%d", time.gmtime(hour)).split("/")
        path = files.root.joinpath("AWSLogs", AWS_ACCOUNT, "vpcflowlogs", "us-east-1", *day,
                                   f"{AWS_ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_{stamp}_{hour % 99991:08x}.log")
        files.append(path, "\n".join(lines.take(pa.array(rows)).to_pylist()) + "\n", header=lambda: AWS_HEADER)


def hash_text(text: str) -> int:
    """A stable hash (Python's ``hash`` of a string changes between runs)."""
    value = 0
    for ch in text.encode():
        value = (value * 131 + ch) % (1 << 61)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", nargs="?", choices=sorted(SIZES))
    parser.add_argument("out", nargs="?", type=Path, help="output directory (created; must not exist)")
    parser.add_argument("--size-gb", type=float, help="stop once this many GB are written (default: the case's full size)")
    parser.add_argument("--list", action="store_true", help="the cases and their full and quick sizes")
    args = parser.parse_args(argv)
    if args.list or args.case is None:
        for case, (full, quick) in SIZES.items():
            print(f"{case:<10} full {full} GB, quick {quick} GB")
        return 0
    if args.out is None:
        parser.error("give an output directory")
    if args.out.exists():
        parser.error(f"{args.out} exists")
    started = time.perf_counter()
    make(args.case, args.out, args.size_gb or SIZES[args.case][0])
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(json.dumps({"case": args.case, "bytes": size, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
