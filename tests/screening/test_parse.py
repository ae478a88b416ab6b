"""Reading the Consolidated Screening List: both formats, and every malformed file refused with its row."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.screening import LIST_CODES, parse_bytes, parse_file
from gatekeeper.screening.parse import CSV_COLUMNS, list_code_of
from tests.screening.conftest import CSV_LIST, JSON_LIST


def test_csv_and_json_fixtures_hold_the_same_entries() -> None:
    a, b = parse_file(CSV_LIST), parse_file(JSON_LIST)
    assert a.format == "csv" and b.format == "json"
    key = [(e.entry_id, e.list_code, e.name, e.alt_names, e.countries, e.programs, e.start_date) for e in a.entries]
    assert key == [(e.entry_id, e.list_code, e.name, e.alt_names, e.countries, e.programs, e.start_date)
                   for e in b.entries]
    assert a.counts() == {"DPL": 1, "EL": 9, "MEU": 1, "SDN": 3, "UVL": 1}


def test_csv_fields_multi_values_and_address_country(parsed_csv: Any) -> None:
    by_id = {e.entry_id: e for e in parsed_csv.entries}
    huawei = by_id["el-huawei-0001"]
    assert huawei.list_code == "EL" and huawei.name == "Huawei Technologies Co., Ltd."
    assert huawei.alt_names == ("Huawei",)
    assert huawei.countries == ("CN",)
    assert huawei.federal_register_notice == "84 FR 22963" and huawei.start_date == "2019-05-16"
    rostec = by_id["sdn-rostec-0010"]
    assert rostec.programs == ("UKRAINE-EO13662", "RUSSIA-EO14024")
    assert rostec.alt_names == ("Rostec", "Russian Technologies State Corporation")
    assert by_id["meu-xac-0009"].list_code == "MEU"
    assert by_id["uvl-global-0013"].countries == ("HK",)


def test_json_addresses_keep_their_parts() -> None:
    entry = next(e for e in parse_file(JSON_LIST).entries if e.entry_id == "el-huawei-0001")
    [addr] = entry.addresses
    assert (addr.city, addr.state, addr.postal_code, addr.country) == ("Shenzhen", "Guangdong", "518129", "CN")


def test_list_date_from_option_else_file_mtime(tmp_path: Path) -> None:
    p = tmp_path / "list.csv"
    p.write_bytes(CSV_LIST.read_bytes())
    stamp = datetime(2026, 3, 4, 12, 0, tzinfo=UTC).timestamp()
    os.utime(p, (stamp, stamp))
    assert parse_file(p).list_date == date(2026, 3, 4)
    assert parse_file(p, list_date=date(2025, 12, 31)).list_date == date(2025, 12, 31)


def test_format_is_sniffed_without_extension(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(JSON_LIST.read_bytes())
    (tmp_path / "b").write_bytes(CSV_LIST.read_bytes())
    assert parse_file(tmp_path / "a").format == "json"
    assert parse_file(tmp_path / "b").format == "csv"


def test_sha256_identifies_the_file(parsed_csv: Any) -> None:
    import hashlib

    assert parsed_csv.sha256 == hashlib.sha256(CSV_LIST.read_bytes()).hexdigest()


@pytest.mark.parametrize(("source", "code"), [
    ("Entity List (EL) - Bureau of Industry and Security", "EL"),
    ("Military End User (MEU) List - Bureau of Industry and Security", "MEU"),
    ("Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department", "CMIC"),
    ("Nonproliferation Sanctions (ISN) - State Department", "ISN"),
    ("ITAR Debarred (DTC) - State Department", "DTC"),
    ("SDN", "SDN"),
    ("Entity List - no code", None),
    ("Something (XYZ) - Somewhere", None),
])
def test_list_code_is_taken_from_the_parentheses(source: str, code: str | None) -> None:
    assert list_code_of(source) == code


def test_all_thirteen_lists_are_known() -> None:
    assert set(LIST_CODES) == {"EL", "MEU", "SDN", "DPL", "UVL", "ISN", "DTC", "SSI", "FSE", "CAP", "CMIC",
                               "MBS", "PLC"}


# -- malformed CSV ------------------------------------------------------------------------------

def _csv_lines() -> list[str]:
    return CSV_LIST.read_text(encoding="utf-8").splitlines()


def _refused_csv(text: str | bytes) -> InvalidInputError:
    data = text.encode("utf-8") if isinstance(text, str) else text
    with pytest.raises(InvalidInputError) as exc:
        parse_bytes(data, list_date=date(2026, 1, 1), fmt="csv")
    return exc.value


def _replace_cell(line: str, column: str, value: str) -> str:
    import csv
    import io

    cells = next(csv.reader([line]))
    cells[CSV_COLUMNS.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def test_csv_missing_column_is_refused_at_row_1() -> None:
    lines = _csv_lines()
    lines[0] = lines[0].replace(",alt_names", "")
    err = _refused_csv("\n".join(lines))
    assert err.row == 1 and err.field == "alt_names"


def test_csv_duplicate_column_is_refused() -> None:
    lines = _csv_lines()
    lines[0] = lines[0] + ",name"
    lines[1:] = [ln + "," for ln in lines[1:]]
    err = _refused_csv("\n".join(lines))
    assert err.row == 1 and "duplicate" in str(err)


def test_csv_row_with_wrong_cell_count_is_refused() -> None:
    lines = _csv_lines()
    lines[3] = lines[3] + ",extra"
    err = _refused_csv("\n".join(lines))
    assert err.row == 4 and "cells" in str(err)


@pytest.mark.parametrize(("column", "value", "field"), [
    ("name", "", "name"),
    ("_id", "", "_id"),
    ("source", "", "source"),
    ("source", "Some Other List - Nowhere", "source"),
    ("start_date", "16/05/2019", "start_date"),
    ("end_date", "2019-02-30", "end_date"),
])
def test_csv_bad_cell_is_refused_with_row_and_field(column: str, value: str, field: str) -> None:
    lines = _csv_lines()
    lines[5] = _replace_cell(lines[5], column, value)
    err = _refused_csv("\n".join(lines))
    assert (err.row, err.field) == (6, field)
    assert f"row 6, field '{field}'" in str(err)


def test_csv_duplicate_id_names_both_rows() -> None:
    lines = _csv_lines()
    lines[7] = _replace_cell(lines[7], "_id", "el-huawei-0001")
    err = _refused_csv("\n".join(lines))
    assert err.row == 8 and err.field == "_id" and "first at row 2" in str(err)


def test_csv_bytes_that_are_not_utf8_are_refused_at_their_row() -> None:
    data = "\n".join(_csv_lines()).encode("utf-8").replace(b"Harbin Institute", b"Harbin \xff\xfestitute")
    err = _refused_csv(data)
    assert err.row == 8 and err.field == "name" and "UTF-8" in str(err)


def test_csv_unterminated_quote_is_refused() -> None:
    lines = _csv_lines()
    lines[-1] = lines[-1] + ',"unterminated'
    err = _refused_csv("\n".join(lines))
    assert err.row is not None and "CSV" in str(err)


def test_csv_empty_and_header_only_are_refused() -> None:
    assert _refused_csv("").row == 1
    err = _refused_csv(_csv_lines()[0] + "\n")
    assert "no list entries" in str(err)


def test_csv_with_bom_and_blank_lines_is_read() -> None:
    text = "\ufeff" + "\n".join(_csv_lines()[:3]) + "\n\n" + _csv_lines()[3] + "\n"
    parsed = parse_bytes(text.encode("utf-8"), list_date=date(2026, 1, 1), fmt="csv")
    assert [e.entry_id for e in parsed.entries] == ["el-huawei-0001", "el-smic-0002", "el-inspur-0003"]


def test_multiline_quoted_address_keeps_row_numbers() -> None:
    lines = _csv_lines()
    lines[1] = _replace_cell(lines[1], "addresses", "Bantian\nLonggang District, Shenzhen, CN")
    lines[3] = _replace_cell(lines[3], "name", "")
    err = _refused_csv("\n".join(lines))
    assert err.row == 4  # the record number, not the physical line


# -- malformed JSON -----------------------------------------------------------------------------

def _json_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(JSON_LIST.read_text(encoding="utf-8"))
    return doc


def _refused_json(doc: Any) -> InvalidInputError:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode("utf-8")
    with pytest.raises(InvalidInputError) as exc:
        parse_bytes(data, list_date=date(2026, 1, 1), fmt="json")
    return exc.value


def test_json_syntax_error_names_the_line() -> None:
    err = _refused_json(b'{"results": [\n {"id": "x",\n "name": }]}')
    assert "line 3" in str(err)


@pytest.mark.parametrize("doc", [[], {"entries": []}, {"results": {}}])
def test_json_without_results_array_is_refused(doc: Any) -> None:
    assert _refused_json(doc).field == "results"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda item: item.pop("name"), "name"),
    (lambda item: item.update(id=None), "id"),
    (lambda item: item.update(name=["Huawei"]), "name"),
    (lambda item: item.update(alt_names="Huawei; HW"), "alt_names"),
    (lambda item: item.update(alt_names=["ok", 7]), "alt_names[1]"),
    (lambda item: item.update(programs={"a": 1}), "programs"),
    (lambda item: item.update(addresses=["Shenzhen, CN"]), "addresses[0]"),
    (lambda item: item["addresses"][0].update(country="China"), "addresses[0].country"),
    (lambda item: item.update(source="Entity List - BIS"), "source"),
    (lambda item: item.update(start_date="yesterday"), "start_date"),
    (lambda item: item.update(nationalities="CN"), "nationalities"),
])
def test_json_bad_item_is_refused_with_row_and_field(mutate: Any, field: str) -> None:
    doc = _json_doc()
    mutate(doc["results"][2])
    err = _refused_json(doc)
    assert (err.row, err.field) == (3, field)


def test_json_item_that_is_not_an_object_is_refused() -> None:
    doc = _json_doc()
    doc["results"][4] = "Huawei"
    assert _refused_json(doc).row == 5


def test_json_duplicate_id_is_refused() -> None:
    doc = _json_doc()
    doc["results"][6]["id"] = doc["results"][0]["id"]
    err = _refused_json(doc)
    assert err.row == 7 and "first at row 1" in str(err)


def test_json_accepts_underscore_id_and_numbers() -> None:
    doc = {"results": [{"_id": 12, "source": "Entity List (EL) - BIS", "name": "Example Entity",
                        "gross_tonnage": 300, "entity_number": 4521}]}
    [entry] = parse_bytes(json.dumps(doc).encode(), list_date=date(2026, 1, 1), fmt="json").entries
    assert (entry.entry_id, entry.entity_number, entry.list_code) == ("12", "4521", "EL")


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        parse_file(tmp_path / "missing.csv")
