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

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..base.errors import FlowInputError
from ..net.ipnum import BLANKS, parse_ip_array
from ..base.limits import DISTINCT_VALUES_PER_SLICE
from ..model.enums import ComputeType, Protocol
from ..model.hostnames import try_normalize_host
from .verdicts import Reason
from .assemble import DEST_INVALID, DEST_NONE, DEST_VALID, INVALID, MISSING, assemble

FLOW_COLUMNS: tuple[str, ...] = (
    "ts", "compute_type", "compute_name", "src_ip", "dst_ip", "dst_port", "protocol", "fqdn", "bytes_out", "bytes_in",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("dst_port", "protocol")
EVALUATED_COLUMNS: tuple[str, ...] = ("compute_type", "dst_ip", "dst_port", "protocol", "fqdn", "name_logged")

# The evaluator's protocol codes; index = code.
PROTOCOLS: tuple[Protocol, ...] = (Protocol.TCP, Protocol.UDP, Protocol.ICMP)
COMPUTE_TYPES: tuple[ComputeType, ...] = tuple(ComputeType)
_IANA = {"6": Protocol.TCP, "17": Protocol.UDP, "1": Protocol.ICMP}
_INVALID = INVALID  # code of a cell that failed to parse
_MISSING = MISSING  # code of an empty cell
Column = pd.Series | pa.ChunkedArray | pa.Array


def is_missing(value: Any) -> bool:
    """None, NaN/NA, or a blank string."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip(BLANKS) == ""


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
    """A port 0-65535, or ``_MISSING`` / ``_INVALID``.

    Text is a port only when it is plain ASCII decimal digits without a leading zero (``443``; blanks around
    are ignored): ``443.0``, ``1e3``, ``4_4_3``, ``+443``, ``0x1bb``, ``0443`` or Arabic-Indic ``٤٤٣``, all of
    which Python's ``int``/``float`` would turn into some number, are invalid, so a row never gets a port
    nobody wrote. A number cell (an integer or float column) is a port when it is a whole number in range:
    a float column holding ``443.0`` is read as 443, ``443.5`` is invalid."""
    if is_missing(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return _INVALID
    if isinstance(value, str):
        return _port_text(value)
    if isinstance(value, (int, np.integer)):
        return int(value) if 0 <= value <= 65535 else _INVALID
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return int(number) if math.isfinite(number) and number.is_integer() and 0 <= number <= 65535 else _INVALID
    return _INVALID


def _port_text(value: str) -> int:
    text = value.strip(BLANKS)
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or (text[0] == "0" and text != "0"):
        return _INVALID
    number = int(text)
    return number if number <= 65535 else _INVALID


def parse_fqdn(value: Any) -> str | None | int:
    """Normalized host, None when absent, ``_INVALID`` when not a host name."""
    if is_missing(value):
        return None
    host = _normalized_host(value) if isinstance(value, str) else try_normalize_host(value)
    return _INVALID if host is None else host


@functools.lru_cache(maxsize=1 << 13)
def _normalized_host(text: str) -> str | None:
    """``try_normalize_host`` remembered: a log's chunks repeat the same names, each parsed once per chunk.
    Small on purpose (8,192 names, ~4 MB): a full cache of 65,536 made peak memory grow ~30 MB with input size."""
    return try_normalize_host(text)


@dataclass(frozen=True)
class FlowBatch:
    """Flows as typed numpy arrays, independent of any rule set.

    Destination addresses and host names are dictionary-encoded: a code per flow into arrays of the unique
    values, which are parsed (and later matched against rules) once each, in slices of at most
    ``limits.DISTINCT_VALUES_PER_SLICE`` values: only a slice's values exist as Python objects at a time, so
    memory does not grow with the number of distinct names in a chunk beyond compact arrays (the host names
    are kept as Arrow text, ~30 bytes a name instead of ~150 as Python strings).
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
    hosts: pa.Array  # normalized host names, one per distinct cell (two cells may normalize alike)
    reject: np.ndarray  # uint8 Reason code, 0 when the row is valid
    name_logged: np.ndarray  # bool: False where the log cannot record a host name (NSG tuples, network-rule hits)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, default_compute: ComputeType | str | None = None,
                   unknown_source: np.ndarray | None = None, names_logged: bool | np.ndarray = True,
                   malformed: np.ndarray | None = None) -> "FlowBatch":
        """Parse a flow table. ``unknown_source`` marks rows whose compute could not be identified from their
        source address (replayed logs): they are rejected as ``unknown_source``, before any other check;
        ``malformed`` marks CSV lines that were not one row of the header's width (``flows.io``): they are
        rejected as ``bad_field_count``, before anything else.

        ``names_logged=False`` says the log format records no host names at all (an empty ``fqdn`` then means
        "not recorded", not "not sent"); a ``name_logged`` column says it per row."""
        columns = {name: frame[name] for name in frame.columns if name in EVALUATED_COLUMNS}
        return cls.from_columns(columns, len(frame), default_compute, unknown_source, names_logged, malformed)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Column], n: int, default_compute: ComputeType | str | None = None,
                     unknown_source: np.ndarray | None = None, names_logged: bool | np.ndarray = True,
                     malformed: np.ndarray | None = None) -> "FlowBatch":
        """``from_frame`` on columns given one by one: pandas Series or Arrow arrays (a dictionary array is
        taken as it is, codes and values, which is how Parquet text columns arrive). ``names_logged`` may
        be given per flow (replay gathers flows of several log formats). A column holding values that are
        neither text nor numbers (lists, mappings) raises ``FlowInputError`` naming it."""
        for name, column in columns.items():
            if not isinstance(column, pd.Series):
                _check_column_type(name, column.type)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if "dst_ip" not in columns and "fqdn" not in columns:
            missing.append("dst_ip (or fqdn)")
        if "compute_type" not in columns and default_compute is None and unknown_source is None:
            missing.append("compute_type (or a default compute type)")
        if missing:
            raise FlowInputError(f"flow table lacks required column(s): {', '.join(missing)}")

        if "compute_type" in columns:
            compute_codes, compute_parsed = _parsed_per_unique(columns["compute_type"], parse_compute, "compute_type")
        else:
            compute_codes = np.full(n, -1 if default_compute is None else 0, dtype=np.int32)
            compute_parsed = np.array([_MISSING if default_compute is None else parse_compute(str(default_compute))], np.int32)
            if compute_parsed[0] == _INVALID:
                raise FlowInputError(f"unknown default compute type {default_compute!r}")
        protocol_codes, protocol_parsed = _parsed_per_unique(columns["protocol"], parse_protocol, "protocol")
        port = _ports(columns["dst_port"])

        if "dst_ip" in columns:
            dest_code, ip_uniques = encode(columns["dst_ip"], "dst_ip")
            dest_version, dest_hi, dest_lo, dest_state = _destinations(ip_uniques)
        else:
            dest_code = np.full(n, -1, dtype=np.int32)
            dest_version, dest_hi, dest_lo = np.zeros(0, np.uint8), np.zeros(0, np.uint64), np.zeros(0, np.uint64)
            dest_state = np.zeros(0, dtype=np.uint8)

        if "fqdn" in columns:
            host_codes, host_uniques = encode(columns["fqdn"], "fqdn")
            hosts, host_index, host_bad = _host_names(host_uniques)
        else:
            hosts = pa.array([], pa.string())
            host_codes = np.full(n, -1, dtype=np.int32)
            host_index, host_bad = np.zeros(0, np.int32), np.zeros(0, bool)

        compute, protocol = np.empty(n, np.int8), np.empty(n, np.int8)
        port_out, host_code, reject = np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.uint8)
        assemble(
            compute_codes, compute_parsed, protocol_codes, protocol_parsed, port, PROTOCOLS.index(Protocol.ICMP),
            dest_code, dest_state, host_codes, host_index, host_bad,
            _prior_rejects(n, unknown_source, malformed),
            compute, protocol, port_out, host_code, reject,
        )
        if "name_logged" in columns:
            name_logged = name_logged_flags(columns["name_logged"], names_logged)
        else:
            name_logged = np.broadcast_to(np.asarray(names_logged, dtype=bool), (n,)).copy()
        return cls(
            n=n,
            name_logged=name_logged,
            compute=compute,
            protocol=protocol,
            port=port_out,
            dest_code=dest_code,
            dest_version=dest_version,
            dest_hi=dest_hi,
            dest_lo=dest_lo,
            host_code=host_code,
            hosts=hosts,
            reject=reject,
        )


    def valid_ports(self) -> pd.arrays.IntegerArray:
        """Each flow's port as parsed (``Int64``), missing where the flow has none (ICMP) or its cell was
        empty or not a port: what an output can show without coercing a cell nobody wrote as a port
        (``pd.to_numeric`` would turn ``1e3`` into 1000 and fail on ``443.5``)."""
        return pd.arrays.IntegerArray(self.port.astype(np.int64), self.port < 0)


