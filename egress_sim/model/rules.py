"""The three kinds of outbound rule (spec §4), named and shaped like the azure-ai-ml entities.

``FqdnDestination``, ``ServiceTagDestination`` and ``PrivateEndpointDestination`` take the same keyword
arguments as their azure-ai-ml namesakes; strings are converted to typed values on construction and a bad
value raises ``ModelError`` naming the rule and the value.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import ClassVar

from ..base.errors import ModelError
from .enums import OutboundRuleCategory, OutboundRuleType, Protocol, RuleStatus
from .hostnames import FqdnPattern, normalize_host, parse_fqdn_list
from .ports import PortRanges

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# spec §4 documents no pattern; Azure's own names start with '__' and hold dots (``__SYS_ST_AzureFrontDoor.FirstParty_TCP``,
# spec §11), and portal names embed resource names (``Connection_<resource>_<subresource>``). So: letters, digits,
# '_', '.' and '-', up to 255 characters, not starting with '.' or '-'.
RULE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRule:
    """Fields common to every rule. ``status`` None means "not reported": simulated as active."""

    name: str
    category: OutboundRuleCategory = OutboundRuleCategory.USER_DEFINED
    status: RuleStatus | None = None

    type: ClassVar[OutboundRuleType]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not RULE_NAME.fullmatch(self.name):
            raise ModelError(
                f"rule name {self.name!r} is invalid: use 1-255 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            )
        _coerce(self, "category", OutboundRuleCategory, "rule category")
        if self.status is not None:
            _coerce(self, "status", RuleStatus, "rule status")

    @property
    def is_active(self) -> bool:
        return self.status is None or self.status is RuleStatus.ACTIVE

    def _fail(self, message: str) -> ModelError:
        return ModelError(f"rule {self.name!r}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FqdnDestination(OutboundRule):
    """Allow HTTP/HTTPS (TCP 80/443) to host names matching ``destination`` (one name or a comma list)."""

    destination: str
    type: ClassVar[OutboundRuleType] = OutboundRuleType.FQDN
    patterns: tuple[FqdnPattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        OutboundRule.__post_init__(self)
        try:
            object.__setattr__(self, "patterns", parse_fqdn_list(self.destination))
        except ModelError as exc:
            raise self._fail(str(exc)) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTagDestination(OutboundRule):
    """Allow a protocol and ports to a service tag's prefixes, or to ``address_prefixes`` when given (spec §4)."""

    protocol: Protocol
    port_ranges: PortRanges
    service_tag: str | None = None
    address_prefixes: tuple[str, ...] | None = None
    type: ClassVar[OutboundRuleType] = OutboundRuleType.SERVICE_TAG
    networks: tuple[IpNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        OutboundRule.__post_init__(self)
        try:
            object.__setattr__(self, "protocol", Protocol.parse(self.protocol))
            if not isinstance(self.port_ranges, PortRanges):
                object.__setattr__(self, "port_ranges", PortRanges.parse(self.port_ranges))
        except ModelError as exc:
            raise self._fail(str(exc)) from None
        networks: list[IpNetwork] = []
        if self.address_prefixes is not None:
            if isinstance(self.address_prefixes, str) or not all(isinstance(p, str) for p in self.address_prefixes):
                raise self._fail(f"address_prefixes {self.address_prefixes!r} must be a list of CIDR strings")
            object.__setattr__(self, "address_prefixes", tuple(self.address_prefixes))
            for prefix in self.address_prefixes:
                if "%" in prefix:
                    raise self._fail(f"address prefix {prefix!r} has an IPv6 zone id, which names a local interface")
                try:
                    networks.append(_unmapped(ipaddress.ip_network(prefix.strip(), strict=False)))
                except ValueError:
                    raise self._fail(f"address prefix {prefix!r} is not an IP address or CIDR prefix") from None
            if not networks:
                raise self._fail("address_prefixes is an empty list")
        elif not isinstance(self.service_tag, str) or not self.service_tag.strip():
            raise self._fail("a service tag rule needs 'service_tag' (or 'address_prefixes')")
        object.__setattr__(self, "networks", tuple(networks))

    @property
    def uses_address_prefixes(self) -> bool:
        """When address prefixes are given, the service tag is ignored (spec §4)."""
        return self.address_prefixes is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivateEndpointDestination(OutboundRule):
    """A private endpoint to an Azure resource's sub-resource; ``fqdns`` adds host names that resolve to it."""

    service_resource_id: str
    subresource_target: str
    spark_enabled: bool = False
    fqdns: tuple[str, ...] | None = None
    type: ClassVar[OutboundRuleType] = OutboundRuleType.PRIVATE_ENDPOINT
    fqdn_hosts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        OutboundRule.__post_init__(self)
        if not isinstance(self.service_resource_id, str) or not self.service_resource_id.strip():
            raise self._fail("a private endpoint rule needs 'service_resource_id'")
        if not isinstance(self.subresource_target, str) or not self.subresource_target.strip():
            raise self._fail("a private endpoint rule needs 'subresource_target'")
        if not isinstance(self.spark_enabled, bool):
            raise self._fail(f"spark_enabled {self.spark_enabled!r} must be true or false")
        hosts: list[str] = []
        if self.fqdns is not None:
            if isinstance(self.fqdns, str):
                raise self._fail(f"fqdns {self.fqdns!r} must be a list of host names")
            object.__setattr__(self, "fqdns", tuple(self.fqdns))
            for host in self.fqdns:
                try:
                    hosts.append(normalize_host(host))
                except ModelError as exc:
                    raise self._fail(f"fqdns: {exc}") from None
        object.__setattr__(self, "fqdn_hosts", tuple(hosts))


AnyRule = FqdnDestination | ServiceTagDestination | PrivateEndpointDestination

_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def _unmapped(network: IpNetwork) -> IpNetwork:
    """``::ffff:10.0.0.0/104`` → ``10.0.0.0/8``: flows carry IPv4-mapped addresses as IPv4, so rules must too."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    return network


def _coerce(obj: object, attr: str, enum: type, what: str) -> None:
    value = getattr(obj, attr)
    try:
        object.__setattr__(obj, attr, enum.parse(value, what))
    except ModelError as exc:
        raise ModelError(f"rule {getattr(obj, 'name', '?')!r}: {exc}") from None
