"""Which files a replay reads: paths, directories and glob patterns expanded into files, each real file and
each real directory once, whatever links lead to them.

The walk is our own (``os.scandir`` with an explicit stack), not ``glob``/``rglob``: those follow a symbolic
link back to an ancestor again and again (``ln -s .. sl; 'sl/**/*.log'`` ran until killed) and pass over a
directory they cannot read without a word. Here:

* every directory is identified by device and inode; one already on the path from the root (a loop) is not
  entered again, and the link that leads there is named in ``Listing.loops``; one reached a second way that is
  not a loop (two links to one directory) is simply not listed twice;
* a directory that cannot be listed, an entry that cannot be examined (permission, a dangling link, a file
  link loop) and an entry that is no regular file (a FIFO, which would block a read forever) are named in
  ``Listing.unreadable`` with the reason, when the pattern would have taken them;
* at most ``limits.MAX_INPUT_FILES`` files are listed: more is one ``LimitExceeded`` naming the input.

Glob patterns follow ``glob.glob(..., recursive=True)``: ``**`` as a whole segment matches any number of
directories, ``*``/``?``/``[...]`` match within a segment, and names starting with a dot are matched only by a
segment that starts with a dot. A directory argument takes every file below it whose name does not start with
a dot (in any subdirectory, hidden ones included).
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ...base import limits
from ...base.errors import FlowInputError, LimitExceeded
from .files import LogFile


@dataclass
class Listing:
    """The files to read, in order, and what the walk could not take."""

    files: list[LogFile] = field(default_factory=list)
    loops: list[tuple[str, str]] = field(default_factory=list)  # (link as reached, the directory it leads back to)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why it was not listed or read)


def list_inputs(inputs: list[str], exclude: tuple[str | Path, ...] = (), max_files: int | None = None) -> Listing:
    """Files from paths, directories (all files below them, sorted) and glob patterns, each once, in order;
    none of ``exclude`` (files that exist), however they are reached.

    A path the user named that is missing or unreadable is an error; problems met while walking a directory
    or a pattern are collected in the listing for the replay report."""
    cap = limits.MAX_INPUT_FILES if max_files is None else max_files
    listing = Listing()
    found: list[tuple[Path, bool, os.stat_result]] = []
    for item in inputs:
        if not str(item).strip():
            raise FlowInputError("an empty log path was given")
        path = Path(item)
        try:
            status = path.stat()
        except FileNotFoundError:
            status = None
        except OSError as exc:
            raise FlowInputError(f"{item}: cannot read: {exc.strerror or exc}", file=str(item)) from None
        if status is not None and stat.S_ISDIR(status.st_mode):
            walker = _Walker(listing, cap, len(found), item)
            matched = walker.walk(path, status, _EVERYTHING)
            if not matched and not walker.troubled:
                raise FlowInputError(f"{item}: directory holds no files", file=str(item))
            found.extend((p, False, s) for p, s in matched)
        elif status is not None and stat.S_ISREG(status.st_mode):
            found.append((path, True, status))
        elif status is not None:
            raise FlowInputError(f"{item}: not a regular file or directory", file=str(item))
        elif glob.has_magic(item):
            found.extend((p, False, s) for p, s in _expand_pattern(item, listing, cap, len(found)))
        else:
            raise FlowInputError(f"{item}: no such file or directory", file=str(item))
        if len(found) > cap:
            raise _too_many(item, cap)
    excluded = set()
    for p in exclude:
        try:
            excluded.add(file_identity(Path(p)))
        except OSError:
            continue  # an output that does not exist yet
    unique: dict[tuple[int, int], tuple[Path, bool, int]] = {}  # file identity -> (path as reached, named, size)
    for path, named, status in found:
        key = (status.st_dev, status.st_ino)
        if key in excluded:
            continue
        first, was_named, size = unique.get(key, (path, False, status.st_size))
        unique[key] = (first, was_named or named, size)
    listing.files = [LogFile(p, named, known_size=size) for p, named, size in unique.values()]
    return listing


def expand_inputs(inputs: list[str], exclude: tuple[str | Path, ...] = ()) -> list[LogFile]:
    """The files of ``list_inputs`` alone (for callers that do not report the walk's problems)."""
    return list_inputs(inputs, exclude).files


def file_identity(path: Path) -> tuple[int, int]:
    """Device and inode: the same file however it is reached (links, ``..``, relative paths). One ``stat``,
    where resolving a path costs one per directory level (Azure blob paths have about fifteen)."""
    status = path.stat()
    return status.st_dev, status.st_ino


def _too_many(item: str, cap: int) -> LimitExceeded:
    return LimitExceeded(
        f"{item}: more than {cap:,} files to replay (limit MAX_INPUT_FILES); replay a narrower directory or "
        "pattern at a time", file=str(item))


# ------------------------------------------------------------------------------------------------ matching


class _Everything:
    """A directory argument: every file whose name does not start with a dot, at any depth."""

    def start(self) -> frozenset[int]:
        return frozenset({0})

    def step(self, states: frozenset[int], name: str, is_dir: bool) -> frozenset[int]:
        return states if is_dir or not name.startswith(".") else frozenset()

    def accepts(self, states: frozenset[int]) -> bool:
        return bool(states)

    def descends(self, states: frozenset[int]) -> bool:
        return bool(states)


_EVERYTHING = _Everything()


class _Pattern:
    """Glob segments below a fixed directory, as a set of positions reached in the segment list."""

    def __init__(self, segments: list[str]):
        self.segments = segments

    def _closure(self, states: set[int]) -> frozenset[int]:
        out = set(states)
        for i in sorted(states):
            while i < len(self.segments) and self.segments[i] == "**":
                i += 1
                out.add(i)
        return frozenset(out)

    def start(self) -> frozenset[int]:
        return self._closure({0})

    def step(self, states: frozenset[int], name: str, is_dir: bool) -> frozenset[int]:
        hidden = name.startswith(".")
        reached = set()
        for i in states:
            if i >= len(self.segments):
                continue
            segment = self.segments[i]
            if segment == "**":
                if not hidden:
                    reached.add(i)
            elif (not hidden or segment.startswith(".")) and fnmatch.fnmatch(name, segment):
                reached.add(i + 1)
        return self._closure(reached)

    def accepts(self, states: frozenset[int]) -> bool:
        return len(self.segments) in states

    def descends(self, states: frozenset[int]) -> bool:
        return any(i < len(self.segments) for i in states)


def _expand_pattern(item: str, listing: Listing, cap: int, already: int) -> list[tuple[Path, os.stat_result]]:
    """The files a glob pattern matches: walk from its longest directory prefix without wildcards."""
    head, parts = _split_pattern(item)
    root = Path(head) if head else Path(".")
    try:
        status = root.stat()
    except OSError:
        status = None
    if status is None or not stat.S_ISDIR(status.st_mode):
        raise FlowInputError(f"{item}: no file matches this pattern", file=str(item))
    walker = _Walker(listing, cap, already, item, shown_root=head)
    matched = walker.walk(root, status, _Pattern(parts))
    if not matched and not walker.troubled:
        raise FlowInputError(f"{item}: no file matches this pattern", file=str(item))
    return matched


def _split_pattern(item: str) -> tuple[str, list[str]]:
    """``logs/2024/*/x.log`` → (``logs/2024``, [``*``, ``x.log``]): the fixed directory and the rest."""
    drive, rest = os.path.splitdrive(item)
    absolute = rest.startswith(os.sep) or (os.altsep is not None and rest.startswith(os.altsep))
    parts = [p for p in rest.replace(os.altsep or os.sep, os.sep).split(os.sep) if p]
    fixed: list[str] = []
    while parts and not glob.has_magic(parts[0]) and len(parts) > 1:
        fixed.append(parts.pop(0))
    head = drive + (os.sep if absolute else "") + os.path.join(*fixed) if fixed else drive + (os.sep if absolute else "")
    return head, parts


# ------------------------------------------------------------------------------------------------ walking


class _Walker:
    """Depth first, by an explicit stack (a deep tree cannot exhaust Python's recursion), entries sorted."""

    def __init__(self, listing: Listing, cap: int, already: int, item: str, shown_root: str | None = None):
        self.listing = listing
        self.cap = cap
        self.room = cap - already  # files this walk may still add
        self.item = item
        self.shown_root = shown_root
        self.troubled = False  # a loop or an unreadable entry was met (an empty result is then no error)

    def walk(self, root: Path, root_status: os.stat_result, matcher) -> list[tuple[Path, os.stat_result]]:
        matched: list[tuple[Path, os.stat_result]] = []
        done: dict[tuple[int, int], set[int]] = {}  # directory identity -> pattern positions already listed there
        on_path: dict[tuple[int, int], str] = {}  # the directories from the root down to the current one
        shown = self.shown_root if self.shown_root is not None else str(root)
        stack: list[tuple[str, str, tuple[int, int] | None, frozenset[int] | None]] = [
            ("enter", shown, (root_status.st_dev, root_status.st_ino), matcher.start())]
        while stack:
            action, shown, identity, states = stack.pop()
            assert identity is not None
            if action == "leave":
                on_path.pop(identity, None)
                continue
            assert states is not None
            new = set(states) - done.get(identity, set())
            if not new:
                continue  # this real directory was listed already (reached by another link)
            done.setdefault(identity, set()).update(new)
            states = frozenset(new)
            try:
                with os.scandir(shown or ".") as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError as exc:
                if not on_path:  # the directory the user gave (or a pattern's fixed part): an error
                    raise FlowInputError(f"{self.item}: cannot list {shown or '.'}: {exc.strerror or exc}",
                                         file=self.item) from None
                self._unreadable(shown, exc)
                continue
            on_path[identity] = shown
            stack.append(("leave", shown, identity, None))
            below: list[tuple[str, str, tuple[int, int], frozenset[int]]] = []
            for entry in entries:
                path = os.path.join(shown, entry.name) if shown else entry.name
                as_dir = matcher.step(states, entry.name, True)
                as_file = matcher.step(states, entry.name, False)
                wanted_dir, wanted_file = matcher.descends(as_dir), matcher.accepts(as_file)
                if not (wanted_dir or wanted_file):
                    continue
                try:
                    status = entry.stat()  # follows links: where the entry really leads
                except OSError as exc:
                    self._unreadable(path, exc)
                    continue
                if stat.S_ISDIR(status.st_mode):
                    if not wanted_dir:
                        continue
                    key = (status.st_dev, status.st_ino)
                    if key in on_path:
                        self.listing.loops.append((path, on_path[key]))
                        self.troubled = True
                        continue
                    below.append(("enter", path, key, as_dir))
                elif wanted_file:
                    if not stat.S_ISREG(status.st_mode):
                        self.listing.unreadable.append((path, "not a regular file"))
                        self.troubled = True
                        continue
                    matched.append((Path(path), status))
                    if len(matched) > self.room:
                        raise _too_many(self.item, self.cap)
            stack.extend(reversed(below))
        matched.sort(key=lambda found: found[0])
        return matched

    def _unreadable(self, path: str, exc: OSError) -> None:
        why = exc.strerror or str(exc)
        if exc.errno == errno.ELOOP:  # ELOOP: a link cycle among file links
            why = f"{why} (a loop of symbolic links)"
        self.listing.unreadable.append((path or ".", why))
        self.troubled = True
