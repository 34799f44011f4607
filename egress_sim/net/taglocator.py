"""Which service tags hold an address: for naming a destination that has no host name (``whatif``'s groups) and for
choosing the service tag a rule should name (``suggest``).

Every tag of a published file is looked at, so an address in Storage's space is found in ``Storage``,
``Storage.EastUS``, ``AzureCloud`` and ``AzureCloud.eastus`` alike. Look-ups are done for many addresses at once:
each of the file's ~93,000 prefixes finds the queried addresses it holds with two binary searches over them, so the
cost is the prefixes times log(queries), ~0.1 s for the real file, whatever the number of flows behind the queries.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from .ipnum import prefix_bounds
from .servicetags import ServiceTag, ServiceTagSet

Address = tuple[int, int]  # (IP version, address as an integer)

# Tags that name no Azure service but a whole cloud or region: never what a rule for "this service" should name
# (spec §2, §9: broad tags open every tenant's resources).
WHOLE_CLOUD_TAGS = ("azurecloud",)


@dataclass(frozen=True)
class TagHit:
    tag: ServiceTag
    prefix: str  # the tag's prefix that holds the address
    addresses: int  # how many addresses the whole tag holds (its size, for "narrowest")


class TagLocator:
    """The tags of one ``ServiceTagSet`` that hold each address asked about."""

    def __init__(self, tags: ServiceTagSet) -> None:
        self.tags = tags
        self._prefixes: dict[int, list[tuple[int, int, str, ServiceTag]]] = {4: [], 6: []}
        self._size: dict[str, int] = {}
        for tag in tags.tags.values():
            size = 0
            for prefix in tag.address_prefixes:
                version, first, last = prefix_bounds(prefix)
                self._prefixes[version].append((first, last, prefix, tag))
                size += last - first + 1 if version == 4 else (last - first + 1) >> 64  # IPv6 counted in /64s
            self._size[tag.name] = size

    def locate(self, addresses: Iterable[Address]) -> dict[Address, list[TagHit]]:
        """For each distinct address, every tag holding it (narrowest first); an address in no tag maps to []."""
        wanted = sorted(set(addresses))
        found: dict[Address, list[TagHit]] = {a: [] for a in wanted}
        for version in (4, 6):
            points = [value for v, value in wanted if v == version]
            if not points:
                continue
            for first, last, prefix, tag in self._prefixes[version]:
                lo, hi = bisect_left(points, first), bisect_right(points, last)
                for value in points[lo:hi]:
                    found[(version, value)].append(TagHit(tag, prefix, self._size[tag.name]))
        for hits in found.values():
            hits.sort(key=lambda h: (h.addresses, h.tag.name))
        return found

    def service_tag(self, hits: list[TagHit]) -> TagHit | None:
        """The narrowest tag of an Azure *service* among ``hits`` (not a whole cloud or region: ``AzureCloud*``,
        nor a tag without a system service); None when the address belongs to no service."""
        for hit in hits:
            name = hit.tag.name.lower()
            if hit.tag.system_service and not name.startswith(WHOLE_CLOUD_TAGS):
                return hit
        return None
