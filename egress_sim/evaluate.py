"""The vectorized evaluator: ``RuleTable × FlowBatch → Verdicts``, one verdict per flow (spec §9).

It follows the spec's decision order as a sequence of masks: each step decides the flows still undecided
that it covers, with a reason and the deciding rule. Matching costly things (host names) is done once per
*unique* value and broadcast back; service-tag matching is an interval look-up ANDed with port and protocol
bitmasks. No Python loop runs over flows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .compile import RuleTable, is_storage_host
from .flows.schema import COMPUTE_TYPES, PROTOCOLS, FlowBatch, take_by_code
from .hostindex import NO_MATCH
from .model import ComputeType, IsolationMode, Protocol
from .verdicts import REASONS, Reason, Verdict

_UNSUPPORTED = np.array([not c.supports_managed_network for c in COMPUTE_TYPES])
_PROVISIONS = np.array([c.provisions_network for c in COMPUTE_TYPES])
_SPARK = COMPUTE_TYPES.index(ComputeType.SERVERLESS_SPARK)
_TCP, _ICMP = PROTOCOLS.index(Protocol.TCP), PROTOCOLS.index(Protocol.ICMP)
_VERDICT_OF = np.zeros(max(r.value for r in REASONS) + 1, dtype=np.uint8)
for _r in REASONS:
    _VERDICT_OF[_r.value] = _r.verdict.value
VERDICT_LABELS = [v.label for v in Verdict]
REASON_LABELS = [r.code for r in REASONS]


@dataclass(frozen=True)
class Verdicts:
    """Per flow: a ``Reason`` code and the index of the deciding rule in ``rule_names`` (-1: none)."""

    reason: np.ndarray  # uint8
    rule: np.ndarray  # int32
    rule_names: tuple[str, ...]

    @property
    def verdict(self) -> np.ndarray:
        return _VERDICT_OF[self.reason]

    def __len__(self) -> int:
        return len(self.reason)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``verdict``, ``reason`` (categoricals) and ``rule`` (the rule's name, or missing)."""
        reason_cat = pd.Categorical.from_codes(
            np.searchsorted([r.value for r in REASONS], self.reason), categories=REASON_LABELS
        )
        verdict_cat = pd.Categorical.from_codes(self.verdict.astype(np.int8), categories=VERDICT_LABELS)
        names = np.array([*self.rule_names, None], dtype=object)
        rule = names[np.where(self.rule < 0, len(self.rule_names), self.rule)]
        return pd.DataFrame({"verdict": verdict_cat, "reason": reason_cat, "rule": pd.array(rule, dtype="string")})


def evaluate(table: RuleTable, batch: FlowBatch) -> Verdicts:
    n = batch.n
    reason = np.full(n, Reason.DEFAULT_DENY.value, dtype=np.uint8)
    rule = np.full(n, -1, dtype=np.int32)
    undecided = batch.reject == 0
    reason[~undecided] = batch.reject[~undecided]

    def decide(mask: np.ndarray | bool, why: Reason, rules: np.ndarray | None = None, offset: int = 0) -> None:
        take = undecided & mask
        reason[take] = why.value
        if rules is not None:
            rule[take] = rules[take] + offset
        undecided[take] = False

    eff = table.effective
    done = lambda: Verdicts(reason, rule, table.rule_names)  # noqa: E731
    if eff.mode is IsolationMode.DISABLED:
        decide(True, Reason.NOT_ISOLATED)
        return done()

    compute = np.where(undecided, batch.compute, 0)
    decide(_UNSUPPORTED[compute], Reason.UNSUPPORTED_COMPUTE)
    if not eff.provisioned:
        decide(~_PROVISIONS[compute], Reason.NETWORK_NOT_PROVISIONED)
    spark = compute == _SPARK
    if not eff.spark_ready:
        decide(spark, Reason.SPARK_NOT_PROVISIONED)

    # 2. private endpoints: by host name when the flow has one, else by the endpoint's private address
    has_host = batch.host_code >= 0
    pe_first = _private_endpoint_matches(table, batch, has_host)
    pe_allowed = np.where(spark, pe_first["active_spark"], pe_first["active"])
    decide(pe_allowed >= 0, Reason.PRIVATE_ENDPOINT, pe_allowed, table.pe_offset)

    # 3. internet outbound
    if eff.mode is IsolationMode.ALLOW_INTERNET_OUTBOUND:
        decide(True, Reason.INTERNET_OUTBOUND)
        return done()

    # 4. service tags
    protocol = np.where(undecided, batch.protocol, _TCP)
    tag_active, tag_inactive = _service_tag_matches(table, batch, undecided, protocol)
    decide(tag_active >= 0, Reason.SERVICE_TAG, tag_active, table.tag_offset)

    # 5. FQDN rules (application rules): TCP 80/443 through the firewall, never for Spark
    port = batch.port
    web = (protocol == _TCP) & ((port == 80) | (port == 443)) & eff.has_firewall
    fq_active = take_by_code(table.fqdn_active.first_many(batch.hosts), batch.host_code, NO_MATCH)
    fq_inactive = take_by_code(table.fqdn_inactive.first_many(batch.hosts), batch.host_code, NO_MATCH)
    storage = take_by_code(np.fromiter((is_storage_host(h) for h in batch.hosts), bool, len(batch.hosts)), batch.host_code, False)
    app = web & ~spark
    decide(app & ~has_host & ~batch.name_logged, Reason.NAME_NOT_LOGGED)
    decide(app & ~has_host & (port == 443), Reason.NO_SNI)
    decide(app & (fq_active >= 0) & storage, Reason.STORAGE_REQUIRES_PE, fq_active, table.fqdn_offset)
    decide(app & (fq_active >= 0), Reason.FQDN, fq_active, table.fqdn_offset)

    # 6. denied: say why as precisely as the rules allow
    decide(spark & (pe_first["active"] >= 0), Reason.PE_NOT_SPARK_ENABLED, pe_first["active"], table.pe_offset)
    decide(spark & web & (fq_active >= 0), Reason.SPARK_FQDN_IGNORED, fq_active, table.fqdn_offset)
    pe_inactive = np.where(spark, pe_first["inactive_spark"], pe_first["inactive"])
    decide(pe_inactive >= 0, Reason.RULE_INACTIVE, pe_inactive, table.pe_offset)
    decide(tag_inactive >= 0, Reason.RULE_INACTIVE, tag_inactive, table.tag_offset)
    decide(app & (fq_inactive >= 0) & ~storage, Reason.RULE_INACTIVE, fq_inactive, table.fqdn_offset)
    return done()  # what is left keeps DEFAULT_DENY


