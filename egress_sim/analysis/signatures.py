"""Shapes of outbound traffic that ``suggest`` never turns into an allow rule, whatever the flows' labels say, and
the shared host-name suffixes it never widens a wildcard to.

These are deliberately few and conservative: a flow that matches one is listed as "left denied, on purpose" with
the signature's name, and a person can still add a rule by hand. The full risk model (channel classes, scores,
thresholds) is issue 13's; this module only keeps ``suggest`` from proposing the obvious exfiltration channels.
"""

from __future__ import annotations

import math
from collections import Counter

# Paste and anonymous file-sharing sites: anyone can upload without an account, the classic manual exfiltration
# channel. Names as the services publish them (their own home pages); the simulator's paste_site scenario uses them.
PASTE_AND_FILE_SHARING = ("pastebin.com", "paste.ee", "hastebin.com", "ghostbin.com", "transfer.sh", "file.io",
                          "gofile.io", "0x0.st", "temp.sh", "anonfiles.com", "wetransfer.com", "dpaste.org",
                          "controlc.com", "privatebin.net")

# Suffixes under which anyone can create a name (multi-tenant hosting): a wildcard on one of them opens every
# tenant's site. Each is a "private domain" of the Public Suffix List (https://publicsuffix.org/list/, section
# "PRIVATE DOMAINS": Amazon, Microsoft, GitHub, Google, Cloudflare, Heroku, Netlify, Vercel entries) or, for the
# Azure storage and CDN names, the Azure documentation of those services' host names (storage:
# <account>.blob.core.windows.net, "Storage account overview"; Azure CDN: <endpoint>.azureedge.net,
# <endpoint>.vo.msecnd.net; Front Door: <endpoint>.azurefd.net; App Service: <app>.azurewebsites.net).
SHARED_SUFFIXES = (
    "blob.core.windows.net", "file.core.windows.net", "queue.core.windows.net", "table.core.windows.net",
    "dfs.core.windows.net", "web.core.windows.net", "core.windows.net", "windows.net",
    "azurewebsites.net", "azureedge.net", "vo.msecnd.net", "azurefd.net", "trafficmanager.net", "cloudapp.net",
    "cloudapp.azure.com", "azurecr.io", "azure-api.net", "azurestaticapps.net",
    "cloudfront.net", "amazonaws.com", "s3.amazonaws.com", "elasticbeanstalk.com",
    "github.io", "githubusercontent.com", "herokuapp.com", "appspot.com", "web.app", "firebaseapp.com",
    "netlify.app", "vercel.app", "pages.dev", "workers.dev", "ngrok.io", "ngrok-free.app",
)

# DNS tunnelling shapes: a query name whose longest label is long and random-looking. 52 characters of base32 carry
# ~32 bytes, the size of the labels tunnelling tools such as iodine and dnscat2 send; normal host labels rarely
# pass 30 characters with 3.5 bits of entropy per character. Project thresholds, quoted as such.
TUNNEL_LABEL_LENGTH = 40
TUNNEL_LABEL_ENTROPY = 3.5


def on_shared_suffix(name: str) -> bool:
    """Whether ``name`` is one of ``SHARED_SUFFIXES`` or a public suffix above it (``net``, ``com``)."""
    name = name.lower().strip(".")
    return name in SHARED_SUFFIXES or "." not in name


def is_paste_site(host: str) -> bool:
    host = host.lower()
    return any(host == site or host.endswith("." + site) for site in PASTE_AND_FILE_SHARING)


def label_entropy(label: str) -> float:
    """Shannon entropy of a label's characters, in bits per character."""
    if not label:
        return 0.0
    counts = Counter(label)
    return -sum(n / len(label) * math.log2(n / len(label)) for n in counts.values())


def looks_like_tunnel(host: str) -> bool:
    """A host name whose longest label is long and random (see ``TUNNEL_LABEL_LENGTH``)."""
    label = max(host.split("."), key=len)
    return len(label) >= TUNNEL_LABEL_LENGTH and label_entropy(label) >= TUNNEL_LABEL_ENTROPY


def signature_of(host: str | None, protocol: str, port: int, allowed_names: list[str]) -> str | None:
    """The name of the signature a denied flow matches, or None. ``allowed_names``: host names the rules (old and
    suggested) allow by name, for look-alikes."""
    if protocol == "UDP" and port == 53:
        return "dns_to_outside_resolver"  # the platform resolves names; a flow to port 53 outside is a tunnel shape
    if host is None:
        return None
    if is_paste_site(host):
        return "paste_or_file_sharing_site"
    if looks_like_tunnel(host):
        return "dns_tunnel_name"
    for name in allowed_names:  # securepypi.org beside pypi.org: ends with the name, not at a label boundary
        if host != name and host.endswith(name) and not host.endswith("." + name):
            return "lookalike_name"
    return None
