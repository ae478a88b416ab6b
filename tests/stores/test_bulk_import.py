"""``accounts import`` of a large file: streamed, stored and screened in batches in one transaction.

A bad row or a duplicate account far into the file (after earlier batches were written) rolls back
everything, on SQLite and on PostgreSQL; the batched re-screening of ``screening load`` finds exactly
what screening each profile alone (``screen_one``) finds.
"""

from __future__ import annotations

import random
import uuid
from datetime import date
from pathlib import Path

import pytest

from gatekeeper.accounts import CSV_HEADER, profile_batches, read_profiles
from gatekeeper.errors import InvalidInputError
from gatekeeper.model import CustomerProfile
from gatekeeper.screening import current_index, import_profiles, load_list
from gatekeeper.screening.service import screen_one
from gatekeeper.stores import open_store
from gatekeeper.stores.screening_base import Address, ListEntry, ParsedList

ROWS = 2_500
BATCH = 300


def _store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    server = request.getfixturevalue("local_postgres")
    return str(server.url(schema=f"gk_{uuid.uuid4().hex[:12]}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    s = open_store(_store_url(request.param, tmp_path, request), base_dir=tmp_path)
    s.init()
    s.profiles.put_profiles([CustomerProfile("aws", "999999999999", "Existing Co", "US", "US", "US", "verified")])
    yield s
    s.close()


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(",".join(CSV_HEADER) + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(n: int) -> list[str]:
    return [f"aws,{i:012d},Company {i} Labs,US,US,US,verified" for i in range(n)]


def test_a_big_file_is_imported_in_batches(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = _write(tmp_path / "a.csv", _rows(ROWS))
    run = import_profiles(store, profile_batches(f, size=BATCH))
    assert run.profiles == ROWS
    stored = {p.account_id: p for p in store.profiles.list_profiles()}
    assert len(stored) == ROWS + 1 and stored["000000002499"].legal_name == "Company 2499 Labs"


@pytest.mark.parametrize(("bad", "row", "field", "text"), [
    ("aws,000000009999,Late Typo,XX,US,US,verified", ROWS + 2, "country", "not an ISO 3166"),
    ("aws,00000000abcd,Late Typo,US,US,US,verified", ROWS + 2, "account_id", "12 digits"),
    ("aws,000000000007,Second Seven,US,US,US,verified", ROWS + 2, "account_id", "also appears in row 9"),
])
def test_a_bad_row_after_many_batches_changes_nothing(store, tmp_path: Path, bad: str, row: int, field: str,
                                                      text: str) -> None:  # type: ignore[no-untyped-def]
    before = store.profiles.list_profiles()
    f = _write(tmp_path / "bad.csv", [*_rows(ROWS), bad])
    with pytest.raises(InvalidInputError) as info:
        import_profiles(store, profile_batches(f, size=BATCH))
    assert (info.value.row, info.value.field) == (row, field) and text in str(info.value)
    assert store.profiles.list_profiles() == before


def test_the_streamed_reader_gives_the_errors_of_the_whole_file_reader(tmp_path: Path) -> None:
    # A duplicate far apart (different batches) and a non-canonical row (pydantic's path) in between.
    f = _write(tmp_path / "d.csv", [*_rows(50), " AWS , 000000000100 , Spaced ,us,Us, US ,VERIFIED",
                                    "aws,000000000003,Again,US,US,US,verified"])
    with pytest.raises(InvalidInputError) as streamed:
        [p for b in profile_batches(f, size=7) for p in b]
    assert (streamed.value.row, streamed.value.field) == (53, "account_id")
    assert "also appears in row 5" in str(streamed.value)
    ok = _write(tmp_path / "ok.csv", [*_rows(3), " AWS , 000000000100 , Spaced ,us,Us, US ,VERIFIED"])
    spaced = read_profiles(ok)[-1]
    assert (spaced.provider, spaced.account_id, spaced.legal_name, spaced.countries, spaced.kyc_status) == (
        "aws", "000000000100", "Spaced", ("US", "US", "US"), "verified")


def _entries(rng: random.Random, n: int) -> list[ListEntry]:
    syll = ("an", "bao", "chen", "dong", "fang", "guo", "hua", "jian", "kai", "long", "ming", "ping", "qiang",
            "rong", "sheng", "tian", "wei", "xin", "yang", "zhong")
    out = []
    for i in range(n):
        words = ["".join(rng.choice(syll) for _ in range(rng.choice((2, 3)))).capitalize() for _ in range(2)]
        name = " ".join(words) + rng.choice((" Technology Co., Ltd.", " Trading Ltd.", " Industrial Group"))
        out.append(ListEntry(entry_id=f"e-{i}", list_code="EL", name=name,
                             addresses=(Address(country=rng.choice(("CN", "HK", "RU"))),)))
    return out


def _near_miss(name: str, rng: random.Random) -> str:
    words = name.replace(",", "").replace(".", "").split()
    w = words[0]
    kind = rng.choice(("typo", "drop", "swap", "same", "extra"))
    if kind == "typo" and len(w) > 3:
        i = rng.randrange(1, len(w) - 1)
        words[0] = w[:i] + w[i + 1:]
    elif kind == "drop" and len(words) > 2:
        words.pop(1)
    elif kind == "swap":
        words[0], words[1] = words[1], words[0]
    elif kind == "extra":
        words.insert(1, "Holdings")
    return " ".join(words)


def test_batched_rescreening_finds_what_screening_one_by_one_finds(
        store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Pages of profiles and batches of written hits much smaller than the population.
    monkeypatch.setattr("gatekeeper.stores.sql.SUBJECT_PAGE", 97)
    monkeypatch.setattr("gatekeeper.stores.sql_screening.WRITE_BATCH", 113)
    rng = random.Random(19)
    entries = _entries(rng, 300)
    people = []
    for i in range(1_200):
        if rng.random() < 0.4:
            e = rng.choice(entries)
            name, country = _near_miss(e.name, rng), rng.choice(("CN", "US", "SG"))
        else:
            name, country = f"{rng.choice(['Acme', 'Zenith', 'Orion'])} {i} Labs", "US"
        people.append(CustomerProfile("aws", f"{i:012d}", name, country, country, country, "verified"))
    store.profiles.put_profiles(people)
    run = load_list(store, ParsedList(entries=tuple(entries), format="csv", list_date=date(2026, 12, 1)),
                    actor="test").run
    index = current_index(store)
    expected = {}
    for p in people:
        for h in screen_one(index, p, run.threshold).hits:
            expected[(p.account_id, h.entry_id)] = h.score
    stored = {(h.account_id, h.entry_id): h.score for h in store.screening.hits(("open",))}
    assert stored == expected and len(expected) > 50
    assert run.profiles == len(people) + 1 and run.open_hits == len(expected)
