"""The flow schema, and its conversion into the typed arrays the evaluator works on.

One row per outbound connection. Columns (DESIGN.md); only the destination columns are required:

============== ========= =====================================================================
column         required  meaning
============== ========= =====================================================================
compute_type   yes*      compute_instance, compute_cluster, serverless, serverless_spark,
                         managed_online_endpoint (also kubernetes, attached_vm). *May be absent
                         when a default compute type is given.
dst_ip         yes**     destination IPv4 or IPv6 address
dst_port       yes       destination port (ignored for ICMP)
protocol       yes       TCP, UDP or ICMP (or the IANA numbers 6, 17, 1)
fqdn           no        host name the client asked for: TLS SNI, HTTP Host or the DNS name
ts, compute_name, src_ip, bytes_out, bytes_in   no   carried through untouched
============== ========= =====================================================================

** a row needs ``dst_ip`` or ``fqdn`` (a firewall application-rule log may carry only the name).

Bad cells never vanish: a row that cannot be evaluated is marked with the reason (``invalid_dst_port``, ...).
The scalar parsers below are the single definition of a valid value; the vectorized path applies them once
per *unique* value, the reference evaluator once per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import FlowInputError
from ..ipnum import parse_ip_array
from ..model.enums import ComputeType, Protocol
from ..model.hostnames import try_normalize_host
from ..verdicts import Reason

FLOW_COLUMNS: tuple[str, ...] = (
    "ts", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "bytes_out", "bytes_in",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("dst_port", "protocol")
EVALUATED_COLUMNS: tuple[str, ...] = ("compute_type", "dst_ip", "dst_port", "protocol", "fqdn", "name_logged")

# The evaluator's protocol codes; index = code.
PROTOCOLS: tuple[Protocol, ...] = (Protocol.TCP, Protocol.UDP, Protocol.ICMP)
COMPUTE_TYPES: tuple[ComputeType, ...] = tuple(ComputeType)
_IANA = {"6": Protocol.TCP, "17": Protocol.UDP, "1": Protocol.ICMP}
_INVALID = -1  # code of a cell that failed to parse
_MISSING = -2  # code of an empty cell


def is_missing(value: Any) -> bool:
    """None, NaN/NA, or a blank string."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def parse_compute(value: Any) -> int:
    """Index into ``COMPUTE_TYPES``, or ``_MISSING`` / ``_INVALID``."""
    if is_missing(value):
        return _MISSING
    try:
        return COMPUTE_TYPES.index(ComputeType.parse(value))
    except ValueError:
        return _INVALID


def parse_protocol(value: Any) -> int:
    """Index into ``PROTOCOLS`` (TCP/UDP/ICMP by name or IANA number), or ``_MISSING`` / ``_INVALID``."""
    if is_missing(value):
        return _MISSING
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = str(int(value))
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))
    if not isinstance(value, str):
        return _INVALID
    text = value.strip()
    proto = _IANA.get(text)
    if proto is None and text.upper() in ("TCP", "UDP", "ICMP"):
        proto = Protocol(text.upper())
    return PROTOCOLS.index(proto) if proto is not None else _INVALID


def parse_port(value: Any) -> int:
    """A port 0-65535, or ``_MISSING`` / ``_INVALID`` (non-integer, out of range)."""
    if is_missing(value):
        return _MISSING
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return _INVALID
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _INVALID
    if not math.isfinite(number) or not number.is_integer() or not 0 <= number <= 65535:
        return _INVALID
    return int(number)


def parse_fqdn(value: Any) -> str | None | int:
    """Normalized host, None when absent, ``_INVALID`` when not a host name."""
    if is_missing(value):
        return None
    host = try_normalize_host(value)
    return _INVALID if host is None else host


