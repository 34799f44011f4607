"""The exfiltration risk model: who can write where each flow goes, what each rule opens, and which flows look like
data leaving.

**Channel classes**, by who can write at the destination (spec §12: "if malicious agents don't have write access
to outbound destination resources, they can't use that outbound for data exfiltration"):

============== =====================================================================================================
``platform``    only the service's operator: Microsoft's required endpoints (Entra ID, ARM, Azure ML, MCR, Batch,
                Front Door first party, Azure Monitor; spec §2), and a vendor's own host allowed by exact name
``your_tenant`` your own resources, through private endpoints (spec §4: same tenant)
``any_tenant``  shared by every tenant or every user: a user service-tag rule (a tag names a service's shared
                addresses: another tenant's storage, event hub or factory answers there too; spec §2, §12), code and
                model hubs and paste sites anyone can push to, names under shared suffixes, ``*x`` look-alikes
``open_internet`` anything: internet-outbound and disabled modes, a ``*`` rule
``blocked``     the flow is denied or rejected: no channel
============== =====================================================================================================

**Flow signals** (a flow with any is *flagged*; ``SIGNALS`` names them). Thresholds are named constants below with
their source; where no published figure exists the constant says it is the project's choice. Signals that look at
the destination use its *kind* (what the address or name is), not the verdict, so an attempt that the rules block
is flagged too; ``bytes at risk`` counts only allowed flows.

**Rule scores**: critical (opens the internet, or all of Azure), high (an any-tenant service tag, a ``*x`` pattern,
a wildcard on a shared suffix), medium (a hub anyone can push to, another service tag), low (private endpoints,
required rules, vendor names).

What it cannot see is listed in ``CANNOT_SEE``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..model import FqdnDestination, IsolationMode, PrivateEndpointDestination, ServiceTagDestination
from ..model.hostnames import PatternKind
from ..net.taglocator import TagLocator
from ..ruletable.compile import RuleTable, is_storage_host
from .signatures import PASTE_AND_FILE_SHARING, SHARED_SUFFIXES, is_paste_site, label_entropy

CHANNELS = ("platform", "your_tenant", "any_tenant", "open_internet", "blocked")
OUTSIDER_KINDS = ("any_tenant", "open_internet")

# --- thresholds ------------------------------------------------------------------------------------------------
# DNS tunnelling: a query name over 52 characters, or a label over 30 characters with over 3.5 bits of entropy per
# character ("Detecting DNS tunneling through network monitoring", mydnstunnel.info; SecuritySynapse, "Detecting
# DNS Tunneling Using Subdomain Frequency Analysis", 2020, starts at 50 characters).
TUNNEL_NAME_LENGTH = 52
TUNNEL_LABEL_LENGTH = 30
TUNNEL_LABEL_ENTROPY = 3.5
# DNS tunnelling by traffic shape, from one source to one domain: more than 100 queries a minute ("Detecting DNS
# tunneling through network monitoring", mydnstunnel.info), or more than 50 distinct names over the input (the
# project's choice; counting unique subdomains per domain is SecuritySynapse's "Subdomain Frequency Analysis").
TUNNEL_QUERIES_PER_MINUTE = 100
TUNNEL_DISTINCT_NAMES = 50
# One connection sending 100 MB or more (Splunk security_content, "Cisco Secure Firewall - Potential Data
# Exfiltration": connections of 100 MB and more, inside to outside).
BULK_BYTES_OUT = 100 * 1024 * 1024
# An upload-shaped flow: at least 1 MiB out and at least 10 times what came back. MITRE D3FEND D3-PHDURA
# ("Per Host Download-Upload Ratio Analysis") names the signal but no figures: both numbers are the project's choice.
UPLOAD_BYTES_OUT = 1024 * 1024
UPLOAD_RATIO = 10
# Off hours: 00:00-05:59 UTC and weekends, 10 MiB or more out to an outsider's channel (the project's choice: the
# simulated office hours are 07:00-19:00 UTC; real teams set their own window).
OFF_HOURS_UTC = range(0, 6)
OFF_HOURS_BYTES_OUT = 10 * 1024 * 1024
# Slow drip: at least 20 upload-shaped flows (out >= DRIP_RATIO x in) from one source to one destination, 2 MiB or
# more in total, each under UPLOAD_BYTES_OUT (the project's choice: small enough that no per-flow threshold sees it).
DRIP_MIN_FLOWS = 20
DRIP_MIN_BYTES = 2 * 1024 * 1024
DRIP_RATIO = 3
# The platform resolver every Azure VNet uses (Azure's documented virtual public IP); DNS to any other address leaves
# the platform.
PLATFORM_RESOLVER = ipaddress.ip_address("168.63.129.16")
WEB_PORTS = (80, 443)

# Hubs anyone can push to (their own sign-up pages): a flow there may be an upload to an attacker's account.
PUBLIC_HUBS = ("github.com", "githubusercontent.com", "gitlab.com", "bitbucket.org", "huggingface.co", "hf.co",
               "upload.pypi.org", "anaconda.org", "docker.io", "docker.com", "ghcr.io", "dropbox.com", "drive.google.com",
               "onedrive.live.com", "wetransfer.com", *PASTE_AND_FILE_SHARING)
# Service-tag families whose addresses serve every tenant's resources and accept writes from anyone with an account
# (spec §2 "Storage ... can be used to exfiltrate data", §12 Storage and AzureFrontDoor.Frontend).
MULTI_TENANT_TAGS = ("storage", "azurecloud", "azurefrontdoor.frontend", "sql", "eventhub", "servicebus",
                     "azurecosmosdb", "appservice", "azurewebpubsub", "azuresignalr", "azurecontainerregistry")
# Suffixes under which every name is some tenant's (a shared suffix minus the parents Microsoft also uses for its own
# services, such as login.windows.net).
TENANT_NAME_SUFFIXES = tuple(s for s in SHARED_SUFFIXES if s not in ("windows.net", "core.windows.net"))
PLATFORM_TAGS = ("azureactivedirectory", "azureresourcemanager", "azuremachinelearning",
                 "microsoftcontainerregistry", "batchnodemanagement", "azurefrontdoor.firstparty", "azuremonitor")

SIGNALS = ("dns_tunnel_name", "dns_tunnel_shape", "dns_outside_platform", "https_without_sni", "lookalike_name", "paste_site",
           "foreign_storage_account", "named_host_off_port", "spark_to_outsider", "upload_to_outsider", "bulk_upload",
           "off_hours_bulk", "raw_ip_transfer", "slow_drip")

CANNOT_SEE = [
    "DNS answered by the platform resolver (168.63.129.16): no outbound rule governs it, and a tunnel through it "
    "reaches the internet whatever the mode; the model sees its shape only when the log records those queries "
    "(a Zeek dns or conn log does; the flow logs of a managed network do not).",
    "What travels inside an allowed TLS session: an upload to your own storage, or to a platform endpoint, looks "
    "like any other flow.",
    "Logs without byte counters (NSG version 1, Azure Firewall) hide every size-based signal: bulk, upload-shaped, "
    "off-hours and slow-drip flows are then not flagged.",
    "Who owns a storage account or a hub account: a push to github.com is flagged by its shape, whether the "
    "repository is yours or not.",
    "Time zones: off-hours are judged in UTC.",
]


@dataclass
class RiskContext:
    """What the model needs of a compiled workspace: its rules by name, and its own resources (their names and
    private addresses as approved-only mode creates them, ``isolated``: the same in every mode, so a flow to your
    own storage is yours whatever the mode decided)."""

    table: RuleTable
    locator: TagLocator
    isolated: RuleTable | None = None  # the workspace compiled in allow_only_approved_outbound; None: ``table``
    rules: dict[str, object] = field(init=False)
    own_hosts: set[str] = field(init=False)
    own_patterns: list = field(init=False)
    base_names: list[str] = field(init=False)
    _kinds: dict[tuple[int, int], str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        eff = self.table.effective
        own = (self.isolated or self.table).effective
        self.rules = {r.name: r for r in eff.all_rules}
        self.own_hosts = {p.suffix for e in own.private_endpoints for p in e.patterns if not p.is_wildcard}
        self.own_patterns = [p for e in own.private_endpoints for p in e.patterns if p.is_wildcard]
        self._endpoint_ips = {int(ip) for ip in (self.isolated or self.table).pe_ips.tolist()}
        names = {p.suffix for r in eff.fqdns for p in r.patterns if p.kind in (PatternKind.EXACT, PatternKind.SUBDOMAINS)}
        self.base_names = sorted(names | set(PUBLIC_HUBS), key=len, reverse=True)

    # -- channels ----------------------------------------------------------------------------------------------
    def channel(self, verdict: str, reason: str, rule: str | None, host: str | None) -> str:
        """The channel class an allowed flow went through (``blocked`` when it was not allowed)."""
        rule, host = rule or None, host or None
        if verdict != "allow":
            return "blocked"
        if reason in ("not_isolated", "internet_outbound"):
            return "open_internet"
        if reason == "private_endpoint":
            return "your_tenant"
        found = self.rules.get(rule or "")
        if reason == "service_tag":
            if found is None or found.category.yaml == "required":
                return "platform"
            return "any_tenant"
        if reason == "fqdn" and isinstance(found, FqdnDestination):
            return _fqdn_channel(found, host or "")
        return "any_tenant"  # an allow the model does not know: assume the worst

    def address_kind(self, version: int, value: int) -> str:
        """What an address is: ``your_tenant`` (a private endpoint), ``platform``, ``any_tenant``, ``azure`` (another
        Azure service) or ``open_internet`` (in no service tag)."""
        key = (version, value)
        if key not in self._kinds:
            self._locate([key])
        return self._kinds[key]

    def _locate(self, keys: list[tuple[int, int]]) -> None:
        endpoints = self._endpoint_ips
        hits = self.locator.locate([k for k in keys if k not in self._kinds])
        for key, found in hits.items():
            if key[0] == 4 and key[1] in endpoints:
                self._kinds[key] = "your_tenant"
            elif not found:
                self._kinds[key] = "open_internet"
            elif any(h.tag.name.lower().startswith(PLATFORM_TAGS) for h in found):
                self._kinds[key] = "platform"
            elif any(h.tag.name.lower().startswith(MULTI_TENANT_TAGS) and not h.tag.name.lower().startswith("azurecloud")
                     for h in found):
                self._kinds[key] = "any_tenant"
            else:
                self._kinds[key] = "azure"

    def host_kind(self, host: str) -> str | None:
        """What a host name is, when its name alone says: ``your_tenant``, ``any_tenant``, or None."""
        if host in self.own_hosts or any(p.matches(host) for p in self.own_patterns):
            return "your_tenant"
        if is_storage_host(host) or _under(host, PUBLIC_HUBS) or _under(host, TENANT_NAME_SUFFIXES):
            return "any_tenant"
        return None

    # -- signals -----------------------------------------------------------------------------------------------
    def assess(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per flow of ``frame`` (verdict columns and flow columns): ``channel``, ``kind`` (what the destination
        is), ``signals`` (``;``-joined, empty when none) and ``flagged``. The per-name and per-address work is done
        once per distinct value; the rest is array arithmetic."""
        n = len(frame)
        host = np.asarray(text_column(frame, "fqdn"), dtype=object)
        dst = np.asarray(text_column(frame, "dst_ip"), dtype=object)
        port = _numbers(frame, "dst_port", -1).astype(np.int64)
        protocol = np.asarray(text_column(frame, "protocol"), dtype=object)
        out, back = _numbers(frame, "bytes_out", 0), _numbers(frame, "bytes_in", 0)
        logged = frame["name_logged"].fillna(True).astype(bool).to_numpy() if "name_logged" in frame else np.ones(n, bool)
        compute = np.asarray(text_column(frame, "compute_type"), dtype=object)
        # per distinct host name: its kind and the name-only signals
        h_codes, h_names = pd.factorize(host)
        h_kind = np.array([(self.host_kind(h) or "") if h else "" for h in h_names], dtype=object)
        h_flags = np.array([[bool(h) and _tunnel_name(h), bool(h) and self._lookalike(h), bool(h) and is_paste_site(h),
                             bool(h) and is_storage_host(h) and h not in self.own_hosts and h not in _DOCUMENTED_STORAGE]
                            for h in h_names], dtype=bool).reshape(len(h_names), 4)
        # per distinct address: its kind, and whether it is the platform resolver
        d_codes, d_texts = pd.factorize(dst)
        d_addresses = [_address(t) for t in d_texts]
        self._locate(sorted({a for a in d_addresses if a is not None} - set(self._kinds)))
        d_kind = np.array([self._kinds[a] if a is not None else "open_internet" for a in d_addresses], dtype=object)
        d_valid = np.array([a is not None for a in d_addresses], dtype=bool)
        d_resolver = np.array([a is not None and ipaddress.ip_address(t) == PLATFORM_RESOLVER
                               for a, t in zip(d_addresses, d_texts)], dtype=bool)
        named = host != ""
        kind = np.where(h_kind[h_codes] != "", h_kind[h_codes], d_kind[d_codes]) if n else np.array([], dtype=object)
        tunnel, lookalike, paste, foreign = (h_flags[h_codes, k] for k in range(4)) if n else (np.zeros(0, bool),) * 4
        tunnel = tunnel & ~np.isin(kind, ("your_tenant", "platform"))
        outsider = np.isin(kind, OUTSIDER_KINDS)
        upload = (out >= UPLOAD_BYTES_OUT) & (out >= UPLOAD_RATIO * np.maximum(back, 1))
        ts = pd.to_datetime(frame["ts"], utc=True, errors="coerce") if "ts" in frame else pd.Series(pd.NaT, index=frame.index)
        hours = ts.dt.hour.to_numpy(dtype=float, na_value=np.nan)
        weekend = ts.dt.day_of_week.to_numpy(dtype=float, na_value=np.nan) >= 5
        off_hours = np.isin(hours, list(OFF_HOURS_UTC)) | weekend
        tcp, web = protocol == "TCP", np.isin(port, WEB_PORTS)
        signals = {
            "dns_tunnel_name": tunnel,
            "dns_outside_platform": (port == 53) & d_valid[d_codes] & ~d_resolver[d_codes],
            "https_without_sni": tcp & (port == 443) & ~named & logged & (kind != "your_tenant"),
            "lookalike_name": lookalike,
            "paste_site": paste,
            "foreign_storage_account": foreign,
            "named_host_off_port": named & outsider & tcp & ~web,
            "spark_to_outsider": (compute == "serverless_spark") & outsider,
            "upload_to_outsider": outsider & upload,
            "bulk_upload": (out >= BULK_BYTES_OUT) & ~np.isin(kind, ("your_tenant", "platform")),
            "off_hours_bulk": outsider & (out >= OFF_HOURS_BYTES_OUT) & off_hours,
            "raw_ip_transfer": ~named & (kind == "open_internet") & ~np.isin(port, (*WEB_PORTS, 53)) & upload,
        }
        bits = np.zeros(n, dtype=np.int64)
        for k, name in enumerate(SIGNALS):
            if name in signals:
                bits |= signals[name].astype(np.int64) << k
        b_codes, b_values = pd.factorize(bits)
        texts = np.array([";".join(name for k, name in enumerate(SIGNALS) if value >> k & 1) for value in b_values],
                         dtype=object)
        # the channel, once per distinct (verdict, reason, rule, host): a key made of the columns' codes
        key = np.zeros(n, dtype=np.int64)
        columns = []
        for name in ("verdict", "reason", "rule"):
            codes, labels = text_codes(frame, name)
            key = key * (len(labels) + 1) + codes + 1
            columns.append(np.asarray(labels + [""], dtype=object)[codes])
        key = key * (len(h_names) + 1) + h_codes + 1
        c_codes, c_keys = pd.factorize(key)
        first = np.empty(len(c_keys), dtype=np.int64)
        first[c_codes[::-1]] = np.arange(n - 1, -1, -1)  # (the first row of each: written last)
        verdict, reason, rule = (column[first] for column in columns)
        c_values = np.array([self.channel(v, r, u, h) for v, r, u, h in zip(verdict, reason, rule, host[first])],
                            dtype=object)
        result = pd.DataFrame({name: pd.Series(values, index=frame.index, dtype=object) for name, values in (
            ("channel", c_values[c_codes] if n else []), ("kind", kind), ("signals", texts[b_codes] if n else []))})
        result["flagged"] = bits != 0
        return result

    def _lookalike(self, host: str) -> bool:
        """A name that ends with a known name without a dot before it (``th3github.com`` beside ``github.com``)."""
        for name in self.base_names:
            if host != name and host.endswith(name) and not host.endswith("." + name):
                return True
        return False


