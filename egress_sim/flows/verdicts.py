"""Verdicts and the reason codes that explain them.

Every flow gets exactly one reason; the reason fixes the verdict (``allow``, ``deny``, or ``rejected`` for a
row that could not be evaluated). Codes are small integers so the evaluator can work on ``int8`` arrays.
"""

from __future__ import annotations

from enum import IntEnum


class Verdict(IntEnum):
    ALLOW = 0
    DENY = 1
    REJECTED = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Reason(IntEnum):
    # allowed
    NOT_ISOLATED = 0  # isolation mode disabled: no managed network (spec §1)
    PRIVATE_ENDPOINT = 1  # the destination resolves to an active private endpoint (spec §9.2)
    INTERNET_OUTBOUND = 2  # allow_internet_outbound (spec §9.3)
    SERVICE_TAG = 3  # a service-tag rule, required or user (spec §9.4)
    FQDN = 4  # an FQDN rule on TCP 80/443 (spec §9.5)
    # denied
    DEFAULT_DENY = 10  # nothing allows it (spec §9.6)
    NO_SNI = 11  # HTTPS with no SNI: the firewall cannot match FQDN rules (spec §8)
    STORAGE_REQUIRES_PE = 13  # an FQDN rule matched a storage account; storage needs a private endpoint (spec §4)
    SPARK_NOT_PROVISIONED = 14  # serverless Spark while the network was provisioned without Spark (spec §5)
    SPARK_FQDN_IGNORED = 15  # an FQDN rule would allow it, but FQDN rules do not apply to Spark (spec §4)
    PE_NOT_SPARK_ENABLED = 16  # a private endpoint exists, but not with spark_enabled (spec §4)
    RULE_INACTIVE = 17  # only a rule whose status is not Active would allow it (spec §5)
    NETWORK_NOT_PROVISIONED = 18  # serverless/online endpoint before the network is provisioned (spec §5)
    NAME_NOT_LOGGED = 19  # TCP 80/443 whose host name the log does not record: only an FQDN rule could allow it
    # rejected: the row could not be evaluated
    UNSUPPORTED_COMPUTE = 20  # Kubernetes / attached VM in an isolated network (spec §6)
    MISSING_COMPUTE_TYPE = 21
    INVALID_COMPUTE_TYPE = 22
    MISSING_PROTOCOL = 23
    INVALID_PROTOCOL = 24
    MISSING_DST_PORT = 25
    INVALID_DST_PORT = 26
    INVALID_DST_IP = 27
    INVALID_FQDN = 28
    MISSING_DESTINATION = 29  # neither dst_ip nor fqdn
    UNKNOWN_SOURCE = 30  # a replayed log's source address is in no compute inventory entry (never guessed)
    BAD_FIELD_COUNT = 31  # a CSV line that is not one row of the header's width (an extra or a missing field)

    @property
    def code(self) -> str:
        return self.name.lower()

    @property
    def verdict(self) -> Verdict:
        if self.value < 10:
            return Verdict.ALLOW
        if self.value < 20:
            return Verdict.DENY
        return Verdict.REJECTED


REASONS: tuple[Reason, ...] = tuple(Reason)
