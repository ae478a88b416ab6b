"""Matching: recall on real name variants, precision against generic overlaps, explained scores."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.screening import DEFAULT_THRESHOLD, ListEntry, ScreeningIndex
from gatekeeper.screening.match import (
    COUNTRY_CONFLICT,
    COUNTRY_SUPPORT,
    GENERIC_ONLY_CAP,
    token_similarity,
)
from gatekeeper.stores.screening_base import Address

T = DEFAULT_THRESHOLD


def best(index: ScreeningIndex, name: str, *countries: str) -> tuple[str, float] | None:
    found = index.match(name, countries, limit=1)
    return (found[0].entry.entry_id, found[0].score) if found else None


# -- recall: each of these is the listed party written differently --------------------------------

@pytest.mark.parametrize(("name", "countries", "entry"), [
    # punctuation and case
    ("HUAWEI TECHNOLOGIES CO LTD", (), "el-huawei-0001"),
    ("Huawei Technologies Co.,Ltd", ("CN",), "el-huawei-0001"),
    # legal suffix variants
    ("Huawei Technologies Limited Liability Company", (), "el-huawei-0001"),
    ("Huawei Technologies GmbH", ("DE",), "el-huawei-0001"),
    ("Inspur Group Company Limited", (), "el-inspur-0003"),
    ("Dawning Information Industry Corp.", (), "el-sugon-0004"),
    # word order
    ("Technologies Huawei", (), "el-huawei-0001"),
    ("Information Industry Dawning Co", (), "el-sugon-0004"),
    ("Hikvision Hangzhou Digital Technology", ("CN",), "el-hikvision-0006"),
    # transliteration variants and typos
    ("Shenzen Huawei Technologies", ("CN",), "el-huawei-0001"),
    ("Huawai Technologies", (), "el-huawei-0001"),
    ("Rostekh", ("RU",), "sdn-rostec-0010"),
    ("Hangzhou Hikvison Digital Technology", ("CN",), "el-hikvision-0006"),
    # split or joined words
    ("Hik-Vision Digital Technology", ("CN",), "el-hikvision-0006"),
    ("Hik Vision", ("CN",), "el-hikvision-0006"),
    ("I Flytek", ("CN",), "el-iflytek-0005"),
    # diacritics
    ("Teheran Electronique", ("IR",), "sdn-teheran-0011"),
    ("Tehéran Électronique SA", (), "sdn-teheran-0011"),
    # aliases and parenthesised short names
    ("SMIC", ("CN",), "el-smic-0002"),
    ("Semiconductor Manufacturing International Corp.", (), "el-smic-0002"),
    ("Sugon", (), "el-sugon-0004"),
    ("Rostec", (), "sdn-rostec-0010"),
    # short names are not under-scored
    ("ZTE", (), "el-zte-0008"),
    ("ZTE Corp.", ("CN",), "el-zte-0008"),
    ("Inspur", (), "el-inspur-0003"),
    ("Hikvision", ("CN",), "el-hikvision-0006"),
    ("iFlytek", (), "el-iflytek-0005"),
    # abbreviations
    ("Harbin Inst. of Technology", (), "el-hit-0007"),
    ("Xian Aircraft Industry Group", ("CN",), "meu-xac-0009"),
])
def test_recall(index: ScreeningIndex, name: str, countries: tuple[str, ...], entry: str) -> None:
    found = best(index, name, *countries)
    assert found is not None and found[0] == entry, found
    assert found[1] >= T, found


# -- precision: none of these is a listed party ---------------------------------------------------

@pytest.mark.parametrize(("name", "countries"), [
    ("Acme Corp", ("US",)),
    ("Acme Corp", ()),
    ("Global Trading Holdings Ltd", ("HK",)),
    ("Smith Manufacturing International Corporation", ("US",)),
    ("Beijing Technology Group", ("CN",)),
    ("Shenzhen Electronics Trading Co", ("CN",)),
    ("Hua Wei Noodle House LLC", ("US",)),
    ("ZTA Corporation", ("CN",)),
    ("Iflyer Travel Ltd", ("GB",)),
    ("Huawei Marine Networks Cloud Services", ("GB",)),
    ("International Holdings Company", ()),
    ("Digital Technology Co., Ltd.", ("CN",)),
    ("Adrian Lopez", ("US",)),
])
def test_precision(index: ScreeningIndex, name: str, countries: tuple[str, ...]) -> None:
    hits = index.match(name, countries, min_score=T)
    assert hits == [], [(m.entry.entry_id, m.explanation.summary()) for m in hits]


def test_acme_corp_is_not_corp_holdings_trading_company() -> None:
    index = ScreeningIndex([ListEntry("x1", "SDN", "Corp Holdings Trading Company")])
    assert index.match("Acme Corp") == []
    m = index.score("Acme Corp", "x1")
    assert m is not None and m.score == 0 and m.explanation.pairs == ()


def test_generic_only_overlap_is_capped_and_says_so() -> None:
    index = ScreeningIndex([ListEntry("g1", "EL", "Global Technology Trading Holdings Group Co., Ltd.")])
    m = index.score("Global Technology Trading Group", "g1")
    assert m is not None
    assert m.explanation.rule == "generic-only"
    assert m.explanation.base_score <= GENERIC_ONLY_CAP and m.score < T
    assert "only generic/place words in common" in m.explanation.summary()


def test_identical_names_match_even_when_generic() -> None:
    index = ScreeningIndex([ListEntry("g1", "UVL", "Global Technology Trading Co., Limited")])
    m = index.score("Global Technology Trading Company", "g1")
    assert m is not None and m.explanation.rule == "identical" and m.score == 100.0


def test_generic_words_weigh_less_than_rare_words(index: ScreeningIndex) -> None:
    assert index.weight("TRADING") < index.weight("SHENZHEN") < index.weight("HUAWEI")
    assert index.weight("UNSEENWORD") >= index.weight("HUAWEI")


def test_weights_follow_rarity_across_the_list() -> None:
    common = [ListEntry(f"c{i}", "EL", f"Zorblax Unit{chr(65 + i % 26)}{i}") for i in range(300)]
    index = ScreeningIndex([*common, ListEntry("r1", "EL", "Quillfeather Systems")])
    assert index.weight("ZORBLAX") < index.weight("QUILLFEATHER")


def test_explanation_names_tokens_weights_and_country(index: ScreeningIndex) -> None:
    [m] = index.match("Shenzen Huawei Technologies", ["CN"], limit=1)
    ex = m.explanation
    pairs = {p.entry: p for p in ex.pairs}
    assert pairs["HUAWEI"].similarity == 1.0 and pairs["HUAWEI"].word_class == "distinctive"
    assert pairs["TECHNOLOGY"].word_class == "generic"
    assert pairs["HUAWEI"].entry_weight > 5 * pairs["TECHNOLOGY"].entry_weight
    assert [t for t, _ in ex.unmatched_customer] == ["SHENZEN"]
    assert ex.country_effect == COUNTRY_SUPPORT and "CN" in ex.country_note
    assert ex.score == min(100.0, round(ex.base_score + COUNTRY_SUPPORT, 1))
    doc = ex.as_dict()
    assert doc["pairs"] and doc["country"]["effect"] == COUNTRY_SUPPORT and doc["summary"] == ex.summary()
    assert "HUAWEI=HUAWEI" in ex.summary() and "extra SHENZEN" in ex.summary()


def test_fuzzy_pair_is_shown_with_its_similarity(index: ScreeningIndex) -> None:
    [m] = index.match("Huawai Technologies", limit=1)
    pair = next(p for p in m.explanation.pairs if p.entry == "HUAWEI")
    assert pair.customer == "HUAWAI" and 0.8 < pair.similarity < 1.0
    assert "HUAWAI~HUAWEI" in m.explanation.summary()


def _entry(country: str) -> ListEntry:
    return ListEntry("e1", "EL", "Quillfeather Robotics Co., Ltd.", addresses=(Address(country=country),))


def test_country_supports_weakens_or_is_neutral() -> None:
    index = ScreeningIndex([_entry("CN")])
    name = "Quillfeather Robotics Widgets"  # a base score well inside 0-100, so nothing is clipped
    base = index.score(name, "e1")
    same = index.score(name, "e1", ["CN"])
    other = index.score(name, "e1", ["US", "US"])
    assert base is not None and same is not None and other is not None
    assert base.explanation.country_effect == 0 and "unknown" in base.explanation.country_note
    assert 20 < base.score < 90
    assert same.score == round(base.score + COUNTRY_SUPPORT, 1)
    assert other.score == round(base.score + COUNTRY_CONFLICT, 1)
    assert "differs" in other.explanation.country_note


def test_hong_kong_counts_as_china_for_the_country_effect() -> None:
    index = ScreeningIndex([_entry("CN")])
    m = index.score("Quillfeather Robotics Trading", "e1", ["HK"])
    assert m is not None and m.explanation.country_effect == COUNTRY_SUPPORT


def test_headquarters_country_supports_too() -> None:
    index = ScreeningIndex([_entry("CN")])
    m = index.score("Quillfeather Robotics", "e1", ["SG", "CN"])
    assert m is not None and m.explanation.country_effect == COUNTRY_SUPPORT


def test_entry_without_address_country_is_neutral() -> None:
    index = ScreeningIndex([ListEntry("e1", "EL", "Quillfeather Robotics")])
    m = index.score("Quillfeather Robotics", "e1", ["US"])
    assert m is not None and m.explanation.country_effect == 0 and m.score == 100.0


def test_match_returns_one_result_per_entry_best_first(index: ScreeningIndex) -> None:
    found = index.match("Huawei Technologies", ["CN"])
    ids = [m.entry.entry_id for m in found]
    assert len(ids) == len(set(ids))
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)


def test_min_score_filters_and_pruning_keeps_every_match_above_it(index: ScreeningIndex) -> None:
    names = ["Huawei Marine", "Hua Wei Noodle House", "Hikvision", "Orient Sun", "Adrian Hernandez",
             "Shenzhen Huawei Orient Trading", "Inspur Dawning Sugon", "Global Technology Trading"]
    for name in names:
        everything = index.match(name, ["CN"])
        for floor in (30.0, 60.0, T):
            pruned = index.match(name, ["CN"], min_score=floor)
            assert [(m.entry.entry_id, m.score) for m in pruned] == [
                (m.entry.entry_id, m.score) for m in everything if m.score >= floor]


def test_score_of_unknown_entry_is_none(index: ScreeningIndex) -> None:
    assert index.score("Huawei", "no-such-entry") is None


@pytest.mark.parametrize(("a", "b", "ok"), [
    ("SHENZEN", "SHENZHEN", True),
    ("HUAWAI", "HUAWEI", True),
    ("ROSTEC", "ROSTEKH", True),
    ("ZTE", "ZTA", False),  # 1-3 letters must be equal
    ("SUGON", "SUGAR", False),
    ("INSPUR", "INSIGHT", False),
])
def test_token_similarity_bars(a: str, b: str, ok: bool) -> None:
    assert (token_similarity(a, b) > 0) is ok


def test_empty_list_matches_nothing() -> None:
    assert ScreeningIndex([]).match("Huawei Technologies") == []


WORDS = ["Huawei", "Technologies", "Shenzhen", "Shenzen", "Hik", "Vision", "Hikvision", "Digital", "Sugon",
         "Dawning", "Information", "Industry", "Trading", "Global", "Co.", "Ltd.", "Group", "Inspur", "ZTE",
         "Orient", "Sun", "Electronics", "Acme", "Corp", "Rostec", "Xi'an", "Aircraft", "Harbin", "Institute"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
       country=st.sampled_from(["", "CN", "US", "HK", "RU"]))
def test_pruning_never_drops_a_match_above_the_floor(index: ScreeningIndex, words: list[str], country: str) -> None:
    name = " ".join(words)
    countries = [country] if country else []
    everything = {m.entry.entry_id: m.score for m in index.match(name, countries)}
    for floor in (50.0, T):
        pruned = {m.entry.entry_id: m.score for m in index.match(name, countries, min_score=floor)}
        assert pruned == {k: v for k, v in everything.items() if v >= floor}
