"""pytest-benchmark cases for the evaluator: ``python -m pytest benchmarks -q --benchmark-only``.

The full vectorized-vs-reference comparison on 1M flows is ``python benchmarks/run.py``; these are smaller,
for tracking regressions with pytest-benchmark's statistics.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import egress_sim.compile  # noqa: E402
import egress_sim.servicetags  # noqa: E402
from egress_sim.evaluate import evaluate_frame  # noqa: E402
from egress_sim.model import workspace_from_dict  # noqa: E402
from egress_sim.reference import ReferenceEvaluator  # noqa: E402
from workload import WORKSPACE, make_frame, make_table  # noqa: E402


@pytest.fixture(scope="module")
def table():
    return make_table()


@pytest.fixture(scope="module")
def frame_100k(table):
    return make_frame(table, 100_000)


def test_vectorized_100k(benchmark, table, frame_100k):
    out = benchmark.pedantic(evaluate_frame, args=(table, frame_100k), rounds=3, iterations=1, warmup_rounds=1)
    assert len(out) == 100_000


def test_reference_10k(benchmark, table, frame_100k):
    frame = frame_100k.iloc[:10_000]
    reference = ReferenceEvaluator(table.effective)
    out = benchmark.pedantic(reference.evaluate_frame, args=(frame,), rounds=3, iterations=1)
    assert len(out) == 10_000


def test_compile_rule_table(benchmark):
    workspace, _ = workspace_from_dict(WORKSPACE)
    tags = egress_sim.servicetags.load_service_tags()
    table = benchmark(egress_sim.compile.compile_rules, workspace, tags)
    assert table.effective.service_tags
