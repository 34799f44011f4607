"""Which log formats exist and how a file's format is recognised (how inputs expand into files: ``listing``).

Detection looks at the first 64 KiB of each file's (decompressed) content, never at its name alone: readers are
asked in a fixed order, most specific first, and the first that recognises the content reads the file.
``--format`` skips detection.
"""

from __future__ import annotations

import importlib

from ..base.errors import FlowInputError
from .engine.listing import Listing, expand_inputs, file_identity, list_inputs
from .engine.files import LogFile
from .engine.format import LogFormat

__all__ = ["Listing", "detect", "expand_inputs", "file_identity", "format_names", "list_inputs", "reader_named",
           "readers"]

# (module, attribute) of every reader, in detection order: specific formats first, our own CSV last.
_READERS: tuple[tuple[str, str], ...] = (
    ("egress_sim.logs.formats.azure_flowlogs", "NSG_READER"),
    ("egress_sim.logs.formats.azure_flowlogs", "VNET_READER"),
    ("egress_sim.logs.formats.azfw", "READER"),
    ("egress_sim.logs.formats.zeek", "READER"),
    ("egress_sim.logs.formats.zeek", "COMPANION_READER"),
    ("egress_sim.logs.formats.awsvpc", "READER"),
    ("egress_sim.logs.formats.tables", "PARQUET_READER"),
    ("egress_sim.logs.formats.tables", "CSV_READER"),
)


def readers() -> list[LogFormat]:
    """Every available reader, in detection order."""
    return [getattr(importlib.import_module(module), attribute) for module, attribute in _READERS]


def reader_named(name: str) -> LogFormat:
    for reader in readers():
        if reader.name == name.strip().lower():
            return reader
    raise FlowInputError(f"unknown log format {name!r} (known: {', '.join(r.name for r in readers())})")


def format_names() -> list[str]:
    return [r.name for r in readers()]


def detect(log: LogFile) -> LogFormat:
    head = log.head()
    if not head.strip():
        raise FlowInputError(f"{log.name}: empty file, no format to recognise", file=log.name)
    for reader in readers():
        if reader.sniff(head, log.path.name):
            return reader
    raise FlowInputError(
        f"{log.name}: not a log format egress_sim knows ({', '.join(format_names())}); use --format to force one",
        file=log.name)
