"""Which log formats exist, how a file's format is recognised, and how inputs expand into files.

Detection looks at the first 64 KiB of each file's (decompressed) content, never at its name alone: readers are
asked in a fixed order, most specific first, and the first that recognises the content reads the file.
``--format`` skips detection.
"""

from __future__ import annotations

import glob
import importlib
from pathlib import Path

from ..errors import FlowInputError
from .logs import LogFile, LogReader

# (module, attribute) of every reader, in detection order: specific formats first, our own CSV last.
_READERS: tuple[tuple[str, str], ...] = (
    ("egress_sim.flows.azure_flowlogs", "NSG_READER"),
    ("egress_sim.flows.azure_flowlogs", "VNET_READER"),
    ("egress_sim.flows.azfw", "READER"),
    ("egress_sim.flows.zeek", "READER"),
    ("egress_sim.flows.zeek", "COMPANION_READER"),
    ("egress_sim.flows.awsvpc", "READER"),
    ("egress_sim.flows.tables", "PARQUET_READER"),
    ("egress_sim.flows.tables", "CSV_READER"),
)


def readers() -> list[LogReader]:
    """Every available reader, in detection order."""
    return [getattr(importlib.import_module(module), attribute) for module, attribute in _READERS]


def reader_named(name: str) -> LogReader:
    for reader in readers():
        if reader.name == name.strip().lower():
            return reader
    raise FlowInputError(f"unknown log format {name!r} (known: {', '.join(r.name for r in readers())})")


def format_names() -> list[str]:
    return [r.name for r in readers()]


def detect(log: LogFile) -> LogReader:
    head = log.head()
    if not head.strip():
        raise FlowInputError(f"{log.name}: empty file, no format to recognise")
    for reader in readers():
        if reader.sniff(head, log.path.name):
            return reader
    raise FlowInputError(
        f"{log.name}: not a log format egress_sim knows ({', '.join(format_names())}); use --format to force one"
    )


def expand_inputs(inputs: list[str], exclude: tuple[str | Path, ...] = ()) -> list[LogFile]:
    """Files from paths, directories (all files below them, sorted) and glob patterns, each once, in order;
    none of ``exclude`` (files that exist), however they are reached.

    A file found in a directory or by a pattern that turns out to be in no known format is passed over with a
    warning by ``replay``; one the user named is an error."""
    files: list[tuple[Path, bool]] = []
    for item in inputs:
        if not str(item).strip():
            raise FlowInputError("an empty log path was given")
        path = Path(item)
        named = False
        if path.is_dir():
            matched = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not matched:
                raise FlowInputError(f"{item}: directory holds no files")
        elif path.is_file():
            matched, named = [path], True
        elif any(ch in item for ch in "*?["):
            matched = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
            if not matched:
                raise FlowInputError(f"{item}: no file matches this pattern")
        else:
            raise FlowInputError(f"{item}: no such file or directory")
        files.extend((p, named) for p in matched)
    unique: dict[tuple[int, int], tuple[Path, bool]] = {}  # file identity -> (path as the user wrote it, named)
    excluded = {file_identity(Path(p)) for p in exclude if Path(p).is_file()}
    for path, named in files:
        key = file_identity(path)
        if key in excluded:
            continue
        first, was_named = unique.get(key, (path, False))
        unique[key] = (first, was_named or named)
    return [LogFile(p, named) for p, named in unique.values()]


def file_identity(path: Path) -> tuple[int, int]:
    """Device and inode: the same file however it is reached (links, ``..``, relative paths). One ``stat``,
    where resolving a path costs one per directory level (Azure blob paths have about fifteen)."""
    status = path.stat()
    return status.st_dev, status.st_ino
