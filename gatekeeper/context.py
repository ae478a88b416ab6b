"""``acting_for``: naming the customer when provider tooling provisions on a customer's behalf.

A context variable, so it follows the code that set it: asyncio tasks inherit it, but a thread (a
``ThreadPoolExecutor`` worker) starts with none. Two ways to carry the customer into workers:

- bind the client: ``gatekeeper.aws.protect(client, acting_for="222222222222")`` decides every call
  of that client for that customer, in whatever thread it runs;
- carry the context: ``executor.submit(gatekeeper.context.carry(fn), ...)`` runs ``fn`` with the
  caller's ``acting_for`` (``contextvars.copy_context().run``, wrapped).

A call from one of the provider's own accounts with no customer named is denied (``[aws]
provider_accounts``), so a lost ``acting_for`` never silently becomes the provider's own decision.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Subject:
    provider: str
    account_id: str


_acting_for: ContextVar[Subject | None] = ContextVar("gatekeeper_acting_for", default=None)


def subject(provider: str, account_id: str) -> Subject:
    """A validated subject (the provider lower-cased, the id stripped); ValueError when unusable."""
    p = provider.strip().lower() if isinstance(provider, str) else ""
    if p not in ("aws", "azure", "gcp"):
        raise ValueError(f"provider must be aws, azure or gcp, not {provider!r}")
    if not isinstance(account_id, str) or not account_id.strip():
        raise ValueError("account_id must not be empty")
    return Subject(p, account_id.strip())


def carry(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` wrapped to run in a copy of the current context (its ``acting_for``), in any thread."""
    ctx = contextvars.copy_context()

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


@contextmanager
def acting_for(*, provider: str, account_id: str) -> Iterator[Subject]:
    """Within the block, provisioning calls are decided for this customer instead of the caller's account."""
    subject_ = subject(provider, account_id)
    token = _acting_for.set(subject_)
    try:
        yield subject_
    finally:
        _acting_for.reset(token)


def current_subject(provider: str) -> Subject | None:
    """The ``acting_for`` subject for ``provider`` in this context, if any."""
    s = _acting_for.get()
    return s if s is not None and s.provider == provider else None
