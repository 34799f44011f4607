"""What a Zeek cell holds, checked on whole columns: text, times and counts.

Zeek's ``time`` (``base/frameworks/logging/writers/ascii.zeek``, ``LogAscii::json_timestamps``) is epoch seconds
(float, ``JSON::TS_EPOCH``, and in TSV), or above 1e11 epoch milliseconds (``JSON::TS_MILLIS``), or ISO 8601 text
(``JSON::TS_ISO8601``); ``count`` and ``port`` are whole numbers in a range. Each kernel works on a block's column
at once (Arrow casts, numpy masks) and touches Python only for the distinct values it cannot cast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc




def to_text(arr: pa.Array) -> pa.Array:
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_boolean(arr.type):
        return pc.if_else(arr, pa.scalar("T"), pa.scalar("F"))
    return pc.cast(arr, pa.string())


def codes_of(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Dictionary codes (-1 for null) and the distinct values."""
    encoded = pc.dictionary_encode(arr)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _numbers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN when null or not a number) and the mask of non-null cells that are not numbers."""
    n = len(arr)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
    if not pa.types.is_string(arr.type):
        arr = to_text(arr)
    try:
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    series = pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) & series.notna().to_numpy()
    return values, bad


def counts(arr: pa.Array, upper: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole numbers 0..upper: (int64 values, null mask, bad mask)."""
    values, bad = _numbers(arr)
    null = np.isnan(values) & ~bad
    ok = ~np.isnan(values)
    bad |= ok & ~((values >= 0) & (values <= upper) & (np.floor(values) == values))
    out = np.where(ok & ~bad, values, 0).astype(np.int64)
    return out, null, bad


_EPOCH = r"^[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$"


def timestamps(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epoch microseconds (int64), null mask, bad mask. Numbers above 1e11 are milliseconds (``TS_MILLIS``)."""
    n = len(arr)
    seconds = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            seconds = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # ISO 8601 text, or some broken cells
            seconds = np.full(n, np.nan)
            numeric = pc.fill_null(pc.match_substring_regex(arr, _EPOCH), False).to_numpy(zero_copy_only=False)
            if numeric.any():
                rows = np.flatnonzero(numeric)
                seconds[rows] = pc.cast(arr.take(pa.array(rows)), pa.float64()).to_numpy(zero_copy_only=False)
            present = arr.is_valid().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(present & ~numeric)
            if len(rows):
                text = pd.Series(arr.take(pa.array(rows)).to_numpy(zero_copy_only=False), dtype=object)
                iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
                got = iso.notna().to_numpy()
                naive = iso[got].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
                seconds[rows[got]] = naive.astype("datetime64[us]").astype(np.int64) / 1e6
            bad = present & np.isnan(seconds)
    else:
        seconds, bad = _numbers(arr)
        bad = bad.copy()
    null = np.isnan(seconds) & ~bad
    millis = np.abs(np.nan_to_num(seconds)) > 1e11
    seconds = np.where(millis, seconds / 1000.0, seconds)
    bad |= ~np.isnan(seconds) & (np.abs(np.nan_to_num(seconds)) > 1e10)  # past year 2286: not a Zeek time
    ok = ~np.isnan(seconds) & ~bad
    micros = np.zeros(n, dtype=np.int64)
    micros[ok] = np.round(seconds[ok] * 1e6).astype(np.int64)
    return micros, null, bad