class AggregateSignal:
    """A signal that only the sum of many flows shows: counted over the whole input (``add``), decided once it is
    read (``found``), then given to the flows of the keys found (``mark``, a second look at the same flows)."""

    signal = ""

    def keys_for(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> tuple[np.ndarray, list]:
        """The rows this signal counts (positions, in order) and each one's key: few rows of many."""
        raise NotImplementedError

    def add(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> None:
        raise NotImplementedError

    def found(self) -> set:
        raise NotImplementedError

    def mark(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> None:
        keys = self.found()
        if not keys:
            return
        rows, row_keys = self.keys_for(frame, assessed)
        hits = np.zeros(len(frame), dtype=bool)
        hits[[row for row, key in zip(rows.tolist(), row_keys) if key in keys]] = True
        if hits.any():
            signals = assessed.loc[hits, "signals"]
            assessed.loc[hits, "signals"] = np.where(signals == "", self.signal, signals + ";" + self.signal)
            assessed.loc[hits, "flagged"] = True


@dataclass
class DripTracker(AggregateSignal):
    """Slow drip: small upload-shaped flows from one source to one destination that add up (``DRIP_*``)."""

    counts: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    signal = "slow_drip"

    def keys_for(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> tuple[np.ndarray, list]:
        return drip_keys(frame, assessed)

    def add(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> None:
        rows, keys = drip_keys(frame, assessed)
        sizes = _drip_sizes(frame)[rows].tolist()
        for key, out in zip(keys, sizes):
            entry = self.counts.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += out

    def found(self) -> set[tuple[str, str]]:
        return {k for k, (n, total) in self.counts.items() if n >= DRIP_MIN_FLOWS and total >= DRIP_MIN_BYTES}

    keys = found

    def merge(self, other: "DripTracker") -> None:
        """Add another part of the input's counts (the Dask engine counts each partition apart)."""
        for key, (n, total) in other.counts.items():
            entry = self.counts.setdefault(key, [0, 0.0])
            entry[0] += n
            entry[1] += total


@dataclass
class TunnelTracker(AggregateSignal):
    """DNS tunnelling by its traffic shape, whatever the resolver: from one source, many distinct names under one
    domain (``TUNNEL_DISTINCT_NAMES``) or queries to it faster than ``TUNNEL_QUERIES_PER_MINUTE``."""

    names: dict[tuple[str, str], set] = field(default_factory=dict)
    per_minute: dict[tuple[str, str, int], int] = field(default_factory=dict)
    signal = "dns_tunnel_shape"

    def keys_for(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> tuple[np.ndarray, list]:
        """DNS queries (port 53) for a name of three labels or more: (source, the name's last two labels)."""
        codes, hosts = text_codes(frame, "fqdn")
        deep = np.array([h.count(".") >= 2 for h in hosts] + [False], dtype=bool)
        rows = np.flatnonzero((_numbers(frame, "dst_port", -1) == 53) & deep[codes])
        if not len(rows):
            return rows, []
        domain = [".".join(h.split(".")[-2:]) for h in hosts]
        source = _sources(frame)[rows].tolist()
        return rows, [(src, domain[code]) for src, code in zip(source, codes[rows].tolist())]

    def add(self, frame: pd.DataFrame, assessed: pd.DataFrame) -> None:
        rows, keys = self.keys_for(frame, assessed)
        if not len(rows):
            return
        host = np.asarray(text_column(frame, "fqdn"), dtype=object)[rows].tolist()
        ts = pd.to_datetime(frame["ts"], utc=True, errors="coerce") if "ts" in frame else None
        when = ts.iloc[rows] if ts is not None else None
        # Minutes since the epoch, whatever the column's unit (a verdict file's time stamps read back in us or ms,
        # a CSV's in ns: the integer of each differs by its unit, so it is taken in ns).
        minutes = (when.to_numpy(dtype="datetime64[ns]").astype(np.int64) // 60_000_000_000).tolist() \
            if when is not None else None
        known = when.notna().tolist() if when is not None else None
        for k, key in enumerate(keys):
            seen = self.names.setdefault(key, set())
            if len(seen) <= TUNNEL_DISTINCT_NAMES:
                seen.add(host[k])
            if minutes is not None and known[k]:
                slot = (*key, int(minutes[k]))
                self.per_minute[slot] = self.per_minute.get(slot, 0) + 1

    def merge(self, other: "TunnelTracker") -> None:
        """Add another part of the input's counts (the Dask engine counts each partition apart)."""
        for key, seen in other.names.items():
            mine = self.names.setdefault(key, set())
            mine |= set(list(seen)[:TUNNEL_DISTINCT_NAMES + 1 - len(mine)]) if len(mine) <= TUNNEL_DISTINCT_NAMES else set()
        for slot, n in other.per_minute.items():
            self.per_minute[slot] = self.per_minute.get(slot, 0) + n

    def found(self) -> set[tuple[str, str]]:
        keys = {k for k, seen in self.names.items() if len(seen) > TUNNEL_DISTINCT_NAMES}
        return keys | {(s, d) for (s, d, _), n in self.per_minute.items() if n > TUNNEL_QUERIES_PER_MINUTE}


def aggregate_signals() -> list[AggregateSignal]:
    """A fresh tracker of each signal that needs the whole input."""
    return [DripTracker(), TunnelTracker()]


def drip_keys(frame: pd.DataFrame, assessed: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The small upload-shaped flows to an outsider's channel (positions) and each one's (source, destination)."""
    if "bytes_out" not in frame:
        return np.zeros(0, dtype=np.int64), []
    out = _numbers(frame, "bytes_out", 0)
    back = _numbers(frame, "bytes_in", 0)
    small_upload = (out > 0) & (out < UPLOAD_BYTES_OUT) & (out >= DRIP_RATIO * np.maximum(back, 1))
    rows = np.flatnonzero(small_upload & np.isin(assessed["kind"].to_numpy(), list(OUTSIDER_KINDS)))
    if not len(rows):
        return rows, []
    host = np.asarray(text_column(frame, "fqdn"), dtype=object)[rows]
    dst = np.asarray(text_column(frame, "dst_ip"), dtype=object)[rows]
    source = _sources(frame)[rows].tolist()
    return rows, [(src, h or d) for src, h, d in zip(source, host.tolist(), dst.tolist())]


def _sources(frame: pd.DataFrame) -> np.ndarray:
    """Who sent each flow, for the aggregate signals: its compute's name, else its source address."""
    return np.asarray(text_column(frame, "compute_name" if "compute_name" in frame else "src_ip"), dtype=object)


def _drip_sizes(frame: pd.DataFrame) -> np.ndarray:
    return _numbers(frame, "bytes_out", 0)


# --- rules ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleRisk:
    name: str
    type: str
    channel: str
    risk: str  # critical, high, medium, low
    why: tuple[str, ...]


def score_rules(table: RuleTable) -> list[RuleRisk]:
    """Every rule in force rated by what it opens, plus the mode itself when it opens the internet."""
    eff = table.effective
    out: list[RuleRisk] = []
    if eff.mode in (IsolationMode.DISABLED, IsolationMode.ALLOW_INTERNET_OUTBOUND):
        out.append(RuleRisk(f"(mode {eff.mode.yaml})", "mode", "open_internet", "critical",
                            ("every outbound destination is allowed (spec §1, §9.3)",)))
    for rule in eff.all_rules:
        if isinstance(rule, PrivateEndpointDestination):
            out.append(RuleRisk(rule.name, "private_endpoint", "your_tenant", "low",
                                ("a private endpoint reaches one resource of your tenant (spec §4)",)))
        elif isinstance(rule, ServiceTagDestination):
            out.append(_tag_risk(rule))
        elif isinstance(rule, FqdnDestination):
            out.append(_fqdn_risk(rule))
    return out


def _tag_risk(rule: ServiceTagDestination) -> RuleRisk:
    if rule.category.yaml == "required":
        why = ["required by Azure: only Microsoft writes there (spec §2, §12)"]
        if (rule.service_tag or "").lower().startswith("azuremonitor"):
            why.append("Azure Monitor ingestion accepts any tenant's instrumentation key: a channel the model cannot "
                       "close (the rule is required)")
        return RuleRisk(rule.name, "service_tag", "platform", "low", tuple(why))
    if rule.uses_address_prefixes:
        size = sum(n.num_addresses for n in rule.networks if n.version == 4)
        risk = "high" if size > (1 << 16) else "medium"
        return RuleRisk(rule.name, "service_tag", "any_tenant", risk,
                        (f"{size:,} IPv4 addresses by prefix: whoever holds them can receive data",))
    tag = (rule.service_tag or "").lower()
    if tag.startswith("azurecloud") or tag == "internet":
        return RuleRisk(rule.name, "service_tag", "any_tenant", "critical",
                        (f"{rule.service_tag}: every Azure customer's addresses (spec §9)",))
    if tag.startswith(MULTI_TENANT_TAGS):
        return RuleRisk(rule.name, "service_tag", "any_tenant", "high",
                        (f"{rule.service_tag}: any tenant's resources answer on these addresses; \"can be used to "
                         "exfiltrate data\" (spec §2, §12)",))
    return RuleRisk(rule.name, "service_tag", "any_tenant", "medium",
                    (f"{rule.service_tag}: a service's shared addresses; another tenant's resources of the same "
                     "service answer there too",))


def _fqdn_risk(rule: FqdnDestination) -> RuleRisk:
    levels = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    risk, channel, why = "low", "platform", []
    for p in rule.patterns:
        if p.kind is PatternKind.ANY:
            level, chan, text = "critical", "open_internet", "*: every host name on 80/443 (spec §8)"
        elif p.kind is PatternKind.SUFFIX:
            level, chan, text = "high", "any_tenant", f"{p.text}: look-alike names match too (th3{p.suffix})"
        elif p.kind is PatternKind.SUBDOMAINS and _under(p.suffix, SHARED_SUFFIXES) | (p.suffix in SHARED_SUFFIXES):
            level, chan, text = "high", "any_tenant", f"{p.text}: a shared suffix, every tenant's names"
        elif _under(p.suffix, PUBLIC_HUBS) or p.suffix in PUBLIC_HUBS:
            level, chan, text = "medium", "any_tenant", f"{p.text}: anyone can push or upload there"
        else:
            continue
        why.append(text)
        if levels[level] > levels[risk]:
            risk, channel = level, chan
    if not why:
        why.append("names of one vendor, who alone writes there")
    return RuleRisk(rule.name, "fqdn", channel, risk, tuple(why))


def _fqdn_channel(rule: FqdnDestination, host: str) -> str:
    matching = [p for p in rule.patterns if p.matches(host)]
    if any(p.kind is PatternKind.ANY for p in matching):
        return "open_internet"
    if any(p.kind is PatternKind.SUFFIX for p in matching) or _under(host, PUBLIC_HUBS) or \
            _under(host, TENANT_NAME_SUFFIXES):
        return "any_tenant"
    return "platform"


_DOCUMENTED_STORAGE = {"vscode.blob.core.windows.net"}  # spec §3: Microsoft's own account VS Code needs


def _under(host: str, names) -> bool:
    return any(host == n or host.endswith("." + n) for n in names)


def _tunnel_name(host: str) -> bool:
    """A long name whose longest label looks random: over ``TUNNEL_LABEL_LENGTH`` characters (or the whole name over
    ``TUNNEL_NAME_LENGTH``) with over ``TUNNEL_LABEL_ENTROPY`` bits per character."""
    label = max(host.split("."), key=len)
    long = len(label) > TUNNEL_LABEL_LENGTH or len(host) > TUNNEL_NAME_LENGTH
    return long and label_entropy(label) > TUNNEL_LABEL_ENTROPY


def _address(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.version, int(ip)


def _numbers(frame: pd.DataFrame, name: str, missing: float) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), missing, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce").fillna(missing).to_numpy(dtype=float)


def text_column(frame: pd.DataFrame, name: str) -> list[str]:
    """A column as text per row, "" where empty (or absent), each distinct value converted once."""
    codes, labels = text_codes(frame, name)
    return np.asarray(labels + [""], dtype=object)[codes].tolist()  # (code -1: the last, "")


def text_codes(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    """A column as codes into its distinct texts (-1: empty or absent). An object column (mixed values, which
    hashing would merge: 1, 1.0 and True) is converted cell by cell instead."""
    if name not in frame:
        return np.full(len(frame), -1, dtype=np.int64), []
    column = frame[name]
    if column.dtype == object:
        cells = [_cell_text(v) for v in column.tolist()]
        codes, uniques = pd.factorize(pd.Series(cells, dtype=object), use_na_sentinel=True)
        texts = [str(u) for u in uniques]
    else:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        texts = [_cell_text(u) for u in uniques]
    return np.asarray(codes, dtype=np.int64), texts


def _cell_text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else str(value)
