"""What the simulator's tests share: the bundled contoso workspace and scenario as data, a scenario with other
injections, and a block of simulated flows as a frame."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from egress_sim.simulate.scenario import bundled_scenario_path, load_scenario, scenario_from_dict
from egress_sim.simulate.simulator import SimulationPlan

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = yaml.safe_load((ROOT / "data/workspaces/contoso-research.yaml").read_text())
DEFAULT_SCENARIO = yaml.safe_load(bundled_scenario_path().read_text())


def scenario_with(injections: dict[str, object]):
    """The bundled scenario with these exfiltration injections instead of its own."""
    data = copy.deepcopy(DEFAULT_SCENARIO)
    data["exfiltration"] = injections
    return scenario_from_dict(data, "test-scenario")


def simulated(ws, tags, n: int, seed: int, scenario=None) -> pd.DataFrame:
    """``n`` simulated flows of ``ws`` as a frame."""
    plan = SimulationPlan(ws, tags, scenario or load_scenario(), seed)
    return pa.concat_tables(list(plan.blocks(n))).to_pandas()
