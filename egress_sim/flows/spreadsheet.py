"""Text cells a spreadsheet would run as formulas, neutralised before they reach a CSV file.

Flow files carry text from logs and workspaces nobody here wrote (host names, compute and rule names). A
cell such as ``=HYPERLINK(...)`` or ``-2+3+cmd|' /C calc'!A0``, opened in Excel or LibreOffice, is run as a
formula. As OWASP recommends ("CSV Injection"), a text cell whose first character is ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a single quote in front (``'=HYPERLINK(...)``), which spreadsheets
show as text. A cell that is a plain number (``-5``, ``+1.5e3``) cannot be a formula and is left alone, and
numeric columns are never touched.

The common case costs almost nothing: a dictionary column is checked on its distinct values only, and a plain
text column by looking at the first byte of each value in the Arrow buffers (a few ms per million values);
the exact test runs only when some value starts with one of those characters.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TRIGGERS = "=+-@\t\r"
QUOTE = "'"
_STARTS = r"^[=+\-@\t\r]"  # TRIGGERS as a regular expression
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_TRIGGER_BYTES = np.zeros(256, dtype=bool)
_TRIGGER_BYTES[[ord(c) for c in TRIGGERS]] = True


def neutralise_table(table: pa.Table) -> pa.Table:
    """``table`` with every formula-like text cell quoted; the same object when there is none."""
    for position, field in enumerate(table.schema):
        column = table.column(position)
        fixed = _fix_column(column)
        if fixed is not column:
            table = table.set_column(position, field.name, fixed)
    return table


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every formula-like text cell quoted; the same object when there is none."""
    changed = {}
    for name, series in frame.items():
        fixed = _fix_series(series)
        if fixed is not series:
            changed[name] = fixed
    if not changed:
        return frame
    out = frame.copy(deep=False)
    for name, fixed in changed.items():
        out[name] = fixed
    return out


def is_formula_like(value: str) -> bool:
    """The rule itself, on one value (the vectorized paths below give the same answer)."""
    return bool(value) and value[0] in TRIGGERS and re.match(_NUMBER, value) is None


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _fix_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if not (_is_text(kind) or (pa.types.is_dictionary(kind) and _is_text(kind.value_type))):
        return column
    old = column.chunks  # each access makes new wrapper objects: compare against one list
    chunks = [_fix_array(chunk) for chunk in old]
    if all(a is b for a, b in zip(chunks, old)):
        return column
    return pa.chunked_array(chunks, type=chunks[0].type)


def _fix_array(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.DictionaryArray):
        dictionary = _fix_array(array.dictionary)
        if dictionary is array.dictionary:
            return array
        if pc.count_distinct(dictionary).as_py() < len(dictionary):  # "=x" quoted collides with a "'=x"
            return _fix_array(array.cast(array.type.value_type))
        return pa.DictionaryArray.from_arrays(array.indices, dictionary)
    if not _may_hold_formulas(array):
        return array
    starts = pc.match_substring_regex(array, _STARTS)
    number = pc.match_substring_regex(array, _NUMBER)
    risky = pc.fill_null(pc.and_(starts, pc.invert(number)), False)
    if not pc.any(risky).as_py():
        return array
    quoted = pc.binary_join_element_wise(pa.scalar(QUOTE, array.type), array, pa.scalar("", array.type))
    return pc.if_else(risky, quoted, array)


def _may_hold_formulas(array: pa.Array) -> bool:
    """Whether any value's first byte is a trigger (a quick over-approximation: nulls are not excluded)."""
    if len(array) == 0:
        return False
    offsets_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets_buffer, data_buffer = array.buffers()
    if data_buffer is None:
        return False
    offsets = np.frombuffer(offsets_buffer, dtype=offsets_type)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    return bool(_TRIGGER_BYTES[data[starts]].any())


def _fix_series(series: pd.Series) -> pd.Series:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = series.cat.categories
        if categories.dtype.kind not in "OUT" and not isinstance(categories.dtype, pd.StringDtype):
            return series
        fixed = _fix_values(pd.Series(categories))
        if fixed is None:
            return series
        if fixed.is_unique:
            return series.cat.rename_categories(list(fixed))
        return _fix_series(series.astype(object))
    if not (dtype == object or isinstance(dtype, pd.StringDtype)):
        return series
    fixed = _fix_values(series)
    return series if fixed is None else fixed


def _fix_values(series: pd.Series) -> pd.Series | None:
    """The values with formula-like text quoted, or None when none is (non-text values are left alone)."""
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        array = None
    if array is not None and _is_text(array.type):
        column = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
        fixed = _fix_column(column)  # a pyarrow-backed pandas column comes in chunks
        if fixed is column:
            return None
        result = pd.Series(fixed.to_pandas(), index=series.index, name=series.name)
        return result.astype(series.dtype) if isinstance(series.dtype, pd.StringDtype) else result
    if array is not None and not pa.types.is_null(array.type):
        return None  # numbers, booleans, timestamps held as objects
    values = series.to_numpy(dtype=object, na_value=None)  # mixed types: look at each text value
    risky = [isinstance(v, str) and is_formula_like(v) for v in values]
    if not any(risky):
        return None
    return pd.Series([QUOTE + v if r else v for v, r in zip(values, risky)], index=series.index,
                     name=series.name, dtype=object)
