"""Event tests use the API fixtures too: the app client, a fake clock, tenants with keys."""

from __future__ import annotations

from tests.api.conftest import client, clock, other_tenant, tenant

__all__ = ["client", "clock", "other_tenant", "tenant"]
