"""``plan`` as text: one group per kind of change, each item with the spec fact behind it.

Renders the ``Plan.to_dict()`` shape, so the text and ``--json`` can never say different things. A group whose
items share one reason prints it once, under the group's title.
"""

from __future__ import annotations

import re
from typing import Any


def render_plan(data: dict[str, Any]) -> str:
    lines = [f"plan for {data['workspace']}: {data['old']} -> {data['new']}"]
    refused = data["refused"]
    lines.append(f"Azure would REFUSE this change ({len(refused)} reason{'s' if len(refused) != 1 else ''})."
                 if refused else "Azure would accept this change.")
    mode = data["mode"]
    verdict = "no change" if not mode["changed"] else ("allowed" if mode["allowed"] else "REFUSED")
    lines += ["", f"isolation mode: {mode['from']} -> {mode['to']}: {verdict}", f"  why: {mode['why']}"]
    _group(lines, "refused", refused, lambda n: _note(n))
    rules = data["rules"]
    _group(lines, "rules (matched by name, case-insensitively)",
           [*(("+", r) for r in rules["created"]), *(("-", r) for r in rules["removed"]),
            *(("~", r) for r in rules["changed"])],
           lambda item: _rule(*item), why=lambda item: item[1]["why"])
    required = data["required_added"]
    _group(lines, "added by Azure (required rules)", [r for r in required if r["type"] != "private_endpoint"],
           lambda r: f"+ {r['name']} ({r['type']}): {r['destination']}")
    endpoints = sum(r["type"] == "private_endpoint" for r in required)
    if endpoints:
        if len(required) == endpoints:
            lines += ["", "added by Azure (required rules)"]
        lines.append(f"  and {endpoints} required private endpoint{'s' if endpoints != 1 else ''}: see below")
    firewall = data["firewall"]
    if firewall:
        _group(lines, "managed Azure Firewall", [firewall], _firewall)
    endpoints = data["private_endpoints"]
    _group(lines, "private endpoints Azure will create", endpoints, _endpoint)
    approver = next((pe["approver_why"] for pe in endpoints if pe["approver_role"]), None)
    if approver:
        lines.append(f"  approver role needed: {approver}")
    _group(lines, "computes to delete and recreate", data["recreate_computes"], lambda c: c["compute"])
    if data["spark"]:
        _group(lines, "serverless Spark", [data["spark"]],
               lambda s: f"run: {s['command']} (for {', '.join(s['rules'])})")
    if not any((*rules.values(), required, firewall, endpoints, data["recreate_computes"], data["spark"])):
        lines += ["", "no rule, firewall, private endpoint or compute changes"]
    _group(lines, "warnings", data["warnings"], _note)
    return "\n".join(lines)


def _group(lines: list[str], title: str, items: list[Any], show, why=lambda item: item["why"]) -> None:
    """A titled group; each run of items with one reason is followed by that reason, once."""
    if not items:
        return
    lines += ["", title]
    for i, item in enumerate(items):
        lines.append(f"  {_short_ids(show(item))}")
        if i + 1 == len(items) or why(items[i + 1]) != why(item):
            lines.append(f"    why: {why(item)}")


_RESOURCE_ID = re.compile(r"/subscriptions/[^\s()]*/providers/[^\s()]*")


def _short_ids(text: str) -> str:
    """An ARM resource id as its last type and name (``…/storageAccounts/contosodatalake``); --json has it whole."""
    return _RESOURCE_ID.sub(lambda m: "…/" + "/".join(m.group().rstrip("/").split("/")[-2:]), text)


def _note(note: dict[str, Any]) -> str:
    return (f"rule {note['rule']!r}: " if note["rule"] else "") + f"{note['message']} [{note['code']}]"


def _rule(sign: str, rule: dict[str, Any]) -> str:
    head = f"{sign} {rule['name']} ({rule['type']})"
    if sign != "~":
        return f"{head}: {rule['destination']}"
    return f"{head}: " + "; ".join(f"{c['field']} {_value(c['old'])} -> {_value(c['new'])}" for c in rule["changes"])


def _value(value: str | None) -> str:
    return "(none)" if value is None else value


def _firewall(fw: dict[str, Any]) -> str:
    if fw["action"] == "create":
        return f"created, SKU {fw['sku']}, with the FQDN rules {', '.join(fw['rules'])}"
    if fw["action"] == "change_sku":
        return f"SKU {fw['old_sku']} -> {fw['sku']}"
    return f"no longer needed (SKU {fw['sku']}): NEW has no FQDN rule in force"


def _endpoint(pe: dict[str, Any]) -> str:
    extra = [pe["origin"]] + (["spark enabled"] if pe["spark_enabled"] else []) + \
        (["approver role needed"] if pe["approver_role"] else [])
    return f"+ {pe['name']}: {pe['resource']} ({pe['subresource']}) [{', '.join(extra)}]"
