"""Naming a Zeek connection's destination from the companion logs next to its ``conn.log``.

Sources (Zeek script reference): ``base/protocols/ssl/main.zeek`` (``server_name``: "Value of the Server Name
Indicator SSL/TLS extension", set from the client hello, so it is logged even when the server never answers),
``base/protocols/http/main.zeek`` (``host``: the Host header, which may carry ``:port``), and
``base/protocols/dns/main.zeek`` (``query``; ``answers``, a vector of strings mixing CNAME targets and addresses).
https://docs.zeek.org/en/current/logs/ and https://github.com/zeek/zeek/tree/master/scripts/base/protocols

A connection's name (``fqdn``), in this order of preference:

1. ``ssl.log`` ``server_name`` (TLS SNI) of the same ``uid``;
2. ``http.log`` ``host`` of the same ``uid`` (the first request of the connection), without ``:port``;
3. ``dns.log``: the ``query`` whose ``answers`` contain the connection's ``id.resp_h``. When several queries
   answered that address, the most recent one at or before the connection's ``ts`` wins; when the connection
   comes before every such answer (its lookup is in an earlier, unread log), the earliest answer after it is
   used, since the address was still answered for that name. This is a sorted-array lookup per block
   (``numpy.searchsorted``), so it costs no more than a plain address → name map.

A connection ssl.log saw without SNI stays nameless (the firewall would see no name either); only one that no
companion saw falls back to DNS. A name that is an IP literal or not a valid host name is not used (the next
source is tried). Companions are found next to the conn log: same directory, the file name with its first
``conn`` replaced by ``ssl``, ``http``, ``dns`` (``conn.log`` ↔ ``ssl.log``, ``conn.00:00:00-01:00:00.log.gz`` ↔
``ssl.00:00:00-01:00:00.log.gz``; a ``.gz`` suffix may differ). A missing companion names nothing; its malformed
or over-long lines are noted in the ledger, not counted (they are not connection records).

Memory: each companion is loaded whole into lookup tables before the conn log is read (uid → name for ssl/http,
answered address → names over time for dns: hash tables keyed by the uid / address bytes, each name kept
once), so memory grows with the companions next to the conn file (not with the conn log), and is released when
that conn file is done.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...base import limits
from ...model.hostnames import try_normalize_host
from ..engine.cells import ip_cells
from ..engine.files import LogFile
from ..engine.ledger import RecordLedger
from .zeek_lines import Parsed, Wanted, read_file
from .zeek_values import timestamps, to_text

SSL_FIELDS: Wanted = {"uid": ("uid", "str"), "name": ("server_name", "str")}
HTTP_FIELDS: Wanted = {"uid": ("uid", "str"), "name": ("host", "str")}
DNS_FIELDS: Wanted = {"ts": ("ts", "ts"), "name": ("query", "str"), "answers": ("answers", "list")}
COMPANIONS = (("ssl", SSL_FIELDS), ("http", HTTP_FIELDS), ("dns", DNS_FIELDS))
_COMPANION_CHUNK = 200_000
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63],
                dtype=np.uint64)
_UNSEEN = -1  # no companion saw the connection
_SEEN_NO_NAME = -2  # ssl.log saw it, without SNI


def _distinct(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct values of a text column and, per cell, the position of its value (null: -1)."""
    encoded = pc.dictionary_encode(to_text(arr))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded.dictionary, pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def ip_mask(arr: pa.Array) -> np.ndarray:
    """Which cells are IP addresses (null cells: False), by the strict parser the evaluator uses; each distinct
    value looked at once (a block repeats its addresses many times)."""
    values, at = _distinct(arr)
    return np.append(ip_cells(values), False)[at]


def _host_name(text: str | None) -> str | None:
    """A usable destination name, or None (unset, an IP literal, not a host name)."""
    if text is None:
        return None
    value = text.strip()
    if value.startswith("["):  # [v6]:port
        return None
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        return try_normalize_host(value)


