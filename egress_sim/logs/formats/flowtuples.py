"""Network Watcher flow tuples (NSG versions 1 and 2, VNet version 4) parsed a batch at a time, never one by one.

Which checks a tuple passes and in which order is written down in ``azure_flowlogs``'s docstring; this module
is how they run fast on the tuples of many records, and of many small blobs, at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa

from ...net.ipnum import IPV4_PATTERN
from ..engine.cells import is_ip_text
from ..engine.ledger import Outcomes

N_FIELDS = 13  # a tuple once normalised (NSG version 1 tuples are padded with five empty fields)

# Reason codes of tuple-level rejects, in check order (0 = valid).
_TUPLE_REASONS = (
    "", "bad_tuple_field_count", "invalid_tuple", "invalid_utf8", "invalid_timestamp", "invalid_ip",
    "invalid_port", "unknown_protocol", "unsupported_protocol", "unknown_direction", "unknown_decision",
    "unknown_flow_state", "invalid_counter",
)
REASON_CODE = {name: i for i, name in enumerate(_TUPLE_REASONS)}
TUPLE_OUTCOMES = Outcomes(skips=("inbound",), rejects=_TUPLE_REASONS[1:])  # reject r is outcome r + 1
_PROTOCOL_NAMES = pa.array(["TCP", "UDP", "ICMP"])
_ACTIONS = pa.array(["allow", "deny"])

# How: the tuples become one Arrow string array, and one compiled pass (numba) over its data buffer reads each
# tuple once, byte by byte: it cuts the fields at the commas, reads the numbers, looks the one-letter fields up,
# checks dotted quads, and sets one bit per failed check; the first failed check in ``_CHECK_ORDER`` names the
# reason. An address that is no dotted quad but holds a colon (an IPv6 candidate) is left to ``ipaddress``,
# once per distinct text. ``check_tuple`` is the same rules tuple by tuple with ``str.split``: the plain
# statement of what the pass computes, which the tests hold it to on random tuples. Slices of SLICE_ROWS tuples
# keep the per-row arrays small.

SLICE_ROWS = 1 << 18
_IANA = np.full(256, -1, dtype=np.int8)
_IANA[[6, 17, 1, 58]] = [0, 1, 2, 2]  # TCP, UDP, ICMP, ICMPv6 (as ICMP)
_VNET_DROPPING = ("NX_SW_NOT_READY", "NX_NOT_ACCEPTED", "NX_NOT_SUPPORTED")  # encryption states that drop
_DROPPING_BYTES = np.frombuffer("|".join(_VNET_DROPPING).encode(), dtype=np.uint8)
_CHECK_ORDER = ("invalid_tuple", "invalid_utf8", "bad_tuple_field_count", "invalid_timestamp", "invalid_ip",
                "invalid_port", "unknown_protocol", "unsupported_protocol", "unknown_direction", "unknown_decision",
                "unknown_flow_state", "invalid_counter")
# The reason of a set of failed checks (bit r: check of reason code r failed): the first of them in check order.
_FIRST_FAILED = np.zeros(1 << len(_TUPLE_REASONS), dtype=np.uint8)
for _mask in range(1, len(_FIRST_FAILED)):
    _FIRST_FAILED[_mask] = next((REASON_CODE[name] for name in _CHECK_ORDER if _mask >> REASON_CODE[name] & 1), 0)
_BIT = {name: np.uint16(1 << code) for name, code in REASON_CODE.items() if code}
_B_LINE_BREAK, _B_COUNT, _B_TS, _B_IP, _B_PORT = (int(_BIT[n]) for n in (
    "invalid_tuple", "bad_tuple_field_count", "invalid_timestamp", "invalid_ip", "invalid_port"))
_B_PROTOCOL, _B_UNSUPPORTED, _B_DIRECTION, _B_DECISION, _B_STATE, _B_COUNTER = (int(_BIT[n]) for n in (
    "unknown_protocol", "unsupported_protocol", "unknown_direction", "unknown_decision", "unknown_flow_state",
    "invalid_counter"))
_QUAD, _IPV6_CANDIDATE, _NO_ADDRESS = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _number(data, start, end, max_digits):  # pragma: no cover - compiled
    """(value, is 1..max_digits ASCII digits, is empty) of the field ``data[start:end]``; value 0 when not."""
    if end == start:
        return 0, False, True
    if end - start > max_digits:
        return 0, False, False
    value = 0
    for at in range(start, end):
        digit = np.int64(data[at]) - 48
        if digit < 0 or digit > 9:
            return 0, False, False
        value = value * 10 + digit
    return value, True, False


@numba.njit(cache=True, nogil=True)
def _letter(data, start, end, choices):  # pragma: no cover - compiled
    """Index in ``choices`` (bytes; 0 stands for the empty field) of a field of at most one byte, or -1."""
    if end - start > 1:
        return -1
    key = np.int64(0) if end == start else np.int64(data[start])
    for k in range(len(choices)):
        if choices[k] == key:
            return k
    return -1


@numba.njit(cache=True, nogil=True)
def _address(data, start, end):  # pragma: no cover - compiled
    """``_QUAD`` for a dotted quad exactly as ``ipaddress`` takes it (``net.ipnum.IPV4_PATTERN``: octets 0-255,
    no leading zero), ``_IPV6_CANDIDATE`` for other text holding a colon, else ``_NO_ADDRESS``."""
    dots, digits, value, lead_zero, quad, colon = 0, 0, 0, False, True, False
    for at in range(start, end):
        c = data[at]
        if 48 <= c <= 57:
            if digits == 0:
                lead_zero = c == 48
            elif lead_zero:
                quad = False
            digits += 1
            value = value * 10 + c - 48
            if digits > 3 or value > 255:
                quad = False
        elif c == 46:
            if digits == 0:
                quad = False
            dots += 1
            digits, value = 0, 0
        else:
            quad = False
            if c == 58:
                colon = True
    if quad and dots == 3 and digits > 0:
        return _QUAD
    return _IPV6_CANDIDATE if colon else _NO_ADDRESS


@numba.njit(cache=True, nogil=True)
def _dropping(data, start, end, names):  # pragma: no cover - compiled
    """Whether the field is one of the ``|``-separated ``names``."""
    at = 0
    while at < len(names):
        stop = at
        while stop < len(names) and names[stop] != 124:
            stop += 1
        if stop - at == end - start:
            same = True
            for k in range(end - start):
                if data[start + k] != names[at + k]:
                    same = False
                    break
            if same:
                return True
        at = stop + 1
    return False


_NSG_PROTOCOLS, _DIRECTIONS, _DECISIONS = (np.array([ord(c) for c in s], np.int64) for s in ("TU", "IO", "AD"))
_NSG_STATES = np.array([ord("B"), ord("C"), ord("E"), 0], np.int64)  # 0: the empty field (version 1)
_VNET_STATES = np.array([ord(c) for c in "BCED"], np.int64)


@numba.njit(cache=True, nogil=True)
def _check_tuples(data, offsets, commas, vnet, failed, addresses, ts_ms, dst_port, protocol, outbound, denied,
                  bytes_out, bytes_in, has_out, has_in, iana, dropping, nsg_protocols, directions, decisions,
                  nsg_states, vnet_states):  # pragma: no cover - compiled
    """Every tuple ``data[offsets[i]:offsets[i + 1]]`` whose ``failed[i]`` is still 0: its failed checks as bits in
    ``failed`` (the address bit for certain only; ``addresses[i, 4]`` says that an IPv6 candidate awaits
    ``ipaddress``), and its values. ``addresses[i]``: source start and end, destination start and end."""
    starts = np.empty(13, np.int64)
    ends = np.empty(13, np.int64)
    for i in range(len(commas)):
        if failed[i]:
            continue
        lo, hi = offsets[i], offsets[i + 1]
        count, broken = 0, False
        starts[0] = lo
        for at in range(lo, hi):
            c = data[at]
            if c == 44:
                if count < 12:
                    ends[count] = at
                    starts[count + 1] = at + 1
                count += 1
            elif c == 10 or c == 13:
                broken = True
        if broken:
            failed[i] = _B_LINE_BREAK
            continue
        if count != commas[i]:
            failed[i] = _B_COUNT
            continue
        ends[count] = hi
        for j in range(count + 1, 13):  # the five fields a version 1 tuple lacks are empty
            starts[j] = hi
            ends[j] = hi
        bits = 0
        ts, ok, _ = _number(data, starts[0], ends[0], 15)
        if not ok or ts >= 10**14:
            bits |= _B_TS
        ts_ms[i] = ts * 1000 if ts < 10**11 else ts
        pending = 0
        for k in range(2):
            kind = _address(data, starts[1 + k], ends[1 + k])
            if kind == _NO_ADDRESS:
                bits |= _B_IP
            elif kind == _IPV6_CANDIDATE:
                pending = 1
            addresses[i, 2 * k] = starts[1 + k]
            addresses[i, 2 * k + 1] = ends[1 + k]
        addresses[i, 4] = pending
        src_port, ok_src, _ = _number(data, starts[3], ends[3], 5)
        port, ok_dst, _ = _number(data, starts[4], ends[4], 5)
        if not ok_src or not ok_dst or src_port > 65535 or port > 65535:
            bits |= _B_PORT
        dst_port[i] = port
        if vnet:
            number, ok, _ = _number(data, starts[5], ends[5], 3)
            if not ok or number > 255:
                bits |= _B_PROTOCOL
                protocol[i] = -1
            else:
                protocol[i] = iana[number]
                if iana[number] < 0:
                    bits |= _B_UNSUPPORTED
            direction = _letter(data, starts[6], ends[6], directions)
            state = _letter(data, starts[7], ends[7], vnet_states)
            if state < 0:
                bits |= _B_STATE
            denied[i] = state == 3 or _dropping(data, starts[8], ends[8], dropping)
            no_stats = state == 0  # a B tuple carries no statistics (VNet logs write zeros there)
        else:
            protocol[i] = _letter(data, starts[5], ends[5], nsg_protocols)
            if protocol[i] < 0:
                bits |= _B_PROTOCOL
            direction = _letter(data, starts[6], ends[6], directions)
            decision = _letter(data, starts[7], ends[7], decisions)
            if decision < 0:
                bits |= _B_DECISION
            state = _letter(data, starts[8], ends[8], nsg_states)
            version1 = commas[i] == 7
            if state < 0 or (state == 3) != version1:  # version 1: no state; version 2: B, C or E
                bits |= _B_STATE
            denied[i] = decision == 1
            no_stats = version1 or state == 0
        if direction < 0:
            bits |= _B_DIRECTION
        outbound[i] = direction == 1
        for j in range(9, 13):
            value, ok, empty = _number(data, starts[j], ends[j], 18)
            if not ok and not empty:
                bits |= _B_COUNTER
            if j == 10:
                bytes_out[i] = value
                has_out[i] = ok and not no_stats
            elif j == 12:
                bytes_in[i] = value
                has_in[i] = ok and not no_stats
        failed[i] = bits


@numba.njit(cache=True, nogil=True)
def _gather_addresses(data, addresses, rows, offsets, out):  # pragma: no cover - compiled
    """The source addresses of ``rows``, then their destination addresses, one after the other (Arrow layout)."""
    at, k = 0, 0
    offsets[0] = 0
    for side in range(2):
        for i in rows:
            start, end = addresses[i, 2 * side], addresses[i, 2 * side + 1]
            out[at:at + end - start] = data[start:end]
            at += end - start
            k += 1
            offsets[k] = at


@dataclass
class _Parsed:
    """The outbound tuples of a slice that passed every check (one entry per row of ``rows``), and how many
    valid inbound ones it held."""

    rows: np.ndarray  # positions in the slice
    ts_ms: np.ndarray
    src: pa.StringArray
    dst: pa.StringArray
    dst_port: np.ndarray
    protocol: np.ndarray  # index into _PROTOCOL_NAMES
    denied: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    has_out: np.ndarray
    has_in: np.ndarray
    inbound: np.ndarray  # positions in the slice of the valid inbound tuples


def _parse(dialect: str, arr: pa.StringArray, commas: np.ndarray, reason: np.ndarray) -> _Parsed:
    """Check and read a slice of tuples; ``reason`` (codes already known) gets every tuple's reason code."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8) if arr.buffers()[2] is not None else \
        np.zeros(1, dtype=np.uint8)
    failed = np.where(reason > 0, np.uint16(1) << reason.astype(np.uint16), 0).astype(np.uint16)
    addresses = np.zeros((n, 5), dtype=np.int32)
    ts_ms, bytes_out, bytes_in = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    dst_port, protocol = np.zeros(n, np.int32), np.zeros(n, np.int8)
    outbound, denied, has_out, has_in = (np.zeros(n, np.bool_) for _ in range(4))
    _check_tuples(data, offsets, commas.astype(np.int64), dialect == "vnet", failed, addresses, ts_ms, dst_port,
                  protocol, outbound, denied, bytes_out, bytes_in, has_out, has_in, _IANA, _DROPPING_BYTES,
                  _NSG_PROTOCOLS, _DIRECTIONS, _DECISIONS, _NSG_STATES, _VNET_STATES)
    _settle_ipv6_candidates(data, addresses, failed)
    reason[:] = _FIRST_FAILED[failed]
    valid = reason == 0
    out = np.flatnonzero(valid & outbound)
    text_offsets = np.empty(2 * len(out) + 1, dtype=np.int32)
    sizes = addresses[out, 1] - addresses[out, 0], addresses[out, 3] - addresses[out, 2]
    text = np.empty(int(sizes[0].sum() + sizes[1].sum()), dtype=np.uint8)
    _gather_addresses(data, addresses, out, text_offsets, text)
    both = pa.StringArray.from_buffers(2 * len(out), pa.py_buffer(text_offsets), pa.py_buffer(text))
    return _Parsed(out, ts_ms[out], both.slice(0, len(out)), both.slice(len(out)), dst_port[out], protocol[out],
                   denied[out], bytes_out[out], bytes_in[out], has_out[out], has_in[out],
                   np.flatnonzero(valid & ~outbound))


