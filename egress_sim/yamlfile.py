"""Reading a YAML file with one precise error line for every way it can fail (shared by all YAML inputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import EgressSimError


def read_yaml(path: str | Path, what: str, error: type[EgressSimError]) -> Any:
    """The parsed document; ``error("<path>: ...")`` naming the line and column when the YAML is broken."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise error(f"{source}: {what} is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}: not valid YAML{where}: {problem}") from None
