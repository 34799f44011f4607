"""What one value of an Azure Firewall record field means (an address, a port, a protocol word, an action), worked
out once per distinct value of a block's column.

Firewall logs repeat a few values many times (the same protocol, action, ports and sources), so a block's column is
factorized (Arrow ``dictionary_encode`` or ``pandas.factorize``), each distinct value is interpreted once (and kept
in a per-file cache), and the per-record result is array indexing. Addresses, which are many, are checked per block
with one Arrow regex call for every distinct IPv4 text; only the rest go through :mod:`ipaddress`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...model.hostnames import try_normalize_host
from ...net.ipnum import IPV4_PATTERN
from ..engine.cells import is_ip_text

ABSENT, VALID, INVALID = 0, 1, 2  # address states
NAME_IP, NAME_HOST, NAME_INVALID = 1, 2, 3  # host name states (0 = absent)
TCP, UDP, ICMP = 0, 1, 2
NO_ACTION, ALLOW, DENY, ALERT, UNKNOWN_ACTION = range(5)

# protocol word -> (protocol code, default destination port or -1, the target may be a host name)
_PROTOCOLS: dict[str, tuple[int, int, bool]] = {
    "TCP": (TCP, -1, False), "UDP": (UDP, -1, False), "ICMP": (ICMP, -1, False),
    "HTTP": (TCP, 80, True), "HTTPS": (TCP, 443, True), "MSSQL": (TCP, 1433, True),
}
_ACTIONS = {"allow": ALLOW, "deny": DENY, "drop": DENY, "block": DENY, "reject": DENY, "alert": ALERT}
PROTOCOL_NAMES = np.array(["TCP", "UDP", "ICMP"], dtype=object)
OBSERVED = np.array([None, "allow", "deny", None, None], dtype=object)
_IPV4 = re.compile(IPV4_PATTERN)
NULL_TEXT = pa.scalar(None, pa.string())
_INTEGERS = frozenset({int, type(None)})
_TEXTS = frozenset({str, type(None)})

Meaning = Callable[[object], tuple]


def meaning(*dtypes: type) -> Callable[[Meaning], Meaning]:
    """Declares a value meaning: a function of one value (None when absent) returning a tuple, whose parts become
    arrays of these dtypes."""

    def mark(function: Meaning) -> Meaning:
        function.dtypes = dtypes  # type: ignore[attr-defined]
        return function

    return mark


class _Bad:
    """A field holding the wrong kind of JSON value (an object, an array, true/false where text belongs)."""

    def __repr__(self) -> str:
        return "<bad value>"


BAD = _Bad()


def blank(value: object) -> bool:
    return value is None or (value.__class__ is str and not value.strip())  # type: ignore[attr-defined]


@meaning(np.int8, object)
def address(value: object) -> tuple[int, str | None]:
    if blank(value):
        return ABSENT, None
    if value.__class__ is not str:
        return INVALID, None
    text = value.strip()  # type: ignore[attr-defined]
    if _IPV4.fullmatch(text) is None and not is_ip_text(text):  # the common case by a regex
        return INVALID, None
    return VALID, text


@meaning(np.int8, object)
def name(value: object) -> tuple[int, str | None]:
    if blank(value):
        return ABSENT, None
    state, text = address(value)
    if state == VALID:
        return NAME_IP, text
    if value.__class__ is str and try_normalize_host(value) is not None:
        return NAME_HOST, value.strip()  # type: ignore[attr-defined]
    return NAME_INVALID, None


@meaning(np.int8, np.int32, bool)
def protocol(value: object) -> tuple[int, int, bool]:
    """(code or -1 absent / -2 unknown, default port or -1, may name a host)."""
    if blank(value):
        return -1, -1, False
    if value.__class__ is not str:
        return -2, -1, False
    text = value.strip().upper()  # type: ignore[attr-defined]
    found = _PROTOCOLS.get(text)
    if found is None and text.startswith("ICMP"):  # "ICMP Type=8" in the structured tables
        found = _PROTOCOLS["ICMP"]
    return found if found is not None else (-2, -1, False)


@meaning(np.int8)
def action(value: object) -> tuple[int]:
    if blank(value):
        return (NO_ACTION,)
    if value.__class__ is not str:
        return (UNKNOWN_ACTION,)
    return (_ACTIONS.get(value.strip().lower(), UNKNOWN_ACTION),)  # type: ignore[attr-defined]


@meaning(np.int32)
def port(value: object) -> tuple[int]:
    """(0-65535, or -1 absent, -2 not a port)."""
    if blank(value):
        return (-1,)
    if value.__class__ is int:
        return (value if 0 <= value <= 65535 else -2,)  # type: ignore[operator]
    if value.__class__ is float:
        return (int(value) if value.is_integer() and 0 <= value <= 65535 else -2,)  # type: ignore[attr-defined]
    if value.__class__ is str:
        text = value.strip()  # type: ignore[attr-defined]
        if text.isascii() and text.isdigit() and int(text) <= 65535:
            return (int(text),)
    return (-2,)


@meaning(bool)
def truthy(value: object) -> tuple[bool]:
    return (value is not None and bool(value),)


def factorize(column: pa.Array | list) -> tuple[np.ndarray, list]:
    """A code per record (-1 when null) and the column's distinct values."""
    if isinstance(column, pa.Array):
        if column.null_count == len(column):
            return np.full(len(column), -1, dtype=np.int64), []
        encoded = pc.dictionary_encode(column)
        return encoded.indices.fill_null(-1).to_numpy().astype(np.int64), encoded.dictionary.to_pylist()
    if set(map(type, column)) <= _TEXTS:  # text (and nulls): Arrow hashes it without Python objects
        return factorize(pa.array(column, pa.string()))
    values = np.empty(len(column), dtype=object)
    values[:] = column
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, list(uniques)


