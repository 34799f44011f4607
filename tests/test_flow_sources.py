"""A flow's source (``flows.sources``): kept as a shared head and a number, made text only when written."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from egress_sim.flows.sources import NO_NUMBER, lazy_columns, row_source, source_text

HEADS = st.lists(st.text(max_size=40), min_size=1, max_size=5)
NUMBERS = st.one_of(st.just(NO_NUMBER), st.integers(-2**63, 2**63 - 1), st.integers(0, 10**6))


@settings(max_examples=200, deadline=None)
@given(HEADS.flatmap(lambda heads: st.tuples(st.just(heads), st.lists(st.tuples(
    st.integers(0, len(heads) - 1), NUMBERS), max_size=60))))
def test_the_compiled_join_writes_head_then_number_as_python_does(case):
    """Any head text (non-ASCII too), any 64-bit number: the same text as ``head + str(number)``, and the head
    alone where the row has no number."""
    heads, rows = case
    table = pa.table(lazy_columns(heads, [i for i, _ in rows], [n for _, n in rows]))
    expected = [heads[i] + ("" if n == NO_NUMBER else str(n)) for i, n in rows]
    assert source_text(table).to_pylist() == expected
    assert [row_source(table, k) for k in range(len(rows))] == expected


def test_a_null_head_or_number_gives_a_null_source():
    head = pa.DictionaryArray.from_arrays(pa.array([0, None, 0], pa.int32()), pa.array(["a@", "b@"]))
    table = pa.table({"source_head": head, "source_num": pa.array([1, 2, None], pa.int64())})
    assert source_text(table).to_pylist() == ["a@1", None, None]


def test_a_table_that_holds_source_text_keeps_it():
    table = pa.table({"source": ["conn.log:3"]})
    assert source_text(table).to_pylist() == ["conn.log:3"]
