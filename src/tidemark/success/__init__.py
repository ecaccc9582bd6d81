"""The customer-success source data: accounts, KPIs, health, playbooks, notes."""
