"""Microsoft's published service tags (``ServiceTags_Public_*.json``): load, look up by name, suggest.

A tag is a named set of IPv4 and IPv6 prefixes. Names are matched case-insensitively because Azure ML
locations are lower case (``eastus``) while tag names are not (``BatchNodeManagement.EastUS``).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .datafiles import bundled_path
from .errors import ServiceTagError

BUNDLED_FILE = "ServiceTags_Public_20251020.json"


@dataclass(frozen=True, slots=True)
class ServiceTag:
    name: str
    region: str  # "" for global tags
    system_service: str
    address_prefixes: tuple[str, ...]

    @property
    def ipv4_prefixes(self) -> tuple[str, ...]:
        return tuple(p for p in self.address_prefixes if ":" not in p)

    @property
    def ipv6_prefixes(self) -> tuple[str, ...]:
        return tuple(p for p in self.address_prefixes if ":" in p)


@dataclass(frozen=True)
class ServiceTagSet:
    """All tags of one published file, indexed by folded name."""

    change_number: int | None
    cloud: str | None
    source: str
    tags: dict[str, ServiceTag] = field(repr=False)  # key: lower-case name

    def get(self, name: str) -> ServiceTag | None:
        return self.tags.get(name.strip().lower())

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return len(self.tags)

    def require(self, name: str) -> ServiceTag:
        tag = self.get(name)
        if tag is None:
            raise ServiceTagError(f"unknown service tag {name!r}{self.suggestion(name)} in {self.source}")
        return tag

    def regional(self, base: str, region: str) -> ServiceTag | None:
        """``BatchNodeManagement`` + ``eastus`` → ``BatchNodeManagement.EastUS`` (by name, else by the region field)."""
        tag = self.get(f"{base}.{region}")
        if tag is not None:
            return tag
        wanted = base.lower()
        for candidate in self.tags.values():
            if candidate.name.lower().startswith(wanted + ".") and candidate.region.lower() == region.lower():
                return candidate
        return None

    def closest(self, name: str, n: int = 1) -> list[str]:
        folded = {key: tag.name for key, tag in self.tags.items()}
        return [folded[m] for m in difflib.get_close_matches(name.lower(), list(folded), n=n, cutoff=0.6)]

    def suggestion(self, name: str) -> str:
        close = self.closest(name)
        return f" (did you mean {close[0]!r}?)" if close else ""


def bundled_service_tags_path() -> Path:
    """The service-tag file that ships with egress_sim."""
    return bundled_path("servicetags", BUNDLED_FILE)


def load_service_tags(path: str | Path | None = None) -> ServiceTagSet:
    """Load a ``ServiceTags_Public_*.json`` file (the bundled one when ``path`` is None)."""
    file = Path(path) if path is not None else bundled_service_tags_path()
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServiceTagError(f"{file}: cannot read service-tag file: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServiceTagError(f"{file}: not a service-tag JSON file: {exc}") from None
    values = document.get("values") if isinstance(document, dict) else None
    if not isinstance(values, list):
        raise ServiceTagError(f"{file}: not a service-tag file (no 'values' list)")
    tags: dict[str, ServiceTag] = {}
    for i, value in enumerate(values):
        try:
            props = value["properties"]
            tag = ServiceTag(
                name=str(value["name"]),
                region=str(props.get("region") or ""),
                system_service=str(props.get("systemService") or ""),
                address_prefixes=tuple(str(p) for p in props.get("addressPrefixes") or ()),
            )
        except (KeyError, TypeError):
            raise ServiceTagError(f"{file}: entry #{i + 1} of 'values' lacks 'name' or 'properties'") from None
        tags[tag.name.lower()] = tag
    return ServiceTagSet(document.get("changeNumber"), document.get("cloud"), str(file), tags)
