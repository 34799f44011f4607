"""Exceptions shared by the library and the CLI.

Every error a user can cause is an ``EgressSimError`` whose message names the file, the rule and the bad value,
so the CLI can print it as one line and exit 2 without a traceback. ``file`` and ``code`` feed the one
``--json`` error shape every command uses: ``{"error": {"code", "message", "file"}, "findings": [...]}``.
"""

from __future__ import annotations


class EgressSimError(Exception):
    """Base class: a problem with the user's input, reported as one precise line.

    ``code`` is a stable machine-readable kind (each subclass has a default); ``file`` the input or output it
    is about, when there is one (the message names it too, so the plain-text line stands alone)."""

    code = "bad_input"

    def __init__(self, message: str, *, file: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.file = None if file is None else str(file)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ModelError(EgressSimError, ValueError):
    """A value in a workspace definition is invalid (bad port range, unknown mode, ...)."""

    code = "bad_value"


class WorkspaceFileError(EgressSimError):
    """A workspace file cannot be read or parsed."""

    code = "bad_workspace_file"


class ServiceTagError(EgressSimError):
    """A service-tag file cannot be read, or a tag is unknown."""

    code = "bad_service_tags"


class FlowInputError(EgressSimError):
    """A flow file cannot be read as a whole (missing column, unknown format)."""

    code = "bad_flows"


class ScenarioError(EgressSimError):
    """A simulation scenario or service catalog is invalid (unknown service, bad share, ...)."""

    code = "bad_scenario"


class OutputFileError(EgressSimError):
    """An output file cannot be written (missing directory, no permission, disk full, same file as an input)."""

    code = "bad_output"


class LimitExceeded(EgressSimError):
    """Hostile or runaway input went past one of the documented limits in ``egress_sim.base.limits``."""

    code = "limit_exceeded"
