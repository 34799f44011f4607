"""Text columns read as unsigned decimal numbers, the way a log's counters, ports and times are written.

``unsigned`` says which cells are a plain decimal number (ASCII digits only: no sign, no space, no point) below
10**18 and gives their values. The usual column (every cell 1 to 18 digits, or null) is judged on its bytes with
numpy, one comparison per byte; any other column takes Arrow's string kernels.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def mask(result: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow boolean result as a numpy bool array, null counted as False."""
    return result.fill_null(False).to_numpy(zero_copy_only=False)


def unsigned(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(is a decimal number below 10**18, its value or 0) for a column of strings."""
    fast = digits_only(col)
    if fast is not None:
        return fast
    decimal = mask(pc.ascii_is_decimal(col))
    if decimal.all():
        try:
            value = pc.cast(col, pa.int64()).to_numpy()
            return value < 10**18, value
        except pa.ArrowInvalid:  # more digits than int64 holds
            pass
    ok = decimal & mask(pc.less_equal(pc.utf8_length(col), 18))
    value = pc.cast(pc.if_else(pa.array(ok), col, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    return ok, value


def digits_only(col: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """``unsigned`` of the usual column, found on its bytes: every cell 1 to 18 digits or null. None otherwise."""
    if col.type != pa.string():
        return None
    _, offsets_buffer, data_buffer = col.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[col.offset:col.offset + len(col) + 1]
    lengths = np.diff(offsets)
    valid = mask(pc.is_valid(col)) if col.null_count else np.ones(len(col), dtype=bool)
    if not ((lengths >= 1) | ~valid).all() or lengths.max(initial=0) > 18:
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]] if data_buffer else np.empty(0)
    if not (data - 48 < 10).all():  # uint8 wraps below "0": one comparison per byte
        return None
    filled = pc.fill_null(col, "0") if col.null_count else col
    return valid, pc.cast(filled, pa.int64()).to_numpy()
