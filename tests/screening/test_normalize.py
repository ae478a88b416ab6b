"""Name normalisation: case, diacritics, punctuation, legal forms, connecting words."""

from __future__ import annotations

import pytest

from gatekeeper.screening.normalize import (
    fold,
    normalize_name,
    phonetic_key,
    split_parenthetical,
    word_class,
)


@pytest.mark.parametrize(("name", "tokens"), [
    ("Huawei Technologies Co., Ltd.", ("HUAWEI", "TECHNOLOGY")),
    ("HUAWEI TECHNOLOGIES CO LTD", ("HUAWEI", "TECHNOLOGY")),
    ("Huawei Technologies Co.,Ltd", ("HUAWEI", "TECHNOLOGY")),
    ("Huawei Technologies Limited Liability Company", ("HUAWEI", "TECHNOLOGY")),
    ("Huawei Technologies LLC", ("HUAWEI", "TECHNOLOGY")),
    ("Huawei Technologies GmbH", ("HUAWEI", "TECHNOLOGY")),
    ("Inspur Group Co. Ltd. Shenzhen Branch", ("INSPUR", "GROUP", "SHENZHEN", "BRANCH")),
    ("Acme S.A.", ("ACME",)),
    ("Acme AG", ("ACME",)),
    ("OOO Acme", ("ACME",)),
    ("Joint Stock Company Acme", ("ACME",)),
    ("Z.T.E. Corporation", ("ZTE",)),
    ("Xi'an Aircraft Industry Group Company Ltd.", ("XIAN", "AIRCRAFT", "INDUSTRY", "GROUP")),
    ("Bank of China", ("BANK", "CHINA")),
    ("Smith & Sons Trading", ("SMITH", "SONS", "TRADING")),
    ("Semiconductor Manufacturing Intl Corp", ("SEMICONDUCTOR", "MANUFACTURING", "INTERNATIONAL")),
])
def test_legal_forms_punctuation_and_case(name: str, tokens: tuple[str, ...]) -> None:
    assert normalize_name(name).tokens == tokens


def test_removed_forms_are_kept_for_the_explanation() -> None:
    norm = normalize_name("Huawei Technologies Co., Ltd.")
    assert "CO LTD" in norm.removed


def test_words_that_are_forms_only_in_some_places_stay_elsewhere() -> None:
    # "CO" and "COMPANY" are legal forms at the ends, not in the middle of a name.
    assert normalize_name("Acme Co Lab Holdings").tokens == ("ACME", "CO", "LAB", "HOLDING")


def test_a_name_of_only_legal_forms_does_not_vanish() -> None:
    assert normalize_name("Company Limited").tokens == ("COMPANY", "LIMITED")
    assert normalize_name("The Corporation").tokens == ("CORPORATION",)
    assert normalize_name("...").tokens == ()


@pytest.mark.parametrize(("text", "folded"), [
    ("Société Générale", "SOCIETE GENERALE"),
    ("Straße", "STRASSE"),
    ("Øresund Æble", "ORESUND AEBLE"),
    ("Łódź", "LODZ"),
    ("Téhéran Électronique", "TEHERAN ELECTRONIQUE"),
])
def test_diacritics_are_folded(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_parenthesised_parts_are_split_off() -> None:
    assert split_parenthetical("Semiconductor Manufacturing International Corporation (SMIC)") == (
        "Semiconductor Manufacturing International Corporation", ["SMIC"])
    assert split_parenthetical("Plain Name") == ("Plain Name", [])


def test_word_classes() -> None:
    assert word_class("TRADING") == "generic"
    assert word_class("SHENZHEN") == "place"
    assert word_class("HUAWEI") == "distinctive"


@pytest.mark.parametrize(("a", "b"), [("ROSTEC", "ROSTEKH"), ("SHENZEN", "SHENZHEN"), ("HUAWEI", "HUAVEI")])
def test_transliteration_keys_bring_variants_close(a: str, b: str) -> None:
    ka, kb = phonetic_key(a), phonetic_key(b)
    assert ka == kb or abs(len(ka) - len(kb)) <= 1
    assert ka != phonetic_key("INSPUR")
