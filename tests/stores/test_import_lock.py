"""``accounts import`` holds the write lock only to swap in what it staged, on SQLite and PostgreSQL.

A writer with its own connections (a decision opening a case, with the default busy timeout) goes
on while a large import is still being read and staged: the import is held until that writer is
done, so with the lock held during the staging the writer could not finish (SQLite: past its busy
timeout; PostgreSQL: waiting on the advisory lock for good). An import that fails after that still
changes nothing of its own. The staged path stores exactly what the straightforward one (every
batch written and screened inside one transaction) stores: profiles, hits, lapses, clearances and
the counts, also when a list is loaded while the import is staged.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.accounts import profile_batches
from gatekeeper.errors import InvalidInputError
from gatekeeper.model import CustomerProfile, Outcome
from gatekeeper.screening import import_profiles, load_list
from gatekeeper.screening.match import ScreeningIndex
from gatekeeper.screening.service import screen_one
from gatekeeper.stores import open_store
from gatekeeper.stores.screening_base import NO_WRITES, ListEntry, ParsedList, SubjectResult, WriteSummary
from gatekeeper.stores.sql import SQLStore
from tests.stores.backends import make_gatekeeper, postgres_url, request
from tests.stores.test_bulk_import import _entries, _near_miss, _rows, _write

BATCH = 200
WAIT = 60.0  # how long a stuck test waits before failing (never reached when the code is right)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    found = postgres_url(request.getfixturevalue("local_postgres"))
    store = open_store(found, base_dir=tmp_path)
    store.init()
    store.close()
    return found


def _held(batches: Iterator[list[CustomerProfile]], running: threading.Event,
          written: threading.Event) -> Iterator[list[CustomerProfile]]:
    """The file's batches, pausing after the first until the other writer is done."""
    for n, batch in enumerate(batches):
        yield batch
        if n == 0:
            running.set()
            if not written.wait(WAIT):
                raise AssertionError("the other writer did not finish while the import was staged")


@pytest.mark.parametrize("last_row", ["aws,000000009999,Last Co,US,US,US,verified",
                                      "aws,000000009999,Last Co,XX,US,US,verified"], ids=["good", "bad"])
def test_a_writer_goes_on_while_a_large_import_is_staged(url: str, tmp_path: Path, last_row: str) -> None:
    gk = make_gatekeeper(tmp_path / "decider", url)  # the deciding process's own store and audit log
    store = open_store(url, base_dir=tmp_path)
    before = store.profiles.list_profiles()
    running, written = threading.Event(), threading.Event()
    decided: list[Any] = []

    def decide() -> None:
        try:
            running.wait(WAIT)
            decided.append(gk.decide(request()))  # a pending request: the case is recorded in the store
        except BaseException as exc:  # reported below, not lost in the thread
            decided.append(exc)
        finally:
            written.set()

    writer = threading.Thread(target=decide)
    writer.start()
    f = _write(tmp_path / "accounts.csv", [*_rows(5 * BATCH), last_row])
    try:
        run = import_profiles(store, _held(profile_batches(f, size=BATCH), running, written))
        failed = None
    except InvalidInputError as exc:
        failed = exc
    writer.join(WAIT)
    try:
        (d,) = decided
        assert not isinstance(d, BaseException), d
        assert d.outcome == Outcome.PENDING and d.error is None and d.case_id, d.reasons
        assert store.cases.get_case(d.case_id) is not None  # the writer's change is in the store
        stored = store.profiles.list_profiles()
        if last_row.endswith(",US,US,US,verified"):
            assert failed is None and run.profiles == 5 * BATCH + 1
            assert {p.account_id for p in stored} >= {"000000000000", "000000000999", "000000009999"}
        else:  # the bad row came after the other writer's change: the import changed nothing
            assert failed is not None and failed.field == "country"
            assert stored == before
    finally:
        store.close()
        gk.close()


# -- the same result as writing every batch inside one transaction -------------------------------
AT = "2026-12-05T08:00:00+00:00"
THRESHOLD = 88.0


def _screen(generation: str, load_entries: Any, batch: Sequence[CustomerProfile]) -> list[SubjectResult]:
    index = ScreeningIndex(load_entries())
    return [screen_one(index, p, THRESHOLD) for p in batch]


def _straightforward(store: SQLStore, batches: Sequence[Sequence[CustomerProfile]]) -> WriteSummary:
    """The import as it was: every batch stored and screened inside one serial transaction."""
    screening = store.screening
    summary = NO_WRITES
    with store.db.transaction() as conn:
        generation, entries = screening.generation_in(conn), screening.entries_in(conn)  # type: ignore[attr-defined]
        any_stored = conn.execute("SELECT 1 FROM screening_hits LIMIT 1").fetchone() is not None
        for batch in batches:
            store.profiles.write(conn, batch, AT)  # type: ignore[attr-defined]
            summary = summary.plus(screening.write_subjects(conn, _screen(generation, entries, batch), AT,  # type: ignore[attr-defined]
                                                            any_stored=any_stored))
    return summary


