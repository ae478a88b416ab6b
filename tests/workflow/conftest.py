"""Store backends for the contract tests (see backends.py)."""

from tests.stores.backends import local_dynamodb, store_url

__all__ = ["local_dynamodb", "store_url"]