def _ipv4_mask(uniques: list) -> tuple[np.ndarray, np.ndarray]:
    """For distinct values: which are (after trimming) IPv4 addresses, in one Arrow call, and the trimmed texts."""
    texts = pc.utf8_trim_whitespace(pa.array([u if u.__class__ is str else None for u in uniques], pa.string()))
    mask = pc.match_substring_regex(texts, IPV4_PATTERN).fill_null(False).to_numpy(zero_copy_only=False)
    return mask, texts.to_numpy(zero_copy_only=False)


def ports(column: pa.Array) -> np.ndarray:
    """``port`` for a whole Arrow column (numbers, or text): 0-65535, -1 absent, -2 not a port."""
    if pa.types.is_integer(column.type):
        values = column.cast(pa.int64()).fill_null(-1).to_numpy()
        present = column.is_valid().to_numpy(zero_copy_only=False)
        return np.where(present & ((values < 0) | (values > 65535)), -2, values).astype(np.int32)
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    digits = pc.match_substring_regex(text, "^[0-9]{1,5}$").fill_null(False)
    values = pc.cast(pc.if_else(digits, text, NULL_TEXT), pa.int64()).fill_null(-1).to_numpy()
    empty = pc.or_(pc.is_null(text), pc.equal(text, "")).fill_null(True).to_numpy(zero_copy_only=False)
    digits = digits.to_numpy(zero_copy_only=False)
    return np.where(empty, -1, np.where(digits & (values <= 65535), values, -2)).astype(np.int32)


class Meanings:
    """Maps columns to per-record meanings, each distinct value worked out once (and cached for the file;
    addresses, which are many, are checked per block with one Arrow call for all IPv4 ones)."""

    LIMIT = 200_000  # distinct values cached per meaning before the cache starts over

    def __init__(self) -> None:
        self.caches: dict[Callable, dict] = {}

    def of(self, column: pa.Array | list, what: Meaning) -> list[np.ndarray]:
        if what is port and not isinstance(column, pa.Array) and set(map(type, column)) <= _INTEGERS:
            try:  # numbers, as JSON logs hold ports: checked as one Arrow column
                column = pa.array(column, pa.int64())
            except (OverflowError, pa.ArrowException):
                pass
        if what is port and isinstance(column, pa.Array):
            return [ports(column)]
        codes, uniques = factorize(column)
        if what is address or what is name:
            table = self._addresses(uniques, what)
        else:
            cache = self._cache(what)
            table = []
            for value in uniques:
                found = cache.get(value)
                if found is None:
                    found = cache[value] = what(value)
                table.append(found)
            table.append(what(None))  # code -1 (null) indexes this last entry
        return [np.array([t[k] for t in table], dtype=dtype)[codes]
                for k, dtype in enumerate(what.dtypes)]  # type: ignore[attr-defined]

    def _cache(self, what: Meaning) -> dict:
        cache = self.caches.setdefault(what, {})
        if len(cache) > self.LIMIT:
            cache.clear()
        return cache

    def _addresses(self, uniques: list, what: Meaning) -> list[tuple]:
        valid = VALID if what is address else NAME_IP
        table: list[tuple] = [(0, None)] * (len(uniques) + 1)
        if uniques:
            ipv4, texts = _ipv4_mask(uniques)
            cache = self._cache(what)
            for k, value in enumerate(uniques):
                if ipv4[k]:
                    table[k] = (valid, texts[k])
                else:
                    found = cache.get(value)
                    if found is None:
                        found = cache[value] = what(value)
                    table[k] = found
        return table

    def one(self, value: object, what: Meaning) -> tuple:
        cache = self.caches.setdefault(what, {})
        found = cache.get(value) if value.__class__ in (str, int) else None
        return found if found is not None else what(value)
