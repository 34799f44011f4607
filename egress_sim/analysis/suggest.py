"""The smallest rule set that lets a workspace's benign traffic through in ``allow_only_approved_outbound``, and
nothing it need not let through.

Input: the flows approved-only denies (``denied.DeniedFlows``, one row per distinct flow shape, with counts), each
labelled ``benign``, with an exfiltration scenario's name (simulated flows), or unlabelled (real logs). What
comes out (``Suggestion``):

* rules to add or change, each with the traffic it covers (flows, bytes, computes, destinations) and why, in
  this order of preference (spec §4, §8):
  1. a private endpoint for storage and every other Azure PaaS host (never an FQDN rule: FQDN rules do not reach
     storage in approved-only mode), ``spark_enabled`` where serverless Spark needs an endpoint it has without it;
  2. FQDN rules for host names on TCP 80/443: the documented scenario sets of spec §3 recognised and suggested as
     one named rule holding the documented patterns the traffic used; then exact names, one rule per domain; a
     ``*.parent`` wildcard only where ``MIN_SIBLINGS`` names share the parent, never on a shared multi-tenant
     suffix (``signatures.SHARED_SUFFIXES``) and never over a name that must stay denied;
  3. service-tag rules, for addresses of Azure *services* only (not ``AzureCloud``, not the multi-tenant
     ``Storage`` family), ports narrowed to those used;
* flows left denied on purpose: labelled exfiltration, or matching ``signatures``;
* flows no acceptable rule can allow (``unresolved``), with the reason: a non-Azure address without a name, Spark
  to a host only an FQDN rule could open, storage reached by address alone, ...;
* residual risk: labelled exfiltration that the suggested rules allow because benign work needs the same
  destination (same host or address, protocol and port): no rule can tell the two apart.

The rule set is verified by evaluating every distinct denied flow under the new workspace, and made minimal: a
rule whose removal leaves every benign flow it was meant for allowed is dropped (so dropping any rule that
remains denies some benign flow).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..evaluation.evaluate import evaluate
from ..flows.schema import FlowBatch
from ..flows.verdicts import Verdict
from ..model import (FqdnDestination, IsolationMode, PrivateEndpointDestination, ServiceTagDestination, Workspace)
from ..model.hostnames import FqdnPattern, PatternKind
from ..model.resource_id import ResourceId
from ..net.privatelink import resource_of_host
from ..net.servicetags import ServiceTagSet
from ..net.taglocator import TagLocator
from ..ruletable.compile import compile_rules, is_storage_host
from ..ruletable.effective import UNKNOWN_SUBSCRIPTION
from .signatures import on_shared_suffix, signature_of

BENIGN = "benign"
MIN_SIBLINGS = 3  # distinct benign names under one parent before "*.parent" replaces them
WEB_PORTS = (80, 443)
SPARK = "serverless_spark"
# Service-tag families an outsider can write to (spec §2, §12): never suggested, whatever the traffic.
MULTI_TENANT_TAGS = ("storage", "azurecloud", "azurefrontdoor.frontend", "sql", "eventhub", "servicebus",
                     "azurecosmosdb", "appservice", "azurewebpubsub")

# The documented FQDN sets of spec §3 (illustrative lists, "not a complete list"): name → patterns.
SCENARIO_SETS: dict[str, tuple[str, ...]] = {
    "python-packages": ("anaconda.com", "*.anaconda.com", "*.anaconda.org", "pypi.org", "pytorch.org",
                        "*.pytorch.org", "*.tensorflow.org", "*.pythonhosted.org"),
    "vscode": ("*.vscode.dev", "*.vscode-unpkg.net", "*.vscode-cdn.net", "*.vscodeexperiments.azureedge.net",
               "default.exp-tas.com", "code.visualstudio.com", "update.code.visualstudio.com", "*.vo.msecnd.net",
               "marketplace.visualstudio.com", "*.gallerycdn.vsassets.io", "vscode.download.prss.microsoft.com"),
    "huggingface": ("docker.io", "*.docker.io", "*.docker.com", "production.cloudflare.docker.com",
                    "cdn.auth0.com", "cdn-lfs.huggingface.co", "huggingface.co", "cas-bridge.xethub.hf.co"),
    "rstudio": ("ghcr.io", "pkg-containers.githubusercontent.com", "cloud.r-project.org"),
}

@dataclass
class Proposal:
    """One rule to add (or, ``changes`` set, an existing rule to change), with what it is for."""

    rule: FqdnDestination | ServiceTagDestination | PrivateEndpointDestination
    why: str
    changes: str | None = None  # the name of the existing rule this replaces
    group: str | None = None  # a spec §3 scenario set
    covers: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        rule = self.rule
        if isinstance(rule, FqdnDestination):
            destination: object = rule.destination
        elif isinstance(rule, ServiceTagDestination):
            destination = {"service_tag": rule.service_tag, "address_prefixes": list(rule.address_prefixes or []) or None,
                           "protocol": rule.protocol.value, "port_ranges": str(rule.port_ranges)}
        else:
            destination = {"service_resource_id": rule.service_resource_id,
                           "subresource_target": rule.subresource_target, "spark_enabled": rule.spark_enabled}
        return {"action": "change" if self.changes else "add", "name": rule.name, "type": rule.type.yaml,
                "destination": destination, "group": self.group, "why": self.why, **self.covers}


@dataclass
class Suggestion:
    workspace: Workspace  # the input with the proposals applied, in allow_only_approved_outbound
    proposals: list[Proposal]
    left_denied: pd.DataFrame  # rows of DeniedFlows with a ``why`` column
    unresolved: pd.DataFrame
    residual_risk: pd.DataFrame
    notes: list[str]
    benign_flows: int
    benign_allowed: int


def suggest_rules(workspace: Workspace, tags: ServiceTagSet, denied: pd.DataFrame) -> Suggestion:
    """See the module docstring. ``denied``: ``DeniedFlows.frame()`` of the workspace in approved-only mode."""
    builder = _Builder(workspace, tags, denied)
    return builder.run()


class _Builder:
    def __init__(self, workspace: Workspace, tags: ServiceTagSet, denied: pd.DataFrame) -> None:
        self.workspace, self.tags = workspace, tags
        self.rows = denied.reset_index(drop=True).copy()
        self.rows["why"] = ""
        self.locator = TagLocator(tags)
        self.names = {r.name.lower() for r in workspace.managed_network.outbound_rules}
        self.notes: list[str] = []
        self.proposals: list[Proposal] = []

    # -- the steps ---------------------------------------------------------------------------------------
    def run(self) -> Suggestion:
        rows = self.rows
        exfil = (rows["label"] != BENIGN) & (rows["label"] != "")
        allowed_names = [h for h in rows.loc[~exfil, "host"] if h]
        signature = [signature_of(r.host or None, r.protocol, int(r.port), allowed_names) if r.label != BENIGN
                     else None for r in rows.itertuples()]
        rows["signature"] = signature
        keep_denied = exfil | rows["signature"].notna()
        rows.loc[exfil, "why"] = "labelled exfiltration: " + rows.loc[exfil, "label"]
        sig = ~exfil & rows["signature"].notna()
        rows.loc[sig, "why"] = "matches a risk signature: " + rows.loc[sig, "signature"].astype(str)
        # names an FQDN rule would let through for the flows that must stay denied (TCP 80/443, a name, not Spark)
        by_name = (rows["host"] != "") & (rows["protocol"] == "TCP") & rows["port"].isin(WEB_PORTS) & \
            (rows["compute_type"] != SPARK) & (rows["reason"] != "no_sni")
        self.benign_hosts = set(rows.loc[~keep_denied & by_name, "host"])
        self.forbidden_hosts = set(rows.loc[keep_denied & by_name, "host"]) - self.benign_hosts
        candidates = rows[~keep_denied]
        unresolved: list[tuple[int, str]] = []
        fqdn_hosts: dict[str, list[int]] = {}
        pinned: dict[tuple[str, str], list[int]] = {}
        tag_needs: dict[tuple[str, str], list[int]] = {}
        endpoints: dict[tuple[str, str, str], list[int]] = {}
        spark_changes: dict[str, list[int]] = {}
        for r in candidates.itertuples():
            i = r.Index
            host = r.host
            if r.reason == "pe_not_spark_enabled":
                spark_changes.setdefault(r.rule, []).append(i)
                continue
            if r.reason in ("spark_not_provisioned", "network_not_provisioned", "rule_inactive"):
                unresolved.append((i, _NOT_A_RULE[r.reason].format(rule=r.rule)))
                continue
            if host and (is_storage_host(host) or resource_of_host(host, self.workspace.region or "")):
                target = resource_of_host(host, self.workspace.region or "")
                if target is not None and host in _DOCUMENTED_HOSTS:  # a Microsoft-owned account: no PE possible
                    pinned.setdefault((host, r.protocol), []).append(i)
                elif target is not None:
                    endpoints.setdefault((target[0].provider_type, target[1], target[0].subresource), []).append(i)
                else:
                    unresolved.append((i, "a storage host whose account is not in the name"))
                continue
            web = r.protocol == "TCP" and int(r.port) in WEB_PORTS
            if host and web and r.compute_type != SPARK and r.reason != "no_sni":
                fqdn_hosts.setdefault(host, []).append(i)
                continue
            tag = self._service_tag(r.dst_ip)
            if tag is not None:
                tag_needs.setdefault((tag, r.protocol), []).append(i)
            elif r.compute_type == SPARK and host:
                unresolved.append((i, "serverless Spark ignores FQDN rules (spec §4) and the address is no Azure "
                                      "service's: no rule can allow it"))
            elif not r.dst_ip:
                unresolved.append((i, "no address and no usable host name"))
            elif host and not web:
                unresolved.append((i, f"FQDN rules open only TCP 80/443 (spec §4); {host} on {r.protocol}/{r.port} "
                                      "is no Azure service's address"))
            elif r.reason == "no_sni":
                unresolved.append((i, "HTTPS without SNI: the firewall cannot match a name (spec §8)"))
            elif r.reason == "name_not_logged":
                unresolved.append((i, "the log records no host name: replay a log that does (firewall, Zeek) to "
                                      "get FQDN rules"))
            else:
                unresolved.append((i, "an address outside Azure's service tags with no host name: only pinning "
                                      "its address (address_prefixes) would allow it; not suggested"))
        self._endpoints(endpoints)
        self._spark(spark_changes)
        self._fqdns(fqdn_hosts)
        self._pinned(pinned)
        self._service_tags(tag_needs)
        for i, why in unresolved:
            rows.at[i, "why"] = why
        return self._finish(keep_denied, [i for i, _ in unresolved])

    def _service_tag(self, address: str) -> str | None:
        if not address:
            return None
        ip = ipaddress.ip_address(address)
        hits = self.locator.locate([(ip.version, int(ip))])[(ip.version, int(ip))]
        hit = self.locator.service_tag(hits)
        if hit is None or hit.tag.name.lower().startswith(MULTI_TENANT_TAGS):
            return None
        return hit.tag.name

    # -- proposals ---------------------------------------------------------------------------------------
    def _name(self, wanted: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", wanted).strip("-")[:60] or "rule"
        name, n = base, 2
        while name.lower() in self.names:
            name, n = f"{base}-{n}", n + 1
        self.names.add(name.lower())
        return name

    def _propose(self, rule, why: str, rows: list[int], **extra) -> None:
        self.proposals.append(Proposal(rule, why, covers={"rows": rows}, **extra))

    def _endpoints(self, needs: dict[tuple[str, str, str], list[int]]) -> None:
        for (provider, name, subresource), rows in needs.items():
            resource_id, assumed = self._resource_id(provider, name)
            rule = PrivateEndpointDestination(name=self._name(f"pe-{name}-{subresource}"), service_resource_id=resource_id,
                                              subresource_target=subresource,
                                              spark_enabled=bool((self.rows.loc[rows, "compute_type"] == SPARK).any()))
            why = (f"{provider} {name!r} ({subresource}): Azure PaaS is reached through a private endpoint, never an "
                   "FQDN rule (spec §4)" + ("; serverless Spark uses it, so spark_enabled" if rule.spark_enabled else ""))
            if rule.spark_enabled and provider != "Microsoft.Storage/storageAccounts":
                why += " (the portal offers spark_enabled for storage only: set it with the CLI or SDK)"
            if assumed:
                why += f"; the subscription and resource group in the id are assumed ({assumed}): check them"
            self._propose(rule, why, rows)

    def _resource_id(self, provider: str, name: str) -> tuple[str, str]:
        """The resource's id when the workspace names it (its own resources, an existing endpoint); else one in the
        workspace storage account's subscription and resource group, and what was assumed."""
        ws = self.workspace
        for text in (ws.storage_account, ws.key_vault, ws.container_registry,
                     *(r.service_resource_id for r in ws.managed_network.private_endpoint_rules)):
            if text and text.rstrip("/").rsplit("/", 1)[-1].lower() == name.lower() and \
                    provider.lower() in text.lower():
                return text, ""
        base = next((t for t in (ws.storage_account, ws.key_vault, ws.container_registry) if t), None)
        try:
            parsed = ResourceId.parse(base) if base else None
        except Exception:  # noqa: BLE001 - a workspace field that is a bare name, not an id
            parsed = None
        subscription = parsed.subscription if parsed else UNKNOWN_SUBSCRIPTION
        group = parsed.resource_group if parsed else "REPLACE-resource-group"
        return (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{provider}/{name}",
                "those of the workspace's storage account" if parsed else "placeholders")

    def _spark(self, needs: dict[str, list[int]]) -> None:
        rules = {r.name: r for r in self.workspace.managed_network.private_endpoint_rules}
        for name, rows in needs.items():
            old = rules.get(name)
            if old is not None:
                why = "serverless Spark reaches this endpoint, which is not spark_enabled (spec §4, §5)"
                if "microsoft.storage/" not in old.service_resource_id.lower():
                    why += "; the portal offers spark_enabled for storage only: set it with the CLI or SDK"
                self.proposals.append(Proposal(dataclasses.replace(old, spark_enabled=True), why, changes=name,
                                               covers={"rows": rows}))
                continue
            endpoint = next((p for p in _required_endpoints(self.workspace) if p.name == name), None)
            if endpoint is None:
                continue
            rule = PrivateEndpointDestination(name=self._name(f"{name}-spark"), service_resource_id=endpoint.service_resource_id,
                                              subresource_target=endpoint.subresource_target, spark_enabled=True)
            self._propose(rule, f"serverless Spark reaches the required endpoint {name}, which Azure creates without "
                                "spark_enabled: a user endpoint to the same sub-resource with spark_enabled (spec §5)",
                          rows)

    def _fqdns(self, needs: dict[str, list[int]]) -> None:
        hosts = dict(needs)
        for group, patterns in SCENARIO_SETS.items():
            parsed = [FqdnPattern.parse(p) for p in patterns]
            used = [p for p in parsed if not _storage_or_shared(p) and any(p.matches(h) for h in hosts)
                    and not any(p.matches(x) for x in self.forbidden_hosts)]
            if not used:
                continue
            covered = [h for h in hosts if any(p.matches(h) for p in used)]
            rows = [i for h in covered for i in hosts.pop(h)]
            rule = FqdnDestination(name=self._name(group), destination=", ".join(p.text for p in used))
            self._propose(rule, f"the documented {group} set (spec §3): the patterns the traffic used", rows,
                          group=group)
        parents: dict[str, list[str]] = {}
        for host in hosts:
            if "." in host:
                parents.setdefault(host.split(".", 1)[1], []).append(host)
        by_domain: dict[str, tuple[list[str], list[int]]] = {}
        for parent, members in sorted(parents.items()):
            wildcard = FqdnPattern.parse("*." + parent)
            if len(members) >= MIN_SIBLINGS and parent.count(".") >= 1 and not on_shared_suffix(parent) \
                    and not any(wildcard.matches(x) for x in self.forbidden_hosts):
                rows = [i for h in members for i in hosts.pop(h)]
                self._propose(FqdnDestination(name=self._name(parent), destination=wildcard.text),
                              f"{len(members)} names under {parent}: one wildcard instead of {len(members)} exact names",
                              rows)
        for host, rows in hosts.items():
            domain = ".".join(host.split(".")[-2:])
            names, all_rows = by_domain.setdefault(domain, ([], []))
            names.append(host)
            all_rows.extend(rows)
        for domain, (names, rows) in by_domain.items():
            self._propose(FqdnDestination(name=self._name(domain), destination=", ".join(sorted(names))),
                          "exact host names (spec §8: HTTP Host / TLS SNI on TCP 80/443)", rows)

    def _pinned(self, needs: dict[tuple[str, str], list[int]]) -> None:
        for (host, protocol), rows in needs.items():
            addresses = sorted(set(self.rows.loc[rows, "dst_ip"]) - {""}, key=ipaddress.ip_address)
            ports = sorted(set(self.rows.loc[rows, "port"].astype(int)))
            if not addresses:
                continue
            rule = ServiceTagDestination(name=self._name(f"{host.split('.')[0]}-addresses"), protocol=protocol,
                                         port_ranges=_port_ranges(ports), service_tag="Storage",
                                         address_prefixes=tuple(addresses))
            self._propose(rule, f"{host} is a storage account Microsoft owns (spec §3 lists it): no private endpoint "
                                "can reach it and FQDN rules do not reach storage (spec §4); its observed addresses "
                                "are pinned (they can change: suggest again on fresh logs). A Storage tag rule would "
                                "open every tenant's storage (spec §2).", rows)

    def _service_tags(self, needs: dict[tuple[str, str], list[int]]) -> None:
        for (tag, protocol), rows in needs.items():
            ports = sorted(set(self.rows.loc[rows, "port"].astype(int)) - {-1})
            rule = ServiceTagDestination(name=self._name(f"{tag}-{protocol}".lower()), protocol=protocol,
                                         port_ranges=_port_ranges(ports) if ports else "*", service_tag=tag)
            self._propose(rule, f"addresses of the Azure service tag {tag}, on the ports used only", rows)

    # -- verification, minimality ------------------------------------------------------------------------
    def _finish(self, keep_denied: pd.Series, unresolved: list[int]) -> Suggestion:
        rows = self.rows
        wanted = ~keep_denied.to_numpy().copy()
        wanted[unresolved] = False
        benign = (rows["label"] == BENIGN) | (rows["label"] == "")
        benign &= rows["signature"].isna()
        self.proposals = self._minimal(wanted)
        new = self._workspace(self.proposals)
        allowed = self._allowed(new)
        for proposal in self.proposals:
            mine = [i for i in proposal.covers.pop("rows") if allowed[i]]
            part = rows.loc[mine]
            proposal.covers = {"flows": int(part["flows"].sum()), "bytes_out": int(part["bytes_out"].sum()),
                               "computes": sorted(set(part["compute_type"])),
                               "destinations": sorted(set(part["host"].where(part["host"] != "", part["dst_ip"])))[:20]}
        exfil = ~benign
        shared = set(zip(rows.loc[benign, "host"], rows.loc[benign, "dst_ip"], rows.loc[benign, "protocol"],
                         rows.loc[benign, "port"]))
        residual = exfil & allowed
        rows.loc[residual, "why"] = [
            "allowed: benign work needs the same destination" if k in shared else "allowed by a suggested rule"
            for k in zip(rows.loc[residual, "host"], rows.loc[residual, "dst_ip"], rows.loc[residual, "protocol"],
                         rows.loc[residual, "port"])]
        return Suggestion(new, self.proposals, rows[keep_denied & ~allowed], rows.loc[unresolved],
                          rows[residual], self.notes, int(rows.loc[benign, "flows"].sum()),
                          int(rows.loc[benign & allowed, "flows"].sum()))

    def _minimal(self, wanted: np.ndarray) -> list[Proposal]:
        """Drop, last first, each proposal whose removal leaves every wanted row allowed."""
        proposals = list(self.proposals)
        target = self._allowed(self._workspace(proposals)) & wanted
        for proposal in reversed(list(proposals)):
            trial = [p for p in proposals if p is not proposal]
            if (self._allowed(self._workspace(trial)) >= target).all():
                proposals = trial
                self.notes.append(f"{proposal.rule.name}: not needed once the other rules are in (dropped)")
        return proposals

    def _workspace(self, proposals: list[Proposal]) -> Workspace:
        changed = {p.changes: p.rule for p in proposals if p.changes}
        rules = [changed.get(r.name, r) for r in self.workspace.managed_network.outbound_rules]
        rules += [p.rule for p in proposals if not p.changes]
        network = dataclasses.replace(self.workspace.managed_network, outbound_rules=tuple(rules),
                                      isolation_mode=IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND)
        return dataclasses.replace(self.workspace, managed_network=network)

    def _allowed(self, workspace: Workspace) -> np.ndarray:
        """Per row of ``self.rows``: allowed under ``workspace``."""
        rows = self.rows
        batch = FlowBatch.from_frame(pd.DataFrame({
            "compute_type": rows["compute_type"], "dst_ip": rows["dst_ip"].replace("", None),
            "dst_port": rows["port"].where(rows["port"] >= 0, None), "protocol": rows["protocol"],
            "fqdn": rows["host"].replace("", None), "name_logged": rows["name_logged"]}))
        verdicts = evaluate(compile_rules(workspace, self.tags), batch)
        return verdicts.verdict == Verdict.ALLOW


