"""Profile import: CSV and JSON, bad rows named, nothing half-imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.accounts import parse_csv, parse_json, read_profiles
from gatekeeper.errors import InvalidInputError
from gatekeeper.service import Gatekeeper

HEADER = "provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
SUB = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"
GOOD = HEADER + f"aws,111111111111,Acme Inc.,US,US,US,verified\nazure,{SUB},Lion City AI,sg,SG,CN,Verified\n"


def test_csv_parses_and_normalises() -> None:
    a, b = parse_csv(GOOD)
    assert (a.provider, a.account_id, a.country, a.kyc_status) == ("aws", "111111111111", "US", "verified")
    # Azure subscription ids are case-insensitive GUIDs; country codes upper-cased.
    assert (b.account_id, b.country, b.kyc_status) == (SUB.lower(), "SG", "verified")


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("aws,222222222222,Acme,USA,US,US,verified", "country"),
        ("aws,222222222222,Acme,US,US,XX,verified", "ultimate_parent_country"),
        ("oracle,222222222222,Acme,US,US,US,verified", "provider"),
        ("aws,222222222222,Acme,US,US,US,trusted", "kyc_status"),
        ("aws,,Acme,US,US,US,verified", "account_id"),
        ("aws,222222222222,,US,US,US,verified", "legal_name"),
    ],
)
def test_bad_row_names_row_and_field(row: str, field: str) -> None:
    text = GOOD + row + "\n"
    with pytest.raises(InvalidInputError) as info:
        parse_csv(text)
    assert info.value.row == 4 and info.value.field == field
    assert str(info.value).startswith("row 4")


def test_wrong_column_count_and_header() -> None:
    with pytest.raises(InvalidInputError, match=r"row 3.*expected 7 columns"):
        parse_csv(HEADER + "aws,111111111111,A,US,US,US,verified\naws,2,B,US\n")
    with pytest.raises(InvalidInputError, match=r"row 1.*header"):
        parse_csv("provider,account\naws,1\n")
    with pytest.raises(InvalidInputError, match="empty file"):
        parse_csv("")


def test_duplicate_account_named() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_csv(GOOD + "aws,111111111111,Again,US,US,US,verified\n")
    assert info.value.row == 4 and "row 2" in str(info.value)


def test_json_forms(tmp_path: Path) -> None:
    rows = [{"provider": "gcp", "account_id": "proj-1", "legal_name": "P", "country": "DE",
             "headquarters_country": "DE", "ultimate_parent_country": "DE", "kyc_status": "pending"}]
    assert parse_json(json.dumps(rows))[0].account_id == "proj-1"
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"accounts": rows}), encoding="utf-8")
    assert read_profiles(f)[0].kyc_status == "pending"
    with pytest.raises(InvalidInputError, match="row 2"):
        parse_json(json.dumps([*rows, {**rows[0], "account_id": "proj-2", "country": "Germany"}]))
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        parse_json("{")
    with pytest.raises(InvalidInputError, match="cannot read"):
        read_profiles(tmp_path / "missing.csv")


def test_a_bad_file_changes_nothing(gk: Gatekeeper, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gatekeeper.cli.main import app

    before = gk.store.profiles.list_profiles()
    f = tmp_path / "bad.csv"
    f.write_text(HEADER + "aws,999999999999,New Co,US,US,US,verified\naws,999999999998,Broken,ZZ,US,US,verified\n",
                 encoding="utf-8")
    cfg = tmp_path / "gk.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/state.db"\ncreate = true\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["accounts", "import", str(f), "--config", str(cfg)])
    assert result.exit_code == 1
    assert "row 3" in result.output and "country" in result.output
    assert gk.store.profiles.list_profiles() == before
    assert gk.store.profiles.get_profile("aws", "999") is None


def test_every_iso_country_imports() -> None:
    # accounts import refused Nigeria, Bangladesh, the Philippines, Kenya and Peru when only 99 countries
    # were listed: every ISO 3166-1 alpha-2 code is accepted now, in every country field.
    import pycountry

    codes = sorted(c.alpha_2 for c in pycountry.countries)
    text = HEADER + "".join(f"aws,{n:012d},Customer {code},{code.lower()},{code},{code},verified\n"
                            for n, code in enumerate(codes))
    profiles = parse_csv(text)
    assert [p.country for p in profiles] == codes
    assert {p.ultimate_parent_country for p in profiles} == set(codes)
    assert {"NG", "BD", "PH", "KE", "PE"} <= {p.headquarters_country for p in profiles}
    doc = [{"provider": "gcp", "account_id": f"proj-{code.lower()}", "legal_name": code, "country": code,
            "headquarters_country": code, "ultimate_parent_country": code, "kyc_status": "pending"}
           for code in codes]
    assert len(parse_json(json.dumps(doc))) == len(codes)


@pytest.mark.parametrize("code", ["XK", "EU", "UK", "ZZ"])
def test_codes_outside_iso_3166_are_refused(code: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_csv(HEADER + f"aws,111,Acme,{code},US,US,verified\n")
    assert info.value.field == "country" and "ISO 3166" in str(info.value)
