"""Zeek logs: ``conn.log`` (TSV or JSON) as flows, each named from its ``ssl.log`` / ``http.log`` / ``dns.log``.

Sources followed (field names, header lines, encodings):

* Zeek script reference, ``base/protocols/conn/main.zeek`` (``Conn::Info``): ``ts``, ``uid``, ``id.orig_h``,
  ``id.orig_p``, ``id.resp_h``, ``id.resp_p``, ``proto`` (``tcp``/``udp``/``icmp``/``unknown_transport``),
  ``service``, ``duration``, ``orig_bytes``, ``resp_bytes``, ``conn_state``, ``local_orig``, ``local_resp``, ...;
  for ICMP the "ports" carry the ICMP type (``id.orig_p``) and code (``id.resp_p``).
  https://docs.zeek.org/en/current/scripts/base/protocols/conn/main.zeek.html
* ``base/frameworks/logging/writers/ascii.zeek`` (``LogAscii::use_json``, ``LogAscii::json_timestamps`` =
  ``JSON::TS_EPOCH`` (float seconds, the default), ``JSON::TS_MILLIS`` (integer milliseconds) or
  ``JSON::TS_ISO8601``; the TSV meta lines ``#separator \\x09``, ``#set_separator``, ``#empty_field``,
  ``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types``, ``#close``).
  https://docs.zeek.org/en/current/scripts/base/frameworks/logging/writers/ascii.zeek.html
* the companions (``ssl``, ``http``, ``dns``) and how they name a connection: ``zeek_names``; how the two line
  encodings are split into columns: ``zeek_lines``.

One record = one ``conn.log`` line (meta and blank lines are not records). ``local_orig`` F → skipped as
``inbound``; T or unset (no ``Site::local_nets``) → an outbound flow. ``proto`` other than tcp/udp/icmp is
rejected as ``unknown_protocol``. ``bytes_out`` = ``orig_bytes``, ``bytes_in`` = ``resp_bytes``. Rejection
reasons: ``line_too_long`` (over ``limits.MAX_LINE_BYTES``, never held whole), ``wrong_field_count``,
``no_fields_header``, ``invalid_utf8``, ``invalid_json``, ``truncated_json``, ``not_a_json_object``, then the
checks in the order they are made (a line with several faults gets the first): ``missing_field``,
``invalid_ip``, ``invalid_port``, ``unknown_protocol``, ``invalid_byte_count``, ``invalid_timestamp``,
``invalid_local_orig``; ``where`` is ``file:line``.

What the reader does: the engine (``LineFormat``) reads the file as blocks of whole lines; a block is split into
columns in one call (``zeek_lines``), every check runs on whole columns (one outcome code per line, booked at
once by ``Outcomes``), the names are joined per block (``zeek_names``), and each flow's ``source`` is kept lazily
as ``file:`` + its line number. The companions are loaded before the first block.

Given directly as inputs, ``ssl.log`` / ``http.log`` / ``dns.log`` (and the other Zeek logs) are recognised by
``COMPANION_READER``, which yields no flows and counts no records (they are read through their conn log).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from ...base import limits
from ..engine.blocks import LineBlock
from ..engine.cells import frames
from ..engine.files import LogFile
from ..engine.format import NOT_A_RECORD, LineFormat, ParsedLines
from ..engine.jsondecode import loads
from ..engine.ledger import Outcomes, RecordLedger
from .zeek_lines import Reading, TsvState, Wanted, parse_block
from .zeek_values import codes_of, counts, timestamps, to_text
from .zeek_names import Names, companion_paths, ip_mask, load_names

__all__ = ["COMPANION_READER", "READER", "ZeekCompanionReader", "ZeekConnReader", "companion_paths", "zeek_kind"]

CONN_FIELDS: Wanted = {
    "ts": ("ts", "ts"),
    "uid": ("uid", "str"),
    "orig_h": ("id.orig_h", "str"),
    "orig_p": ("id.orig_p", "int"),
    "resp_h": ("id.resp_h", "str"),
    "resp_p": ("id.resp_p", "int"),
    "proto": ("proto", "str"),
    "orig_bytes": ("orig_bytes", "int"),
    "resp_bytes": ("resp_bytes", "int"),
    "local_orig": ("local_orig", "bool"),
}

# Keys (JSON) or #fields (TSV) that only one kind of Zeek log has.
_MARKERS: dict[str, frozenset[str]] = {
    "conn": frozenset({"conn_state", "missed_bytes", "orig_pkts", "resp_pkts", "orig_ip_bytes", "local_orig"}),
    "ssl": frozenset({"server_name", "cipher", "established", "resumed", "ssl_history", "curve", "next_protocol"}),
    "http": frozenset({"method", "trans_depth", "uri", "status_code", "user_agent", "request_body_len"}),
    "dns": frozenset({"query", "answers", "trans_id", "qtype", "qtype_name", "rcode", "TTLs"}),
}

# Keys a log of that kind always has (for a file-name hint to be believed).
_NEEDED: dict[str, frozenset[str]] = {
    "conn": frozenset({"id.resp_h", "id.resp_p", "proto"}),
    "ssl": frozenset({"id.resp_h"}),
    "http": frozenset({"id.resp_h"}),
    "dns": frozenset({"id.resp_h", "proto"}),
}

_UNPARSED = ("wrong_field_count", "no_fields_header", "invalid_utf8", "invalid_json", "truncated_json",
             "not_a_json_object")
# The value checks, in priority order: when a line has several faults the first one listed is reported.
_CHECKS = ("missing_field", "invalid_ip", "invalid_port", "unknown_protocol", "invalid_byte_count",
           "invalid_timestamp", "invalid_local_orig")
OUTCOMES = Outcomes(skips=("inbound",), rejects=(*_UNPARSED, *_CHECKS))
_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP"}
_LOCAL_ORIG = {"t": True, "true": True, "f": False, "false": False}


# --------------------------------------------------------------------------------------------------------------
# Checking a block's columns


def _addresses(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(null mask, bad mask) of an address column."""
    null = ~arr.is_valid().to_numpy(zero_copy_only=False)
    return null, ~null & ~ip_mask(arr)


