"""Connection logs in, flow tables out: one ingestion engine and one small module per log format.

The public face for code that reads logs itself (the replay does this for you): ``LogFile`` opens a file,
``RecordLedger`` counts what happened to every record, ``registry.detect`` names a file's format.
"""

from .engine.files import LogFile, UnreadableFileError
from .engine.ledger import RecordLedger, Sample, StrictInputError

__all__ = ["LogFile", "RecordLedger", "Sample", "StrictInputError", "UnreadableFileError"]
