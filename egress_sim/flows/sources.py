"""Where each flow came from, kept as two small columns until someone reads it as text.

Every replayed flow can be traced back to its log record: ``logs/nsg/PT1H.json@48213 tuple 7`` (the 7th tuple
of the JSON record at byte 48,213), ``conn.log:1204`` (a line). Built as text for every row, that is a
string of 60-250 bytes per flow, most of it the same file path again, and building it was a large share of
a replay. So a reader keeps the origin as

* ``source_head``: dictionary-encoded text shared by many rows (``"conn.log:"``, ``"PT1H.json@48213 tuple "``),
* ``source_num``: a 64-bit number appended to it (a line, a tuple's place; ``NO_NUMBER``: nothing appended),

about 12 bytes per row, and the text ``head + str(num)`` is made only where it is shown or written
(``source_text``), in one compiled pass. A table that already carries a ``source`` text column (a flow
table read back, CSV/Parquet input) keeps it as it is.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEAD, NUM, TEXT = "source_head", "source_num", "source"
NO_NUMBER = -1  # ``source_num`` of a row whose head is its whole source
HEAD_TYPE = pa.dictionary(pa.int32(), pa.string())


def lazy_columns(heads: list[str] | pa.Array, index: np.ndarray, numbers: np.ndarray) -> dict[str, pa.Array]:
    """The two source columns for rows whose head is ``heads[index[i]]`` and number ``numbers[i]``."""
    dictionary = heads if isinstance(heads, pa.Array) else pa.array(heads, pa.string())
    return {HEAD: pa.DictionaryArray.from_arrays(pa.array(np.asarray(index, dtype=np.int32)), dictionary),
            NUM: pa.array(np.asarray(numbers, dtype=np.int64))}


def one_head(head: str, numbers: np.ndarray) -> dict[str, pa.Array]:
    """The source columns of rows that share one head (``"conn.log:"`` + each row's line number)."""
    return lazy_columns([head], np.zeros(len(numbers), dtype=np.int32), numbers)


def has_lazy_source(table: pa.Table) -> bool:
    return HEAD in table.column_names and NUM in table.column_names


def source_text(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """The ``source`` text of every row, from the lazy columns or the text column, whichever the table has."""
    if TEXT in table.column_names:
        return table.column(TEXT)
    if not has_lazy_source(table):
        return pa.nulls(table.num_rows, pa.string())
    chunks = []
    heads, nums = table.column(HEAD), table.column(NUM)
    for head, num in zip(heads.chunks, nums.chunks) if heads.num_chunks == nums.num_chunks else \
            [(heads.combine_chunks(), nums.combine_chunks())]:
        chunks.append(_join(head, num))
    return pa.chunked_array(chunks, pa.string())


def _join(head: pa.DictionaryArray, num: pa.Int64Array) -> pa.Array:
    """``head + str(num)`` row by row (``num == NO_NUMBER``: the head alone; a null in either: null)."""
    dictionary = head.dictionary
    if dictionary.type != pa.string():  # (a dictionary round-tripped through pandas comes back as large_string)
        dictionary = pc.cast(dictionary, pa.string())
    if head.null_count or num.null_count or not len(head):
        return _join_nullable(dictionary.take(head.indices), num)
    first = dictionary.offset
    head_offsets = np.frombuffer(dictionary.buffers()[1], np.int32)[first:first + len(dictionary) + 1]
    head_data = np.frombuffer(dictionary.buffers()[2], np.uint8) if dictionary.buffers()[2] is not None else \
        np.zeros(1, np.uint8)
    indices = head.indices.to_numpy(zero_copy_only=False)
    numbers = num.to_numpy(zero_copy_only=False)
    size = _joined_size(head_offsets, indices, numbers)
    if size >= 2**31:  # past a string array's 32-bit offsets: Arrow's kernels, which make large strings
        return pc.cast(_join_nullable(dictionary.take(head.indices), num), pa.string())
    offsets = np.empty(len(indices) + 1, np.int32)
    data = np.empty(size, np.uint8)
    _join_into(head_offsets, head_data, indices, numbers, offsets, data)
    return pa.StringArray.from_buffers(len(indices), pa.py_buffer(offsets), pa.py_buffer(data))


def _join_nullable(text: pa.Array, num: pa.Int64Array) -> pa.Array:
    """``_join`` with Arrow's kernels, which carry nulls through (a rare input: readers write no null source)."""
    numbers = pc.if_else(pc.equal(num, NO_NUMBER), "", pc.cast(num, pa.string()))
    return pc.binary_join_element_wise(text, numbers, "")


_TEN, _ZERO = np.uint64(10), np.uint64(0)


@numba.njit(cache=True, nogil=True)
def _number_width(n):  # pragma: no cover - compiled
    if n == NO_NUMBER:
        return 0
    width = 1 if n < 0 else 0
    m = np.uint64(-n) if n < 0 else np.uint64(n)
    width += 1
    while m >= _TEN:
        m //= _TEN
        width += 1
    return width


@numba.njit(cache=True, nogil=True)
def _joined_size(head_offsets, indices, numbers):  # pragma: no cover - compiled
    size = 0
    for i in range(len(indices)):
        size += head_offsets[indices[i] + 1] - head_offsets[indices[i]] + _number_width(numbers[i])
    return size


@numba.njit(cache=True, nogil=True)
def _join_into(head_offsets, head_data, indices, numbers, offsets, data):  # pragma: no cover - compiled
    at = 0
    offsets[0] = 0
    for i in range(len(indices)):
        start, end = head_offsets[indices[i]], head_offsets[indices[i] + 1]
        data[at:at + end - start] = head_data[start:end]
        at += end - start
        n = numbers[i]
        width = _number_width(n)
        if width:
            m = np.uint64(-n) if n < 0 else np.uint64(n)
            if n < 0:
                data[at] = 45
            last = at + width - 1
            while True:  # (uint64 with uint64 only: numba makes uint64 with int64 a float)
                data[last] = np.uint8(m % _TEN) + np.uint8(48)
                m //= _TEN
                last -= 1
                if m == _ZERO:
                    break
            at += width
        offsets[i + 1] = at


def with_source_text(table: pa.Table) -> pa.Table:
    """``table`` with the lazy columns replaced by the ``source`` text column, at the first lazy column's place."""
    if not has_lazy_source(table):
        return table
    text = source_text(table)
    at = table.column_names.index(HEAD)
    table = table.drop_columns([HEAD, NUM])
    return table.add_column(at, TEXT, text)


def row_source(table: pa.Table, row: int) -> str | None:
    """One row's source as text (for a sample in a report): no column is built."""
    if TEXT in table.column_names:
        return table.column(TEXT)[row].as_py()
    if not has_lazy_source(table):
        return None
    head, num = table.column(HEAD)[row].as_py(), table.column(NUM)[row].as_py()
    if head is None:
        return None
    return head if num is None or num == NO_NUMBER else f"{head}{num}"
