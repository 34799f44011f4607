"""Checks and conversions on whole columns that several formats share: which cells are IP addresses, and
Arrow tables as the pandas frames the older ``read_chunks`` readers hand out."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...flows.sources import with_source_text
from ...net.ipnum import IPV4_PATTERN


def is_ip_text(text: str) -> bool:
    """Whether ``text`` is exactly an IPv4 or IPv6 address (no surrounding space), by :mod:`ipaddress`."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ip_cells(column: pa.Array) -> np.ndarray:
    """Which cells of a text column are IP addresses (null: False). Dotted quads by one regex over the column;
    the rest that hold a colon (IPv6 candidates) by :mod:`ipaddress`, once per distinct value. A value without
    a colon that is no dotted quad is never an address, so it is not looked at twice."""
    quad = pc.fill_null(pc.match_substring_regex(column, IPV4_PATTERN), False).to_numpy(zero_copy_only=False)
    colon = pc.fill_null(pc.match_substring(column, ":"), False).to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~quad & colon)
    if not len(rest):
        return quad
    candidates = column.take(pa.array(rest))
    valid = [text for text in pc.unique(candidates).to_pylist() if is_ip_text(text)]
    out = quad.copy()
    if valid:
        out[rest] = pc.fill_null(pc.is_in(candidates, value_set=pa.array(valid, pa.string())), False).to_numpy(
            zero_copy_only=False)
    return out


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A reader's Arrow table as the pandas frame ``read_chunks`` yields: 64-bit integer columns as nullable
    ``Int64`` (byte counters may be missing), the rest as Arrow converts them."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, use_threads=False)


def frames(tables: Iterable[pa.Table]) -> Iterator[pd.DataFrame]:
    """A format's tables as the pandas frames ``read_chunks`` hands out: ``source`` as text, one frame a table."""
    for table in tables:
        yield arrow_to_frame(with_source_text(table))