def _prior_rejects(n: int, unknown_source: np.ndarray | None, malformed: np.ndarray | None) -> np.ndarray:
    """Per row, the rejection decided before any cell is parsed (0: none): a malformed line first."""
    prior = np.zeros(n, dtype=np.uint8)
    if unknown_source is not None:
        prior[np.asarray(unknown_source, dtype=bool)] = Reason.UNKNOWN_SOURCE.value
    if malformed is not None:
        prior[np.asarray(malformed, dtype=bool)] = Reason.BAD_FIELD_COUNT.value
    return prior


def flow_batch_from_table(table: pa.Table, default_compute: ComputeType | str | None = None,
                          malformed: np.ndarray | None = None) -> FlowBatch:
    """``FlowBatch.from_frame`` on an Arrow table, reading the evaluated columns straight from Arrow."""
    columns = {name: table.column(name) for name in EVALUATED_COLUMNS if name in table.column_names}
    return FlowBatch.from_columns(columns, table.num_rows, default_compute, malformed=malformed)


def check_flow_schema(schema: pa.Schema, file: str | None = None) -> None:
    """Refuse, naming the file and the column, a flow file whose schema the evaluator cannot read: a column
    name given twice, or a column it reads (``EVALUATED_COLUMNS``) holding something other than text,
    numbers or booleans (a list, a struct, bytes, a time). Other columns are carried through as they are."""
    where = f"{file}: " if file else ""
    twice = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if twice:
        raise FlowInputError(f"{where}the column(s) {', '.join(twice)} appear more than once", file=file)
    for field in schema:
        if field.name in EVALUATED_COLUMNS:
            try:
                _check_column_type(field.name, field.type)
            except FlowInputError as exc:
                raise FlowInputError(f"{where}{exc}", file=file) from None


