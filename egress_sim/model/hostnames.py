"""Host names and the FQDN patterns of FQDN rules, with Azure Firewall's matching semantics (spec §8).

A host name is compared in one canonical form: lower case, one trailing dot removed, internationalized labels
in punycode (IDNA), no empty labels. A pattern has at most one ``*`` and only as its leftmost character:

========== ====================================================================
``x.com``   exactly ``x.com``
``*.x.com`` any name ending in ``.x.com``, at any depth; **not** ``x.com`` itself
``*x.com``  any name ending in the string ``x.com``: ``x.com``, ``a.x.com`` and look-alikes like ``evilx.com``
``*``       every name
========== ====================================================================

These are exactly the semantics of shell-style globbing with a single leading ``*``, which the reference
evaluator relies on (``fnmatch.fnmatchcase(host, pattern.text)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ..base.errors import ModelError

_LABEL_CHARS = re.compile(r"^[a-z0-9_-]+$")
_PLAIN_HOST = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")  # the common case, checked in one match
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63


def normalize_host(text: object) -> str:
    """Return the canonical form of a host name, or raise ``ModelError`` saying what is wrong with it."""
    if not isinstance(text, str):
        raise ModelError(f"host name {text!r} is not a string")
    host = text.strip().lower()
    if host.endswith("."):
        host = host[:-1]
    if len(host) <= MAX_HOST_LENGTH and _PLAIN_HOST.fullmatch(host):
        return host
    if host == "":
        raise ModelError(f"host name {text!r} is empty")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ModelError(f"host name {text!r} is not a valid internationalized name ({exc})") from None
    if len(host) > MAX_HOST_LENGTH:
        raise ModelError(f"host name {text!r} is longer than {MAX_HOST_LENGTH} characters")
    for label in host.split("."):
        if label == "":
            raise ModelError(f"host name {text!r} has an empty label")
        if len(label) > MAX_LABEL_LENGTH:
            raise ModelError(f"host name {text!r} has a label longer than {MAX_LABEL_LENGTH} characters")
        if not _LABEL_CHARS.fullmatch(label):
            raise ModelError(f"host name {text!r} has a character that is not allowed in {label!r}")
    return host


def try_normalize_host(text: object) -> str | None:
    """``normalize_host`` that returns None instead of raising (for bulk use on flow data)."""
    try:
        return normalize_host(text)
    except ModelError:
        return None


class PatternKind(Enum):
    EXACT = "exact"  # x.com
    SUBDOMAINS = "subdomains"  # *.x.com
    SUFFIX = "suffix"  # *x.com (no dot after the star): also matches look-alikes
    ANY = "any"  # *


@dataclass(frozen=True, slots=True)
class FqdnPattern:
    """One normalized FQDN pattern. ``suffix`` is the part after the ``*`` (the whole name for EXACT)."""

    kind: PatternKind
    suffix: str

    @classmethod
    def parse(cls, text: object) -> "FqdnPattern":
        if not isinstance(text, str) or text.strip() == "":
            raise ModelError(f"FQDN {text!r} is empty")
        raw = text.strip()
        if "*" in raw[1:]:
            raise ModelError(f"FQDN {raw!r}: a wildcard is only allowed as the leftmost character")
        if raw == "*":
            return cls(PatternKind.ANY, "")
        if raw.startswith("*."):
            return cls(PatternKind.SUBDOMAINS, _normalize_part(raw[2:], raw))
        if raw.startswith("*"):
            rest = raw[1:]
            if rest.startswith("."):  # unreachable (handled above); kept for clarity
                raise ModelError(f"FQDN {raw!r} is malformed")
            if not rest.isascii():
                raise ModelError(f"FQDN {raw!r}: write a '*x' pattern's internationalized part in punycode")
            # "*x.com": validate "x.com" as the tail of some host name ("a" + rest must be a host)
            tail = _normalize_part("a" + rest, raw)[1:]
            return cls(PatternKind.SUFFIX, tail)
        return cls(PatternKind.EXACT, _normalize_part(raw, raw))

    @property
    def text(self) -> str:
        """Canonical text; also a valid ``fnmatch`` pattern with the same meaning."""
        return {
            PatternKind.EXACT: self.suffix,
            PatternKind.SUBDOMAINS: "*." + self.suffix,
            PatternKind.SUFFIX: "*" + self.suffix,
            PatternKind.ANY: "*",
        }[self.kind]

    @property
    def is_wildcard(self) -> bool:
        return self.kind is not PatternKind.EXACT

    def matches(self, host: str) -> bool:
        """Whether a *normalized* host name matches (string rules, see the module docstring)."""
        if self.kind is PatternKind.EXACT:
            return host == self.suffix
        if self.kind is PatternKind.SUBDOMAINS:
            return host.endswith("." + self.suffix)
        if self.kind is PatternKind.SUFFIX:
            return host.endswith(self.suffix)
        return True

    def __str__(self) -> str:
        return self.text


def _normalize_part(part: str, whole: str) -> str:
    try:
        return normalize_host(part)
    except ModelError as exc:
        raise ModelError(f"FQDN {whole!r} is not a valid host name: {str(exc).split(': ', 1)[-1]}") from None


def parse_fqdn_list(text: object) -> tuple[FqdnPattern, ...]:
    """An FQDN rule's destination may list several names: ``"pytorch.org, *.pytorch.org"`` (spec §10)."""
    if not isinstance(text, str) or text.strip() == "":
        raise ModelError(f"FQDN destination {text!r} is empty")
    return tuple(FqdnPattern.parse(piece) for piece in text.split(","))
