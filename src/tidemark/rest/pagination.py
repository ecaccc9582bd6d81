"""The body of a paginated response, shared by every list endpoint."""

from __future__ import annotations

from typing import Any, Protocol


class Page(Protocol):
    """A page of any list service: its items, the total that match, and the window."""

    @property
    def items(self) -> Any: ...
    @property
    def total(self) -> int: ...
    @property
    def limit(self) -> int: ...
    @property
    def offset(self) -> int: ...


def page_body(page: Page) -> dict[str, Any]:
    """The JSON body of ``page``: items, total, limit and offset."""
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}
