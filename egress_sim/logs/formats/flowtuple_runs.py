"""Flow tuples gathered run by run as the records give them, before they are parsed (``flowtuples``).

A run is an Arrow string array (tuples found in a record's bytes by ``flowtuple_spans``) or a Python list (tuples
of a record decoded the careful way, which may hold items that are not strings, or undecodable bytes kept as lone
surrogates). ``TupleRuns.array()`` makes them one Arrow array, with the reason code of every item that cannot be a
tuple, and ``tuple_text`` shows an item as a reject sample does.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa

from .flowtuples import REASON_CODE

# A lone surrogate is no UTF-8 text: undecodable bytes kept by the careful stream (U+DC80..U+DCFF) or a JSON
# escape such as "\\ud800", which Python decodes as it is written.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_A_KEPT_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _clean(text: str) -> str:
    """Undecodable bytes (kept as lone surrogates) and escaped lone surrogates shown as U+FFFD."""
    if text.isascii():
        return text
    return _NOT_A_KEPT_BYTE.sub("\ufffd", text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _string_array(tuples: list, reason: np.ndarray) -> pa.StringArray:
    """The tuples as one Arrow array; an item that is not a string, or holds undecodable bytes, is
    rejected and stands in as an empty string."""
    try:
        arr = pa.array(tuples, type=pa.string())
        if not arr.null_count:  # (a null tuple is no string either: it is rejected below, not read as empty)
            return arr
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        pass
    cleaned = []
    for i, item in enumerate(tuples):
        if not isinstance(item, str):
            reason[i] = REASON_CODE["invalid_tuple"]
            cleaned.append("")
        elif not item.isascii() and _SURROGATE.search(item):
            reason[i] = REASON_CODE["invalid_utf8"]
            cleaned.append("")
        else:
            cleaned.append(item)
    return pa.array(cleaned, type=pa.string())


class TupleRuns:
    """Tuples gathered run by run, as the records give them: a run is an Arrow string array (tuples found in the
    bytes by ``flowtuple_spans``) or a Python list (tuples of a record decoded the careful way, which may hold
    things that are not strings). ``array()`` is all of them as one array with the reason codes of the items
    that cannot be tuples; ``text(i)`` shows item ``i`` as a reject sample does."""

    def __init__(self) -> None:
        self.runs: list[pa.StringArray | list] = []
        self.size = 0

    def add(self, run: pa.StringArray | list) -> None:
        if len(run):
            self.runs.append(run)
            self.size += len(run)

    def slice(self, lo: int, hi: int) -> TupleRuns:
        out, at = TupleRuns(), 0
        for run in self.runs:
            a, b = max(lo - at, 0), min(hi - at, len(run))
            if a < b:
                out.add(run[a:b] if isinstance(run, list) else run.slice(a, b - a))
            at += len(run)
        return out

    def array(self) -> tuple[pa.StringArray, np.ndarray]:
        arrays, reasons = [], []
        for run in self.runs:
            reason = np.zeros(len(run), dtype=np.uint8)
            arrays.append(_string_array(run, reason) if isinstance(run, list) else run)
            reasons.append(reason)
        if not arrays:
            return pa.array([], pa.string()), np.zeros(0, dtype=np.uint8)
        return (arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)), np.concatenate(reasons)

    def text(self, i: int) -> str:
        for run in self.runs:
            if i < len(run):
                return tuple_text(run[i] if isinstance(run, list) else run[i].as_py())
            i -= len(run)
        raise IndexError(i)


def tuple_text(item: object) -> str:
    """A tuple as shown in a reject sample: its text (undecodable bytes as U+FFFD), or its JSON."""
    return _clean(item) if isinstance(item, str) else json.dumps(item)
