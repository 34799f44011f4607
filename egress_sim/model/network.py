"""The managed network and the workspace that owns it (spec §1, §5, §7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base.errors import ModelError
from .enums import FirewallSku, IsolationMode, OutboundRuleType, RuleStatus
from .rules import AnyRule, FqdnDestination, PrivateEndpointDestination, ServiceTagDestination


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedNetworkProvisionStatus:
    """Provisioning state as Azure reports it (dump-only in Azure ML YAML)."""

    status: RuleStatus | None = None
    spark_ready: bool | None = None

    def __post_init__(self) -> None:
        if self.status is not None:
            object.__setattr__(self, "status", RuleStatus.parse(self.status, "managed network status"))
        if self.spark_ready is not None and not isinstance(self.spark_ready, bool):
            raise ModelError(f"managed network spark_ready {self.spark_ready!r} must be true or false")

    def to_dict(self, spark_key: str) -> dict[str, Any]:
        """The reported fields, ``spark_ready`` spelt ``spark_key`` (``spark_ready`` in YAML, ``sparkReady`` in REST)."""
        out: dict[str, Any] = {}
        if self.status is not None:
            out["status"] = self.status.value
        if self.spark_ready is not None:
            out[spark_key] = self.spark_ready
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedNetwork:
    """``isolation_mode`` + user ``outbound_rules`` (required rules are added at compile time, not stored here)."""

    isolation_mode: IsolationMode = IsolationMode.DISABLED
    outbound_rules: tuple[AnyRule, ...] = ()
    firewall_sku: FirewallSku | None = None
    network_id: str | None = None
    status: ManagedNetworkProvisionStatus | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "isolation_mode", IsolationMode.parse(self.isolation_mode, "isolation mode"))
        if self.firewall_sku is not None:
            object.__setattr__(self, "firewall_sku", FirewallSku.parse(self.firewall_sku, "firewall_sku"))
        object.__setattr__(self, "outbound_rules", tuple(self.outbound_rules or ()))

    # Provisioning. With no reported status we simulate the network as planned: provisioned, Spark included.
    @property
    def is_provisioned(self) -> bool:
        return self.status is None or self.status.status in (None, RuleStatus.ACTIVE)

    @property
    def spark_ready(self) -> bool:
        if self.status is None or self.status.spark_ready is None:
            return self.is_provisioned
        return self.status.spark_ready

    @property
    def has_firewall(self) -> bool:
        """Azure creates the managed firewall with the first FQDN rule (spec §4)."""
        return any(isinstance(r, FqdnDestination) for r in self.outbound_rules)

    def rules_of(self, kind: OutboundRuleType) -> tuple[AnyRule, ...]:
        return tuple(r for r in self.outbound_rules if r.type is kind)

    @property
    def fqdn_rules(self) -> tuple[FqdnDestination, ...]:
        return tuple(r for r in self.outbound_rules if isinstance(r, FqdnDestination))

    @property
    def service_tag_rules(self) -> tuple[ServiceTagDestination, ...]:
        return tuple(r for r in self.outbound_rules if isinstance(r, ServiceTagDestination))

    @property
    def private_endpoint_rules(self) -> tuple[PrivateEndpointDestination, ...]:
        return tuple(r for r in self.outbound_rules if isinstance(r, PrivateEndpointDestination))


@dataclass(frozen=True, slots=True, kw_only=True)
class Workspace:
    """An Azure ML workspace as far as egress is concerned, plus any other YAML keys kept for a faithful dump."""

    name: str
    location: str | None = None
    managed_network: ManagedNetwork = field(default_factory=ManagedNetwork)
    storage_account: str | None = None
    key_vault: str | None = None
    container_registry: str | None = None
    application_insights: str | None = None
    public_network_access: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def region(self) -> str | None:
        """Location folded the way service-tag regions are written (``East US`` → ``eastus``)."""
        return self.location.replace(" ", "").lower() if self.location else None

    @property
    def public_network_access_disabled(self) -> bool:
        return (self.public_network_access or "").strip().lower() == "disabled"
