"""Which isolation-mode changes Azure accepts (spec §1), in one place for ``validate --from`` and ``plan``.

Once a managed network is on, it cannot be turned off, and approved-only outbound cannot go back to internet
outbound. The docs disagree about internet outbound → approved-only: the general note allows it, the serverless
Spark page says no. The simulator allows it and says so (a ``doc_conflict`` note).
"""

from __future__ import annotations

from dataclasses import dataclass

from .enums import IsolationMode

AIO = IsolationMode.ALLOW_INTERNET_OUTBOUND
AOAO = IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
DISABLED = IsolationMode.DISABLED

# spec §1: once isolated, never back to disabled; approved-only never back to internet outbound.
FORBIDDEN_TRANSITIONS = frozenset({(AIO, DISABLED), (AOAO, DISABLED), (AOAO, AIO)})


@dataclass(frozen=True, slots=True)
class ModeTransition:
    """A change of isolation mode, whether Azure accepts it, and why.

    ``code``: ``mode_transition`` when refused, ``doc_conflict`` for the change the docs disagree about, else
    None. ``message`` says what happens in the project's words; ``why`` cites the spec fact behind it."""

    old: IsolationMode
    new: IsolationMode
    allowed: bool
    code: str | None
    message: str
    why: str

    @property
    def changed(self) -> bool:
        return self.old is not self.new

    @property
    def turns_isolation_on(self) -> bool:
        return self.old is DISABLED and self.new.is_isolated


def mode_transition(old: IsolationMode, new: IsolationMode) -> ModeTransition:
    """What Azure does with a change from ``old`` to ``new`` (spec §1)."""
    if (old, new) in FORBIDDEN_TRANSITIONS:
        reason = ("managed network isolation cannot be turned off once enabled" if new is DISABLED
                  else "approved-only outbound cannot go back to internet outbound")
        why = ("spec §1: once enabled (allow_internet_outbound or allow_only_approved_outbound), the managed network "
               "cannot go back to disabled" if new is DISABLED
               else "spec §1: allow_only_approved_outbound cannot be changed back to allow_internet_outbound")
        return ModeTransition(old, new, False, "mode_transition",
                              f"isolation mode cannot change from {old.yaml} to {new.yaml}: {reason}", why)
    if (old, new) == (AIO, AOAO):
        return ModeTransition(
            old, new, True, "doc_conflict",
            "changing allow_internet_outbound to allow_only_approved_outbound is allowed by the general docs, "
            "but the serverless Spark docs say it is not",
            "spec §1: the general note forbids only going back to disabled and approved-only to internet outbound; "
            "the serverless Spark page says a workspace created with allow_internet_outbound cannot be changed "
            "to allow_only_approved_outbound")
    if old is new:
        return ModeTransition(old, new, True, None, f"isolation mode stays {new.yaml}", "no change of isolation mode")
    return ModeTransition(old, new, True, None, f"isolation mode changes from {old.yaml} to {new.yaml}: allowed",
                          "spec §1: a workspace without a managed network may turn it on in either mode")
