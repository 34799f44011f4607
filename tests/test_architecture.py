"""The folder tree is the architecture: every import points down a layer, and no modules import each other in a
circle. The layers, from the bottom up (README, "Design"):

====  =====================  ====================================================================
rank  packages               their one job
====  =====================  ====================================================================
0     ``base``               errors, limits, strict YAML, atomic outputs, bundled data paths
1     ``model``, ``net``     workspaces and rules as values; addresses, service tags, Private Link
2     ``ruletable``          the rules in force compiled into a ``RuleTable``
2     ``flows``              the flow table: schema, assembly, CSV/Parquet I/O
3     ``evaluation``         ``RuleTable × flows → verdicts``, the reference evaluator, summaries
3     ``logs``               the ingestion engine and one module per log format
3     ``simulate``           catalog, scenarios, labelled exfiltration, the simulator
4     ``analysis``           what-if, suggest, rule coverage and shadowing, service-tag diff, plan
5     ``app``                the jobs behind the commands: replay, demo, what-if, validate
6     ``report``             text, Markdown, HTML
7     ``cli``                click commands over the library
8     ``__main__``           the console entry point
====  =====================  ====================================================================

Packages of the same rank do not import each other: ``logs`` knows nothing of ``evaluation`` or ``simulate``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "egress_sim"
RANKS = {"base": 0, "model": 1, "net": 1, "ruletable": 2, "flows": 2, "evaluation": 3, "logs": 3,
         "simulate": 3, "analysis": 4, "app": 5, "report": 6, "cli": 7, "__main__": 8, "__init__": 8}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every egress_sim module ``name`` imports, at any depth of its code (functions, TYPE_CHECKING blocks too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in MODULES else stem for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_belongs_to_a_known_layer():
    assert {_layer(m) for m in MODULES} <= set(RANKS), "a new top-level package needs a rank in RANKS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_a_layer(module):
    here = _layer(module)
    wrong = sorted(t for t in GRAPH[module]
                   if _layer(t) != here and _layer(t) != "__init__" and RANKS[_layer(t)] >= RANKS[here])
    assert not wrong, f"{module} (rank {RANKS[here]}) imports {wrong}, which are not below it"


def test_no_modules_import_each_other_in_a_circle():
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_log_engine_and_format_modules_stay_small():
    """A newcomer reads one format module whole: none in ``logs/`` runs past about 500 lines."""
    long = {str(p.relative_to(PACKAGE)): n for p in (PACKAGE / "logs").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, f"modules in logs/ over 500 lines: {long}"


def test_the_log_engine_knows_no_format():
    """``logs/engine/`` is what every format shares; a format is found only through ``logs/registry.py``."""
    engine = [m for m in MODULES if m.startswith("egress_sim.logs.engine")]
    wrong = {m: sorted(t for t in GRAPH[m] if t.startswith("egress_sim.logs.") and not
                       t.startswith("egress_sim.logs.engine")) for m in engine}
    assert not {m: w for m, w in wrong.items() if w}
