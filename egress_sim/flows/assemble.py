"""Per-flow typed arrays from per-unique parse results, in one compiled pass (numba).

``FlowBatch`` parses each distinct cell value once (compute type, protocol, address, host name); this loop
reads those results through each flow's codes and names the first check the flow fails, in the order the
schema defines. Doing it with numpy took a gather per column and a mask per check, ~20 passes over memory.
"""

from __future__ import annotations

import numba

from .verdicts import Reason

MISSING, INVALID = -2, -1  # parse results of an empty cell and of a bad one (also ``schema``'s codes)
DEST_NONE, DEST_VALID, DEST_INVALID = 0, 1, 2  # per unique ``dst_ip`` cell

_MISSING_COMPUTE_TYPE = Reason.MISSING_COMPUTE_TYPE.value
_INVALID_COMPUTE_TYPE = Reason.INVALID_COMPUTE_TYPE.value
_MISSING_PROTOCOL = Reason.MISSING_PROTOCOL.value
_INVALID_PROTOCOL = Reason.INVALID_PROTOCOL.value
_MISSING_DST_PORT = Reason.MISSING_DST_PORT.value
_INVALID_DST_PORT = Reason.INVALID_DST_PORT.value
_INVALID_DST_IP = Reason.INVALID_DST_IP.value
_INVALID_FQDN = Reason.INVALID_FQDN.value
_MISSING_DESTINATION = Reason.MISSING_DESTINATION.value


@numba.njit(cache=True, nogil=True)
def _parsed(codes, parsed, i):
    """The parse result of flow ``i``'s cell: ``parsed[code]``, or MISSING for an empty cell (code -1)."""
    code = codes[i]
    return parsed[code] if code >= 0 else MISSING


@numba.njit(cache=True, nogil=True)
def assemble(
    compute_codes, compute_parsed, protocol_codes, protocol_parsed, port, icmp_code,
    dest_codes, dest_state, host_codes, host_index, host_bad, prior,
    compute, protocol, port_out, host, reject,
):
    """Fill ``compute``/``protocol`` (int8), ``port_out`` (int32, -1 for ICMP), ``host`` (int32 index into
    the normalized unique names, -1 none) and ``reject`` (uint8 rejection Reason, 0 when the flow is valid).

    Inputs per flow: int32 codes into the per-unique arrays (-1: empty cell), ``port`` int32 (or MISSING /
    INVALID), ``prior`` uint8 (a rejection decided before parsing: ``unknown_source``, ``bad_field_count``;
    0 none). Per unique: ``compute_parsed`` / ``protocol_parsed`` int32 (an index,
    or MISSING / INVALID), ``dest_state`` uint8 (DEST_*), ``host_index`` int32 and ``host_bad`` bool.
    """
    for i in range(compute_codes.shape[0]):
        c = _parsed(compute_codes, compute_parsed, i)
        p = _parsed(protocol_codes, protocol_parsed, i)
        icmp = p == icmp_code
        q = -1 if icmp else port[i]
        d = dest_codes[i]
        state = dest_state[d] if d >= 0 else DEST_NONE
        h = host_codes[i]
        name = host_index[h] if h >= 0 else -1
        compute[i] = c
        protocol[i] = p
        port_out[i] = q
        host[i] = name
        if prior[i] != 0:
            reject[i] = prior[i]
        elif c == MISSING:
            reject[i] = _MISSING_COMPUTE_TYPE
        elif c == INVALID:
            reject[i] = _INVALID_COMPUTE_TYPE
        elif p == MISSING:
            reject[i] = _MISSING_PROTOCOL
        elif p == INVALID:
            reject[i] = _INVALID_PROTOCOL
        elif not icmp and q == MISSING:
            reject[i] = _MISSING_DST_PORT
        elif not icmp and q == INVALID:
            reject[i] = _INVALID_DST_PORT
        elif state == DEST_INVALID:
            reject[i] = _INVALID_DST_IP
        elif h >= 0 and host_bad[h]:
            reject[i] = _INVALID_FQDN
        elif state != DEST_VALID and name < 0:
            reject[i] = _MISSING_DESTINATION
        else:
            reject[i] = 0
