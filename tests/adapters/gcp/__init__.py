"""Google Cloud adapter tests."""
