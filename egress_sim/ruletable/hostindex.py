"""A compiled index of FQDN patterns that answers several questions about a host name in one pass.

The evaluator asks up to seven questions of every unique host name (first active FQDN rule, first inactive
one, first private endpoint of each kind, is it a storage host); each question is a list of
(pattern, rule order) entries and its answer is the lowest order among the matching patterns, i.e. the first
rule in evaluation order. All questions share one set of keys, so a host costs one dict look-up per label
boundary however many questions are asked:

* exact names: one look-up of the whole host;
* ``*.x`` patterns: one look-up per label count that some key has (with keys of 2 and 4 labels,
  ``a.b.x.com`` tries ``x.com`` and ``a.b.x.com``'s last four labels only if it has more than four);
* ``*x`` patterns: one look-up per distinct suffix length;
* ``*``: matches everything.

Each key owns a row of answers (one per question); a host's answers are the element-wise minimum over the
rows it hits, taken with numpy over all hosts at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..model.hostnames import FqdnPattern, PatternKind

NO_MATCH = -1
_NONE = np.iinfo(np.int32).max  # "no rule" while taking minima


class HostIndex:
    def __init__(self, questions: Sequence[Iterable[tuple[FqdnPattern, int]]]):
        """``questions[q]``: the (pattern, rule order) entries of question ``q``; a lower order wins."""
        self.n_questions = len(questions)
        self.exact: dict[str, int] = {}  # key -> row of self._answers
        self.subdomains: dict[str, int] = {}
        self.suffixes: dict[int, dict[str, int]] = {}
        rows: list[list[int]] = []
        any_row = [_NONE] * self.n_questions

        def row_of(table: dict[str, int], key: str) -> list[int]:
            if key not in table:
                table[key] = len(rows)
                rows.append([_NONE] * self.n_questions)
            return rows[table[key]]

        for q, entries in enumerate(questions):
            for pattern, order in entries:
                if pattern.kind is PatternKind.EXACT:
                    row = row_of(self.exact, pattern.suffix)
                elif pattern.kind is PatternKind.SUBDOMAINS:
                    row = row_of(self.subdomains, pattern.suffix)
                elif pattern.kind is PatternKind.SUFFIX:
                    row = row_of(self.suffixes.setdefault(len(pattern.suffix), {}), pattern.suffix)
                else:
                    row = any_row
                row[q] = min(row[q], order)
        self._answers = np.array(rows, dtype=np.int32).reshape(len(rows), self.n_questions)
        self._any = np.array(any_row, dtype=np.int32)
        self._suffix_tables = sorted(self.suffixes.items())
        self._subdomain_label_counts = sorted({key.count(".") + 1 for key in self.subdomains})
        self.empty = not rows and bool(np.all(self._any == _NONE))

    def match(self, hosts: Sequence[str]) -> np.ndarray:
        """``(len(hosts), n_questions)`` int32: per normalized host and question, the first matching rule's
        order, or ``NO_MATCH``. Call it on *unique* names: the Python work is per name."""
        n = len(hosts)
        if self.empty or n == 0:
            return np.full((n, self.n_questions), NO_MATCH, dtype=np.int32)
        which_host: list[int] = []
        which_row: list[int] = []
        exact, subdomains = self.exact.get, self.subdomains.get
        check_subdomains = bool(self.subdomains)
        label_counts = self._subdomain_label_counts
        for i, host in enumerate(hosts):
            row = exact(host)
            if row is not None:
                which_host.append(i)
                which_row.append(row)
            if check_subdomains:  # the suffixes after a dot with as many labels as some key has, from the right
                end, labels = len(host), 0
                for wanted in label_counts:
                    while labels < wanted and end != -1:
                        end = host.rfind(".", 0, end)
                        labels += 1
                    if end == -1:
                        break
                    row = subdomains(host[end + 1 :])
                    if row is not None:
                        which_host.append(i)
                        which_row.append(row)
            for length, table in self._suffix_tables:
                if length > len(host):
                    break
                row = table.get(host[-length:])
                if row is not None:
                    which_host.append(i)
                    which_row.append(row)
        found = np.broadcast_to(self._any, (n, self.n_questions)).copy()
        if which_row:
            np.minimum.at(found, np.array(which_host, dtype=np.intp), self._answers[np.array(which_row, dtype=np.intp)])
        found[found == _NONE] = NO_MATCH
        return found

    def first(self, host: str) -> np.ndarray:
        """``match`` for one host: its answer per question."""
        return self.match([host])[0]
