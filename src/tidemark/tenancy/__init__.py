"""Customers (tenants), their users and configuration."""
