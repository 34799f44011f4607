"""Text from logs and YAML files, made safe to show: in a terminal-free form, in Markdown, in HTML.

Host names, rule names, file names and reasons in a report come from files an attacker may have written. Three
things must never happen when a person reads the report: a control character (an ANSI escape, a bidi override)
rewrites what is shown; Markdown in a value becomes structure (a ``|`` that splits a table row, an ``@name`` that
notifies someone from a pull-request comment, a link); HTML in a value becomes markup. Every renderer of the
report passes each untrusted value through one of the functions here, and nothing else.
"""

from __future__ import annotations

import html
import unicodedata

_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}  # control, format (bidi overrides, zero-width), surrogate, private


def printable(value: object) -> str:
    """``value`` as text in which every control or format character is written out (``\\x1b``, ``\\u202e``):
    the characters cannot act, and the reader sees that they were there."""
    text = str(value)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char == " " or unicodedata.category(char) not in _INVISIBLE:
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


def clip(text: str, width: int) -> str:
    """At most ``width`` characters, an ellipsis marking a cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


# ------------------------------------------------------------------------------------------------------ HTML
def h(value: object) -> str:
    """An untrusted value as HTML text or attribute content (quotes escaped too)."""
    return html.escape(printable(value), quote=True)


# -------------------------------------------------------------------------------------------------- Markdown
# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones that can start
# structure anywhere in a line (emphasis, links, images, headings, lists, tables, HTML, entities, strikethrough).
_MD_SPECIAL = set("\\`*_{}[]()<>#+-!|~&")
_NO_MENTION = "\u2060"  # WORD JOINER after "@": GitHub turns "@name" into a mention even inside escapes


def md_text(value: object) -> str:
    """An untrusted value as Markdown prose: shown as written, never structure, HTML, image or mention. (GitHub
    may still show a bare ``www.`` or ``https://`` address as a link; identifiers go in ``md_code``, where no
    link is made.)"""
    text = printable(value)
    out = []
    digits = len(text) - len(text.lstrip("0123456789"))
    if digits and text[digits:digits + 1] in (".", ")"):  # "1." at the start of a list item opens a list
        text = text[:digits] + "\\" + text[digits:]
        out, text = [text[: digits + 2]], text[digits + 2:]
    for char in text:
        if char in _MD_SPECIAL:
            out.append("\\" + char)
        elif char == "@":
            out.append("@" + _NO_MENTION)
        else:
            out.append(char)
    return "".join(out)


def md_code(value: object, in_table: bool = True) -> str:
    """An untrusted identifier (a host, a rule, a file) as a Markdown code span: no HTML, link or mention is
    ever made inside one. The fence is one backtick longer than any run of backticks in the value; in a table
    row a ``|`` is escaped, which GitHub undoes inside the span (GFM tables), so the cell shows it as written."""
    text = printable(value)
    if not text.strip():
        return "*(empty)*"
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    if text[0] in "` " or text[-1] in "` ":
        text = f" {text} "  # CommonMark strips one space each side, so a leading backtick cannot close the fence
    if in_table:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"
