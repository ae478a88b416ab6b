"""Running the test cases a pack ships with (``gatekeeper policy test``), offline and deterministic.

Each pack's cases run against that pack alone, on the case's ``on`` date (default: the pack's
``effective_from``), so a pack's tests say what the pack itself decides. The packs come from the files,
or from a policy bundle (``bundle``), which carries their cases: the same cases, the same results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper.catalog import Catalog, default_catalog
from gatekeeper.engine import Engine
from gatekeeper.jurisdictions import Jurisdictions, default_jurisdictions
from gatekeeper.model import (
    AttachedAccelerator,
    ComputeItem,
    CustomerProfile,
    Owner,
    ProvisioningRequest,
    ScreeningHit,
)
from gatekeeper.policy.compiled import compile_packs, pack_sources

if TYPE_CHECKING:
    # The packs and cases as validated from the files (schema) or as read from a bundle (plain).
    from gatekeeper.policy import plain, schema

    Pack = schema.Pack | plain.Pack
    TestCase = schema.TestCase | plain.TestCase


@dataclass(frozen=True, slots=True)
class CaseResult:
    pack_id: str
    file: str
    name: str
    expected: str
    actual: str
    expected_rules: tuple[str, ...] | None
    actual_rules: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def passed(self) -> bool:
        if self.expected != self.actual:
            return False
        return self.expected_rules is None or set(self.expected_rules) == set(self.actual_rules)


def case_request(case: TestCase) -> tuple[ProvisioningRequest, CustomerProfile]:
    r = case.request
    items = (ComputeItem(r.instance_type, r.count,
                         tuple(AttachedAccelerator(t, c) for t, c in r.attached.items())),)
    request = ProvisioningRequest(provider=r.provider, account_id=r.account_id, items=items, region=r.region,
                                  operation="policy-test", source="cli", unresolved=tuple(r.unresolved))
    c = case.customer
    if c is None:
        return request, CustomerProfile.unknown(r.provider, r.account_id)
    profile = CustomerProfile(
        provider=r.provider, account_id=r.account_id, legal_name=c.legal_name, country=c.country,
        headquarters_country=c.headquarters_country, ultimate_parent_country=c.ultimate_parent_country,
        kyc_status=c.kyc_status,
        screening_hits=tuple(ScreeningHit(code, f"test-{code}", "test entry", 100.0) for code in c.screening_lists),
        owners=tuple(Owner(o.name, o.country, o.share, tuple(x.upper() for x in o.screening_lists))
                     for o in c.owners),
    )
    return request, profile


def run_pack_tests(
    paths: Iterable[str | Path],
    *,
    catalog: Catalog | None = None,
    jurisdictions: Jurisdictions | None = None,
    bundle: Path | None = None,
) -> list[CaseResult]:
    """Every case of every pack under ``paths``, the packs taken as ``load_policies`` takes them (or
    from ``bundle``, which must vouch for exactly these files: ``compiled.pack_sources``)."""
    cat = catalog or default_catalog()
    j = jurisdictions or default_jurisdictions()
    results: list[CaseResult] = []
    for pack, file in pack_sources(paths, bundle=bundle):
        engine = Engine(compile_packs([(pack, file)], catalog=cat, jurisdictions=j), cat, j)
        results.extend(_run(pack, file, engine))
    return results


def _run(pack: Pack, file: str, engine: Engine) -> Iterable[CaseResult]:
    for case in pack.tests:
        request, profile = case_request(case)
        ev = engine.evaluate(request, profile, on=case.on or pack.effective_from)
        yield CaseResult(
            pack_id=pack.id, file=file, name=case.name, expected=case.expect, actual=ev.outcome.label,
            expected_rules=tuple(case.expect_rules) if case.expect_rules is not None else None,
            actual_rules=tuple(m.rule_id for m in ev.matches), reasons=ev.reasons,
        )
