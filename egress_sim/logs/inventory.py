"""The compute inventory: which compute (name and type) owns which source addresses.

Connection logs name addresses, not computes. The inventory maps a log's source IPs to compute types so that
replayed flows are evaluated as what sent them; an address it does not list is reported as an unknown
source, never guessed.

YAML::

    computes:
    - name: gpu-cluster
      type: compute_cluster
      addresses: [10.0.8.0/28, 10.0.9.4]     # IPs or CIDR prefixes, IPv4 or IPv6

CSV (one address or prefix per row; a compute may have many rows)::

    compute_name,compute_type,address
    gpu-cluster,compute_cluster,10.0.8.0/28

When prefixes overlap, the longest one wins (a node listed by itself inside its cluster's subnet).
Addresses are read as ``ipnum`` reads them: an IPv4-mapped IPv6 prefix or source (``::ffff:10.0.8.0/120``)
is its IPv4 form; an entry with an IPv6 zone id (``fe80::1%eth0``) or a control character is refused with the
file and entry, and a source address with one is unknown.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..base.errors import EgressSimError
from ..net.ipnum import parse_ip, parse_network
from ..model import ComputeType
from ..net.prefixmap import PrefixMap
from ..base.yamlfile import read_yaml


class InventoryError(EgressSimError):
    """An inventory file is unreadable or has a bad entry; the message names the file and the entry."""


@dataclass(frozen=True)
class ComputeEntry:
    name: str
    compute_type: ComputeType
    prefix: str  # normalized CIDR


class Inventory:
    """Longest-prefix lookup from an address to the compute that owns it."""

    def __init__(self, entries: list[ComputeEntry], source: str = "<inventory>"):
        self.source = source
        self.entries = entries
        owner: dict[str, int] = {}  # normalized prefix -> its (last) entry
        for index, entry in enumerate(entries):
            if entry.prefix in owner and entries[owner[entry.prefix]].name != entry.name:
                other = entries[owner[entry.prefix]]
                raise InventoryError(f"{source}: {entry.prefix} is listed for both {other.name!r} and {entry.name!r}")
            owner[entry.prefix] = index
        self._prefixes = PrefixMap((ipaddress.ip_network(prefix), index) for prefix, index in owner.items())

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, address: str) -> ComputeEntry | None:
        ip = parse_ip(address if isinstance(address, str) else str(address))
        if ip is None:
            return None
        match = self._prefixes.longest_match(ip)
        return None if match is None else self.entries[match[1]]

    def lookup(self, addresses: pd.Series | pa.Array) -> tuple[pd.Categorical, pd.Categorical, np.ndarray]:
        """Per row: compute type (YAML text or None), compute name (or None), and whether the address is known.

        Works once per unique address, so a log with a few thousand sources costs a few thousand look-ups."""
        if isinstance(addresses, pd.Series):
            codes, uniques = pd.factorize(addresses, use_na_sentinel=True)
        elif pa.types.is_null(addresses.type):  # a format that logs no such address
            codes, uniques = np.full(len(addresses), -1, dtype=np.int64), []
        else:
            encoded = pc.dictionary_encode(addresses)
            codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
            uniques = encoded.dictionary.to_pylist()
        found = [self.find(u) for u in uniques]
        index = np.where(codes < 0, len(uniques), codes)
        known = np.array([f is not None for f in found] + [False], dtype=bool)
        return (_categorical([f.compute_type.yaml if f else None for f in found], index),
                _categorical([f.name if f else None for f in found], index), known[index])


def _categorical(per_unique: list[str | None], index: np.ndarray) -> pd.Categorical:
    """Per row, the value of its unique address (``index == len(per_unique)``: no value), as a categorical: a few
    distinct values, where a text per row would be converted once more by every step after."""
    categories = sorted({v for v in per_unique if v is not None})
    position = {v: i for i, v in enumerate(categories)}
    codes = np.array([-1 if v is None else position[v] for v in per_unique] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(codes[index], categories=categories)


def load_inventory(path: str | Path) -> Inventory:
    """Read an inventory in YAML (``computes:`` list) or CSV (``compute_name,compute_type,address``)."""
    file = Path(path)
    if file.suffix.lower() == ".csv":
        return Inventory(_csv_entries(file), str(file))
    data = read_yaml(file, "inventory", InventoryError)
    if not isinstance(data, dict) or not isinstance(data.get("computes"), list):
        raise InventoryError(f"{file}: an inventory is a mapping with a 'computes:' list (or a CSV file)")
    entries: list[ComputeEntry] = []
    for i, item in enumerate(data["computes"], start=1):
        where = f"{file}: computes[{i}]"
        if not isinstance(item, dict):
            raise InventoryError(f"{where}: must be a mapping with name, type and addresses")
        unknown = sorted(str(k) for k in set(item) - {"name", "type", "addresses"})
        if unknown:
            raise InventoryError(f"{where}: unknown key(s) {', '.join(unknown)} (known: name, type, addresses)")
        addresses = item.get("addresses")
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not addresses:
            raise InventoryError(f"{where}: 'addresses' must list IPs or CIDR prefixes")
        for address in addresses:
            entries.append(_entry(item.get("name"), item.get("type"), address, where, file))
    return Inventory(entries, str(file))


def _csv_entries(file: Path) -> list[ComputeEntry]:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{file}: cannot read inventory: {getattr(exc, 'strerror', None) or exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"compute_name", "compute_type", "address"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise InventoryError(f"{file}: an inventory CSV needs the columns compute_name, compute_type, address")
    return [_entry(row["compute_name"], row["compute_type"], row["address"], f"{file}:{line}", file)
            for line, row in enumerate(reader, start=2)]


def _entry(name: object, compute_type: object, address: object, where: str, file: Path) -> ComputeEntry:
    """One inventory entry, checked; ``where`` names the file and the entry (``inv.csv:3``, ``computes[2]``)."""
    if not isinstance(name, str) or not name.strip():
        raise InventoryError(f"{where}: needs a compute name", file=file)
    try:
        parsed = ComputeType.parse(compute_type, "compute type")
    except EgressSimError as exc:
        raise InventoryError(f"{where}: {exc}", file=file) from None
    if not isinstance(address, str) or not address.isprintable():
        raise InventoryError(f"{where}: {address!r} is not an IP address or CIDR prefix", file=file)
    try:
        prefix = parse_network(address)
    except ValueError as exc:
        if "host bits" in str(exc):
            loose = ipaddress.ip_network(address.strip(), strict=False)
            raise InventoryError(f"{where}: {address!r} has host bits set (did you mean {loose}?)", file=file) from None
        why = f" ({exc})" if "zone id" in str(exc) else ""
        raise InventoryError(f"{where}: {address!r} is not an IP address or CIDR prefix{why}", file=file) from None
    return ComputeEntry(name.strip(), parsed, str(prefix))
