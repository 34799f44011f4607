"""The per-flow decision, compiled with numba: spec §9's order as a chain of ``if`` statements, one flow at a time.

``evaluate.py`` does the work per *unique* value first (which rules cover each distinct destination address,
which rules match each distinct host name); this loop then reads those answers through each flow's codes and
ANDs in the flow's port and protocol. One pass over the flows, no temporary arrays, a few bytes read per flow:
numpy's mask-per-step version of the same decision made ~30 passes over memory and ran ~13x slower
(``benchmarks/README.md``).

Every array has a fixed dtype (see ``decide``) so numba compiles one specialisation, cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

from ..ruletable.compile import HostQuestion
from ..flows.verdicts import Reason

# Isolation modes as the kernel sees them.
MODE_DISABLED, MODE_INTERNET, MODE_APPROVED = 0, 1, 2

# Columns of the per-host answers, as plain ints for numba.
_FQDN_ACTIVE, _FQDN_INACTIVE = int(HostQuestion.FQDN_ACTIVE), int(HostQuestion.FQDN_INACTIVE)
_PE_ACTIVE, _PE_ACTIVE_SPARK = int(HostQuestion.PE_ACTIVE), int(HostQuestion.PE_ACTIVE_SPARK)
_PE_INACTIVE, _PE_INACTIVE_SPARK = int(HostQuestion.PE_INACTIVE), int(HostQuestion.PE_INACTIVE_SPARK)
_STORAGE = int(HostQuestion.STORAGE)

_NOT_ISOLATED = Reason.NOT_ISOLATED.value
_UNSUPPORTED_COMPUTE = Reason.UNSUPPORTED_COMPUTE.value
_NETWORK_NOT_PROVISIONED = Reason.NETWORK_NOT_PROVISIONED.value
_SPARK_NOT_PROVISIONED = Reason.SPARK_NOT_PROVISIONED.value
_PRIVATE_ENDPOINT = Reason.PRIVATE_ENDPOINT.value
_INTERNET_OUTBOUND = Reason.INTERNET_OUTBOUND.value
_SERVICE_TAG = Reason.SERVICE_TAG.value
_NAME_NOT_LOGGED = Reason.NAME_NOT_LOGGED.value
_NO_SNI = Reason.NO_SNI.value
_STORAGE_REQUIRES_PE = Reason.STORAGE_REQUIRES_PE.value
_FQDN = Reason.FQDN.value
_PE_NOT_SPARK_ENABLED = Reason.PE_NOT_SPARK_ENABLED.value
_SPARK_FQDN_IGNORED = Reason.SPARK_FQDN_IGNORED.value
_RULE_INACTIVE = Reason.RULE_INACTIVE.value
_DEFAULT_DENY = Reason.DEFAULT_DENY.value

# Lowest set bit of a 64-bit word by de Bruijn multiplication (no count-trailing-zeros intrinsic in numba).
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_POSITION = np.zeros(64, dtype=np.int32)
for _bit in range(64):
    _DEBRUIJN_POSITION[((1 << _bit) * 0x03F79D71B4CB0A89 & (2**64 - 1)) >> 58] = _bit


@numba.njit(cache=True, nogil=True)
def _lowest_bit(word):
    """Index of the lowest set bit of a non-zero uint64."""
    lowest = word & (~word + np.uint64(1))
    return _DEBRUIJN_POSITION[(lowest * _DEBRUIJN) >> np.uint64(58)]


@numba.njit(cache=True, nogil=True)
def _first_tag(dest_tags, dest, port_masks, port, protocol_masks, protocol, ported, tag_active, want_active):
    """First service-tag rule (active or inactive ones) covering the destination, port and protocol; -1: none."""
    for word in range(dest_tags.shape[1]):
        candidates = dest_tags[dest, word] & protocol_masks[protocol, word]
        if ported:
            candidates &= port_masks[port, word]
        candidates &= tag_active[word] if want_active else ~tag_active[word]
        if candidates != np.uint64(0):
            return 64 * word + _lowest_bit(candidates)
    return -1


@numba.njit(cache=True, nogil=True)
def decide(
    # per flow
    reject, compute, protocol, port, dest, host, name_logged,
    # per unique destination address / host name
    dest_tags, dest_endpoint, host_answers,
    # the rule table
    port_masks, protocol_masks, tag_active, pe_active, pe_spark, unsupported_compute, provisions_network,
    # the workspace and the codes of the flow schema
    mode, provisioned, spark_ready, has_firewall, spark_code, tcp_code, icmp_code,
    pe_offset, tag_offset, fqdn_offset,
    # out
    reason, rule,
):
    """Fill ``reason`` (uint8) and ``rule`` (int32, -1 none) for every flow, in the spec's decision order.

    Per flow: ``reject`` uint8 (a rejection reason, 0 when valid), ``compute``/``protocol`` int8 codes,
    ``port`` int32, ``dest``/``host`` int32 codes into the unique tables (-1: none), ``name_logged`` bool.
    ``dest_tags`` (uniques, W) uint64: the service-tag rules whose prefixes hold the address;
    ``dest_endpoint`` int32: the private endpoint owning the address (-1); ``host_answers`` (uniques, 7)
    int32: the first rule per HostQuestion (-1).
    """
    for i in range(reject.shape[0]):
        rule[i] = -1
        if reject[i] != 0:
            reason[i] = reject[i]
            continue
        if mode == MODE_DISABLED:
            reason[i] = _NOT_ISOLATED
            continue
        c = compute[i]
        if unsupported_compute[c]:
            reason[i] = _UNSUPPORTED_COMPUTE
            continue
        if not provisioned and not provisions_network[c]:
            reason[i] = _NETWORK_NOT_PROVISIONED
            continue
        spark = c == spark_code
        if spark and not spark_ready:
            reason[i] = _SPARK_NOT_PROVISIONED
            continue

        # 2. private endpoints: by host name when the flow has one, else by the endpoint's private address
        h, d = host[i], dest[i]
        pe_a = pe_as = pe_i = pe_is = -1
        fq_a = fq_i = -1
        storage = False
        if h >= 0:
            pe_a, pe_as = host_answers[h, _PE_ACTIVE], host_answers[h, _PE_ACTIVE_SPARK]
            pe_i, pe_is = host_answers[h, _PE_INACTIVE], host_answers[h, _PE_INACTIVE_SPARK]
            fq_a, fq_i = host_answers[h, _FQDN_ACTIVE], host_answers[h, _FQDN_INACTIVE]
            storage = host_answers[h, _STORAGE] >= 0
        elif d >= 0 and dest_endpoint[d] >= 0:
            e = dest_endpoint[d]
            if pe_active[e]:
                pe_a = e
                if pe_spark[e]:
                    pe_as = e
            else:
                pe_i = e
                if pe_spark[e]:
                    pe_is = e
        allowed_pe = pe_as if spark else pe_a
        if allowed_pe >= 0:
            reason[i] = _PRIVATE_ENDPOINT
            rule[i] = allowed_pe + pe_offset
            continue

        # 3. internet outbound
        if mode == MODE_INTERNET:
            reason[i] = _INTERNET_OUTBOUND
            continue

        # 4. service tags
        p, port_i = protocol[i], port[i]
        tag_a = tag_i = -1
        if d >= 0:
            ported = p != icmp_code
            tag_a = _first_tag(dest_tags, d, port_masks, port_i, protocol_masks, p, ported, tag_active, True)
            if tag_a >= 0:
                reason[i] = _SERVICE_TAG
                rule[i] = tag_a + tag_offset
                continue
            tag_i = _first_tag(dest_tags, d, port_masks, port_i, protocol_masks, p, ported, tag_active, False)

        # 5. FQDN rules (application rules): TCP 80/443 through the firewall, never for Spark
        web = has_firewall and p == tcp_code and (port_i == 80 or port_i == 443)
        app = web and not spark
        if app and h < 0:
            if not name_logged[i]:
                reason[i] = _NAME_NOT_LOGGED
                continue
            if port_i == 443:
                reason[i] = _NO_SNI
                continue
        if app and fq_a >= 0:
            reason[i] = _STORAGE_REQUIRES_PE if storage else _FQDN
            rule[i] = fq_a + fqdn_offset
            continue

        # 6. denied: say why as precisely as the rules allow
        if spark and pe_a >= 0:
            reason[i] = _PE_NOT_SPARK_ENABLED
            rule[i] = pe_a + pe_offset
        elif spark and web and fq_a >= 0:
            reason[i] = _SPARK_FQDN_IGNORED
            rule[i] = fq_a + fqdn_offset
        elif (pe_is if spark else pe_i) >= 0:
            reason[i] = _RULE_INACTIVE
            rule[i] = (pe_is if spark else pe_i) + pe_offset
        elif tag_i >= 0:
            reason[i] = _RULE_INACTIVE
            rule[i] = tag_i + tag_offset
        elif app and fq_i >= 0 and not storage:
            reason[i] = _RULE_INACTIVE
            rule[i] = fq_i + fqdn_offset
        else:
            reason[i] = _DEFAULT_DENY
