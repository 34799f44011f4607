"""Each Azure Firewall record's outcome (a flow, a skip or a reject, with its reason) and the flow columns, decided
for a whole block of records at once.

A block arrives as field columns (``azfw_records.FIELDS`` order: Arrow arrays or Python lists). Every column is
mapped to its meaning per distinct value (``azfw_values``), legacy messages are taken apart (``azfw_text``), and
then the checks run as array masks in a fixed order, the first failing check naming the record's outcome (the
order in which a person would check a record: what kind of record, its message, protocol, action, addresses,
ports, time). Pure compute: the reader books the codes in the ledger (``Outcomes.account``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .azfw_text import read_messages
from .azfw_values import (ALERT, ICMP, INVALID, NAME_HOST, NAME_INVALID, NAME_IP, OBSERVED, PROTOCOL_NAMES,
                          UNKNOWN_ACTION, VALID, ABSENT, Meanings, action, address, blank, meaning, name, port,
                          protocol, truthy)
from ..engine.ledger import Outcomes

SKIPS = ("not_a_connection_log", "inbound_dnat", "idps_signature", "threat_intel_alert", "alert_only")
REJECTS = ("truncated_json", "record_too_large", "bad_json", "invalid_utf8", "not_an_object", "bad_field_count", "bad_csv",
           "unrecognised_record", "unrecognised_message", "missing_field", "unknown_protocol", "unknown_action",
           "invalid_ip", "invalid_fqdn", "invalid_port", "invalid_timestamp", "line_too_long")
OUTCOMES = Outcomes(SKIPS, REJECTS)

_TEXTS = frozenset({str, type(None)})
_LEGACY, _NETWORK, _APPLICATION, _THREAT_INTEL, _INFER = range(5)  # record kinds; a skip is 100 + its outcome
_NOT_A_CONNECTION = 100 + OUTCOMES["not_a_connection_log"]

_CATEGORY_KINDS: dict[str, int] = {
    "azurefirewallnetworkrule": _LEGACY,
    "azurefirewallapplicationrule": _LEGACY,
    "azurefirewallnatrule": 100 + OUTCOMES["inbound_dnat"],
    "azurefirewalldnsproxy": _NOT_A_CONNECTION,
    "azfwnetworkrule": _NETWORK,
    "azfwapplicationrule": _APPLICATION,
    "azfwthreatintel": _THREAT_INTEL,
    "azfwnatrule": 100 + OUTCOMES["inbound_dnat"],
    "azfwidpssignature": 100 + OUTCOMES["idps_signature"],
}
_OPERATION_SKIPS: dict[str, int] = {  # legacy operation names that say what the record is, whatever its category
    "azurefirewallnatrulelog": OUTCOMES["inbound_dnat"],
    "azurefirewallidslog": OUTCOMES["idps_signature"],
    "azurefirewalldnsproxylog": OUTCOMES["not_a_connection_log"],
}


@meaning(np.int16)
def category(value: object) -> tuple[int]:
    if blank(value):
        return (_INFER,)
    if value.__class__ is not str:
        return (_NOT_A_CONNECTION,)
    return (_CATEGORY_KINDS.get(value.strip().lower(), _NOT_A_CONNECTION),)  # type: ignore[attr-defined]


@meaning(np.int16)
def operation(value: object) -> tuple[int]:
    if value.__class__ is not str:
        return (0,)
    return (_OPERATION_SKIPS.get(value.strip().lower(), 0),)  # type: ignore[attr-defined]


_NS_FIRST, _NS_LAST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")


def _nanoseconds(parsed: pd.Series) -> pd.Series:
    """Parsed times as nanosecond times; one outside their range (before 1677 or after 2262, e.g. a bare
    ``"8443"`` read as a year) is no log time: NaT, so the record is rejected rather than the reading stopped."""
    return parsed.where((parsed >= _NS_FIRST) & (parsed <= _NS_LAST)).astype("datetime64[ns, UTC]")


def times(values: list) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Parsed UTC times (NaT when absent) and a mask of values present but not a time."""
    texts = [v if v.__class__ is str and v.strip() else None for v in values]
    if set(map(type, values)) <= _TEXTS:
        wrong_type = np.zeros(len(values), bool)
    else:
        wrong_type = np.fromiter((v is not None and v.__class__ is not str for v in values), bool, len(values))
    series = pd.Series(texts, dtype=object)
    parsed = _nanoseconds(pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce"))
    present = series.notna().to_numpy()
    retry = present & parsed.isna().to_numpy()
    if retry.any():  # e.g. the portal's CSV "3/1/2024, 12:30:01.500 PM"
        again = pd.to_datetime(series[retry], utc=True, format="mixed", errors="coerce")
        parsed[retry] = _nanoseconds(again)
    bad = wrong_type | (present & parsed.isna().to_numpy())
    return pd.DatetimeIndex(parsed), bad


def _text_column(column: pa.Array | list) -> pa.Array:
    if isinstance(column, pa.Array):
        return column
    return pa.array([v if v.__class__ is str else None for v in column], pa.string())


def decide(columns: list, meanings: Meanings, preset: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """The outcome code of every record of a block and the flow columns (Arrow arrays) of the records that are
    flows, in record order. ``preset`` holds codes already decided (records that could not be decoded)."""
    category_, operation_, time, msg, protocol_, src, sport, dst, dport, fqdn, action_, translated = columns
    n = len(time)
    of = meanings.of
    outcome = np.zeros(n, dtype=np.int16) if preset is None else preset.astype(np.int16)

    def check(mask: np.ndarray, reason: str | np.ndarray) -> None:
        chosen = (outcome == 0) & mask
        outcome[chosen] = OUTCOMES[reason] if isinstance(reason, str) else reason[chosen]

    # what kind of record: the operation name may say (legacy DNAT / IDS / DNS), else the category or table
    (said,) = of(operation_, operation)
    check(said > 0, said)
    (kind,) = of(category_, category)
    check(kind >= 100, kind - 100)
    text = _text_column(msg)
    has_msg = text.is_valid().to_numpy(zero_copy_only=False)
    (has_fqdn,), (has_dst,) = of(fqdn, truthy), of(dst, truthy)
    infer = kind == _INFER
    check(infer & ~has_msg & of(translated, truthy)[0], "inbound_dnat")
    kind = np.where(infer & has_msg, _LEGACY, kind)
    # no message where one belongs: a legacy category already split into fields is read as such
    kind = np.where((infer | (kind == _LEGACY)) & ~has_msg, np.where(has_fqdn, _APPLICATION,
                                                                     np.where(has_dst, _NETWORK, kind)), kind)
    check(infer & ~has_msg & ~has_fqdn & ~has_dst, "unrecognised_record")
    legacy = kind == _LEGACY
    check(legacy & ~has_msg, "missing_field")

    m = read_messages(text, legacy, has_msg, meanings)
    check(m.unrecognised, "unrecognised_message")
    check(legacy & m.dnat, "inbound_dnat")
    check(legacy & m.idps, "idps_signature")

    # structured records, then one set of columns for both kinds
    s_proto, s_default, s_named = of(protocol_, protocol)
    (s_action,) = of(action_, action)
    structured = ~legacy
    proto = np.where(legacy, m.proto, s_proto)
    default_port = np.where(legacy, m.default_port, s_default)
    named = np.where(legacy, m.named, s_named)
    verdict = np.where(legacy, m.action, s_action)
    check((verdict == ALERT) & (m.intel | (kind == _THREAT_INTEL)), "threat_intel_alert")
    check(verdict == ALERT, "alert_only")
    check(structured & (proto == -1), "missing_field")
    check(proto == -2, "unknown_protocol")
    check(verdict == UNKNOWN_ACTION, "unknown_action")

    s_src_state, s_src_text = of(src, address)
    src_state = np.where(legacy, m.src_state, s_src_state)
    check(src_state == INVALID, "invalid_ip")
    s_dst_state, s_dst_text = of(dst, address)
    dst_state = np.where(legacy, np.where(m.named, ABSENT, m.ip_state), s_dst_state)
    check(dst_state == INVALID, "invalid_ip")
    s_name_state, s_name_text = of(fqdn, name)
    name_state = np.where(legacy, np.where(m.named, m.name_state, ABSENT), s_name_state)
    check(name_state == NAME_INVALID, "invalid_fqdn")
    dst_text = np.where(legacy, m.ip_text, s_dst_text)
    name_text = np.where(legacy, m.name_text, s_name_text)
    dst_ip = np.where(dst_state == VALID, dst_text, np.where(name_state == NAME_IP, name_text, None))
    check((dst_state != VALID) & (name_state != NAME_IP) & ~named, "missing_field")

    (s_sport,), (s_dport,) = of(sport, port), of(dport, port)
    check(np.where(legacy, m.sport, s_sport) == -2, "invalid_port")
    icmp = proto == ICMP
    dst_port = np.where(legacy, m.dport, s_dport)
    check(~icmp & (dst_port == -2), "invalid_port")
    check(~icmp & (dst_port == -1) & (default_port < 0), "missing_field")
    when, bad_time = times(time.to_pylist() if isinstance(time, pa.Array) else time)
    check(bad_time, "invalid_timestamp")

    keep = np.flatnonzero(outcome == 0)
    if not len(keep):
        return outcome, {}
    dst_port = np.where(dst_port >= 0, dst_port, default_port)[keep].astype(np.int64)
    return outcome, {
        "ts": pa.array(when.take(keep)),
        "src_ip": pa.array(np.where(legacy, m.src_text, s_src_text)[keep], pa.string()),
        "dst_ip": pa.array(dst_ip[keep], pa.string()),
        "dst_port": pa.array(dst_port, pa.int64(), mask=icmp[keep]),
        "protocol": pa.array(PROTOCOL_NAMES[proto[keep]], pa.string()),
        "fqdn": pa.array(np.where(name_state == NAME_HOST, name_text, None)[keep], pa.string()),
        # network-rule hits never carry the host name (only application rules see SNI / Host)
        "name_logged": pa.array(named[keep], pa.bool_()),
        "observed_action": pa.array(OBSERVED[verdict[keep]], pa.string()),
    }
