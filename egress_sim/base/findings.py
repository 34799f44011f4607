"""Validation findings: one precise line each, naming the file, the rule and the bad value."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .errors import EgressSimError

Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    code: str  # machine-readable kind, e.g. "port_range", "unknown_service_tag"
    message: str  # what is wrong, without the file/rule prefix
    source: str | None = None  # the file
    rule: str | None = None  # the rule's name, when the finding is about one rule

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        rule = f"rule {self.rule!r}: " if self.rule else ""
        tag = "" if self.level == "error" else "warning: "
        return f"{where}{tag}{rule}{self.message}"

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


class WorkspaceInvalid(EgressSimError):
    """A workspace definition has one or more errors; ``findings`` lists them all (warnings too)."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("\n".join(str(f) for f in findings if f.level == "error"))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]
