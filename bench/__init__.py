"""Gatekeeper's benchmarks: ``python -m bench`` measures everything side by side and writes a report.

Not part of the installed package and not a test: no timing is asserted anywhere. See
docs/benchmarks.md for what is measured, how, and the latest figures.
"""
