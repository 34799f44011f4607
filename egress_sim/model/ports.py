"""Port ranges as written in service-tag rules: ``"80, 8080-8089"``, ``"443"``, ``"*"`` (spec §4)."""

from __future__ import annotations

from dataclasses import dataclass

from ..base.errors import ModelError

MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive range of TCP/UDP ports, ``first <= last``."""

    first: int
    last: int

    def __contains__(self, port: int) -> bool:
        return self.first <= port <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class PortRanges:
    """A set of port ranges, kept in the order written, with the original text for a faithful dump."""

    ranges: tuple[PortRange, ...]
    text: str

    @classmethod
    def parse(cls, text: object) -> "PortRanges":
        """Parse ``"80, 8080-8089"``; ``*`` means every port. Raises ``ModelError`` naming the bad piece."""
        if isinstance(text, bool) or not isinstance(text, (str, int)):
            raise ModelError(f"port range {text!r} must be a string such as '80, 8080-8089'")
        original = str(text)
        if original.strip() == "":
            raise ModelError("port range is empty")
        ranges: list[PortRange] = []
        for piece in original.split(","):
            piece = piece.strip()
            if piece == "*":
                ranges.append(PortRange(0, MAX_PORT))
                continue
            if piece == "":
                raise ModelError(f"port range {original!r} has an empty entry")
            first_text, dash, last_text = piece.partition("-")
            first = _port(first_text.strip(), piece)
            last = _port(last_text.strip(), piece) if dash else first
            if first > last:
                raise ModelError(f"port range {piece!r} is reversed")
            ranges.append(PortRange(first, last))
        return cls(tuple(ranges), original)

    @classmethod
    def all_ports(cls) -> "PortRanges":
        return cls((PortRange(0, MAX_PORT),), "*")

    def __contains__(self, port: int) -> bool:
        return any(port in r for r in self.ranges)

    def __str__(self) -> str:
        return self.text

    @property
    def normalized(self) -> str:
        """Canonical text: ranges joined by ``,`` without spaces."""
        return ",".join(str(r) for r in self.ranges)


def _port(text: str, piece: str) -> int:
    if not (text.isascii() and text.isdigit()):  # '٤٤٣' is digits to str.isdigit, not a port
        raise ModelError(f"port range {piece!r}: {text!r} is not a port number")
    port = int(text)
    if port > MAX_PORT:
        raise ModelError(f"port range {piece!r}: port {port} is above {MAX_PORT}")
    return port
