"""Every form a workspace definition comes in, told apart by content, loaded into one ``Workspace``.

| form | looks like | written by |
|---|---|---|
| ``yaml`` | ``name``, ``managed_network.isolation_mode`` (snake case) | you; ``az ml workspace show -o json`` |
| ``workspace_resource`` | ``properties.managedNetwork`` | ARM templates' resources, ``az resource show`` |
| ``arm_template`` | ``$schema`` …deploymentTemplate…, ``resources: [...]`` | ARM templates, ``az bicep build`` |
| ``managed_network_resource`` | ``properties.isolationMode``, type …/managedNetworks | ``GET …/managedNetworks/default`` |
| ``managed_network`` | ``isolationMode``, ``outboundRules`` at the top | a bare ``managedNetwork`` object |

The file's extension does not matter (JSON is YAML, and people save either under either name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..base.errors import WorkspaceFileError
from ..base.findings import Finding, WorkspaceInvalid
from ..base.yamlfile import read_document
from .network import Workspace
from .rest_io import (
    MANAGED_NETWORK_RESOURCE_TYPE,
    WORKSPACE_RESOURCE_TYPE,
    managed_network_to_yaml,
    workspace_resource_to_yaml,
)
from .yaml_io import workspace_from_dict

FORMS = ("yaml", "workspace_resource", "arm_template", "managed_network_resource", "managed_network")


@dataclass(frozen=True)
class WorkspaceFile:
    """A loaded workspace with where it came from, the form it was written in, and the warnings."""

    workspace: Workspace
    findings: list[Finding]
    form: str
    source: str | None


def detect_form(document: Any) -> str | None:
    """Which of ``FORMS`` a parsed document is, or None."""
    if not isinstance(document, Mapping):
        return None
    if isinstance(document.get("resources"), list) and "deploymentTemplate" in str(document.get("$schema", "")):
        return "arm_template"
    properties = document.get("properties")
    kind = str(document.get("type", "")).lower()
    if isinstance(properties, Mapping):
        if kind == MANAGED_NETWORK_RESOURCE_TYPE.lower() or ("isolationMode" in properties and "managedNetwork" not in properties):
            return "managed_network_resource"
        return "workspace_resource"
    if "isolationMode" in document or "outboundRules" in document:
        return "managed_network"
    return "yaml"


def workspace_from_document(document: Any, source: str | None = None, location: str | None = None) -> WorkspaceFile:
    """Load any form; ``location`` (``--location``) supplies or overrides the workspace's region.

    Raises ``WorkspaceInvalid`` listing every error (with the warnings)."""
    findings: list[Finding] = []

    def error(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("error", code, message, source, rule))

    def warn(code: str, message: str, rule: str | None = None) -> None:
        findings.append(Finding("warning", code, message, source, rule))

    form = detect_form(document)
    if form is None:
        error("not_a_mapping", "a workspace file must be a mapping: the Azure ML YAML form (name, managed_network) "
              "or the REST/ARM JSON form (properties.managedNetwork)")
        raise WorkspaceInvalid(findings)
    yaml_doc: Any = document
    if form == "arm_template":
        yaml_doc = _template_workspace(document, source, error, warn)
    elif form == "workspace_resource":
        yaml_doc = workspace_resource_to_yaml(document, error, warn)
    elif form in ("managed_network_resource", "managed_network"):
        network = document.get("properties") if form == "managed_network_resource" else document
        path = "properties" if form == "managed_network_resource" else ""
        yaml_doc = {"name": _workspace_name(document, source),
                    "managed_network": managed_network_to_yaml(network, error, warn, path)}
        workspace_id = str(document.get("id", "")).split("/managedNetworks/")[0]
        if "/workspaces/" in workspace_id.lower():
            yaml_doc["id"] = workspace_id
    if any(f.level == "error" for f in findings):
        raise WorkspaceInvalid(findings)
    try:
        workspace, more = workspace_from_dict(yaml_doc, source=source)
    except WorkspaceInvalid as exc:
        raise WorkspaceInvalid(findings + exc.findings) from None
    findings += more
    if location is not None and not location.strip():
        error("bad_location", "--location is empty: give a region such as eastus, or leave the option out")
        raise WorkspaceInvalid(findings)
    if location is not None:
        if workspace.location and workspace.location.replace(" ", "").lower() != location.replace(" ", "").lower():
            warn("location_override", f"--location {location} replaces the file's location {workspace.location}")
        workspace = replace(workspace, location=location)
    return WorkspaceFile(workspace, findings, form, source)


def _template_workspace(template: Mapping[str, Any], source: str | None, error, warn) -> Any:
    """The one workspace resource of an ARM template, as the YAML form."""
    resources = [r for r in template["resources"] if isinstance(r, Mapping)]
    workspaces = [r for r in resources if str(r.get("type", "")).lower() == WORKSPACE_RESOURCE_TYPE.lower()]
    children = [r for r in resources if str(r.get("type", "")).lower().startswith(WORKSPACE_RESOURCE_TYPE.lower() + "/")]
    nested = [r for w in workspaces for r in (w.get("resources") or []) if isinstance(w.get("resources"), list)]
    if children or nested:
        kinds = sorted({str(r.get("type")) for r in [*children, *nested] if isinstance(r, Mapping)})
        error("unsupported_resource", f"the template declares child resources of the workspace ({', '.join(kinds)}), "
              "which are not read and could change its rules: put the managed network and its rules in the "
              "workspace's properties.managedNetwork")
    if len(workspaces) != 1:
        found = ", ".join(repr(r.get("name")) for r in workspaces) or "none"
        error("workspace_count", f"an ARM template must hold exactly one {WORKSPACE_RESOURCE_TYPE} resource (found {found})")
        return {}
    index = resources.index(workspaces[0])
    return workspace_resource_to_yaml(workspaces[0], error, warn, f"resources[{index + 1}]")


def _workspace_name(document: Mapping[str, Any], source: str | None) -> str:
    """A managed network alone has no workspace name: take it from the resource id, else the file name."""
    resource_id = str(document.get("id", ""))
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    if "workspaces" in lowered and lowered.index("workspaces") + 1 < len(parts):
        return parts[lowered.index("workspaces") + 1]
    return Path(source).stem.split(".")[0] if source else "workspace"


def read_workspace(path: str | Path, location: str | None = None) -> WorkspaceFile:
    """Read a workspace file in any form (see the module docstring)."""
    document = read_document(path, "workspace file", WorkspaceFileError)
    return workspace_from_document(document, source=str(path), location=location)


def load_workspace(path: str | Path, location: str | None = None) -> tuple[Workspace, list[Finding]]:
    """The workspace and its warnings; ``WorkspaceInvalid`` lists every error at once."""
    loaded = read_workspace(path, location)
    return loaded.workspace, loaded.findings
