"""pytest-benchmark cases for tracking regressions: ``python -m pytest benchmarks -q --benchmark-only``.

The full table with ratios against the reference evaluator and a per-flow pytricia loop is
``python benchmarks/run.py``; these cases are smaller and use pytest-benchmark's statistics.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import egress_sim.ruletable.compile  # noqa: E402
import egress_sim.net.servicetags  # noqa: E402
from egress_sim.evaluation.evaluate import evaluate, evaluate_frame  # noqa: E402
from egress_sim.flows.schema import FlowBatch  # noqa: E402
from egress_sim.model import workspace_from_dict  # noqa: E402
from egress_sim.evaluation.reference import ReferenceEvaluator  # noqa: E402
from workload import WORKSPACE, make_frame, make_host_frame, make_table  # noqa: E402

FLOWS = 1_000_000


@pytest.fixture(scope="module")
def table():
    return make_table()


@pytest.fixture(scope="module")
def frame(table):
    return make_frame(table, FLOWS)


@pytest.mark.parametrize("family", ["ipv4", "ipv6", "mixed"])
def test_kernel(benchmark, table, family):
    batch = FlowBatch.from_frame(make_frame(table, FLOWS, family=family))
    evaluate(table, batch)  # load the compiled kernel before timing
    verdicts = benchmark.pedantic(evaluate, args=(table, batch), rounds=5, iterations=1)
    assert len(verdicts) == FLOWS


def test_kernel_host_names(benchmark, table):
    batch = FlowBatch.from_frame(make_host_frame(table, FLOWS, unique_hosts=10_000))
    evaluate(table, batch)
    verdicts = benchmark.pedantic(evaluate, args=(table, batch), rounds=5, iterations=1)
    assert len(verdicts) == FLOWS


def test_evaluate_text_frame(benchmark, table, frame):
    text = frame.iloc[:200_000].astype(object)
    out = benchmark.pedantic(evaluate_frame, args=(table, text), rounds=3, iterations=1, warmup_rounds=1)
    assert len(out) == len(text)


def test_reference_10k(benchmark, table, frame):
    head = frame.iloc[:10_000]
    reference = ReferenceEvaluator(table.effective)
    out = benchmark.pedantic(reference.evaluate_frame, args=(head,), rounds=2, iterations=1)
    assert len(out) == 10_000


def test_compile_rule_table(benchmark):
    workspace, _ = workspace_from_dict(WORKSPACE)
    tags = egress_sim.net.servicetags.load_service_tags()
    table = benchmark(egress_sim.ruletable.compile.compile_rules, workspace, tags)
    assert table.effective.service_tags
