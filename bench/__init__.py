"""Benchmarks that print figures and ratios; run by hand (``python -m bench.capture``)."""