def _state(store: SQLStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    profiles = [{k: v for k, v in dict(r).items() if k != "updated_at"}
                for r in store.db.query("SELECT * FROM profiles ORDER BY provider, account_id")]
    # Times the import wrote are AT in both stores; the list loads' own times differ between them.
    times = ("first_seen_at", "last_screened_at")
    hits = [{k: v if k not in times or v == AT else "a load" for k, v in dict(r).items()}
            for r in store.db.query("SELECT * FROM screening_hits ORDER BY provider, account_id, entry_id")]
    return profiles, hits


def _scenario(seed: int) -> tuple[list[ListEntry], list[ListEntry], list[CustomerProfile], list[CustomerProfile]]:
    """Lists (a first and a second load), the profiles on file, and an import that renames some of
    them (hits that lapse, new hits, unchanged ones) and adds others."""
    rng = random.Random(seed)
    entries = _entries(rng, 150)
    later = [*entries[:100], *_entries(random.Random(seed + 1000), 60)]
    later = [ListEntry(entry_id=f"{e.entry_id}-{n}" if n >= 100 else e.entry_id, list_code=e.list_code,
                       name=e.name, addresses=e.addresses) for n, e in enumerate(later)]

    def person(i: int, pool: list[ListEntry]) -> CustomerProfile:
        if rng.random() < 0.4:
            e = rng.choice(pool)
            name, country = _near_miss(e.name, rng), rng.choice(("CN", "US", "SG"))
        else:
            name, country = f"{rng.choice(['Acme', 'Zenith', 'Orion'])} {i} Labs", "US"
        return CustomerProfile("aws", f"{i:012d}", name, country, country, country, "verified")

    on_file = [person(i, entries) for i in range(300)]
    incoming = [p if rng.random() < 0.5 else person(i, later) for i, p in enumerate(on_file[:200])]
    incoming += [person(i, later) for i in range(300, 500)]
    rng.shuffle(incoming)
    return entries, later, on_file, incoming


def _store(url: str, tmp_path: Path, entries: list[ListEntry], on_file: list[CustomerProfile]) -> SQLStore:
    store = open_store(url, base_dir=tmp_path)
    assert isinstance(store, SQLStore)
    store.profiles.put_profiles(on_file)
    load_list(store, ParsedList(entries=tuple(entries), format="csv", list_date=date(2026, 11, 1)), actor="test")
    hits = store.screening.hits(("open",))
    for h in hits[::3]:  # some cleared as false positives: a clearance holds while names are unchanged
        store.screening.clear(h.provider, h.account_id, h.entry_id, by="rev", reason="not them", at=AT)
    return store


def _two_urls(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/staged.db", f"sqlite:///{tmp_path}/plain.db"
    server = request.getfixturevalue("local_postgres")
    urls = postgres_url(server), postgres_url(server)
    for u in urls:
        s = open_store(u, base_dir=tmp_path)
        s.init()
        s.close()
    return urls


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("load_meanwhile", [False, True], ids=["lists-unchanged", "list-loaded-while-staged"])
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_staged_import_stores_what_the_straightforward_one_stores(
        tmp_path: Path, seed: int, load_meanwhile: bool, kind: str, request: pytest.FixtureRequest) -> None:
    entries, later, on_file, incoming = _scenario(seed)
    batches = [incoming[i:i + 70] for i in range(0, len(incoming), 70)]
    second = ParsedList(entries=tuple(later), format="csv", list_date=date(2026, 12, 1))
    staged_url, plain_url = _two_urls(kind, tmp_path, request)
    staged, plain = _store(staged_url, tmp_path, entries, on_file), _store(plain_url, tmp_path, entries, on_file)
    try:
        assert _state(staged) == _state(plain) and _state(staged)[1]
        other = open_store(staged_url, base_dir=tmp_path)  # another process's connection

        def feed() -> Iterator[Sequence[CustomerProfile]]:
            for n, batch in enumerate(batches):
                yield batch
                if n == 1 and load_meanwhile:  # while the import is staged: goes through, moves the generation
                    load_list(other, second, actor="test")

        if load_meanwhile:  # the straightforward import after the same load
            load_list(plain, second, actor="test")
        got = staged.import_profiles(feed(), _screen, at=AT)
        want = _straightforward(plain, batches)
        other.close()
        assert got == want and want.lapsed_hits and want.new_hits
        assert _state(staged) == _state(plain) and len(_state(staged)[0]) == 500
    finally:
        staged.close()
        plain.close()


def test_the_staging_tables_are_gone_after_an_import(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db", base_dir=tmp_path)
    assert isinstance(store, SQLStore)
    try:
        f = _write(tmp_path / "a.csv", _rows(50))
        import_profiles(store, profile_batches(f, size=20))
        with pytest.raises(InvalidInputError):
            import_profiles(store, profile_batches(_write(tmp_path / "b.csv", [*_rows(50), "x,y"]), size=20))
        temp = store.db.query("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
        assert [r["name"] for r in temp] == []
    finally:
        store.close()