# --------------------------------------------------------------------------------------------------------------
# Lookup tables keyed by short strings


def _words(arr: pa.Array, width: int) -> np.ndarray | None:
    """Each string as ``width // 8`` uint64 words (its bytes, NUL-padded); None when one is longer than ``width``.

    This lets a block's uids / addresses be looked up with integer hashing, without making Python strings."""
    arr = pc.fill_null(to_text(arr), "")
    if len(arr) and pc.max(pc.binary_length(arr)).as_py() > width:
        return None
    padded = pc.ascii_rpad(arr, width=width, padding="\0")
    if isinstance(padded, pa.ChunkedArray):
        padded = padded.combine_chunks()
    n = len(padded)
    if n == 0:
        return np.zeros((0, width // 8), dtype=np.uint64)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)[padded.offset:padded.offset + n + 1]
    if offsets[-1] - offsets[0] != width * n:  # not plain bytes after all
        return None
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return data.reshape(n, width).view(np.uint64)


def _mix(words: np.ndarray) -> np.ndarray:
    out = np.zeros(len(words), dtype=np.uint64)
    for j in range(words.shape[1]):
        out ^= words[:, j] * _MIX[j]
    return out


class StringTable:
    """Distinct strings, looked up by position. Short plain strings (uids, addresses) are hashed as integers and
    the match verified on the full bytes; otherwise an object index is used."""

    def __init__(self, values: pa.Array, width: int):
        self.width = width
        words = _words(values, width)
        if words is not None:
            hashes = _mix(words)
            first = ~pd.Series(hashes).duplicated(keep="first").to_numpy()
            self.first = np.flatnonzero(first)
            self.words: np.ndarray | None = words[first]
            self.index = pd.Index(hashes[first])
        else:
            objects = to_text(values).to_numpy(zero_copy_only=False)
            first = ~pd.Index(objects, dtype=object).duplicated(keep="first")
            self.first = np.flatnonzero(first)
            self.words = None
            self.index = pd.Index(objects[first], dtype=object)

    def __len__(self) -> int:
        return len(self.index)

    def positions(self, values: pa.Array) -> np.ndarray:
        """Position of each value in the table, -1 when absent (or null)."""
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        if self.words is None:
            pos = self.index.get_indexer(to_text(values).to_numpy(zero_copy_only=False))
        else:
            words = _words(values, self.width)
            if words is None:  # some values are longer than any key: they cannot be in the table
                short = pc.less_equal(pc.binary_length(pc.fill_null(to_text(values), "")), self.width)
                values = pc.if_else(short, values, pa.scalar(None, type=values.type))
                valid &= short.to_numpy(zero_copy_only=False)
                words = _words(values, self.width)
            pos = self.index.get_indexer(_mix(words))
            hit = pos >= 0
            hit[hit] = (self.words[pos[hit]] == words[hit]).all(axis=1)
            pos = np.where(hit, pos, -1)
        return np.where(valid, pos, -1)


@dataclass
class _DnsNames:
    """Answered address → query names over time, as sorted integer keys ``address code * span + time slot``."""

    addresses: StringTable
    keys: np.ndarray  # int64, sorted
    names: np.ndarray  # int64 index into the names array, aligned with keys
    group_start: np.ndarray  # first key position of each address
    t0: int
    step: int
    span: int

    def lookup(self, addresses: pa.Array, micros: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Index of the name for each address (-1: none)."""
        out = np.full(len(addresses), -1, dtype=np.int64)
        values, at = _distinct(addresses)
        code = np.append(self.addresses.positions(values), -1)[at]
        hit = np.flatnonzero(code >= 0)
        if not len(hit):
            return out
        c = code[hit]
        slot = np.clip((micros[hit] - self.t0) // self.step + 1, 0, self.span - 1)
        slot = np.where(known[hit], slot, self.span - 1)
        pos = np.searchsorted(self.keys, c * self.span + slot, side="right") - 1
        pos = np.maximum(pos, self.group_start[c])  # nothing at or before: the earliest answer after
        out[hit] = self.names[pos]
        return out


@dataclass
class Names:
    """Every usable name of the companions, and how to find one per connection."""

    names: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))
    by_uid: list[tuple[StringTable, np.ndarray]] = field(default_factory=list)  # ssl first, then http
    dns: _DnsNames | None = None

    def name(self, uids: pa.Array, resp_h: pa.Array, micros: np.ndarray, known_ts: np.ndarray
             ) -> tuple[pa.Array, np.ndarray]:
        """Per connection: its name (or null), and whether a companion saw the connection at all."""
        n = len(uids)
        pos = np.full(n, _UNSEEN, dtype=np.int64)
        for table, name_of in self.by_uid:
            todo = np.flatnonzero(pos == _UNSEEN)
            if not len(todo) or not len(table):
                continue
            found = table.positions(uids.take(pa.array(todo)) if len(todo) < n else uids)
            pos[todo] = np.where(found >= 0, name_of[np.maximum(found, 0)], _UNSEEN)
        seen = pos != _UNSEEN
        if self.dns is not None:
            todo = np.flatnonzero(pos == _UNSEEN)
            if len(todo):
                sub = resp_h.take(pa.array(todo)) if len(todo) < n else resp_h
                pos[todo] = self.dns.lookup(sub, micros[todo], known_ts[todo])
        return self.names.take(pa.array(np.maximum(pos, 0), mask=pos < 0)), seen | (pos >= 0)


# --------------------------------------------------------------------------------------------------------------
# Loading the companions


def companion_paths(conn: Path) -> dict[str, Path]:
    """The ssl/http/dns logs next to a conn log that exist (``conn`` replaced in the file name)."""
    found: dict[str, Path] = {}
    if "conn" not in conn.name:
        return found
    for kind, _ in COMPANIONS:
        name = conn.name.replace("conn", kind, 1)
        candidates = [name, name[:-3] if name.endswith(".gz") else name + ".gz"]
        for candidate in candidates:
            path = conn.with_name(candidate)
            if path.is_file() and path != conn:
                found[kind] = path
                break
    return found


class _NameList:
    """Distinct normalized names, numbered in the order they are first met. Each distinct raw text is normalized
    once per file set: a block's distinct values that were met before are found by one ``index_in``."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.met: pa.Array = pa.array([], type=pa.string())  # raw texts met, in order ...
        self.met_numbers = np.array([], dtype=np.int64)  # ... and the name number of each (-1: unusable)

    def codes(self, raw: pa.Array) -> np.ndarray:
        """Name number per cell (-1: unusable)."""
        encoded = pc.dictionary_encode(to_text(raw))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        values = encoded.dictionary
        numbers = np.full(len(values) + 1, -1, dtype=np.int64)  # the last: null cells
        if len(self.met):
            at = pc.fill_null(pc.index_in(values, value_set=self.met), -1).to_numpy(zero_copy_only=False)
            known = at >= 0
            numbers[:-1][known] = self.met_numbers[at[known]]
            new = np.flatnonzero(~known)
        else:
            new = np.arange(len(values))
        if len(new):
            fresh = values.take(pa.array(new))
            names = [_host_name(value) for value in fresh.to_pylist()]
            got = np.array([-1 if name is None else self.number.setdefault(name, len(self.number)) for name in names],
                           dtype=np.int64)
            numbers[new] = got
            self.met = pa.concat_arrays([self.met, fresh])
            self.met_numbers = np.concatenate([self.met_numbers, got])
        return numbers[codes]

    def array(self) -> pa.Array:
        return pa.array(list(self.number), type=pa.string())


def _parsed(path: Path, wanted: Wanted, ledger: RecordLedger, kind: str):
    """A companion's parsed blocks; its over-long and broken lines are noted (they name nothing)."""
    for item in read_file(LogFile(path), _COMPANION_CHUNK, wanted, limits.MAX_LINE_BYTES):
        if not isinstance(item, tuple):
            ledger.note(f"{kind}.log lines over the line limit, passed over")
            continue
        parsed: Parsed = item[1]
        if parsed.bad:
            ledger.note(f"unreadable {kind}.log lines", len(parsed.bad))
        yield parsed


SAMPLES = 5  # unusable names kept per file, for the report


def _load_uid_names(path: Path, wanted: Wanted, names: _NameList, ledger: RecordLedger,
                    kind: str) -> tuple[StringTable, np.ndarray]:
    uids: list[pa.Array] = []
    codes: list[np.ndarray] = []
    for parsed in _parsed(path, wanted, ledger, kind):
        if not len(parsed.rows):
            continue
        code = names.codes(parsed.cols["name"])
        given = parsed.cols["name"].is_valid().to_numpy(zero_copy_only=False)
        unusable = np.flatnonzero(given & (code < 0))
        if len(unusable):  # a name logged that is no host name (an IP literal, garbage): not used, but told
            values = to_text(parsed.cols["name"]).take(pa.array(unusable[:SAMPLES])).to_pylist()
            ledger.note(f"{kind}.log names that are not host names (not used)", len(unusable), str(path), values)
        if kind == "ssl":  # a TLS connection logged without SNI: known to have no name
            code = np.where(code >= 0, code, _SEEN_NO_NAME)
        keep = np.flatnonzero((code != _UNSEEN) & parsed.cols["uid"].is_valid().to_numpy(zero_copy_only=False))
        uids.append(to_text(parsed.cols["uid"]).take(pa.array(keep)))
        codes.append(code[keep])
    table = StringTable(pa.concat_arrays(uids) if uids else pa.array([], type=pa.string()), 24)
    all_codes = np.concatenate(codes) if codes else np.array([], dtype=np.int64)
    return table, all_codes[table.first]


def _load_dns_names(path: Path, names: _NameList, ledger: RecordLedger) -> _DnsNames | None:
    ips: list[pa.Array] = []
    times: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for parsed in _parsed(path, DNS_FIELDS, ledger, "dns"):
        answers = parsed.cols.get("answers")
        if not len(parsed.rows) or answers is None:
            continue
        micros, _, bad_ts = timestamps(parsed.cols["ts"])
        code = names.codes(parsed.cols["name"])
        flat = pc.list_flatten(answers)
        if not len(flat):
            continue
        parent = pc.list_parent_indices(answers).to_numpy(zero_copy_only=False)
        keep = np.flatnonzero(ip_mask(flat) & (code[parent] >= 0) & ~bad_ts[parent])
        ips.append(to_text(flat).take(pa.array(keep)))
        times.append(micros[parent[keep]])
        codes.append(code[parent[keep]])
    if not ips or not sum(len(i) for i in ips):
        return None
    ip = pa.concat_arrays(ips)
    t = np.concatenate(times)
    name = np.concatenate(codes)
    table = StringTable(ip, 40)
    group = table.positions(ip)
    order = np.lexsort((t, group))
    group, t, name = group[order], t[order], name[order]
    t0 = int(t.min())
    width = int(t.max()) - t0
    step = 1
    while len(table) * (width // step + 3) >= (1 << 62):
        step *= 10
    span = width // step + 3  # slot 0: before every answer; 1..: answers; span - 1: after every answer
    keys = group.astype(np.int64) * span + ((t - t0) // step + 1)
    group_start = np.searchsorted(group, np.arange(len(table)), side="left")
    return _DnsNames(table, keys, name, group_start, t0, step, span)


def load_names(conn: Path, ledger: RecordLedger) -> Names:
    """The names the companions of ``conn`` give (none when it has no companions)."""
    paths = companion_paths(conn)
    names = _NameList()
    found = Names()
    for kind, wanted in COMPANIONS[:2]:
        if kind in paths:
            found.by_uid.append(_load_uid_names(paths[kind], wanted, names, ledger, kind))
    if "dns" in paths:
        found.dns = _load_dns_names(paths["dns"], names, ledger)
    found.names = names.array()
    return found
