"""``acting_for``: naming the customer when provider tooling provisions on a customer's behalf.

A context variable, so it follows the code that set it (threads and asyncio tasks each see their own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Subject:
    provider: str
    account_id: str


_acting_for: ContextVar[Subject | None] = ContextVar("gatekeeper_acting_for", default=None)


@contextmanager
def acting_for(*, provider: str, account_id: str) -> Iterator[Subject]:
    """Within the block, provisioning calls are decided for this customer instead of the caller's account."""
    p = provider.strip().lower()
    if p not in ("aws", "azure", "gcp"):
        raise ValueError(f"provider must be aws, azure or gcp, not {provider!r}")
    if not account_id or not account_id.strip():
        raise ValueError("account_id must not be empty")
    subject = Subject(p, account_id.strip())
    token = _acting_for.set(subject)
    try:
        yield subject
    finally:
        _acting_for.reset(token)


def current_subject(provider: str) -> Subject | None:
    """The ``acting_for`` subject for ``provider`` in this context, if any."""
    s = _acting_for.get()
    return s if s is not None and s.provider == provider else None
