"""Reading YAML and JSON documents strictly, with one precise error line for every way they can fail.

Shared by every document input (workspace, scenario, service catalog, inventory). Strict means a document
is refused rather than read in a way its author may not have meant:

- **duplicate keys** in a mapping are an error (PyYAML and ``json`` silently keep the last one, so a second
  ``isolation_mode:`` would quietly win);
- **plain scalars that YAML 1.1 and YAML 1.2 read differently** are an error asking for quotes: ``1:20``
  (1.1 base 60, read as 80), ``0755`` (1.1 octal), ``0b101``, ``1_000``, ``yes``/``no``/``on``/``off``
  (1.1 booleans), ``2024-01-01`` (a 1.1 date). Azure's own client reads YAML 1.1; most other tools read 1.2; quoting means the same to both;
- **depth, size and alias expansion are bounded** (``limits``), so a hostile file stops with an error instead
  of a ``RecursionError`` or an exhausted machine.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from .errors import EgressSimError, LimitExceeded
from .limits import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_NODES

# Plain scalars YAML 1.1 turns into numbers or booleans that YAML 1.2 (and a human) would read otherwise.
_AMBIGUOUS = re.compile(
    r"""^(?:
        [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?   # base 60: 1:20 -> 80
      | [-+]?0[0-7_]+                                     # 1.1 octal: 0755 -> 493
      | [-+]?0b[0-1_]+                                    # binary
      | [-+]?(?:[0-9]+_[0-9_]*|\.[0-9]+_[0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?  # digit separators
      | yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF         # 1.1 booleans
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}                     # 1.1 timestamps (a date, not text)
        (?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?
    )$""",
    re.X,
)
_AMBIGUOUS_TAG = "tag:egress-sim,2026:ambiguous"
_ONE_POINT_ONE_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"}


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the checks in the module docstring."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            self._count(getattr(anchored, "_egress_size", 1), event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DOCUMENT_DEPTH:
            raise LimitExceeded(f"nested deeper than {MAX_DOCUMENT_DEPTH} levels{_where(self.peek_event().start_mark)}")
        start = self._nodes
        self._count(1, self.peek_event().start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if node is not None:
            node._egress_size = self._nodes - start  # type: ignore[attr-defined]  # what an alias to it costs
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._nodes += nodes
        if self._nodes > MAX_DOCUMENT_NODES:
            raise LimitExceeded(f"more than {MAX_DOCUMENT_NODES:,} values once aliases are expanded{_where(mark)}")

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` merges; PyYAML flattens it below
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(None, None, "a mapping key must be a plain value", key_node.start_mark) from None
            if key in seen:
                raise ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_ambiguous(self, node: ScalarNode) -> Any:
        raise ConstructorError(
            None, None,
            f"{node.value!r} means different things in YAML 1.1 and 1.2 (a number, true/false or a date, or text): "
            f"quote it ('{node.value}')",
            node.start_mark,
        )


# The 1.1 resolvers for int/float/bool also match the ambiguous forms; ours is tried first for those.
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "+-0123456789.yYnNoO":
    StrictLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(0, (_AMBIGUOUS_TAG, _AMBIGUOUS))
StrictLoader.add_constructor(_AMBIGUOUS_TAG, StrictLoader.construct_ambiguous)


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def parse_yaml(text: str) -> Any:
    """Parse one YAML document strictly; ``yaml.YAMLError`` or ``LimitExceeded`` when it cannot be."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(text: str) -> Any:
    """Parse JSON strictly (duplicate keys, depth); ``ValueError`` or ``LimitExceeded`` when it cannot be."""
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except RecursionError:
        raise LimitExceeded(f"nested deeper than {MAX_DOCUMENT_DEPTH} levels") from None
    _check_depth(document)
    return document


def _check_depth(document: Any) -> None:
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise LimitExceeded(f"nested deeper than {MAX_DOCUMENT_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)


def looks_like_json(text: str) -> bool:
    """A document whose first non-blank character opens a JSON object or array."""
    return text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


def read_document(path: str | Path, what: str, error: type[EgressSimError], max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """The parsed YAML or JSON document (told apart by content); ``error("<path>: ...")`` naming the line
    and column when it is broken, ``LimitExceeded`` (naming the file) past a limit."""
    source = str(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
            raise error(f"{source}: {what} is not a regular file", file=source)
        with open(path, "rb") as file:
            raw = file.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{source}: cannot read {what}: {exc.strerror or exc}", file=source) from None
    if len(raw) > max_bytes:
        raise LimitExceeded(f"{source}: {what} is larger than {max_bytes:,} bytes", file=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{source}: {what} is not UTF-8 text", file=source) from None
    if "\x00" in text:
        raise error(f"{source}: {what} is not text (it holds NUL bytes)", file=source)
    try:
        if looks_like_json(text):
            try:
                return parse_json(text.lstrip("\ufeff"))
            except ValueError as exc:
                try:  # `{name: ws, ...}` is YAML in flow style, not JSON
                    return parse_yaml(text)
                except yaml.YAMLError:
                    raise error(f"{source}: not valid JSON: {exc}", file=source) from None
        return parse_yaml(text)
    except LimitExceeded as exc:
        raise LimitExceeded(f"{source}: {what}: {exc}", file=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}: not valid YAML{_where(mark)}: {problem}", file=source) from None


def read_yaml(path: str | Path, what: str, error: type[EgressSimError]) -> Any:
    """The parsed document (YAML, or JSON, which is YAML too), read strictly; see ``read_document``."""
    return read_document(path, what, error)