@dataclass(frozen=True)
class FlowBatch:
    """Flows as typed numpy arrays, independent of any rule set.

    Destination addresses and host names are dictionary-encoded: a code per flow into arrays of the unique
    values, which are parsed (and later matched against rules) once each.
    ``reject`` holds a rejection ``Reason`` code per row, or 0 for a row that can be evaluated (``Reason``
    value 0 is an allow reason, never a rejection, so 0 is free as "valid").
    """

    n: int
    compute: np.ndarray  # int8 index into COMPUTE_TYPES
    protocol: np.ndarray  # int8 index into PROTOCOLS
    port: np.ndarray  # int32, -1 for ICMP
    dest_code: np.ndarray  # int32 index into the dest_* arrays, -1 when the cell is empty
    dest_version: np.ndarray  # uint8 per unique destination: 4, 6, or 0 (not an address)
    dest_hi: np.ndarray  # uint64 per unique destination (IPv6 upper word)
    dest_lo: np.ndarray  # uint64 per unique destination (IPv4 address, or IPv6 lower word)
    host_code: np.ndarray  # int32 index into hosts, -1 when no host
    hosts: np.ndarray  # object array of normalized unique host names
    reject: np.ndarray  # uint8 Reason code, 0 when the row is valid
    name_logged: np.ndarray  # bool: False where the log cannot record a host name (NSG tuples, network-rule hits)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, default_compute: ComputeType | str | None = None,
                   unknown_source: np.ndarray | None = None, names_logged: bool = True) -> "FlowBatch":
        """Parse a flow table. ``unknown_source`` marks rows whose compute could not be identified from their
        source address (replayed logs): they are rejected as ``unknown_source``, before any other check.

        ``names_logged=False`` says the log format records no host names at all (an empty ``fqdn`` then means
        "not recorded", not "not sent"); a ``name_logged`` column says it per row."""
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if "dst_ip" not in frame.columns and "fqdn" not in frame.columns:
            missing.append("dst_ip (or fqdn)")
        if "compute_type" not in frame.columns and default_compute is None and unknown_source is None:
            missing.append("compute_type (or a default compute type)")
        if missing:
            raise FlowInputError(f"flow table lacks required column(s): {', '.join(missing)}")
        n = len(frame)

        if "compute_type" in frame.columns:
            compute = _codes_per_unique(frame["compute_type"], parse_compute)
        elif default_compute is None:
            compute = np.full(n, _MISSING, dtype=np.int16)
        else:
            compute = np.full(n, parse_compute(str(default_compute)), dtype=np.int16)
            if compute.size and compute[0] < 0:
                raise FlowInputError(f"unknown default compute type {default_compute!r}")
        protocol = _codes_per_unique(frame["protocol"], parse_protocol)
        port = _ports(frame["dst_port"])

        if "dst_ip" in frame.columns:
            dest_code, ip_uniques = factorize(frame["dst_ip"])
            dest_version, dest_hi, dest_lo = parse_ip_array(ip_uniques)
            blank = np.array([is_missing(v) for v in ip_uniques], dtype=bool)
            bad_ip = take_by_code((dest_version == 0) & ~blank, dest_code, False)
            has_ip = take_by_code(dest_version != 0, dest_code, False)
        else:
            dest_code = np.full(n, -1, dtype=np.int32)
            dest_version, dest_hi, dest_lo = np.zeros(0, np.uint8), np.zeros(0, np.uint64), np.zeros(0, np.uint64)
            bad_ip = has_ip = np.zeros(n, bool)

        if "fqdn" in frame.columns:
            host_codes_raw, host_uniques = factorize(frame["fqdn"])
            parsed = [parse_fqdn(v) for v in host_uniques]
            bad_host_u = np.array([p == _INVALID for p in parsed], dtype=bool)
            names = [p for p in parsed if isinstance(p, str)]
            hosts, inverse = np.unique(np.array(names, dtype=object), return_inverse=True) if names else (np.array([], object), np.array([], np.intp))
            remap = np.full(len(parsed), -1, dtype=np.int32)
            valid_positions = [i for i, p in enumerate(parsed) if isinstance(p, str)]
            remap[valid_positions] = inverse
            host_code = take_by_code(remap, host_codes_raw, -1)
            bad_host = take_by_code(bad_host_u, host_codes_raw, False)
        else:
            hosts = np.array([], dtype=object)
            host_code = np.full(n, -1, dtype=np.int32)
            bad_host = np.zeros(n, bool)

        icmp = protocol == PROTOCOLS.index(Protocol.ICMP)
        port = np.where(icmp, -1, port).astype(np.int32)
        checks = (
            (unknown_source if unknown_source is not None else np.zeros(n, bool), Reason.UNKNOWN_SOURCE),
            (compute == _MISSING, Reason.MISSING_COMPUTE_TYPE),
            (compute == _INVALID, Reason.INVALID_COMPUTE_TYPE),
            (protocol == _MISSING, Reason.MISSING_PROTOCOL),
            (protocol == _INVALID, Reason.INVALID_PROTOCOL),
            (~icmp & (port == _MISSING), Reason.MISSING_DST_PORT),
            (~icmp & (port == _INVALID), Reason.INVALID_DST_PORT),
            (bad_ip, Reason.INVALID_DST_IP),
            (bad_host, Reason.INVALID_FQDN),
            (~has_ip & (host_code < 0), Reason.MISSING_DESTINATION),
        )
        reject = np.zeros(n, dtype=np.uint8)
        for failed, reason in reversed(checks):  # the first failing check wins
            reject[failed] = reason.value
        if "name_logged" in frame.columns:
            name_logged = _codes_per_unique(frame["name_logged"], parse_flag).astype(np.int8)
            name_logged = np.where(name_logged < 0, names_logged, name_logged == 1)
        else:
            name_logged = np.full(n, names_logged, dtype=bool)
        return cls(
            n=n,
            name_logged=name_logged,
            compute=compute.astype(np.int8),
            protocol=protocol.astype(np.int8),
            port=port,
            dest_code=dest_code.astype(np.int32, copy=False),
            dest_version=dest_version,
            dest_hi=dest_hi,
            dest_lo=dest_lo,
            host_code=host_code.astype(np.int32, copy=False),
            hosts=hosts,
            reject=reject,
        )


