"""Azure adapter tests."""
