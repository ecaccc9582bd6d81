"""Tidemark: immutable point-in-time snapshots of business state, and their history."""

__version__ = "0.1.0"