def _check_column_type(name: str, kind: pa.DataType) -> None:
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    if not any(test(value) for test in _READABLE_TYPES):
        raise FlowInputError(f"column {name!r} holds {kind}: the evaluator reads text or numbers there "
                             f"(write it as text, one value per row)")


_READABLE_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_floating,
                   pa.types.is_boolean, pa.types.is_null, getattr(pa.types, "is_string_view", lambda _: False))


def name_logged_flags(column: Column, default: bool | np.ndarray) -> np.ndarray:
    """The ``name_logged`` column as booleans per flow; ``default`` (one for all, or per flow) where a cell is
    empty or unreadable."""
    codes, flags = _parsed_per_unique(column, parse_flag, "name_logged")
    flag = np.append(flags, _MISSING)[codes]
    return np.where(flag < 0, default, flag == 1)


def parse_flag(value: Any) -> int:
    """1 true, 0 false, -2 missing or unreadable (the default applies): "False", "0" and "no" are false."""
    if is_missing(value):
        return _MISSING
    if isinstance(value, (bool, np.bool_)):
        return int(bool(value))
    text = str(value).strip().lower()
    return 1 if text in ("true", "1", "yes", "t") else 0 if text in ("false", "0", "no", "f") else _MISSING


def factorize(column: Column, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32, -1 for a missing cell) and the unique values (object array). See ``encode``."""
    codes, uniques = encode(column, name)
    if isinstance(uniques, pa.Array):
        uniques = np.asarray(uniques.to_numpy(zero_copy_only=False), dtype=object)
    return codes, uniques


def encode(column: Column, name: str = "") -> tuple[np.ndarray, np.ndarray | pa.Array]:
    """Codes (int32, -1 for a missing cell) and the unique values: an object array for pandas input, the
    Arrow array of distinct values for Arrow input (no Python object per value until ``unique_slices``).

    A column that is already dictionary-encoded (a pandas categorical, an Arrow dictionary array: how
    Parquet text columns arrive) is used as it is, with no hashing of the rows; unused categories are
    harmless (parsed, never referenced). Values that cannot be told apart by hashing (lists, mappings)
    raise ``FlowInputError`` naming the column ``name``."""
    if isinstance(column, pd.Series):
        if isinstance(column.dtype, pd.CategoricalDtype):
            return column.cat.codes.to_numpy().astype(np.int32, copy=False), np.asarray(column.cat.categories, dtype=object)
        try:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
        except TypeError:  # unhashable cells: lists, dicts, arrays
            raise FlowInputError(f"column {name!r} holds values that are not text or numbers (lists or mappings): "
                                 f"the evaluator reads one value per cell") from None
        return codes.astype(np.int32, copy=False), np.asarray(uniques, dtype=object)
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(array.type):
        _check_column_type(name, array.type)
        array = pc.dictionary_encode(array)
    codes = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, array.dictionary


def unique_slices(uniques: np.ndarray | pa.Array) -> Iterator[tuple[int, list]]:
    """The unique values as Python lists of at most ``DISTINCT_VALUES_PER_SLICE``, each with its offset."""
    for start in range(0, len(uniques), DISTINCT_VALUES_PER_SLICE):
        part = uniques[start:start + DISTINCT_VALUES_PER_SLICE]
        # Arrow's to_numpy (then tolist) is ~10x faster than to_pylist; it gives what the old whole-array
        # path gave: str, Python ints, floats (NaN for a null number), None for a null text cell.
        yield start, (part.to_numpy(zero_copy_only=False) if isinstance(part, pa.Array) else part).tolist()


def _parsed_per_unique(column: Column, parse, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Codes per row and ``parse`` of each unique value (int32)."""
    codes, uniques = encode(column, name)
    parsed = np.empty(len(uniques), dtype=np.int32)
    for start, values in unique_slices(uniques):
        parsed[start:start + len(values)] = [parse(v) for v in values]
    return codes, parsed