def _settle_ipv6_candidates(data: np.ndarray, addresses: np.ndarray, failed: np.ndarray) -> None:
    """Addresses that are no dotted quad but hold a colon: ``ipaddress`` decides, once per distinct text."""
    rows = np.flatnonzero(addresses[:, 4] & ((failed & _B_IP) == 0))
    verdicts: dict[bytes, bool] = {}
    for i in rows.tolist():
        for side in range(2):
            raw = data[addresses[i, 2 * side]:addresses[i, 2 * side + 1]].tobytes()
            if raw not in verdicts:
                verdicts[raw] = _is_address_text(raw)
            if not verdicts[raw]:
                failed[i] |= _B_IP


def _is_address_text(raw: bytes) -> bool:
    try:
        return is_ip_text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return False


def check_tuple(dialect: str, text: str, commas: int) -> tuple[str, dict | None]:
    """One tuple the plain way: (its reason, or "" when valid; its values when valid). What ``_check_tuples``
    computes for a whole slice at once, written as the rules read; the tests hold the two to each other."""
    if "\n" in text or "\r" in text:
        return "invalid_tuple", None
    fields = text.split(",")
    if len(fields) != commas + 1:
        return "bad_tuple_field_count", None
    fields += [""] * (N_FIELDS - len(fields))

    def number(field: str, max_digits: int) -> int | None:
        ok = 0 < len(field) <= max_digits and all("0" <= c <= "9" for c in field)
        return int(field) if ok else None

    failed: list[str] = []
    ts = number(fields[0], 15)
    if ts is None or ts >= 10**14:
        failed.append("invalid_timestamp")
    if not all(_plain_address(f) for f in fields[1:3]):
        failed.append("invalid_ip")
    src_port, dst_port = number(fields[3], 5), number(fields[4], 5)
    if src_port is None or dst_port is None or src_port > 65535 or dst_port > 65535:
        failed.append("invalid_port")
    if dialect == "vnet":
        iana = number(fields[5], 3)
        protocol = {6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMP"}.get(iana) if iana is not None else None
        if iana is None or iana > 255:
            failed.append("unknown_protocol")
        elif protocol is None:
            failed.append("unsupported_protocol")
        state = fields[7]
        if state not in ("B", "C", "E", "D"):
            failed.append("unknown_flow_state")
        denied = state == "D" or fields[8] in _VNET_DROPPING
        no_stats = state == "B"
    else:
        protocol = {"T": "TCP", "U": "UDP"}.get(fields[5])
        if protocol is None:
            failed.append("unknown_protocol")
        if fields[7] not in ("A", "D"):
            failed.append("unknown_decision")
        version1 = commas == 7
        if fields[8] not in (("",) if version1 else ("B", "C", "E")):
            failed.append("unknown_flow_state")
        denied = fields[7] == "D"
        no_stats = version1 or fields[8] == "B"
    if fields[6] not in ("I", "O"):
        failed.append("unknown_direction")
    if not all(f == "" or number(f, 18) is not None for f in fields[9:13]):
        failed.append("invalid_counter")
    if failed:
        return min(failed, key=_CHECK_ORDER.index), None
    bytes_out, bytes_in = number(fields[10], 18), number(fields[12], 18)
    return "", {
        "outbound": fields[6] == "O", "ts_ms": ts * 1000 if ts < 10**11 else ts, "src_ip": fields[1],
        "dst_ip": fields[2], "dst_port": dst_port, "protocol": protocol, "denied": denied,
        "bytes_out": None if no_stats else bytes_out, "bytes_in": None if no_stats else bytes_in}


def _plain_address(text: str) -> bool:
    """An address as the flow logs must write it: a dotted quad, or text with a colon that ``ipaddress`` takes."""
    return bool(re.fullmatch(IPV4_PATTERN[1:-1], text)) or (":" in text and is_ip_text(text))



def parse_tuples(dialect: str, arr: pa.StringArray, reason: np.ndarray,
                 commas: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, pa.Array]]:
    """The tuples of a batch (``commas[i]``: the commas tuple ``i`` must hold, 7 or 12; ``reason``: codes of
    items already known not to be tuples): each tuple's outcome code (``TUPLE_OUTCOMES``), the positions of the
    tuples that are flows, and those flows' columns."""
    n = len(arr)
    inbound = np.zeros(n, dtype=bool)
    rows: list[np.ndarray] = []
    pieces: list[dict[str, pa.Array]] = []
    for lo in range(0, n, SLICE_ROWS):
        hi = min(n, lo + SLICE_ROWS)
        p = _parse(dialect, arr.slice(lo, hi - lo), commas[lo:hi], reason[lo:hi])
        inbound[lo + p.inbound] = True
        if not len(p.rows):
            continue
        rows.append(lo + p.rows)
        pieces.append({
            "ts": pa.array(p.ts_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "src_ip": p.src,
            "dst_ip": p.dst,
            "dst_port": pa.array(p.dst_port, type=pa.int32()),
            "protocol": _PROTOCOL_NAMES.take(pa.array(p.protocol)),
            "bytes_out": pa.array(p.bytes_out, type=pa.int64(), mask=~p.has_out),
            "bytes_in": pa.array(p.bytes_in, type=pa.int64(), mask=~p.has_in),
            "observed_action": _ACTIONS.take(pa.array(p.denied.astype(np.int8))),
        })
    codes = np.where(reason > 0, reason.astype(np.int64) + 1, inbound.astype(np.int64))
    if not pieces:
        return codes, np.zeros(0, dtype=np.int64), {}
    columns = pieces[0] if len(pieces) == 1 else {
        name: pa.concat_arrays([p[name] for p in pieces]) for name in pieces[0]}
    return codes, np.concatenate(rows), columns