_NOT_A_RULE = {
    "spark_not_provisioned": "the network was provisioned without Spark: provision it with --include-spark (spec §5)",
    "network_not_provisioned": "the managed network is not provisioned yet: create a compute or run "
                               "provision-network (spec §5)",
    "rule_inactive": "rule {rule} would allow it but is not Active: enable it (spec §5)",
}
_DOCUMENTED_HOSTS = {p for patterns in SCENARIO_SETS.values() for p in patterns if "*" not in p} | \
    {"vscode.blob.core.windows.net"}  # spec §3's VS Code list names this Microsoft storage account


def _storage_or_shared(pattern: FqdnPattern) -> bool:
    if pattern.kind is PatternKind.EXACT:
        return is_storage_host(pattern.suffix)
    return pattern.kind is not PatternKind.SUBDOMAINS or on_shared_suffix(pattern.suffix)


def _required_endpoints(workspace: Workspace):
    from ..ruletable.effective import required_private_endpoint_rules
    return required_private_endpoint_rules(workspace)


def _port_ranges(ports: list[int]) -> str:
    """``[80, 443, 8080, 8081, 8082]`` → ``"80, 443, 8080-8082"``."""
    out: list[str] = []
    for port in ports:
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == port - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{port}"
        elif out and "-" not in out[-1] and int(out[-1]) == port - 1:
            out[-1] = f"{out[-1]}-{port}"
        else:
            out.append(str(port))
    return ", ".join(out)