def _destinations(uniques: np.ndarray | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per distinct ``dst_ip`` cell: ``parse_ip_array``'s version, hi and lo words, and its DEST_* state."""
    n = len(uniques)
    version, hi, lo = np.zeros(n, np.uint8), np.zeros(n, np.uint64), np.zeros(n, np.uint64)
    state = np.empty(n, dtype=np.uint8)
    for start, values in unique_slices(uniques):
        end = start + len(values)
        version[start:end], hi[start:end], lo[start:end] = parse_ip_array(np.fromiter(values, dtype=object, count=len(values)))
        blank = np.array([is_missing(v) for v in values], dtype=bool)
        state[start:end] = np.where(version[start:end] != 0, DEST_VALID, np.where(blank, DEST_NONE, DEST_INVALID))
    return version, hi, lo, state


def _host_names(uniques: np.ndarray | pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Per distinct ``fqdn`` cell: its index into the normalized names (-1: empty or not a host name) and
    whether it is bad (not a host name); and the normalized names as Arrow text."""
    index = np.full(len(uniques), -1, dtype=np.int32)
    bad = np.zeros(len(uniques), dtype=bool)
    parts: list[pa.Array] = []
    count = 0
    for start, values in unique_slices(uniques):
        parsed = [parse_fqdn(v) for v in values]
        names = [p for p in parsed if isinstance(p, str)]
        valid = np.fromiter((isinstance(p, str) for p in parsed), dtype=bool, count=len(parsed))
        bad[start:start + len(parsed)] = np.fromiter((isinstance(p, int) for p in parsed), dtype=bool, count=len(parsed))
        index[start + np.flatnonzero(valid)] = np.arange(count, count + len(names), dtype=np.int32)
        parts.append(pa.array(names, pa.string()))
        count += len(names)
    return (pa.concat_arrays(parts) if parts else pa.array([], pa.string())), index, bad


def _ports(column: Column) -> np.ndarray:
    """Ports per row (int32), ``_MISSING`` / ``_INVALID`` where the cell is empty / not a port."""
    kind = column.dtype if isinstance(column, pd.Series) else column.type
    if isinstance(column, pd.Series):
        numeric = pd.api.types.is_integer_dtype(kind) or pd.api.types.is_float_dtype(kind)
    else:
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if not numeric:
        codes, ports = _parsed_per_unique(column, parse_port, "dst_port")
        return np.append(ports, _MISSING)[codes]
    if isinstance(column, pd.Series):
        plain = column.dtype.kind in "iu"  # a numpy integer column has no missing cells
        values = column.to_numpy() if plain else column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = column.to_numpy(zero_copy_only=False)  # integers with nulls come back as floats with NaN
    if values.dtype.kind in "iu":  # integers without missing cells (the common case): one range check
        return np.where((values >= 0) & (values <= 65535), values, _INVALID).astype(np.int32, copy=False)
    values = values.astype(np.float64)  # missing cells are NaN now, which fails every test below
    ok = (values >= 0) & (values <= 65535) & (np.floor(values) == values)
    return np.where(ok, values, np.where(np.isnan(values), _MISSING, _INVALID)).astype(np.int32)
