"""The state-store contracts: one small Protocol per concern, implemented by every backend.

Backends are chosen by URL scheme (``sqlite:///PATH``, ``dynamodb://PREFIX?region=R``) through the
explicit map in ``gatekeeper.stores.open_store``; each is imported only when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from gatekeeper.model import CustomerProfile


@runtime_checkable
class ProfileStore(Protocol):
    """Customer profiles keyed by (provider, account id)."""

    def get_profile(self, provider: str, account_id: str) -> CustomerProfile | None:
        """The profile, with its screening hits; None when the account is not known."""
        ...

    def put_profiles(self, profiles: Sequence[CustomerProfile]) -> None:
        """Insert or replace all of them in one transaction: all or nothing."""
        ...

    def list_profiles(self, provider: str | None = None) -> list[CustomerProfile]:
        ...

    def close(self) -> None:
        ...
