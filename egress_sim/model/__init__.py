"""Immutable value types for Azure ML managed networks, and their YAML form.

The public names follow azure-ai-ml (``ManagedNetwork``, ``FqdnDestination``, ``ServiceTagDestination``,
``PrivateEndpointDestination``, ``IsolationMode``) so code written for one reads naturally for the other.
"""

from .enums import (
    MANAGED_COMPUTE_TYPES,
    ComputeType,
    FirewallSku,
    IsolationMode,
    OutboundRuleCategory,
    OutboundRuleType,
    Protocol,
    RuleStatus,
)
from .hostnames import FqdnPattern, PatternKind, normalize_host, try_normalize_host
from .network import ManagedNetwork, ManagedNetworkProvisionStatus, Workspace
from .ports import PortRange, PortRanges
from .resource_id import ResourceId
from .rules import AnyRule, FqdnDestination, OutboundRule, PrivateEndpointDestination, ServiceTagDestination
from .forms import FORMS, WorkspaceFile, detect_form, load_workspace, read_workspace, workspace_from_document
from .rest_io import workspace_to_rest
from .transitions import ModeTransition, mode_transition
from .yaml_io import dump_workspace, rule_to_dict, workspace_from_dict, workspace_to_dict

__all__ = [
    "MANAGED_COMPUTE_TYPES", "AnyRule", "ComputeType", "FirewallSku", "FqdnDestination", "FqdnPattern",
    "IsolationMode", "ManagedNetwork", "ManagedNetworkProvisionStatus", "OutboundRule", "OutboundRuleCategory",
    "OutboundRuleType", "PatternKind", "PortRange", "PortRanges", "PrivateEndpointDestination", "Protocol",
    "ResourceId", "RuleStatus", "ServiceTagDestination", "Workspace", "dump_workspace", "load_workspace",
    "normalize_host", "rule_to_dict", "try_normalize_host", "workspace_from_dict", "workspace_to_dict",
    "FORMS", "WorkspaceFile", "detect_form", "read_workspace", "workspace_from_document", "workspace_to_rest",
    "ModeTransition", "mode_transition",
]
