"""Change one string-array key of a TOML file and leave every other byte as it was.

Besu's ``config.toml`` is rendered by the platform (cloud-init, a ConfigMap) and may be edited by an operator;
the daemon owns only its ``bootnodes`` key (and ``nodes-allowlist`` in ``permissions_config.toml``). Re-serialising
the whole document with a TOML writer would drop comments and reorder keys, so the key's value is replaced in the
text instead. The edit is then checked by parsing both versions: the new document must equal the old one with
only that key changed, otherwise nothing is written.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from typing import Any

from lacchain.errors import LacchainError


class TomlEditError(LacchainError, ValueError):
    """The file cannot be edited safely; the message names the file's problem and how to fix it."""


_TABLE_HEADER = re.compile(r"^[ \t]*\[")


def read_array(text: str, key: str, source: str) -> list[str] | None:
    """The top-level string array ``key`` of a TOML document, or ``None`` if the key is absent."""
    document = _parse(text, source)
    if key not in document:
        return None
    return _string_list(document[key], key, source)


def set_array(text: str, key: str, values: Sequence[str], source: str) -> str:
    """``text`` with the top-level array ``key`` set to ``values``; everything else byte for byte unchanged.

    An absent key is added before the first table header (Besu reads top-level keys). Raises ``TomlEditError``
    if the document does not parse, if ``key`` is not a string array, or if the edit would change anything else.
    """
    document = _parse(text, source)
    if key in document:
        _string_list(document[key], key, source)
    for table, content in document.items():
        if isinstance(content, dict) and key in content:
            # Besu ignores table headings, so a second, top-level key would make the option ambiguous.
            raise TomlEditError(f"{source}: {key} is under the table [{table}]; move it above the first table")
    rendered = render_array(key, values)
    span = _value_span(text, key)
    if span is None:
        if key in document:
            raise TomlEditError(
                f"{source}: {key} is written in a form this editor does not change; write it as {key}=[...]"
            )
        edited = _insert_key(text, rendered)
    else:
        start, end = span
        edited = text[:start] + rendered + text[end:]
    expected: dict[str, Any] = {**document, key: list(values)}
    if _parse(edited, source) != expected:
        raise TomlEditError(f"{source}: editing {key} would change other settings; write {key} on its own lines")
    return edited


def render_array(key: str, values: Sequence[str]) -> str:
    """``key=[...]`` with one value per line (readable diffs), or ``key=[]``. Values are JSON-quoted (valid TOML)."""
    if not values:
        return f"{key}=[]"
    items = ",\n".join(f"  {json.dumps(value)}" for value in values)
    return f"{key}=[\n{items}\n]"


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlEditError(
            f"{source} is not valid TOML ({exc}); fix the file, the daemon edits only valid files"
        ) from None


def _string_list(value: Any, key: str, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TomlEditError(f'{source}: {key} must be an array of enode URL strings, e.g. {key}=["enode://..."]')
    return list(value)


def _key_pattern(key: str) -> re.Pattern[str]:
    escaped = re.escape(key)
    return re.compile(rf"""^[ \t]*(?:{escaped}|"{escaped}"|'{escaped}')[ \t]*=[ \t]*""", re.MULTILINE)


def _value_span(text: str, key: str) -> tuple[int, int] | None:
    """Start of the key and end of its array value, for a top-level ``key = [...]`` (before any table header)."""
    first_table = _first_table_offset(text)
    for match in _key_pattern(key).finditer(text):
        if match.start() >= first_table:
            return None
        if match.end() < len(text) and text[match.end()] == "[":
            end = _array_end(text, match.end())
            if end is not None:
                key_start = match.start() + (len(match.group(0)) - len(match.group(0).lstrip(" \t")))
                return key_start, end
        return None
    return None


def _first_table_offset(text: str) -> int:
    """Offset of the first table header line; keys after it belong to a table. Multi-line strings are rare in
    Besu configs; if one fooled this scan, the parse check in ``set_array`` refuses the edit."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if _TABLE_HEADER.match(line):
            return offset
        offset += len(line)
    return len(text)


def _array_end(text: str, start: int) -> int | None:
    """Offset just after the ``]`` closing the array that opens at ``start``; strings and comments are skipped."""
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char == "#":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            continue
        if char == '"':
            index = _string_end(text, index, '"', escapes=True)
            continue
        if char == "'":
            index = _string_end(text, index, "'", escapes=False)
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return None


def _string_end(text: str, start: int, quote: str, *, escapes: bool) -> int:
    index = start + 1
    while index < len(text):
        char = text[index]
        if escapes and char == "\\":
            index += 2
            continue
        if char == quote or char == "\n":
            return index + 1
        index += 1
    return index


def _insert_key(text: str, rendered: str) -> str:
    first_table = _first_table_offset(text)
    head, tail = text[:first_table], text[first_table:]
    if head and not head.endswith("\n"):
        head += "\n"
    separator = "\n" if tail else ""
    return f"{head}{rendered}\n{separator}{tail}"
