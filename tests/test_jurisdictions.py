"""Country groups and region locations against the reference (export-controls.md), and the loader's errors.

The group tables are written here by country NAME, as the reference lists them, and mapped to codes
through the data's own country table: a wrong code or a wrong name in jurisdictions.yaml fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gatekeeper.errors import CatalogError
from gatekeeper.jurisdictions import DATA_DIR, Jurisdictions, default_jurisdictions, load_jurisdictions

REFERENCE_GROUPS = {
    "D:1": "Armenia, Azerbaijan, Belarus, Burma, Cambodia, China, Georgia, Iraq, Kazakhstan, North Korea, "
           "Kyrgyzstan, Laos, Libya, Macau, Moldova, Mongolia, Nicaragua, Russia, Tajikistan, Turkmenistan, "
           "Uzbekistan, Venezuela, Vietnam, Yemen",
    "D:4": "Bahrain, Belarus, China, Egypt, Iran, Iraq, Israel, Jordan, North Korea, Kuwait, Lebanon, Libya, "
           "Macau, Oman, Pakistan, Qatar, Russia, Saudi Arabia, Syria, UAE, Venezuela, Yemen",
    "D:5": "Afghanistan, Belarus, Burma, Central African Republic, China, Cuba, DR Congo, Eritrea, Haiti, Iran, "
           "Iraq, North Korea, Lebanon, Libya, Nicaragua, Russia, Somalia, South Sudan, Sudan, Syria, "
           "Venezuela, Zimbabwe",
    "E:1": "Iran, North Korea, Syria",
    "E:2": "Cuba",
    "TIER1-2025": "Australia, Belgium, Canada, Denmark, Finland, France, Germany, Ireland, Italy, Japan, "
                  "Netherlands, New Zealand, Norway, South Korea, Spain, Sweden, Taiwan, United Kingdom, "
                  "United States",
    "EMBARGOED": "Cuba, Iran, North Korea",  # today's: Syria's OFAC programme ended 2025-07-01
}
# The reference's short names for two countries whose data names are the full ones.
ALIASES = {"DR Congo": "Democratic Republic of the Congo", "UAE": "United Arab Emirates"}

# Region -> country spot checks, from the providers' region lists.
REGION_CHECKS = [
    ("aws", "us-east-1", "US"), ("aws", "us-gov-west-1", "US"), ("aws", "us-gov-east-1", "US"),
    ("aws", "cn-north-1", "CN"), ("aws", "cn-northwest-1", "CN"), ("aws", "ap-east-1", "HK"),
    ("aws", "me-central-1", "AE"), ("aws", "me-south-1", "BH"), ("aws", "il-central-1", "IL"),
    ("aws", "eu-west-1", "IE"), ("aws", "ap-northeast-3", "JP"), ("aws", "sa-east-1", "BR"),
    ("azure", "eastus", "US"), ("azure", "chinanorth", "CN"), ("azure", "chinaeast2", "CN"),
    ("azure", "eastasia", "HK"), ("azure", "uaenorth", "AE"), ("azure", "qatarcentral", "QA"),
    ("azure", "israelcentral", "IL"), ("azure", "norwayeast", "NO"), ("azure", "westeurope", "NL"),
    ("azure", "northeurope", "IE"), ("azure", "usgovvirginia", "US"),
    ("gcp", "us-central1", "US"), ("gcp", "asia-east2", "HK"), ("gcp", "asia-east1", "TW"),
    ("gcp", "me-central1", "QA"), ("gcp", "me-central2", "SA"), ("gcp", "me-west1", "IL"),
    ("gcp", "europe-west4", "NL"), ("gcp", "europe-west10", "DE"), ("gcp", "northamerica-northeast2", "CA"),
]


@pytest.fixture(scope="module")
def j() -> Jurisdictions:
    return default_jurisdictions()


def codes(j: Jurisdictions, names: str) -> set[str]:
    by_name = {name: code for code, name in j.countries.items()}
    out = set()
    for raw in names.split(", "):
        name = ALIASES.get(raw, raw)
        assert name in by_name, f"{raw!r} is not a country in jurisdictions.yaml"
        out.add(by_name[name])
    return out


# -- groups -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", sorted(REFERENCE_GROUPS))
def test_group_members_match_the_reference(j: Jurisdictions, group: str) -> None:
    expected = codes(j, REFERENCE_GROUPS[group])
    if "CN" in expected:
        expected.add("HK")  # Hong Kong is treated as China
    assert j.groups[group] == frozenset(expected)


def test_every_group_has_a_source_and_a_note() -> None:
    import yaml

    doc = yaml.safe_load((DATA_DIR / "jurisdictions.yaml").read_text(encoding="utf-8"))
    for name, spec in doc["groups"].items():
        assert str(spec["source"]).startswith("https://"), name
    # A:5 and A:6 were not extracted from the reference: the data must say so.
    for name in ("A:5", "A:6"):
        assert "eCFR" in doc["groups"][name]["note"]


def test_a5_a6_carve_out(j: Jurisdictions) -> None:
    # 742.6(a)(6): D:1, D:4, D:5 except A:5/A:6 - Israel (D:4, A:6) is the case that matters.
    licence = j.expand(["D:1", "D:4", "D:5"]) - j.expand(["A:5", "A:6"])
    assert "IL" in j.expand(["D:4"]) and "IL" not in licence
    assert {"CN", "HK", "MO", "RU", "AE", "SA"} <= licence
    assert not j.expand(["A:5"]) & j.expand(["D:5"])
    assert "US" not in j.expand(["A:5", "A:6"])


def test_tier1_includes_the_united_states(j: Jurisdictions) -> None:
    assert "US" in j.expand(["TIER1-2025"])
    assert len(j.groups["TIER1-2025"]) == 19


def test_embargoed_is_e1_and_e2(j: Jurisdictions) -> None:
    from datetime import date

    # Syria's OFAC programme ended 2025-07-01 (EO 14312); before then the list equals E:1 + E:2.
    assert j.expand(["EMBARGOED"], date(2025, 6, 30)) == j.expand(["E:1", "E:2"])
    assert j.expand(["EMBARGOED"], date(2025, 7, 1)) == j.expand(["E:1", "E:2"]) - {"SY"}


def test_norway_is_a_country_not_a_boolean(j: Jurisdictions) -> None:
    assert j.countries["NO"] == "Norway"
    assert "FALSE" not in j.countries
    assert "NO" in j.groups["TIER1-2025"] and "NO" in j.groups["A:5"]


# -- expand -----------------------------------------------------------------------------------------
def test_hong_kong_is_china(j: Jurisdictions) -> None:
    assert j.expand(["CN"]) == {"CN", "HK"}
    for group in ("D:1", "D:4", "D:5"):
        assert "HK" in j.expand([group])
    # Hong Kong alone is only Hong Kong.
    assert j.expand(["HK"]) == {"HK"}


def test_macau(j: Jurisdictions) -> None:
    # Macau is in D:1 and D:4 but not D:5: the packs name it beside D:5.
    assert "MO" not in j.expand(["D:5"])
    assert "MO" in j.expand(["D:1"]) and "MO" in j.expand(["D:4"])
    assert j.expand(["MO", "D:5"]) == j.expand(["D:5"]) | {"MO"}


def test_expand_is_case_and_space_insensitive(j: Jurisdictions) -> None:
    assert j.expand([" d:5 ", "cn"]) == j.expand(["D:5"])
    assert j.is_group("tier1-2025") and j.is_group(" E:1")
    assert not j.is_group("CN")


@pytest.mark.parametrize("token", ["D:9", "XX", "", "China", "A:7"])
def test_unknown_group_or_country_raises_key_error(j: Jurisdictions, token: str) -> None:
    with pytest.raises(KeyError):
        j.expand(["CN", token])


def test_expand_empty(j: Jurisdictions) -> None:
    assert j.expand([]) == frozenset()


# -- regions ------------------------------------------------------------------------------------------
def test_every_region_maps_to_a_known_country(j: Jurisdictions) -> None:
    for provider in ("aws", "azure", "gcp"):
        table = j.regions[provider]
        assert len(table) >= 30, provider
        for region, country in table.items():
            assert country in j.countries, (provider, region)
            assert j.region_country(provider, region) == country


def test_every_region_country_is_a_known_country_name(j: Jurisdictions) -> None:
    used = {c for table in j.regions.values() for c in table.values()}
    assert used <= j.countries.keys()


@pytest.mark.parametrize(("provider", "region", "country"), REGION_CHECKS)
def test_region_country(j: Jurisdictions, provider: str, region: str, country: str) -> None:
    assert j.region_country(provider, region) == country


@pytest.mark.parametrize(
    ("provider", "zone", "country"),
    [
        ("aws", "us-east-1a", "US"), ("aws", "cn-north-1b", "CN"), ("aws", "ap-east-1c", "HK"),
        ("aws", " US-EAST-1A ", "US"),
        ("gcp", "us-central1-a", "US"), ("gcp", "asia-east2-b", "HK"), ("gcp", "europe-west10-c", "DE"),
        ("gcp", "northamerica-northeast1-a", "CA"), ("gcp", "me-central2-a", "SA"),
        ("azure", "East US", "US"), ("azure", "China North 2", "CN"), ("azure", "UAENorth", "AE"),
    ],
)
def test_zones_and_display_names(j: Jurisdictions, provider: str, zone: str, country: str) -> None:
    assert j.region_country(provider, zone) == country


@pytest.mark.parametrize(
    ("provider", "region"),
    [("aws", "mars-east-1"), ("aws", ""), ("aws", "us-east-9a"), ("gcp", "mars-central1-a"),
     ("gcp", "us-central1-a-b"), ("azure", "moonbase"), ("oracle", "us-ashburn-1"), ("gcp", "us-east-1")],
)
def test_unknown_region_is_none(j: Jurisdictions, provider: str, region: str) -> None:
    assert j.region_country(provider, region) is None


def test_hong_kong_regions_fall_in_china_groups(j: Jurisdictions) -> None:
    d5 = j.expand(["D:5"])
    for provider, region in (("aws", "ap-east-1"), ("azure", "eastasia"), ("gcp", "asia-east2")):
        assert j.region_country(provider, region) in d5


# -- loader errors ---------------------------------------------------------------------------------------
@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(DATA_DIR, d)
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_copy_loads(data: Path) -> None:
    assert load_jurisdictions(data).groups == default_jurisdictions().groups


@pytest.mark.parametrize(
    ("fname", "old", "new", "message"),
    [
        ("jurisdictions.yaml", "members: [IR, KP, SY]", "members: [IR, KP, SY, XX]", "unknown countries"),
        ("jurisdictions.yaml", '"NO": Norway', "NO: Norway", "bad country code"),
        ("jurisdictions.yaml", "members: [CU]", "members: [7]", "bad country code"),
        ("jurisdictions.yaml", "members: [CU]", "members: [CUB]", "bad country code"),
        ("regions.yaml", "norwayeast: \"NO\"", "norwayeast: NO", "bad country code"),
        ("regions.yaml", "us-east-1: US", "us-east-1: XX", "unknown country"),
        ("jurisdictions.yaml", "treated_as: {HK: CN}", "treated_as: {HK: 5}", "bad country code"),
    ],
)
def test_bad_data_is_a_catalog_error(data: Path, fname: str, old: str, new: str, message: str) -> None:
    edit(data / fname, old, new)
    with pytest.raises(CatalogError, match=message):
        load_jurisdictions(data)


def test_malformed_yaml_is_a_catalog_error(data: Path) -> None:
    (data / "regions.yaml").write_text("regions: {aws: [", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"regions\.yaml"):
        load_jurisdictions(data)


def test_missing_file_is_a_catalog_error(data: Path) -> None:
    (data / "jurisdictions.yaml").unlink()
    with pytest.raises(CatalogError, match=r"jurisdictions\.yaml"):
        load_jurisdictions(data)


@pytest.mark.parametrize(
    ("fname", "text"),
    [
        ("jurisdictions.yaml", ""),
        ("jurisdictions.yaml", "names: {CN: China}\n"),  # no groups
        ("jurisdictions.yaml", "countries: [CN]\ngroups: {}\n"),  # the old key: countries come from ISO
        ("jurisdictions.yaml", "names: [CN]\ngroups: {}\n"),
        ("jurisdictions.yaml", "names: {XX: Nowhere}\ngroups: {}\n"),  # not an ISO code
        ("jurisdictions.yaml", "names: {CN: China}\ngroups: {D:5: {source: x}}\n"),  # no members
        ("jurisdictions.yaml", "treated_as: {HK: XX}\ngroups: {}\n"),  # XX unknown
        ("jurisdictions.yaml", "groups: {D:5: {members: [{country: KH, effective_from: 2021-12-09}]}}\n"),  # no source
        ("jurisdictions.yaml", "groups: {D:5: {members: [{country: KH, effective_from: 2021-12-09, "
                               "effective_until: 2021-01-01, source: x}]}}\n"),  # ends before it starts
        ("jurisdictions.yaml", "groups: {D:5: {members: [{country: KH, effective_from: 2021-13-09, "
                               "source: x}]}}\n"),  # bad date
        ("jurisdictions.yaml", "groups: {D:5: {members: [{country: KH, since: 2021-12-09, source: x}]}}\n"),
        ("regions.yaml", ""),
        ("regions.yaml", "regions: {aws: [us-east-1]}\n"),
    ],
)
def test_malformed_files_are_a_catalog_error(data: Path, fname: str, text: str) -> None:
    (data / fname).write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError):
        load_jurisdictions(data)


# -- every ISO country, dated memberships -------------------------------------------------------------
def test_every_iso_3166_country_is_known(j: Jurisdictions) -> None:
    import pycountry

    assert {c.alpha_2 for c in pycountry.countries} == set(j.countries)
    for code in ("NG", "BD", "PH", "KE", "PE", "GH", "BO", "AQ"):
        assert j.expand([code]) == {code}
    # The EAR's names win over ISO's where the data overrides them.
    assert (j.countries["MM"], j.countries["MO"], j.countries["KP"]) == ("Burma", "Macau", "North Korea")


def test_cambodia_in_d5_only_between_its_dates(j: Jurisdictions) -> None:
    from datetime import date

    assert "KH" not in j.expand(["D:5"], date(2021, 12, 8))
    assert "KH" in j.expand(["D:5"], date(2021, 12, 9))
    assert "KH" in j.expand(["D:5"], date(2026, 2, 2))
    assert "KH" not in j.expand(["D:5"], date(2026, 2, 3))  # effective_until is exclusive
    assert "KH" not in j.groups["D:5"] and "KH" not in j.expand(["D:5"])  # today's groups
    assert "KH" in j.expand(["D:1"], date(2026, 6, 1))  # Cambodia stays in D:1
    assert j.change_dates(["D:5", "CN"]) == (date(2021, 12, 9), date(2026, 2, 3))
    assert j.change_dates(["D:1", "E:1"]) == ()
    (m,) = j.history("D:5")
    assert m.country == "KH" and "86 FR 70015" in m.source


def test_a_dated_member_treated_as_another_country(data: Path) -> None:
    from datetime import date

    edit(data / "jurisdictions.yaml", "members: [CU]",
         'members: [{country: CN, effective_from: 2030-01-01, source: "test"}]')
    j = load_jurisdictions(data)
    assert j.expand(["E:2"], date(2029, 12, 31)) == frozenset()
    assert j.expand(["E:2"], date(2030, 1, 1)) == {"CN", "HK"}  # Hong Kong follows China on the day


def test_the_iso_countries_read_from_pycountrys_file_are_pycountrys(monkeypatch: pytest.MonkeyPatch) -> None:
    import pycountry

    from gatekeeper import jurisdictions

    expected = {c.alpha_2: str(getattr(c, "common_name", None) or c.name) for c in pycountry.countries}
    assert jurisdictions._pycountry_entries() is not None  # the file is where pycountry keeps it
    assert jurisdictions.iso_countries() == expected and len(expected) > 240
    assert expected["TW"] == "Taiwan" and expected["KP"] != ""  # common names where pycountry has them
    monkeypatch.setattr(jurisdictions, "_pycountry_entries", lambda: None)  # a pycountry laid out otherwise
    assert jurisdictions.iso_countries() == expected