def _private_endpoint_matches(table: RuleTable, batch: FlowBatch, has_host: np.ndarray) -> dict[str, np.ndarray]:
    """First matching private endpoint per flow, for each of the four questions the decision asks."""
    indexes = {
        "active": table.pe_active,
        "active_spark": table.pe_active_spark,
        "inactive": table.pe_inactive,
        "inactive_spark": table.pe_inactive_spark,
    }
    out = {key: take_by_code(index.first_many(batch.hosts), batch.host_code, NO_MATCH) for key, index in indexes.items()}
    if len(table.pe_ips):
        by_ip = ~has_host & (batch.ip_version == 4)
        pos = np.minimum(np.searchsorted(table.pe_ips, batch.ip_lo), len(table.pe_ips) - 1)
        hit = by_ip & (table.pe_ips[pos] == batch.ip_lo)
        endpoint = table.pe_ip_rule[pos]
        active = table.pe_active_flags[endpoint]
        spark_ok = table.pe_spark_flags[endpoint]
        for key, condition in (
            ("active", hit & active),
            ("active_spark", hit & active & spark_ok),
            ("inactive", hit & ~active),
            ("inactive_spark", hit & ~active & spark_ok),
        ):
            out[key] = np.where(condition, endpoint, out[key])
    return out


def _service_tag_matches(
    table: RuleTable, batch: FlowBatch, undecided: np.ndarray, protocol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First active and first inactive service-tag rule matching each flow (-1: none)."""
    n, words = batch.n, table.words
    if not table.effective.service_tags:
        none = np.full(n, -1, dtype=np.int32)
        return none, none
    candidates = np.zeros((n, words), dtype=np.uint64)
    for version, intervals in ((4, table.ipv4), (6, table.ipv6)):
        rows = np.flatnonzero(undecided & (batch.ip_version == version))
        if rows.size:
            candidates[rows] = intervals.masks[intervals.lookup(batch.ip_hi[rows], batch.ip_lo[rows])]
    candidates &= table.protocol_masks[protocol]
    ported = np.flatnonzero(protocol != _ICMP)
    candidates[ported] &= table.port_masks[batch.port[ported]]
    return _first_bit(candidates & table.tag_active), _first_bit(candidates & ~table.tag_active)


def _first_bit(masks: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit across the words of each row, -1 for an all-zero row."""
    out = np.full(masks.shape[0], -1, dtype=np.int32)
    for word in reversed(range(masks.shape[1])):
        column = masks[:, word]
        nonzero = np.flatnonzero(column)
        if nonzero.size:
            values = column[nonzero]
            lowest = values & (~values + np.uint64(1))
            out[nonzero] = np.log2(lowest.astype(np.float64)).astype(np.int32) + 64 * word
    return out


def evaluate_frame(
    table: RuleTable, frame: pd.DataFrame, default_compute: ComputeType | str | None = None
) -> pd.DataFrame:
    """The input rows, in order, with ``verdict``, ``reason`` and ``rule`` columns added."""
    return with_verdicts(frame, evaluate(table, FlowBatch.from_frame(frame, default_compute)).to_frame())


def with_verdicts(frame: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the verdict columns of ``added`` (row for row) replacing any it already had."""
    added = added.set_axis(frame.index)
    return pd.concat([frame.drop(columns=[c for c in added.columns if c in frame.columns]), added], axis=1)
