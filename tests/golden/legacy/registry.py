# Frozen copy of egress_sim/logs/registry.py at commit eed12d7a99a034ce39357a03b1a57ba74856ae7e for the golden test (tests/test_golden_readers.py); delete with it.
"""Which log formats exist and how a file's format is recognised (how inputs expand into files: ``listing``).

Detection looks at the first 64 KiB of each file's (decompressed) content, never at its name alone: readers are
asked in a fixed order, most specific first, and the first that recognises the content reads the file.
``--format`` skips detection.
"""

from __future__ import annotations

import importlib

from egress_sim.base.errors import FlowInputError
from .listing import Listing, expand_inputs, file_identity, list_inputs
from .common import LogFile, LogReader

__all__ = ["Listing", "detect", "expand_inputs", "file_identity", "format_names", "list_inputs", "reader_named",
           "readers"]

# (module, attribute) of every reader, in detection order: specific formats first, our own CSV last.
_READERS: tuple[tuple[str, str], ...] = (
    (".azure_flowlogs", "NSG_READER"),
    (".azure_flowlogs", "VNET_READER"),
    (".azfw", "READER"),
    (".zeek", "READER"),
    (".zeek", "COMPANION_READER"),
    (".awsvpc", "READER"),
    (".tables", "PARQUET_READER"),
    (".tables", "CSV_READER"),
)


def readers() -> list[LogReader]:
    """Every available reader, in detection order."""
    return [getattr(importlib.import_module(module, __package__), attribute) for module, attribute in _READERS]


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
        raise FlowInputError(f"{log.name}: empty file, no format to recognise", file=log.name)
    for reader in readers():
        if reader.sniff(head, log.path.name):
            return reader
    raise FlowInputError(
        f"{log.name}: not a log format egress_sim knows ({', '.join(format_names())}); use --format to force one",
        file=log.name)
