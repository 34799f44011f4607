"""Azure resource ids, the targets of private-endpoint rules (spec §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..base.errors import ModelError

_SEGMENT = re.compile(r"^[^/\s]+$")


@dataclass(frozen=True, slots=True)
class ResourceId:
    """``/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}`` (nested types allowed)."""

    text: str
    subscription: str
    resource_group: str
    provider_type: str  # "Microsoft.Storage/storageAccounts" (nested: "Microsoft.Sql/servers/databases")
    name: str  # the last name segment

    @classmethod
    def parse(cls, text: object) -> "ResourceId":
        if not isinstance(text, str) or not text.strip():
            raise ModelError(f"resource id {text!r} is empty")
        raw = text.strip()
        parts = raw.strip("/").split("/")
        bad = f"resource id {raw!r} is malformed"
        if not raw.startswith("/") or any(not _SEGMENT.fullmatch(p) for p in parts):
            raise ModelError(f"{bad}: expected /subscriptions/<id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>")
        if len(parts) < 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups" or parts[4].lower() != "providers":
            raise ModelError(f"{bad}: expected /subscriptions/<id>/resourceGroups/<group>/providers/<namespace>/<type>/<name>")
        namespace, rest = parts[5], parts[6:]
        if "." not in namespace or len(rest) % 2 != 0:
            raise ModelError(f"{bad}: provider {namespace!r} must be followed by <type>/<name> pairs")
        types = rest[0::2]
        return cls(raw, parts[1], parts[3], "/".join([namespace, *types]), rest[-1])

    @property
    def key(self) -> str:
        """Case-insensitive identity (Azure resource ids are case-insensitive)."""
        return self.text.lower()

    def __str__(self) -> str:
        return self.text
