"""Where the bundled data lives once installed (``data/`` is packaged as ``egress_sim.bundled``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_path(*parts: str) -> Path:
    """A file under ``data/``, e.g. ``bundled_path("simulation", "default.yaml")``."""
    return Path(str(resources.files("egress_sim.bundled").joinpath(*parts)))
