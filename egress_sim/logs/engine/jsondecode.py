"""Decoding JSON from logs that may be hostile: values nested too deeply for Python's decoder are one malformed
record like any other (``json.JSONDecodeError``), never a ``RecursionError``."""

from __future__ import annotations

import json
from typing import Any


def raw_decode(decoder: json.JSONDecoder, text: str, pos: int = 0) -> tuple[Any, int]:
    """``decoder.raw_decode`` for hostile input: a value nested too deeply for Python's decoder (a
    ``RecursionError``) is a ``json.JSONDecodeError`` like any other malformed value, so it is one reject."""
    try:
        return decoder.raw_decode(text, pos)
    except RecursionError:
        raise _too_deep(text, pos) from None


def loads(text: str | bytes) -> Any:
    """``json.loads`` with the same treatment of deep nesting as ``raw_decode``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(text, 0) from None


def _too_deep(text: str | bytes, pos: int) -> json.JSONDecodeError:
    # JSONDecodeError counts lines in its document, which must be text
    return json.JSONDecodeError("nested too deeply", text, pos) if isinstance(text, str) else \
        json.JSONDecodeError("nested too deeply", "", 0)
