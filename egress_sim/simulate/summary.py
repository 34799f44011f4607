"""What a simulation wrote, counted block by block as it streams: flows per scenario label, compute type and
service (the table ``simulate`` prints and the counts ``demo`` reports)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class SimulationSummary:
    """What was written: flows per scenario label, compute type and service."""

    flows: int = 0
    by_scenario: Counter = field(default_factory=Counter)
    by_compute_type: Counter = field(default_factory=Counter)
    by_service: Counter = field(default_factory=Counter)

    def add(self, table: pa.Table) -> None:
        self.flows += table.num_rows
        for column, counter in (("scenario", self.by_scenario), ("compute_type", self.by_compute_type),
                                ("service", self.by_service)):
            values = table.column(column).combine_chunks()
            counts = np.bincount(values.indices.to_numpy(), minlength=len(values.dictionary))
            for name, n in zip(values.dictionary.to_pylist(), counts.tolist()):
                if n:
                    counter[name] += n

    def to_dict(self) -> dict[str, object]:
        return {"flows": self.flows, "by_scenario": dict(self.by_scenario.most_common()),
                "by_compute_type": dict(self.by_compute_type.most_common()), "by_service": dict(self.by_service.most_common())}
