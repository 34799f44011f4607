"""Report dicts (schema egress-sim-report version 1) built by hand for the renderer tests, with hostile strings
where a log or a YAML file could put them."""

from __future__ import annotations

SCRIPT_TAG = "<script>document.title='pwned'</script>"
IMG_ONERROR = "\"><img src=x onerror=\"document.body.id='pwned'\">"
ANSI = "\x1b[31mred"
PIPE = "a|b"
HOSTILE = (SCRIPT_TAG, IMG_ONERROR, ANSI, PIPE)

COMPUTES = ["compute_instance", "compute_cluster", "serverless_spark"]
CHANNELS = ["platform", "your_tenant", "any_tenant", "open_internet"]


def _mode(name: str, scale: int, open_share: float, hostile: bool) -> dict:
    """One mode's result; ``open_share`` is how much of the traffic reaches any tenant or the internet."""
    risky_host = SCRIPT_TAG if hostile else "paste.example.net"
    denied_host = IMG_ONERROR if hostile else "203.0.113.9"
    allowed = int(scale * (0.55 + 0.4 * open_share))
    denied = scale - allowed - 7
    heat = [[1200 * scale // 20000, 800, int(900 * open_share), int(2100 * open_share)],
            [300, 2600, int(4000 * open_share), int(1500 * open_share)],
            [0, 150, int(40 * open_share), 3]]
    return {
        "mode": name, "flows": scale, "allowed": allowed, "denied": denied, "rejected": 7,
        "bytes_out_allowed": 48_000_000_000, "bytes_at_risk": int(31_000_000_000 * open_share),
        "exfiltration": {"labelled": 340, "allowed": int(340 * open_share), "flagged": 290,
                         "allowed_flagged": int(280 * open_share)},
        "by_compute": [{"compute_type": c, "allowed": allowed // (i + 2), "denied": denied // (i + 3), "rejected": i}
                       for i, c in enumerate(COMPUTES)],
        "by_channel": [{"channel": ch, "flows": sum(row[j] for row in heat), "bytes_out": 10_000_000 * (j + 1)}
                       for j, ch in enumerate(CHANNELS)] + [{"channel": "blocked", "flows": denied, "bytes_out": 0}],
        "heatmap": {"computes": COMPUTES, "channels": CHANNELS, "flows": heat},
        "top_denied": [{"destination": denied_host, "port": 443, "protocol": "tcp", "flows": 912, "bytes_out": 51_000,
                        "reason": "no_rule_matched"},
                       {"destination": f"{ANSI}.example.org" if hostile else "mirror.example.org", "port": None,
                        "protocol": "udp", "flows": 310, "bytes_out": 4_000, "reason": "outbound_denied"},
                       {"destination": f"files.{PIPE}.example", "port": 8443, "protocol": "tcp", "flows": 12,
                        "bytes_out": 700, "reason": "port_not_allowed"}] if open_share < 1 else [],
        "top_risky": [{"destination": risky_host, "port": 443, "protocol": "tcp", "channel": "open_internet",
                       "flows": int(1500 * open_share), "bytes_out": int(9_000_000_000 * open_share),
                       "signals": ["large_upload", "rare_destination"], "verdict": "allow"},
                      {"destination": "exfil.blob.core.windows.net", "port": 443, "protocol": "tcp",
                       "channel": "any_tenant", "flows": int(700 * open_share) + 1,
                       "bytes_out": int(20_000_000_000 * open_share), "signals": ["foreign_storage_account"],
                       "verdict": "allow"},
                      {"destination": f"t{PIPE}.dns.example", "port": 53, "protocol": "udp", "channel": "open_internet",
                       "flows": 44, "bytes_out": 90_000, "signals": ["dns_tunnel_pattern"], "verdict": "deny"}],
        "scenarios": [{"scenario": "upload_to_foreign_storage", "flows": 200, "allowed": int(200 * open_share),
                       "flagged": 180},
                      {"scenario": "dns_tunnel", "flows": 140, "allowed": int(140 * open_share), "flagged": 110}],
    }


def sample_report(hostile: bool = True, decisions: bool = True) -> dict:
    """Three modes, labelled exfiltration, one rule of each risk; ``decisions`` adds whatif and suggestions."""
    rule_name = SCRIPT_TAG if hostile else "allow-pypi"
    report = {
        "schema": "egress-sim-report", "version": 1, "generated_by": "egress-sim 0.1.0",
        "title": "contoso-research: demo, 20,000 simulated flows" + (f" {IMG_ONERROR}" if hostile else ""),
        "workspace": {"name": "contoso-research" + (ANSI if hostile else ""),
                      "file": f"data/workspaces/{PIPE}.yaml" if hostile else "data/workspaces/contoso-research.yaml",
                      "location": "westeurope", "isolation_mode": "allow_internet_outbound"},
        "inputs": [{"kind": "demo", "path": "reports/demo/flows.parquet", "flows": 20000}],
        "modes": [_mode("disabled", 20000, 1.0, hostile), _mode("allow_internet_outbound", 20000, 0.6, hostile),
                  _mode("allow_only_approved_outbound", 20000, 0.05, hostile)],
        "rules": [
            {"name": "storage-any", "type": "service_tag", "channel": "any_tenant", "risk": "critical",
             "why": ["Storage service tag: every storage account in the region, any tenant"], "hits": 5120,
             "bytes_out": 21_000_000_000},
            {"name": rule_name, "type": "fqdn", "channel": "open_internet", "risk": "high",
             "why": ["wildcard FQDN *.example.com", f"name from YAML: {IMG_ONERROR}"], "hits": 300,
             "bytes_out": 1_200_000},
            {"name": "kv-endpoint", "type": "private_endpoint", "channel": "your_tenant", "risk": "low",
             "why": ["private endpoint to your own key vault"], "hits": 40, "bytes_out": 80_000},
            {"name": "pypi", "type": "fqdn", "channel": "open_internet", "risk": "medium",
             "why": ["package index: can host uploads"], "hits": None, "bytes_out": None},
        ],
        "whatif": None, "suggestions": None,
        "cannot_see": ["DNS through the managed VNet's own resolver (168.63.129.16) is not governed by rules.",
                       "What a storage account belongs to: any_tenant may be yours or an attacker's.",
                       f"Payload contents{' ' + SCRIPT_TAG if hostile else ''}."],
        "notes": ["Flows labelled by the simulator's exfiltration scenarios."],
    }
    if decisions:
        report["whatif"] = {"before": "contoso-research.yaml", "after": f"new{PIPE}.yaml" if hostile else "new.yaml",
                            "changed": 640, "newly_denied": 600, "newly_allowed": 40,
                            "groups": [{"compute_type": "compute_cluster", "destination": IMG_ONERROR if hostile
                                        else "203.0.113.9", "port": 443, "before": "allow", "after": "deny",
                                        "flows": 600},
                                       {"compute_type": "compute_instance", "destination": "pypi.org", "port": None,
                                        "before": "deny", "after": "allow", "flows": 40}]}
        report["suggestions"] = [
            {"action": "add", "name": "allow-pypi", "type": "fqdn", "destination": "pypi.org", "why": "312 denied "
             "flows from compute_cluster to pypi.org:443 (package installs)", "flows": 312},
            {"action": "change", "name": rule_name, "type": "fqdn", "destination": f"files.{PIPE}.example",
             "why": f"narrow the wildcard {ANSI}", "flows": 12}]
    return report


