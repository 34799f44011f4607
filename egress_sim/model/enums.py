"""Enumerations of the managed-network vocabulary, with the spellings Azure ML uses (spec §1, §5, §7).

Values are the azure-ai-ml / REST constants (``AllowOnlyApprovedOutbound``); ``parse`` also takes the YAML
snake case (``allow_only_approved_outbound``), case-insensitively, because the CLI and the docs use both.
"""

from __future__ import annotations

import re
from enum import Enum

from ..base.errors import ModelError


def _fold(text: str) -> str:
    """Fold a spelling to compare: lower case, no ``_``/``-``/spaces (``Allow_Internet-Outbound`` → ``allowinternetoutbound``)."""
    return re.sub(r"[\s_\-]", "", text).lower()


def _snake(value: str) -> str:
    """``AllowOnlyApprovedOutbound`` → ``allow_only_approved_outbound``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()


class _AzureEnum(str, Enum):
    """A str enum whose members parse from any Azure spelling and dump as YAML snake case."""

    @classmethod
    def parse(cls, text: object, what: str | None = None) -> "_AzureEnum":
        if isinstance(text, cls):
            return text
        if isinstance(text, str):
            folded = _fold(text)
            for member in cls:
                if folded in (_fold(member.value), _fold(member.name)):
                    return member
        allowed = ", ".join(m.yaml for m in cls)
        raise ModelError(f"unknown {what or cls.__name__} {text!r} (expected one of: {allowed})")

    @property
    def yaml(self) -> str:
        """The snake-case spelling used in Azure ML YAML files."""
        return _snake(self.value)

    def __str__(self) -> str:
        return self.value


class IsolationMode(_AzureEnum):
    DISABLED = "Disabled"
    ALLOW_INTERNET_OUTBOUND = "AllowInternetOutbound"
    ALLOW_ONLY_APPROVED_OUTBOUND = "AllowOnlyApprovedOutbound"

    @property
    def is_isolated(self) -> bool:
        return self is not IsolationMode.DISABLED


class OutboundRuleType(_AzureEnum):
    FQDN = "FQDN"
    PRIVATE_ENDPOINT = "PrivateEndpoint"
    SERVICE_TAG = "ServiceTag"

    @property
    def yaml(self) -> str:
        return {"FQDN": "fqdn", "PrivateEndpoint": "private_endpoint", "ServiceTag": "service_tag"}[self.value]


class OutboundRuleCategory(_AzureEnum):
    REQUIRED = "Required"
    RECOMMENDED = "Recommended"
    USER_DEFINED = "UserDefined"
    DEPENDENCY = "Dependency"


class RuleStatus(_AzureEnum):
    """Rule status (spec §5): only ``Active`` rules match a flow."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"
    PROVISIONING = "Provisioning"
    DELETING = "Deleting"
    FAILED = "Failed"


class FirewallSku(_AzureEnum):
    """Azure Firewall SKU behind FQDN rules; it changes cost, never a verdict (spec §4)."""

    STANDARD = "Standard"
    BASIC = "Basic"


class Protocol(_AzureEnum):
    """A flow's transport protocol. ``ANY`` (``*``) appears only in service-tag rules."""

    TCP = "TCP"
    UDP = "UDP"
    ICMP = "ICMP"
    ANY = "*"

    @classmethod
    def parse(cls, text: object, what: str | None = None) -> "Protocol":
        if isinstance(text, str) and text.strip() == "*":
            return cls.ANY
        member = super().parse(text, what or "protocol")
        if member is cls.ANY:  # "ANY" spelled out is not an Azure spelling
            raise ModelError(f"unknown {what or 'protocol'} {text!r} (expected one of: TCP, UDP, ICMP, *)")
        return member  # type: ignore[return-value]

    @property
    def yaml(self) -> str:
        return self.value


class ComputeType(_AzureEnum):
    """Where an outbound flow comes from (spec §6)."""

    COMPUTE_INSTANCE = "ComputeInstance"
    COMPUTE_CLUSTER = "ComputeCluster"
    SERVERLESS = "Serverless"
    SERVERLESS_SPARK = "ServerlessSpark"
    MANAGED_ONLINE_ENDPOINT = "ManagedOnlineEndpoint"
    KUBERNETES = "Kubernetes"
    ATTACHED_VM = "AttachedVm"

    @property
    def supports_managed_network(self) -> bool:
        """Kubernetes and attached VMs cannot live in a managed VNet (spec §6)."""
        return self not in (ComputeType.KUBERNETES, ComputeType.ATTACHED_VM)

    @property
    def provisions_network(self) -> bool:
        """Creating a compute instance or cluster provisions the managed network implicitly (spec §5)."""
        return self in (ComputeType.COMPUTE_INSTANCE, ComputeType.COMPUTE_CLUSTER)


MANAGED_COMPUTE_TYPES: tuple[ComputeType, ...] = tuple(c for c in ComputeType if c.supports_managed_network)
