"""Exceptions shared by the library and the CLI.

Every error a user can cause is an ``EgressSimError`` whose message names the file, the rule and the bad value,
so the CLI can print it as one line and exit 2 without a traceback.
"""

from __future__ import annotations


class EgressSimError(Exception):
    """Base class: a problem with the user's input, reported as one precise line."""


class ModelError(EgressSimError, ValueError):
    """A value in a workspace definition is invalid (bad port range, unknown mode, ...)."""


class WorkspaceFileError(EgressSimError):
    """A workspace YAML file cannot be read or parsed."""


class ServiceTagError(EgressSimError):
    """A service-tag file cannot be read, or a tag is unknown."""


class FlowInputError(EgressSimError):
    """A flow file cannot be read as a whole (missing column, unknown format)."""


class ScenarioError(EgressSimError):
    """A simulation scenario or service catalog is invalid (unknown service, bad share, ...)."""


class OutputFileError(EgressSimError):
    """An output file cannot be written (missing directory, no permission, disk full)."""
