"""The ledger every reader keeps: each record read is a flow, a skip (with its reason) or a reject (with its
reason, its place and a sample of its text), so that ``read = flows + skipped + rejected`` holds for every
replay, and ``--strict`` stops at the first reject, naming its place."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...base import limits
from ...base.errors import FlowInputError
from .files import LogFile, LongLineHandler


SAMPLES_PER_REASON = 20


class StrictInputError(FlowInputError):
    """``--strict``: the first bad record stops the replay; the message names the file and line or offset."""


@dataclass
class Sample:
    reason: str
    where: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "where": self.where, "record": self.text}


@dataclass
class RecordLedger:
    """Counts of records read, skipped and rejected (by reason), with a few samples of each rejection."""

    strict: bool = False
    records_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)  # problems that are not records (a companion's bad line)
    note_samples: list[Sample] = field(default_factory=list)  # a few of each note's values, as the log had them
    _sampled: Counter = field(default_factory=Counter, repr=False)  # samples kept per reason

    def read(self, n: int = 1) -> None:
        self.records_read += n

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def reject(self, reason: str, where: str, text: str = "", n: int = 1) -> None:
        if self.strict:
            raise StrictInputError(f"{where}: {reason.replace('_', ' ')}{': ' + _clip(text) if text else ''}")
        self.rejected[reason] += n
        if self._sampled[reason] < SAMPLES_PER_REASON:
            self._sampled[reason] += 1
            self.samples.append(Sample(reason, where, _clip(text, 2000)))

    def sample_room(self, reason: str) -> int:
        """How many more samples of ``reason`` the ledger keeps."""
        return max(0, SAMPLES_PER_REASON - self._sampled[reason])

    def count_rejects(self, reason: str, n: int) -> None:
        """``n`` rejects of ``reason`` counted without samples (the ledger has its samples of that reason)."""
        if self.strict and n:
            raise StrictInputError(f"{reason.replace('_', ' ')} (a record not sampled)")
        self.rejected[reason] += n

    def note(self, what: str, n: int = 1, where: str = "", texts: list[str] = ()) -> None:
        """Something worth telling that is not a record: it does not enter the totals. ``texts``: values that show
        it (a few kept per note, for the report)."""
        self.notes[what] += n
        room = SAMPLES_PER_REASON - sum(1 for s in self.note_samples if s.reason == what)
        self.note_samples.extend(Sample(what, where, _clip(t, 2000)) for t in list(texts)[:max(room, 0)])

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())


def rejects_long_lines(log: LogFile, ledger: RecordLedger) -> LongLineHandler:
    """A ``long_lines`` handler for a reader whose lines are records: each over-long line is one record, read and
    rejected as ``line_too_long`` at ``file:line``."""

    def reject(line: int, head: bytes) -> None:
        ledger.read()
        ledger.reject("line_too_long", f"{log.name}:{line}",
                      f"over {limits.MAX_LINE_BYTES:,} bytes: {head.decode('utf-8', 'replace')}...")

    return reject


def _clip(text: str, limit: int = 200) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


class Outcomes:
    """A format's outcome vocabulary in check order: code 0 is a flow, then its skip reasons, then its reject
    reasons. A format's kernels give every record of a block one code (the first check that fails names it),
    and ``account`` books the whole block in the ledger at once, touching Python only for the few rows it keeps
    as samples."""

    FLOW = 0

    def __init__(self, skips: tuple[str, ...], rejects: tuple[str, ...]):
        self.names = ("", *skips, *rejects)
        self.first_reject = 1 + len(skips)
        self._codes = {name: code for code, name in enumerate(self.names)}

    def __getitem__(self, name: str) -> int:
        return self._codes[name]

    def account(self, ledger: RecordLedger, codes: np.ndarray, where: Callable[[int], str],
                text: Callable[[int], str]) -> np.ndarray:
        """Book ``len(codes)`` records: read, and each skip and reject counted under its reason; ``where(i)`` and
        ``text(i)`` of row ``i`` are asked only for the rows sampled. Under ``--strict`` the first reject in row
        order raises. Returns the mask of the rows that are flows."""
        ledger.read(len(codes))
        counts = np.bincount(codes, minlength=len(self.names))
        for code in range(1, self.first_reject):
            if counts[code]:
                ledger.skip(self.names[code], int(counts[code]))
        if counts[self.first_reject:].any():
            self._rejects(ledger, codes, counts, where, text)
        return codes == self.FLOW

    def _rejects(self, ledger: RecordLedger, codes: np.ndarray, counts: np.ndarray, where: Callable[[int], str],
                 text: Callable[[int], str]) -> None:
        rejected = np.flatnonzero(codes >= self.first_reject)
        if ledger.strict:
            i = int(rejected[0])
            ledger.reject(self.names[codes[i]], where(i), text(i))
        sampled: list[int] = []  # rows kept as samples, per reason the first ones, then in row order
        for code in np.flatnonzero(counts[self.first_reject:]) + self.first_reject:
            room = ledger.sample_room(self.names[code])
            if room:
                sampled.extend(rejected[codes[rejected] == code][:room].tolist())
        for i in sorted(sampled):
            ledger.reject(self.names[codes[i]], where(i), text(i))
        for code in np.flatnonzero(counts[self.first_reject:]) + self.first_reject:
            rest = int(counts[code]) - sum(1 for i in sampled if codes[i] == code)
            if rest:
                ledger.count_rejects(self.names[code], rest)
