"""Decision latency with each state store, beside SQLite's: ``Gatekeeper.decide()`` end to end.

The same controlled requests are decided with the embedded SQLite file, a PostgreSQL server
(Debian's binaries, started on 127.0.0.1 for the run: ``gatekeeper.stores.testing.LocalPostgres``)
and DynamoDB (moto's server over HTTP on 127.0.0.1: a stand-in, so its figure says what gatekeeper
and botocore cost per call, not what DynamoDB's network does). Every store decides with a file audit
log (the fsync is the same for all). Two paths:

* allowed: a US customer's p4d.24xlarge (profile and screening hits read, one audit record);
* licensed: a China-owned customer's p4d.24xlarge covered by a licence (profile read, the licence
  drawn down by one conditional update, two audit records: the decision and the draw).

The stores take turns (``Timer.compare``), so the machine's load falls on all of them alike. A store
that cannot be started here (no PostgreSQL binaries) is reported as not measured.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import Latency, Row, Timer
from bench.engine import CN_PARENT_ACCOUNT, CONTROLLED_TYPE, US_ACCOUNT, _profiles, _request

STORES = ("sqlite", "postgresql", "dynamodb")
COUNTS = {"full": 600, "quick": 150, "smoke": 10}


@contextmanager
def _store_urls(tmp: Path, log: Callable[[str], None]) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """URL per store that could be started, and the reason per store that could not."""
    from gatekeeper.stores.testing import DUMMY_CREDENTIALS, LocalDynamoDB, LocalPostgres

    urls = {"sqlite": f"sqlite:///{tmp}/state.db"}
    missing: dict[str, str] = {}
    with ExitStack() as stack:
        try:
            pg = stack.enter_context(LocalPostgres())
            urls["postgresql"] = pg.url(schema="gk_bench")
        except Exception as exc:  # no server binaries on this machine: report, measure the others
            missing["postgresql"] = f"{type(exc).__name__}: {exc}"
            log(f"stores: PostgreSQL not measured: {exc}")
        saved = {k: os.environ.get(k) for k in DUMMY_CREDENTIALS}
        os.environ.update(DUMMY_CREDENTIALS)
        stack.callback(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                                for k, v in saved.items()])
        ddb = stack.enter_context(LocalDynamoDB())
        urls["dynamodb"] = ddb.url(f"gk-bench-{uuid.uuid4().hex[:8]}")
        yield urls, missing


def _licence(quantity: float) -> Any:
    from gatekeeper.workflow.model import Licence, Scope

    today = datetime.now(UTC).date()
    return Licence(number="L-BENCH", provider="aws", account_id=CN_PARENT_ACCOUNT, legal_name="Lion City AI Pte. Ltd.",
                   scope=Scope(export_classes=("3A090.a",), providers=("aws",)), quantity=quantity,
                   remaining=quantity, valid_from=today, valid_until=today + timedelta(days=30), status="active",
                   approvers=("bench",), issued_at=datetime.now(UTC))


def measure(timer: Timer, n: int, log: Callable[[str], None]) -> dict[str, Any]:
    """p50/p99 of decide() per store and path; ``missing`` names the stores that could not be started."""
    from gatekeeper.config import AuditConfig, Config, StoreConfig
    from gatekeeper.model import Outcome
    from gatekeeper.service import Gatekeeper
    from gatekeeper.stores import open_store

    out: dict[str, Any] = {"n": n}
    with tempfile.TemporaryDirectory(prefix="gk-bench-stores-") as tmp, \
            _store_urls(Path(tmp), log) as (urls, missing):
        out["missing"] = missing
        gks: dict[str, Any] = {}
        try:
            for name, url in urls.items():
                store = open_store(url)
                store.init()
                store.close()
                cfg = Config(store=StoreConfig(url=url),
                             audit=AuditConfig(url=f"file://{tmp}/audit-{name}", signing_key=f"{tmp}/key.pem"))
                gk = gks[name] = Gatekeeper(cfg)
                gk.store.profiles.put_profiles(_profiles())
                # Enough for every call of the run (warm-up included): the draw always succeeds.
                gk.store.licences.put_licence(_licence(8.0 * (4 * n + 100)))
            allowed, licensed = _request(US_ACCOUNT, CONTROLLED_TYPE), _request(CN_PARENT_ACCOUNT, CONTROLLED_TYPE)
            for name, gk in gks.items():
                a, b = gk.decide(allowed), gk.decide(licensed)
                if a.outcome != Outcome.ALLOW or b.licence_id != "L-BENCH":
                    raise RuntimeError(f"{name}: unexpected decisions ({a.outcome.label} {a.error}; "
                                       f"{b.outcome.label} {b.licence_id} {b.error})")
            log(f"stores: decide() with {', '.join(gks)}, {n} calls per path")
            for path, req in (("allowed", allowed), ("licensed", licensed)):
                cases = {name: ((lambda g=gk, r=req: g.decide(r)), n) for name, gk in gks.items()}
                # One pass for tiny counts: each pass starts with a full garbage collection (~0.3 s
                # with moto's server in the process), which would be most of a smoke run.
                out[path] = timer.compare(cases, passes=1 if n < 50 else 5, warmup=min(50, n))
        finally:
            for gk in gks.values():
                gk.close()
    return out


def rows(d: dict[str, Any]) -> list[Row]:
    r: list[Row] = []
    labels = {"allowed": "controlled, allowed (US customer, p4d.24xlarge)",
              "licensed": "controlled, licensed (China-owned customer; licence drawn down)"}
    for path, label in labels.items():
        lats: dict[str, Latency] = d.get(path, {})
        base = lats.get("sqlite")
        for name in STORES:
            if name in lats:
                lat = lats[name]
                ratio = f" (x{lat.p50_us / base.p50_us:.2f} SQLite's p50)" if base and name != "sqlite" else ""
                r.append(Row("stores", f"decide(), {label}, {name} store", lat.text() + ratio,
                             base.text() if base and name != "sqlite" else "",
                             note="DynamoDB is moto over HTTP on 127.0.0.1" if name == "dynamodb" else
                             "a local server on 127.0.0.1" if name == "postgresql" else "the embedded default",
                             data={name: vars(lat)}))
            else:
                r.append(Row("stores", f"decide(), {label}, {name} store", "not measured",
                             note=d.get("missing", {}).get(name, "")[:300]))
    return r


def run(mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    d = measure(Timer(), COUNTS[mode], log)
    return d, rows(d)
