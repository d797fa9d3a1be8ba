"""Audit entries as bytes: the RFC 8785 (JSON Canonicalization Scheme) encoding.

An entry is a JSON object; its leaf data in the Merkle tree is its RFC 8785 canonical
encoding, so anyone re-serialising a parsed entry gets the very bytes that were hashed.
:func:`canonical_bytes` is the one encoder of that form: the broker's exports are written with
it (:mod:`audit.export`), the offline verifier re-encodes every entry it reads with it and
compares (:mod:`audit.verify`), and the broker's faster way of writing the same bytes as it
appends (``exchange.auditlog.service``) is tested byte for byte against it.

Floats are refused (their canonical form is a trap for every language that re-reads them),
as are integers outside ±(2**53 - 1), which JSON numbers cannot carry exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import rfc8785

__all__ = ["SCHEMA_VERSION", "canonical_bytes"]

SCHEMA_VERSION = 1
"""The version of the entry schema the broker writes, in each entry's ``schema_version``."""

_INT_MAX = 2**53 - 1
_MAX_VALUES = 1_000_000  # an audit entry is small; this also stops a cyclic value

_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


def canonical_bytes(entry: Mapping[str, Any]) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of the JSON object ``entry``.

    This is the reference for the bytes of an audit entry. What RFC 8785 asks, and how it is
    met here:

    - no whitespace between tokens;
    - the members of every object sorted by the UTF-16 code units of their names. Python's
      order (by code point) is the same unless a name holds a character beyond U+FFFF; an
      entry with such a name is encoded by the ``rfc8785`` package (an implementation of
      the RFC on its own) instead;
    - strings in UTF-8, escaping only the quote, the backslash and the control characters
      below U+0020 (``\\b \\t \\n \\f \\r`` by name, the others as ``\\u00xx``): what Python's
      ``json`` module writes with ``ensure_ascii=False``;
    - numbers in their shortest ECMAScript form, which for the integers allowed here is
      their decimal digits; ``true``, ``false`` and ``null`` as themselves.

    Raises ValueError when the value holds a float anywhere, an integer outside ±(2**53 - 1),
    a non-string object key, a string that is not valid Unicode (a lone surrogate) or a type
    JSON has no form for.
    """
    if not isinstance(entry, Mapping):
        raise ValueError("an audit entry is a JSON object")
    needs_utf16_order, needs_plain = _check(entry)
    value: Any = _plain(entry) if needs_plain else entry
    if needs_utf16_order:
        # A key with a character beyond U+FFFF: RFC 8785 orders keys by UTF-16 code units,
        # which differs from Python's code point order there. Let the reference library do it.
        try:
            return bytes(rfc8785.dumps(value))
        except UnicodeEncodeError:
            raise ValueError("a string in the entry is not valid Unicode") from None
    try:
        return _dumps(value).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string in the entry is not valid Unicode (lone surrogate)") from None
    except RecursionError:
        raise ValueError("the entry is nested too deeply") from None


def _check(value: Any) -> tuple[bool, bool]:
    """Validate a JSON value.

    Returns (a key needs UTF-16 ordering because it has a character beyond U+FFFF, the value
    holds mappings that are not dicts and must be copied into dicts before encoding).
    """
    needs_utf16_order = False
    needs_plain = False
    stack: list[Any] = [value]
    count = 0
    while stack:
        v = stack.pop()
        count += 1
        if count > _MAX_VALUES:
            raise ValueError(f"more than {_MAX_VALUES} values: too large, or cyclic")
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if not -_INT_MAX <= v <= _INT_MAX:
                raise ValueError(f"integer {v} is outside the exact range of JSON numbers")
            continue
        if t is dict or isinstance(v, Mapping):
            if t is not dict:
                needs_plain = True
            for k, item in v.items():
                if not isinstance(k, str):
                    raise ValueError(f"object key {k!r} is not a string")
                if not k.isascii() and max(k) > "\uffff":
                    needs_utf16_order = True
                stack.append(item)
            continue
        if t is list or t is tuple:
            stack.extend(v)
            continue
        if isinstance(v, float):
            raise ValueError("floats are not allowed in audit entries")
        if isinstance(v, bool | str):
            continue
        if isinstance(v, int):
            stack.append(int(v))
            continue
        if isinstance(v, list | tuple):
            needs_plain = True
            stack.extend(v)
            continue
        raise ValueError(f"{t.__name__} has no JSON form")
    return needs_utf16_order, needs_plain


def _plain(value: Any) -> Any:
    """Copy a checked value into plain dicts, lists, str, int, bool and None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value
