"""Automatic snapshots: the event outbox, the worker, debounce windows and schedules."""
