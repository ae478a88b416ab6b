"""Adapter tests: real SDK clients against local stand-ins."""