def _protocols(arr: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(protocol names, null mask, unknown mask)."""
    codes, uniques = codes_of(to_text(arr))
    names = [_PROTOCOLS.get(u.strip().lower()) for u in uniques]
    known = np.array([name is not None for name in names] + [False], dtype=bool)
    null = codes < 0
    out = pa.array(names, type=pa.string()).take(pa.array(codes, mask=null | ~known[codes]))
    return out, null, ~null & ~known[codes]


def _local_orig(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(inbound mask, bad mask): F is inbound; T and unset are outbound."""
    if pa.types.is_boolean(arr.type):
        values = arr.fill_null(True).to_numpy(zero_copy_only=False)
        return ~values, np.zeros(len(arr), dtype=bool)
    codes, uniques = codes_of(to_text(arr))
    meaning = [_LOCAL_ORIG.get(u.strip().lower()) for u in uniques]
    inbound = np.array([m is False for m in meaning] + [False], dtype=bool)
    bad = np.array([m is None for m in meaning] + [False], dtype=bool)
    return inbound[codes], bad[codes]


def _conn_columns(cols: dict[str, pa.Array], names: Names) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The outcome code of every parsed line, and the flow columns of those that are flows."""
    _, src_bad = _addresses(cols["orig_h"])  # an unset originator is allowed
    dst_null, dst_bad = _addresses(cols["resp_h"])
    _, _, sport_bad = counts(cols["orig_p"], 65535)
    dport, dport_null, dport_bad = counts(cols["resp_p"], 65535)
    proto, proto_null, proto_bad = _protocols(cols["proto"])
    out_b, out_null, out_bad = counts(cols["orig_bytes"], 2.0**62)
    in_b, in_null, in_bad = counts(cols["resp_bytes"], 2.0**62)
    micros, ts_null, ts_bad = timestamps(cols["ts"])
    inbound, local_bad = _local_orig(cols["local_orig"])
    failed = (dst_null | dport_null | proto_null, src_bad | dst_bad, sport_bad | dport_bad, proto_bad,
              out_bad | in_bad, ts_bad, local_bad)
    codes = np.where(inbound, OUTCOMES["inbound"], OUTCOMES.FLOW).astype(np.int64)
    for check in range(len(_CHECKS) - 1, -1, -1):  # the first failing check is written last
        codes[failed[check]] = OUTCOMES[_CHECKS[check]]
    keep = np.flatnonzero(codes == OUTCOMES.FLOW)
    if not len(keep):
        return codes, {}
    take = pa.array(keep)
    resp_h = to_text(cols["resp_h"]).take(take)
    known = ~ts_null[keep]
    fqdn, name_seen = names.name(to_text(cols["uid"]).take(take), resp_h, micros[keep], known)
    return codes, {
        "ts": pa.array(micros[keep], type=pa.timestamp("us", tz="UTC"), mask=~known),
        "src_ip": to_text(cols["orig_h"]).take(take),
        "dst_ip": resp_h,
        "dst_port": pa.array(dport[keep]),
        "protocol": proto.take(take),
        "fqdn": fqdn,
        "name_logged": pa.array(name_seen),
        "bytes_out": pa.array(out_b[keep], mask=out_null[keep]),
        "bytes_in": pa.array(in_b[keep], mask=in_null[keep]),
    }


# --------------------------------------------------------------------------------------------------------------
# Format detection


def _first_lines(head: bytes, count: int = 20) -> list[bytes]:
    head = head.removeprefix(b"\xef\xbb\xbf")
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:count]]
    return [line for line in lines if line.strip()]


def _classify_keys(keys: set[str], file_name: str) -> str | None:
    if "uid" not in keys or "id.orig_h" not in keys:
        return None
    kinds = [kind for kind, markers in _MARKERS.items() if keys & markers]
    if len(kinds) == 1:
        return kinds[0]
    hint = file_name.split(".", 1)[0].lower()
    if hint in _MARKERS and (not kinds or hint in kinds) and keys >= _NEEDED[hint]:
        return hint
    return None


def zeek_kind(head: bytes, file_name: str) -> str | None:
    """``conn``, ``ssl``, ``http``, ``dns``, another Zeek ``#path``, or None when the head is not a Zeek log."""
    lines = _first_lines(head)
    if not lines:
        return None
    if lines[0].startswith(b"#separator"):
        state = TsvState()
        for line in lines:
            if not line.startswith(b"#"):
                break
            state.apply(line.decode("utf-8", errors="replace"))
        if state.path:
            return state.path
        return _classify_keys(set(state.fields or ()), file_name)
    if not lines[0].startswith(b"{"):
        return None
    try:
        obj = loads(lines[0])
        keys = set(obj) if isinstance(obj, dict) else set()
    except ValueError:  # a line longer than the head: look at the keys' text
        text = lines[0].decode("utf-8", errors="replace")
        keys = {k for k in {"uid", "id.orig_h"} | set().union(*_MARKERS.values()) if f'"{k}"' in text}
    return _classify_keys(keys, file_name)


# --------------------------------------------------------------------------------------------------------------
# The readers


class _ConnState:
    """Per conn file: how its lines are encoded so far, and its companions' names."""

    def __init__(self, names: Names):
        self.reading = Reading()
        self.names = names


class ZeekConnReader(LineFormat):
    name = "zeek"
    description = "Zeek conn.log (TSV or JSON), named from ssl.log SNI, http.log Host and dns.log answers"
    outcomes = OUTCOMES

    @property
    def max_line_bytes(self) -> int:  # type: ignore[override]  # read when used: tests lower the limit
        return limits.MAX_LINE_BYTES

    def sniff(self, head: bytes, file_name: str) -> bool:
        return zeek_kind(head, file_name) == "conn"

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        """The conn log's flows; its companions are loaded first (when the first table is asked for)."""
        yield from self.read_lines(log, ledger, chunk_rows, _ConnState(load_names(log.path, ledger)))

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """``read_tables`` as pandas frames with the ``source`` text (what the older callers take)."""
        return frames(self.read_tables(log, ledger, chunk_rows))

    def parse(self, block: LineBlock, state: _ConnState) -> ParsedLines:
        parsed = parse_block(block, state.reading, CONN_FIELDS)
        codes = np.full(block.n, NOT_A_RECORD, dtype=np.int64)
        codes[parsed.records] = OUTCOMES.FLOW
        columns: dict[str, pa.Array] = {}
        if len(parsed.rows):
            row_codes, columns = _conn_columns(parsed.cols, state.names)
            codes[parsed.rows] = row_codes
        for index, reason in parsed.bad:
            codes[index] = OUTCOMES[reason]
        return ParsedLines(codes, columns)


class ZeekCompanionReader:
    name = "zeek-companion"
    description = ("Zeek logs other than conn.log (ssl, http, dns read through their conn.log; weird, files, x509 "
                   "and the rest): no flows of their own")

    def sniff(self, head: bytes, file_name: str) -> bool:
        kind = zeek_kind(head, file_name)
        return kind is not None and kind != "conn"

    def read_tables(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pa.Table]:
        return iter(())

    def read_chunks(self, log: LogFile, ledger: RecordLedger, chunk_rows: int) -> Iterator[pd.DataFrame]:
        return iter(())


READER = ZeekConnReader()
COMPANION_READER = ZeekCompanionReader()
