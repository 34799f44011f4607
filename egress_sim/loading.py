"""Load a workspace file and check it completely: syntax (while loading) and meaning (``validate``)."""

from __future__ import annotations

from pathlib import Path

from .findings import Finding, WorkspaceInvalid
from .model import Workspace, load_workspace
from .servicetags import ServiceTagSet
from .validate import validate_workspace


def load_checked(path: str | Path, tags: ServiceTagSet) -> tuple[Workspace, list[Finding]]:
    """The workspace and its warnings; ``WorkspaceInvalid`` lists every error (syntax and meaning) at once."""
    workspace, findings = load_workspace(path)
    findings = findings + validate_workspace(workspace, tags, source=str(path))
    if any(f.level == "error" for f in findings):
        raise WorkspaceInvalid(findings)
    return workspace, findings
