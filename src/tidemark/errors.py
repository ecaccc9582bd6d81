"""Errors every entry point turns into a clear message (CLI line, HTTP problem)."""

from __future__ import annotations

from typing import Any


class TidemarkError(Exception):
    """Base of the errors the product reports to its users."""


class NotFound(TidemarkError):
    """Something asked for does not exist in the caller's tenant."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class InvalidInput(TidemarkError):
    """Input that cannot be accepted; ``where`` names the field, line or row."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class InvalidRows(InvalidInput):
    """A file with bad rows: every bad row and column is listed in ``errors``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        super().__init__(str(first.get("where", "file")), f"{len(errors)} bad row(s) in the file")
        self.errors = errors


class Conflict(TidemarkError):
    """A request that contradicts what is stored (a duplicate, an out-of-order time)."""
