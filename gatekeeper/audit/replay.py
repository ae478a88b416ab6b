"""Replay: decide the recorded requests again under other packs and show what would change.

Each decision record carries the request, the customer profile as it was and the items as the
catalog classified them at the time, so a replay changes one thing only: the policies. The
comparison is between policy outcomes (``policy_decision`` of the record, before licences and cases,
and the engine's outcome now); the recorded final decision is shown beside them.

Dates. By default the packs are simulated: every rule applies whatever its effective dates (this
is how ``ai-diffusion-2025``, rescinded and never in force, can be asked "what would you have
changed?"). ``honour_dates`` evaluates each record on its own date; ``as_of`` on one given date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gatekeeper.audit.record import classified_items_from_record, request_from_record
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.errors import GatekeeperError, InvalidInputError
from gatekeeper.model import ClassifiedItem


@dataclass(frozen=True)
class ReplayRow:
    seq: int
    decision_id: str
    ts: str
    account_id: str
    legal_name: str
    recorded: str  # the final decision recorded (after licences)
    old: str  # the policy decision recorded
    new: str  # the policy decision under the replayed packs
    old_rules: tuple[str, ...]
    new_rules: tuple[str, ...]
    reasons: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.old != self.new or self.old_rules != self.new_rules


@dataclass(frozen=True)
class ReplayReport:
    records: int
    changed: int
    rows: tuple[ReplayRow, ...]  # changed rows (all rows with include_unchanged)
    transitions: dict[str, int]  # "allow -> deny": n
    errors: tuple[tuple[str, str], ...] = field(default=())  # (decision id, why it could not be replayed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records, "changed": self.changed, "transitions": self.transitions,
            "rows": [{**asdict(r), "changed": r.changed, "old_rules": list(r.old_rules),
                      "new_rules": list(r.new_rules), "reasons": list(r.reasons)} for r in self.rows],
            "errors": [{"decision_id": d, "error": e} for d, e in self.errors],
        }


def replay(
    directory: Path,
    policy_paths: Sequence[Path],
    *,
    filters: Filters | None = None,
    honour_dates: bool = False,
    as_of: date | None = None,
    reclassify: bool = False,
    include_unchanged: bool = False,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Re-decide the decision records of the log at ``directory`` under the packs at ``policy_paths``."""
    from gatekeeper.catalog import default_catalog
    from gatekeeper.engine import Engine
    from gatekeeper.jurisdictions import default_jurisdictions
    from gatekeeper.policy import load_policies

    if not policy_paths:
        raise InvalidInputError("replay needs at least one policy file or folder (--policies)", field="policies")
    for p in policy_paths:
        if not Path(p).exists():
            raise InvalidInputError(f"no policy file or folder at {p}", field="policies")
    catalog, jurisdictions = default_catalog(), default_jurisdictions()
    simulate = not honour_dates and as_of is None
    policies = load_policies(list(policy_paths), catalog=catalog, jurisdictions=jurisdictions, simulate=simulate)
    engine = Engine(policies, catalog, jurisdictions, fail_closed=True)
    flt = filters or Filters()
    if flt.kind != "decision":
        flt = Filters(**{**asdict(flt), "kind": "decision"})
    with AuditReader(directory) as reader:
        records = reader.decision_records(flt)
    if total:
        total(len(records))
    rows: list[ReplayRow] = []
    errors: list[tuple[str, str]] = []
    transitions: Counter[str] = Counter()
    changed = 0
    for rec in records:
        did = str(rec.get("decision_id") or f"seq {rec['seq']}")
        try:
            request, profile = request_from_record(rec)
            items: tuple[ClassifiedItem, ...] | None = None
            if not reclassify:
                try:
                    items = classified_items_from_record(rec)
                except InvalidInputError:
                    items = None  # no usable classification recorded (an error decision): classify now
            on = as_of or (request.at.date() if request.at else None)
            if on is None:  # the engine takes the day as input: never "today" for an old record
                raise InvalidInputError("the record has no time to decide it on", field="ts")
            ev = engine.evaluate(request, profile, on=on, items=items)
        except (GatekeeperError, KeyError, TypeError, ValueError) as exc:
            errors.append((did, f"{type(exc).__name__}: {exc}"))
            if progress:
                progress(1)
            continue
        old = str(rec.get("policy_decision") or rec.get("decision") or "")
        row = ReplayRow(
            seq=int(rec["seq"]), decision_id=did, ts=str(rec.get("ts") or ""),
            account_id=profile.account_id, legal_name=profile.legal_name,
            recorded=str(rec.get("decision") or ""), old=old, new=ev.outcome.label,
            old_rules=tuple(str(r.get("id")) for r in rec.get("rules") or []),
            new_rules=tuple(m.rule_id for m in ev.matches), reasons=ev.reasons)
        if row.changed:
            changed += 1
            if row.old != row.new:
                transitions[f"{row.old} -> {row.new}"] += 1
        if row.changed or include_unchanged:
            rows.append(row)
        if progress:
            progress(1)
    return ReplayReport(len(records), changed, tuple(rows), dict(transitions.most_common()), tuple(errors))
