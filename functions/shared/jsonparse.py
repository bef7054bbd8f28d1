"""JSON from outside the function, parsed with one nesting limit on every Python.

How deep ``json.loads`` may nest depends on the interpreter: on Python 3.11 five thousand nested
arrays raise RecursionError, on 3.12 and later they parse (the C parser's limit moved to the C
stack, https://docs.python.org/3.12/whatsnew/3.12.html#sys). No request, Slack payload or
chaos state of ours nests beyond a few levels, so anything deeper than ``MAX_DEPTH`` is refused
the same way on every runtime, before a handler walks it recursively.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class NestedTooDeeply(Exception):
    """The JSON text nests arrays and objects deeper than ``MAX_DEPTH``."""


def loads(data: str | bytes) -> Any:
    """``json.loads`` that raises NestedTooDeeply past ``MAX_DEPTH`` (ValueError as before for
    text that is not JSON)."""
    try:
        value = json.loads(data)
    except RecursionError as error:
        raise NestedTooDeeply from error
    if depth(value) > MAX_DEPTH:
        raise NestedTooDeeply
    return value


def depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed value (0 for a scalar), without recursion;
    stops counting past ``MAX_DEPTH``."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        pending.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
