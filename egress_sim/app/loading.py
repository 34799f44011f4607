"""Load a workspace file in any form and check it completely: syntax (while loading) and meaning (``validate``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..base.findings import Finding, WorkspaceInvalid
from ..model import Workspace, WorkspaceFile, read_workspace
from ..net.servicetags import ServiceTagSet
from .validate import validate_workspace


def read_checked(path: str | Path, tags: ServiceTagSet, location: str | None = None) -> WorkspaceFile:
    """The loaded file with every warning; ``WorkspaceInvalid`` lists every error (syntax and meaning) at once.

    ``location`` (``--location``) supplies or overrides the file's region."""
    loaded = read_workspace(path, location)
    findings = loaded.findings + validate_workspace(loaded.workspace, tags, source=str(path))
    if any(f.level == "error" for f in findings):
        raise WorkspaceInvalid(findings)
    return replace(loaded, findings=findings)


def load_checked(path: str | Path, tags: ServiceTagSet, location: str | None = None) -> tuple[Workspace, list[Finding]]:
    """``read_checked`` as (workspace, warnings)."""
    loaded = read_checked(path, tags, location)
    return loaded.workspace, loaded.findings
