"""Microsoft's published service tags (``ServiceTags_Public_*.json``): load, look up by name, suggest.

A tag is a named set of IPv4 and IPv6 prefixes. Names are matched case-insensitively because Azure ML
locations are lower case (``eastus``) while tag names are not (``BatchNodeManagement.EastUS``).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import ipaddress
import json
import stat
import socket
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..base.datafiles import bundled_path
from ..base.errors import LimitExceeded, ServiceTagError
from ..base.limits import MAX_DOCUMENT_DEPTH, MAX_SERVICE_TAG_BYTES
from ..base.numbacache import side_cache_dir

BUNDLED_FILE = "ServiceTags_Public_20251020.json"


@dataclass(frozen=True, slots=True)
class ServiceTag:
    name: str
    region: str  # "" for global tags
    system_service: str
    address_prefixes: tuple[str, ...]
    change_number: int | None = None  # the tag's own "changeNumber": Microsoft raises it when the tag changes

    @property
    def ipv4_prefixes(self) -> tuple[str, ...]:
        return tuple(p for p in self.address_prefixes if ":" not in p)

    @property
    def ipv6_prefixes(self) -> tuple[str, ...]:
        return tuple(p for p in self.address_prefixes if ":" in p)


@dataclass(frozen=True)
class ServiceTagSet:
    """All tags of one published file, indexed by folded name."""

    change_number: int | None
    cloud: str | None
    source: str
    tags: dict[str, ServiceTag] = field(repr=False)  # key: lower-case name

    def get(self, name: str) -> ServiceTag | None:
        return self.tags.get(name.strip().lower())

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __len__(self) -> int:
        return len(self.tags)

    def require(self, name: str) -> ServiceTag:
        tag = self.get(name)
        if tag is None:
            raise ServiceTagError(f"unknown service tag {name!r}{self.suggestion(name)} in {self.source}")
        return tag

    def regional(self, base: str, region: str) -> ServiceTag | None:
        """``BatchNodeManagement`` + ``eastus`` → ``BatchNodeManagement.EastUS`` (by name, else by the region field)."""
        tag = self.get(f"{base}.{region}")
        if tag is not None:
            return tag
        wanted = base.lower()
        for candidate in self.tags.values():
            if candidate.name.lower().startswith(wanted + ".") and candidate.region.lower() == region.lower():
                return candidate
        return None

    def closest(self, name: str, n: int = 1) -> list[str]:
        folded = {key: tag.name for key, tag in self.tags.items()}
        return [folded[m] for m in difflib.get_close_matches(name.lower(), list(folded), n=n, cutoff=0.6)]

    def suggestion(self, name: str) -> str:
        close = self.closest(name)
        return f" (did you mean {close[0]!r}?)" if close else ""


def bundled_service_tags_path() -> Path:
    """The service-tag file that ships with egress_sim."""
    return bundled_path("servicetags", BUNDLED_FILE)


def load_service_tags(path: str | Path | None = None) -> ServiceTagSet:
    """Load a ``ServiceTags_Public_*.json`` file (the bundled one when ``path`` is None).

    The file is refused whole (``ServiceTagError`` naming the file, the tag and the bad value) when anything in
    it is not what Microsoft publishes: a tag name given twice, a prefix that is not a CIDR prefix, a value
    of the wrong type, a key twice in one object, nesting past ``MAX_DOCUMENT_DEPTH``. A tag that silently
    replaced another, or a prefix read loosely, would change verdicts. Above ``MAX_SERVICE_TAG_BYTES`` it is
    refused before it is read (``LimitExceeded``)."""
    file = Path(path) if path is not None else bundled_service_tags_path()
    data = _read_bounded(file)
    mark = _passed_mark(data)
    if mark is not None and mark.is_file():
        return _index(json.loads(data.decode("utf-8-sig")), str(file))
    try:
        document = json.loads(data.decode("utf-8-sig"), object_pairs_hook=_JsonObject.from_pairs)
    except UnicodeDecodeError as exc:
        raise ServiceTagError(f"{file}: not a service-tag JSON file: not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(file)) from None
    except json.JSONDecodeError as exc:
        raise ServiceTagError(f"{file}: not a service-tag JSON file: {exc}", file=str(file)) from None
    except RecursionError:
        raise ServiceTagError(f"{file}: JSON nested deeper than {MAX_DOCUMENT_DEPTH} levels", file=str(file)) from None
    tags = service_tags_from_document(document, str(file))
    if mark is not None:
        _remember(mark)
    return tags


# Checking every tag and prefix of the bundled file takes ~0.2 s, a third of a small `evaluate`. Bytes that passed
# every check once pass them again, so a passed file leaves an empty "mark" named by the SHA-256 of its bytes and
# of the checking code (this module, the limits it applies, the Python that parsed it); the same bytes are then
# only parsed and indexed. Fail-closed: a mark is written only after the full check succeeded, any other bytes
# or code give another name, and a mark that cannot be read or written means the full check runs. The marks sit
# beside numba's cached kernels, which are trusted further still (they are pickles: loading one runs code).
def _passed_mark(data: bytes) -> Path | None:
    try:
        digest = hashlib.sha256(_checks_id() + data).hexdigest()
        return side_cache_dir("servicetags") / f"{digest}.passed"
    except OSError:
        return None


@functools.cache
def _checks_id() -> bytes:
    """What the verdict on a file depends on besides its bytes."""
    code = Path(__file__).read_bytes()
    return hashlib.sha256(code + repr((MAX_DOCUMENT_DEPTH, MAX_SERVICE_TAG_BYTES, sys.version)).encode()).digest()


def _remember(mark: Path) -> None:
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
    except OSError:  # a read-only cache: the next load checks the file again
        pass


def _index(document: dict, source: str) -> ServiceTagSet:
    """The tag set of a document whose bytes passed ``service_tags_from_document`` before: built the same way,
    without the checks."""
    tags = {}
    for entry in document["values"]:
        tag = _make_tag(entry["name"], entry["properties"])
        tags[tag.name.lower()] = tag
    return ServiceTagSet(document.get("changeNumber"), document.get("cloud"), source, tags)


def _make_tag(name: str, props: dict) -> ServiceTag:
    return ServiceTag(
        name=name,
        region=props.get("region") or "",
        system_service=props.get("systemService") or "",
        address_prefixes=tuple(props["addressPrefixes"]),
        change_number=props.get("changeNumber"),
    )


def service_tags_from_document(document: object, source: str) -> ServiceTagSet:
    """Check a parsed service-tag document (see ``load_service_tags``) and index its tags by folded name."""
    checker = _Checker(source)
    top = checker.object(document, "the document")
    values = top.get("values")
    if not isinstance(values, list):
        raise checker.error(f"not a service-tag file: 'values' must be a list of tags, not {_kind(values)}")
    change_number = checker.optional(top, "changeNumber", int, "the document")
    cloud = checker.optional(top, "cloud", str, "the document")
    checker.unknown_keys(top, {"changeNumber", "cloud", "values"}, "the document", depth=1)
    tags: dict[str, ServiceTag] = {}
    first_seen: dict[str, int] = {}
    for i, value in enumerate(values):
        tag = checker.tag(value, i)
        key = tag.name.lower()
        if key in tags:
            raise checker.error(
                f"tag {tag.name!r} (values[{i}]) is given twice: values[{first_seen[key]}] is {tags[key].name!r}; "
                "one would silently replace the other"
            )
        tags[key] = tag
        first_seen[key] = i
    checker.prefixes(tags.values())
    return ServiceTagSet(change_number, cloud, source, tags)


def _read_bounded(file: Path) -> bytes:
    """The file's bytes, refused before reading when it is larger than ``MAX_SERVICE_TAG_BYTES``."""
    limit = MAX_SERVICE_TAG_BYTES
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, a device never end
            raise ServiceTagError(f"{file}: service-tag file is not a regular file", file=str(file))
        size = info.st_size
        if size > limit:
            raise LimitExceeded(
                f"{file}: service-tag file of {size:,} bytes is above the limit of {limit:,} (MAX_SERVICE_TAG_BYTES)",
                file=str(file),
            )
        with file.open("rb") as handle:
            data = handle.read(limit + 1)  # a pipe or a growing file reports no size: read no more than allowed
    except OSError as exc:
        raise ServiceTagError(f"{file}: cannot read service-tag file: {exc.strerror or exc}", file=str(file)) from None
    if len(data) > limit:
        raise LimitExceeded(f"{file}: service-tag file is above the limit of {limit:,} bytes (MAX_SERVICE_TAG_BYTES)",
                            file=str(file))
    return data


