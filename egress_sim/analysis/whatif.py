"""What changes between two evaluations of the same flows: the flows whose verdict differs, grouped so a person
can read them (compute type, destination, protocol and port, and the verdict, reason and rule on each side), with
flow and byte counts and first/last seen.

``Comparison.add`` takes one chunk at a time (the flows read once, evaluated under both rule tables) and keeps only
the groups, so memory grows with the number of distinct groups, not with the flows. A destination is its host name
when the flow has one; otherwise the narrowest service tag that holds its address (``Storage.EastUS``); otherwise
its address's /24 (IPv4) or /48 (IPv6) network. So a million addresses of one service make a handful of groups.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..evaluation.evaluate import REASON_LABELS, VERDICT_LABELS, Verdicts
from ..flows.schema import COMPUTE_TYPES, PROTOCOLS, FlowBatch
from ..flows.verdicts import Verdict
from ..net.ipnum import ipv4_text
from ..net.taglocator import TagLocator

FAIL_ON = ("newly-denied", "any-change")
SIDE_KEYS = ("verdict", "reason", "rule")
GROUP_KEYS = ("compute_type", "destination", "kind", "protocol", "dst_port",
              *(f"{k}_before" for k in SIDE_KEYS), *(f"{k}_after" for k in SIDE_KEYS))
_ALLOW = Verdict.ALLOW.value
_IPV4_NETWORK = 24
_IPV6_NETWORK = 48


@dataclass
class Comparison:
    """The running comparison of two evaluations, chunk after chunk."""

    locator: TagLocator | None = None  # names addresses by service tag; None: by network only
    flows: int = 0
    changed: int = 0
    newly_denied: int = 0  # allowed before, denied (or no longer judged) after
    newly_allowed: int = 0
    _parts: list[pd.DataFrame] = field(default_factory=list, repr=False)
    _groups: pd.DataFrame | None = field(default=None, repr=False)
    _names: dict[tuple[int, int], str] = field(default_factory=dict, repr=False)  # address -> its tag or network

    def add(self, table: pa.Table, batch: FlowBatch, before: Verdicts, after: Verdicts) -> np.ndarray:
        """Count one chunk (``table``'s rows are ``batch``'s flows); return which flows changed verdict."""
        was, now = before.verdict, after.verdict
        changed = was != now
        self.flows += batch.n
        self.changed += int(changed.sum())
        self.newly_denied += int((changed & (was == _ALLOW)).sum())
        self.newly_allowed += int((changed & (now == _ALLOW)).sum())
        if changed.any():
            self._parts.append(_chunk_groups(table, batch, before, after, np.flatnonzero(changed), self._name))
            if sum(len(p) for p in self._parts) > 100_000:
                self._fold()
        return changed

    def _name(self, addresses: list[tuple[int, int]]) -> list[tuple[str, str]]:
        """Each address's destination label and kind: its narrowest service tag, else its network."""
        new = [a for a in set(addresses) if a not in self._names]
        hits = self.locator.locate(new) if self.locator is not None and new else {}
        for address in new:
            found = hits.get(address)
            self._names[address] = found[0].tag.name if found else ""
        out = []
        for version, value in addresses:
            tag = self._names[(version, value)]
            out.append((tag, "service_tag") if tag else (network_of(version, value), "network"))
        return out

    def failed(self, fail_on: str) -> bool:
        """Whether the change is of the kind that must stop a pipeline (``FAIL_ON``)."""
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {FAIL_ON}, not {fail_on!r}")
        return self.newly_denied > 0 if fail_on == "newly-denied" else self.changed > 0

    def groups(self) -> pd.DataFrame:
        """One row per group, most flows first: ``GROUP_KEYS``, ``flows``, ``bytes_out``, ``bytes_in``,
        ``first_seen``, ``last_seen``."""
        self._fold()
        if self._groups is None:
            return pd.DataFrame(columns=[*GROUP_KEYS, "flows", "bytes_out", "bytes_in", "first_seen", "last_seen"])
        return self._groups.sort_values(["flows", "destination"], ascending=[False, True], kind="stable") \
            .reset_index(drop=True)

    def _fold(self) -> None:
        parts = ([self._groups] if self._groups is not None else []) + self._parts
        if not parts:
            return
        self._parts = []
        self._groups = _aggregate(pd.concat(parts, ignore_index=True))


def _aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.groupby(list(GROUP_KEYS), dropna=False, sort=False, observed=True).agg(
        flows=("flows", "sum"), bytes_out=("bytes_out", "sum"), bytes_in=("bytes_in", "sum"),
        first_seen=("first_seen", "min"), last_seen=("last_seen", "max")).reset_index()


