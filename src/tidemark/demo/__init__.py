"""The demo tenant: seed 004's "Test Company" with a simulated year of history."""

from tidemark.demo.service import DemoSummary, load_demo

__all__ = ["DemoSummary", "load_demo"]