class _JsonObject(dict):
    """A JSON object that remembers the keys it was given more than once (``json`` keeps the last silently)."""

    __slots__ = ("duplicates",)

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, object]]) -> "_JsonObject":
        obj = cls(pairs)
        obj.duplicates = [] if len(obj) == len(pairs) else sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        return obj


# What Microsoft writes in a tag besides its name and prefixes; other keys are ignored (new ones may come).
_TAG_FIELDS: dict[str, type] = {"id": str}
_PROPERTY_FIELDS: dict[str, type] = {
    "region": str, "systemService": str, "changeNumber": int, "regionId": int, "platform": str, "networkFeatures": list,
}


class _Checker:
    """Type and value checks of one document; every error names the file and, once known, the tag."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, message: str) -> ServiceTagError:
        return ServiceTagError(f"{self.source}: {message}", file=self.source)

    def object(self, value: object, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(f"{where} must be a JSON object, not {_describe(value)}")
        duplicates = getattr(value, "duplicates", None)
        if duplicates:
            raise self.error(f"{where}: key {duplicates[0]!r} is given twice; one would silently replace the other")
        return value

    def optional(self, obj: dict, key: str, kind: type, where: str) -> object:
        """``obj[key]`` when present and not null, checked to be of ``kind`` (a bool is not an int)."""
        value = obj.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise self.error(f"{where}: {key!r} must be {_KIND_NAMES[kind]}, not {_describe(value)}")
        return value

    def unknown_keys(self, obj: dict, known: set[str], where: str, depth: int) -> None:
        """Keys Microsoft may add are ignored, but nothing under them may nest past ``MAX_DOCUMENT_DEPTH``."""
        for key in obj.keys() - known:
            if _too_deep(obj[key], MAX_DOCUMENT_DEPTH - depth):
                raise self.error(f"{where}: {key!r} is nested deeper than {MAX_DOCUMENT_DEPTH} levels")

    def tag(self, value: object, index: int) -> ServiceTag:
        """One entry of ``values``, its prefixes checked for type only (``prefixes`` checks their text)."""
        where = f"values[{index}]"
        entry = self.object(value, where)
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.error(f"{where}: a tag needs a 'name' (a non-empty string), not {_describe(name)}")
        where = f"tag {name!r} ({where})"
        props = self.object(entry.get("properties"), f"{where} 'properties'")
        for obj, fields, depth in ((entry, _TAG_FIELDS, 3), (props, _PROPERTY_FIELDS, 4)):
            for key, kind in fields.items():
                self.optional(obj, key, kind, where)
            self.unknown_keys(obj, {*fields, "name", "properties", "addressPrefixes"}, where, depth)
        features = props.get("networkFeatures") or ()
        bad = next((f for f in features if not isinstance(f, str)), None)
        if bad is not None:
            raise self.error(f"{where}: 'networkFeatures' must list strings, not {_describe(bad)}")
        prefixes = props.get("addressPrefixes")
        if not isinstance(prefixes, list):
            raise self.error(f"{where}: 'addressPrefixes' must be a list of CIDR prefixes, not {_describe(prefixes)}")
        for position, prefix in enumerate(prefixes):
            if type(prefix) is not str:
                raise self.error(f"{where}: addressPrefixes[{position}] {_show(prefix)} is {_kind(prefix)}, not a string")
        return _make_tag(name, props)

    def prefixes(self, tags: Iterable[ServiceTag]) -> None:
        """Every prefix is a CIDR prefix: each distinct text checked once (93 k prefixes, 52 k distinct); the
        slow path runs only to name the first bad one and its tag."""
        tags = list(tags)
        bad = {p for p in set().union(*(t.address_prefixes for t in tags)) if not _plain_prefix(p)}
        for tag in tags:
            for position, prefix in enumerate(tag.address_prefixes):
                if prefix in bad:
                    problem = _prefix_problem(prefix)
                    raise self.error(f"tag {tag.name!r}: addressPrefixes[{position}] {_show(prefix)} {problem}")


_KIND_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "a JSON object"}


# Host bits per prefix length, by the length as written: "24" -> 0xff. A length written otherwise ("024",
# "+24", "٢٤", " 24") is not a key, so it falls to the slow path.
_HOST4 = {str(n): (1 << (32 - n)) - 1 for n in range(33)}
_HOST6 = {str(n): (1 << (128 - n)) - 1 for n in range(129)}


def _plain_prefix(prefix: str) -> bool:
    """Whether ``prefix`` is ``ADDRESS/LENGTH`` with no host bits set, IPv4 as a canonical dotted quad: the
    ~1 microsecond check that every prefix of a real file passes (``inet_ntop`` round trip: no leading zeros)."""
    address, _, length = prefix.partition("/")
    try:
        if ":" in address:
            host = _HOST6.get(length)
            return host is not None and not int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big") & host
        host = _HOST4.get(length)
        packed = socket.inet_pton(socket.AF_INET, address)
        return host is not None and socket.inet_ntop(socket.AF_INET, packed) == address and not int.from_bytes(packed, "big") & host
    except (OSError, ValueError):
        return False


def _prefix_problem(prefix: str) -> str:
    """Why ``_plain_prefix`` refused ``prefix``, in words (the slow path: it runs only for the error message)."""
    if "%" in prefix:
        return "is not a CIDR prefix (a zone id has no place in a service tag)"
    address, slash, length = prefix.partition("/")
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError as exc:
        return f"is not a CIDR prefix ({exc})"
    if not slash:
        return "has no prefix length (write it as ADDRESS/LENGTH)"
    if str(network.prefixlen) != length:
        return f"is not a CIDR prefix (length {length!r} is not written plainly)"
    if int(ipaddress.ip_address(address)) != int(network.network_address):
        return f"has host bits set (the prefix is {network})"
    return "is not a CIDR prefix as Microsoft writes them"


def _too_deep(value: object, budget: int) -> bool:
    """Whether lists/objects nest more than ``budget`` levels below ``value`` (iterative: no recursion limit)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= budget:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


_KINDS = {dict: "an object", _JsonObject: "an object", list: "a list", str: "a string", bool: "a boolean",
          int: "a number", float: "a number", type(None): "null"}


def _kind(value: object) -> str:
    """What a JSON value is, in words, for error messages."""
    return _KINDS.get(type(value), type(value).__name__)


def _describe(value: object) -> str:
    """``a string 'x'``, ``a list [...]``, ``null``: the kind and the value, for error messages."""
    return "null" if value is None else f"{_kind(value)} {_show(value)}"


def _show(value: object, width: int = 60) -> str:
    """``repr`` cut to ``width`` characters: a hostile value must not flood the one error line."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
