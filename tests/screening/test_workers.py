"""``screening load`` on several processes: the same stored state as one process, and all or nothing.

Two stores get the same profiles, the same first list and the same clearance; then the second
list is loaded into one by one process and into the other by forked workers, in small chunks (so
that results come back out of turn and across the in-flight window), and every screening table is
compared row by row, in insertion order, less the times and the generation's random id. A worker
killed during a load fails it and leaves the first list and its hits in force.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import random
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import Config, ScreeningConfig, StoreConfig
from gatekeeper.errors import ScreeningError
from gatekeeper.model import CustomerProfile
from gatekeeper.screening import clear_hit, list_hits, load_list, service
from gatekeeper.screening._workers import available_cpus, ordered_map
from gatekeeper.screening.parse import CSV_COLUMNS
from gatekeeper.service import Gatekeeper
from tests.conftest import tmp_config
from tests.stores.backends import local_postgres, postgres_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.bench_screening import make_customers, make_list

__all__ = ["local_postgres"]

# Columns that differ between two runs of the same load: its time and its generation's random id.
_TIMES = {"at", "loaded_at", "first_seen_at", "last_screened_at", "cleared_at"}


def _timeless(data: str) -> dict[str, Any]:
    return {k: v for k, v in json.loads(data).items() if k not in _TIMES}


def _state(gk: Gatekeeper) -> dict[str, list[dict[str, Any]]]:
    """Every screening table, rows in the order they were written, less the times and the generation."""
    db: Any = gk.store.db
    out: dict[str, list[dict[str, Any]]] = {}
    for table, order in (("screening_lists", "list_code"), ("screening_entries", "list_code, entry_id"),
                         ("screening_hits", "provider, account_id, entry_id"), ("screening_events", "seq"),
                         ("screening_meta", "key")):
        rows = [{k: _timeless(v) if k == "data" else v for k, v in dict(r).items() if k not in _TIMES}
                for r in db.query(f"SELECT * FROM {table} ORDER BY {order}")]
        out[table] = [r for r in rows if r.get("key") != "generation"]
    return out


def _hit_order(gk: Gatekeeper) -> list[tuple[str, str, str]]:
    """The order in which the hits were written (SQLite: rowid; the write order is the profiles' order)."""
    db: Any = gk.store.db
    return [tuple(r) for r in db.query("SELECT provider, account_id, entry_id FROM screening_hits ORDER BY rowid")]


def _write_list(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[CustomerProfile]]:
    """A first list, a second (a third of the first dropped, a third renamed, new entries) and the
    profiles: the bench's customers (5 % named like an entry of either list), blank names, names
    repeated with other countries and with the same (screened once by a worker)."""
    rng = random.Random(1919)
    first = make_list(300, rng)
    fresh = make_list(400, rng)[300:]
    second = [r for i, r in enumerate(first) if i % 3] + [dict(r, _id=f"new-{r['_id']}") for r in fresh]
    for i, r in enumerate(second[:60]):
        if i % 2:
            second[i] = dict(r, name=r["name"] + " Trading")
    people = make_customers(3000, first + second, rng)
    people[10:20] = [CustomerProfile("aws", f"blank-{i}", "  ", "US", "US", "US", "verified") for i in range(10)]
    people += [CustomerProfile("gcp", f"twin-{i}", people[i * 7].legal_name, "CN", "HK", "CN", "verified")
               for i in range(200)]  # the same names with other countries
    people += [replace(p, provider="azure", account_id=f"again-{i}") for i, p in enumerate(people[:600:2])]
    base = tmp_path_factory.mktemp("lists")
    return _write_list(base / "first.csv", first), _write_list(base / "second.csv", second), people


def _gatekeeper(tmp: Path, url: str | None, workers: int = 0) -> Gatekeeper:
    overrides: dict[str, Any] = {"screening": ScreeningConfig(workers=workers)}
    if url is not None:
        overrides["store"] = StoreConfig(url=url)
    config: Config = tmp_config(tmp, **overrides)
    return Gatekeeper(config)


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path,
         lists: tuple[Path, Path, list[CustomerProfile]]) -> Iterator[tuple[Gatekeeper, Gatekeeper]]:
    """Two stores in the same state: the profiles, the first list loaded, one hit cleared."""
    first, _, people = lists
    out = []
    for side in ("one", "two"):
        url = None
        if request.param == "postgresql":
            from gatekeeper.stores import open_store

            url = postgres_url(request.getfixturevalue("local_postgres"))
            open_store(url).init()
        (tmp_path / side).mkdir()
        gk = _gatekeeper(tmp_path / side, url)
        gk.store.profiles.put_profiles(people)
        load_list(gk, first, list_date=date(2026, 11, 1), actor="test", workers=1)
        hit = list_hits(gk)[0]
        clear_hit(gk, hit.account, hit.entry_id, by="rita", reason="a namesake")
        out.append(gk)
    yield out[0], out[1]
    for gk in out:
        gk.close()


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_store_what_one_process_stores(pair: tuple[Gatekeeper, Gatekeeper], workers: int,
                                                lists: tuple[Path, Path, list[CustomerProfile]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    one, many = pair
    _, second, people = lists
    assert _state(one) == _state(many)
    monkeypatch.setattr(service, "WORKER_CHUNK", 37)  # ~80 chunks: results come back out of turn
    alone = load_list(one, second, list_date=date(2026, 12, 1), actor="test", workers=1)
    shared = load_list(many, second, list_date=date(2026, 12, 1), actor="test", workers=workers)
    assert alone.as_dict() == shared.as_dict()
    run = alone.run
    # What the comparison covers: hits kept, new, lapsed and cleared, over every profile.
    assert run.profiles == len(people) and run.new_hits > 0 and run.lapsed_hits > 0
    assert run.active_hits > run.open_hits  # the clearance held
    assert _state(one) == _state(many)
    if one.config.store.url.startswith("sqlite"):
        assert _hit_order(one) == _hit_order(many)


@pytest.mark.parametrize("remembered", [100_000, 40])
def test_a_name_and_its_countries_are_sent_once_while_remembered(
        pair: tuple[Gatekeeper, Gatekeeper], lists: tuple[Path, Path, list[CustomerProfile]],
        monkeypatch: pytest.MonkeyPatch, remembered: int) -> None:
    """The command sends a (name, countries) to the workers only when its hits are not remembered
    (the profiles repeat 300 of them, 200 more names come again with other countries); with a
    small memory, forgotten ones are sent again. Either way the stored state is one process's."""
    one, many = pair
    _, second, people = lists
    sent: list[tuple[str, tuple[str, ...]]] = []
    real_map = service.ordered_map

    def recording(fn: Any, chunks: Any, workers: int) -> Any:
        def seen() -> Iterator[Any]:
            for keep, names in chunks:
                sent.extend(names)
                yield keep, names
        return real_map(fn, seen(), workers)

    monkeypatch.setattr(service, "ordered_map", recording)
    monkeypatch.setattr(service, "WORKER_CHUNK", 50)
    monkeypatch.setattr(service, "_REMEMBERED", remembered)
    load_list(one, second, list_date=date(2026, 12, 1), actor="test", workers=1)
    load_list(many, second, list_date=date(2026, 12, 1), actor="test", workers=2)
    assert _state(one) == _state(many)
    distinct = {(p.legal_name, p.countries) for p in people}
    assert set(sent) == distinct  # every one screened
    if remembered > len(people):
        # Sent again only while its first screening was in flight (a window of six chunks).
        assert len(sent) < len(distinct) + 6 * 50 and len(sent) < len(people)
    else:
        assert len(sent) > len(distinct)  # forgotten, screened again


def test_workers_from_the_configuration(tmp_path: Path, lists: tuple[Path, Path, list[CustomerProfile]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``[screening] workers`` is used when the call names none; 0 is the CPUs available."""
    first, _, people = lists
    monkeypatch.setattr(service, "WORKER_CHUNK", 10)
    for workers, expected in ((3, 3), (0, available_cpus()), (1, 1)):
        seen: list[int] = []

        def count_workers(n: int, total: int, seen: list[int] = seen) -> None:
            seen.append(len(multiprocessing.active_children()))

        gk = _gatekeeper(tmp_path / str(workers), None, workers=workers)
        gk.store.profiles.put_profiles(people[:500])
        load_list(gk, first, progress=count_workers)
        gk.close()
        assert max(seen) == (expected if expected > 1 else 0), workers


def test_a_killed_worker_fails_the_load_and_changes_nothing(pair: tuple[Gatekeeper, Gatekeeper],
                                                             lists: tuple[Path, Path, list[CustomerProfile]],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    gk, _ = pair
    _, second, _ = lists
    before = _state(gk)
    monkeypatch.setattr(service, "WORKER_CHUNK", 25)
    killed: list[int] = []

    def kill_a_worker(n: int, total: int) -> None:
        if not killed:
            workers = multiprocessing.active_children()
            assert workers, "the load runs on forked workers"
            os.kill(workers[0].pid or 0, signal.SIGKILL)
            killed.append(n)

    with pytest.raises(ScreeningError, match="worker process died"):
        load_list(gk, second, list_date=date(2026, 12, 1), workers=2, progress=kill_a_worker)
    assert killed
    assert _state(gk) == before
    again = load_list(gk, second, list_date=date(2026, 12, 1), workers=2)  # the store is usable after
    assert again.run.profiles > 0


def test_a_negative_worker_count_is_refused(tmp_path: Path, lists: tuple[Path, Path, list[CustomerProfile]]) -> None:
    from gatekeeper.errors import InvalidInputError

    gk = _gatekeeper(tmp_path, None)
    with pytest.raises(InvalidInputError, match="workers"):
        load_list(gk, lists[0], workers=-1)
    assert gk.store.screening.lists() == []
    gk.close()


# -- ordered_map itself -----------------------------------------------------------------------------

def _pid_and_square(chunk: list[int]) -> tuple[int, list[int]]:
    return os.getpid(), [x * x for x in chunk]


def test_ordered_map_keeps_the_order_and_uses_other_processes() -> None:
    chunks = [(i, list(range(i, i + 5))) for i in range(0, 400, 5)]
    out = list(ordered_map(_pid_and_square, chunks, 3))
    assert [keep for keep, _ in out] == [keep for keep, _ in chunks]
    assert [r for _, (_, r) in out] == [[x * x for x in c] for _, c in chunks]
    assert {pid for _, (pid, _) in out} - {os.getpid()}  # forked workers did the work


@pytest.mark.parametrize("workers,chunks", [(1, 10), (4, 1), (4, 0)])
def test_ordered_map_runs_here_for_one_worker_or_one_chunk(workers: int, chunks: int) -> None:
    out = list(ordered_map(_pid_and_square, [(i, [i]) for i in range(chunks)], workers))
    assert out == [(i, (os.getpid(), [i * i])) for i in range(chunks)]
    assert not multiprocessing.active_children()


def _fails_on_seven(chunk: int) -> int:
    if chunk == 7:
        raise ValueError("chunk seven is bad")
    return chunk


def test_an_exception_in_a_worker_is_raised_here_and_the_workers_stop() -> None:
    with pytest.raises(ValueError, match="chunk seven is bad"):
        for _ in ordered_map(_fails_on_seven, [(i, i) for i in range(50)], 2):
            pass
    assert not multiprocessing.active_children()


def _stdout_name(chunk: int) -> str:
    return str(getattr(sys.stdout, "name", ""))


def test_workers_do_not_write_to_the_inherited_std_streams() -> None:
    """A worker flushes its stdout as it exits: not the parent's (its lock may have been held by
    another thread at the fork, e.g. a progress bar's)."""
    names = {name for _, name in ordered_map(_stdout_name, [(i, i) for i in range(20)], 2)}
    assert names == {os.devnull}
