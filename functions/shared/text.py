"""Text shown to people: counts with their noun in the right number."""

from __future__ import annotations


def noun(count: object, singular: str, plural: str | None = None) -> str:
    """``singular`` for a count of exactly 1, else ``plural`` (default: ``singular`` + s)."""
    return singular if count == 1 else plural or singular + "s"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``1 time``, ``2 times``, ``0 times``."""
    return f"{count} {noun(count, singular, plural)}"