def _chunk_groups(table: pa.Table, batch: FlowBatch, before: Verdicts, after: Verdicts, rows: np.ndarray,
                  name: Callable[[list[tuple[int, int]]], list[tuple[str, str]]]) -> pd.DataFrame:
    """The changed ``rows`` of a chunk, one line each, already summed by group within the chunk."""
    compute = np.array([c.yaml for c in COMPUTE_TYPES] + [""], dtype=object)[
        np.where(batch.compute[rows] >= 0, batch.compute[rows], len(COMPUTE_TYPES))]
    protocol = np.array([p.value for p in PROTOCOLS] + [""], dtype=object)[
        np.where(batch.protocol[rows] >= 0, batch.protocol[rows], len(PROTOCOLS))]
    destination, kind = destinations(batch, rows, name)
    frame = pd.DataFrame({
        "compute_type": compute,
        "destination": destination,
        "kind": kind,
        "protocol": protocol,
        "dst_port": batch.port[rows],
        **_side(before, rows, "before"),
        **_side(after, rows, "after"),
        "flows": np.ones(len(rows), dtype=np.int64),
        "bytes_out": _numbers(table, "bytes_out", rows),
        "bytes_in": _numbers(table, "bytes_in", rows),
        "first_seen": _times(table, rows),
    })
    frame["last_seen"] = frame["first_seen"]
    return _aggregate(frame)


def _side(verdicts: Verdicts, rows: np.ndarray, side: str) -> dict[str, np.ndarray]:
    codes, names = verdicts.rule_codes()
    rule_names = np.array([*names, ""], dtype=object)
    return {
        f"verdict_{side}": np.array(VERDICT_LABELS, dtype=object)[verdicts.verdict[rows]],
        f"reason_{side}": np.array(REASON_LABELS, dtype=object)[verdicts.reason_positions[rows]],
        f"rule_{side}": rule_names[np.where(codes[rows] >= 0, codes[rows], len(names))],
    }


def destinations(batch: FlowBatch, rows: np.ndarray, name: Callable[[list[tuple[int, int]]], list[tuple[str, str]]],
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per flow: its destination label and kind (``host``; what ``name`` says of an address; ``none``)."""
    out = np.full(len(rows), "", dtype=object)
    kind = np.full(len(rows), "none", dtype=object)
    host = batch.host_code[rows]
    named = host >= 0
    if named.any():
        out[named] = pc.take(batch.hosts, pa.array(host[named])).to_numpy(zero_copy_only=False)
        kind[named] = "host"
    dest = batch.dest_code[rows]
    by_address = ~named & (dest >= 0) & (batch.dest_version[np.maximum(dest, 0)] > 0) if len(batch.dest_version) \
        else np.zeros(len(rows), dtype=bool)
    if by_address.any():
        codes, inverse = np.unique(dest[by_address], return_inverse=True)
        addresses = [(int(batch.dest_version[c]), (int(batch.dest_hi[c]) << 64 | int(batch.dest_lo[c]))
                      if batch.dest_version[c] == 6 else int(batch.dest_lo[c])) for c in codes]
        labels = name(addresses)
        out[by_address] = np.array([label for label, _ in labels], dtype=object)[inverse]
        kind[by_address] = np.array([k for _, k in labels], dtype=object)[inverse]
    return out, kind


def network_of(version: int, value: int) -> str:
    """The /24 (IPv4) or /48 (IPv6) network holding an address, as text."""
    bits = 32 if version == 4 else 128
    size = _IPV4_NETWORK if version == 4 else _IPV6_NETWORK
    network = value >> (bits - size) << (bits - size)
    address = ipv4_text(network) if version == 4 else str(ipaddress.IPv6Address(network))
    return f"{address}/{size}"


def _numbers(table: pa.Table, name: str, rows: np.ndarray) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(len(rows), dtype=np.int64)
    column = table.column(name)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        column = pc.cast(column, pa.float64(), safe=False) if pa.types.is_string(column.type) else column
    values = pc.take(column, pa.array(rows)).to_numpy(zero_copy_only=False)
    values = pd.to_numeric(pd.Series(values), errors="coerce").fillna(0).to_numpy()
    return np.clip(values, 0, None).astype(np.int64)


def _times(table: pa.Table, rows: np.ndarray) -> pd.Series:
    if "ts" not in table.column_names:
        return pd.Series(pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]")
    values = pc.take(table.column("ts"), pa.array(rows)).to_pandas()
    return pd.to_datetime(values, utc=True, errors="coerce").reset_index(drop=True)