def flow_batch_from_table(table: pa.Table, default_compute: ComputeType | str | None = None) -> FlowBatch:
    """``FlowBatch.from_frame`` on an Arrow table, converting only the columns the evaluator reads (a
    dictionary column becomes a categorical, numbers are not copied, text stays Arrow-backed)."""
    wanted = [c for c in EVALUATED_COLUMNS if c in table.column_names]
    return FlowBatch.from_frame(table.select(wanted).to_pandas(), default_compute)


def parse_flag(value: Any) -> int:
    """1 true, 0 false, -2 missing or unreadable (the default applies): "False", "0" and "no" are false."""
    if is_missing(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return int(bool(value))
    text = str(value).strip().lower()
    return 1 if text in ("true", "1", "yes", "t") else 0 if text in ("false", "0", "no", "f") else _MISSING


def factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and unique values; missing cells get code -1.

    A categorical column (a Parquet dictionary column, read as such) is already factorized: its codes and
    categories are used as they are, with no hashing of the rows. Unused categories are harmless (parsed,
    never referenced)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), np.asarray(series.cat.categories, dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def take_by_code(values: np.ndarray, codes: np.ndarray, fill: Any) -> np.ndarray:
    """Broadcast per-unique ``values`` to rows: ``values[codes]``, with ``fill`` where the code is -1 (missing).

    One gather: ``fill`` is appended, so code -1 reads it as the last element."""
    return np.append(values, np.array(fill, dtype=values.dtype))[codes]


def _codes_per_unique(series: pd.Series, parse) -> np.ndarray:
    codes, uniques = factorize(series)
    parsed = np.array([parse(v) for v in uniques], dtype=np.int32)
    return take_by_code(parsed, codes, _MISSING)


def _ports(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.full(len(values), _INVALID, dtype=np.int32)
        missing = np.isnan(values)
        ok = ~missing & (values >= 0) & (values <= 65535) & (np.floor(values) == values)
        out[ok] = values[ok].astype(np.int32)
        out[missing] = _MISSING
        return out
    return _codes_per_unique(series, parse_port).astype(np.int32)
