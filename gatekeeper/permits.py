"""The seam between deciding and the licence workflow: what a pending decision is settled into.

Below both the runtime (``gatekeeper.service``) and the workflow (``gatekeeper.workflow``): the
runtime asks a :class:`Permits` to settle a pending decision, the workflow implements it, and
neither imports the other (the workflow is given the runtime's parts through its ``Runtime``
protocol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gatekeeper.model import Decision, Outcome


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the licence/case workflow made of a pending evaluation.

    ``events``: workflow events, ``(kind, actor, data)``, that the runtime records in one durable
    batch with the decision's own record, before it (e.g. the ``case.opened`` of the case the
    request opened): one sync for both instead of one each. If that batch fails, the decision fails
    closed as it would had the workflow's own record of the event failed.
    """

    outcome: Outcome
    licence_id: str | None = None
    case_id: str | None = None
    reasons: tuple[str, ...] = ()
    events: tuple[tuple[str, str, dict[str, Any]], ...] = ()


class Permits(Protocol):
    """Consulted for pending evaluations: a licence may allow the request, else a case is opened or joined."""

    def settle(self, decision: Decision, *, dry_run: bool = False) -> Settlement:
        ...

    def refund(self, decision: Decision) -> None:
        """Give back what ``decision`` drew on its licence (``licence_id``): its record could not be
        made durable and it was turned into a deny, so the call does not proceed. At most once per
        decision; never raises (a refund that fails is logged and the draw stands)."""
        ...
