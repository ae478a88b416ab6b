"""Pack loading: a bad pack is refused naming file, line, rule and field; nothing changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gatekeeper.errors import PolicyError
from gatekeeper.policy import load_policies, parse_pack, shipped_policies_dir

GOOD = """\
id: test-pack
version: "1"
title: Test
citation: test citation
effective_from: 2024-01-01
rules:
  - id: r1
    decision: pending
    citation: c1
    reason: "{customer} needs a licence"
    when:
      item: {export_class: [3A090.a]}
      customer: {any_country_in: [D:5]}
"""


def test_good_pack_parses() -> None:
    pack = parse_pack(GOOD, "good.yaml")
    assert pack.id == "test-pack"
    assert pack.rules[0].decision == "pending"


@pytest.mark.parametrize(
    ("old", "new", "line", "rule", "field"),
    [
        ("decision: pending", "decision: maybe", 8, "r1", "rules.0.decision"),
        ("item: {export_class: [3A090.a]}", "item: {export_class: [3A090.z]}", 12, "r1",
         "rules.0.when.item.export_class.0"),
        ("customer: {any_country_in: [D:5]}", "customer: {any_country: [D:5]}", 13, "r1",
         "rules.0.when.customer.any_country"),
        ('reason: "{customer} needs a licence"', 'reason: "{custmer} needs a licence"', 10, "r1", "rules.0.reason"),
        ("citation: c1", "citation: ''", 9, "r1", "rules.0.citation"),
    ],
)
def test_bad_field_names_file_line_rule_field(old: str, new: str, line: int, rule: str, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_pack(GOOD.replace(old, new), "packs/bad.yaml")
    err = info.value
    assert (err.file, err.line, err.rule, err.field) == ("packs/bad.yaml", line, rule, field)
    assert "packs/bad.yaml:" in str(err) and rule in str(err)


def test_missing_top_level_field() -> None:
    with pytest.raises(PolicyError) as info:
        parse_pack(GOOD.replace("title: Test\n", ""), "x.yaml")
    assert info.value.field == "title"


def test_yaml_syntax_error_has_line() -> None:
    with pytest.raises(PolicyError) as info:
        parse_pack(GOOD + "  - id: [unclosed\n", "x.yaml")
    assert info.value.line is not None and info.value.line >= 14


def test_unknown_country_group_is_refused_at_compile(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(GOOD.replace("[D:5]", "[D:9]"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policies([f])
    assert info.value.rule == "r1"
    assert info.value.field == "when.customer.any_country_in"
    assert info.value.line == 7
    assert "D:9" in str(info.value)


def test_unknown_chip_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(GOOD.replace("{export_class: [3A090.a]}", "{chips: [Z999]}"), encoding="utf-8")
    with pytest.raises(PolicyError, match="unknown chip 'Z999'"):
        load_policies([f])


def test_norway_and_on_are_not_booleans(tmp_path: Path) -> None:
    text = GOOD.replace("[D:5]", "[NO, SE]") + (
        "tests:\n  - name: n\n    request: {instance_type: p4d.24xlarge}\n"
        "    customer: {country: NO, headquarters_country: NO, ultimate_parent_country: NO}\n"
        "    on: 2024-06-01\n    expect: pending\n"
    )
    pack = parse_pack(text, "x.yaml")
    assert pack.rules[0].when.customer is not None
    assert pack.rules[0].when.customer.any_country_in == ["NO", "SE"]
    assert str(pack.tests[0].on) == "2024-06-01"


def test_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PolicyError, match="also defined"):
        load_policies([tmp_path])
    with pytest.raises(PolicyError, match="duplicate rule id"):
        parse_pack(GOOD + GOOD[GOOD.index("  - id: r1"):], "x.yaml")


def test_effective_window_must_be_ordered() -> None:
    with pytest.raises(PolicyError, match="effective_until"):
        window = "effective_from: 2024-01-01\neffective_until: 2023-01-01"
        parse_pack(GOOD.replace("effective_from: 2024-01-01", window), "x.yaml")


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file"):
        load_policies([tmp_path / "nope"])
    with pytest.raises(PolicyError, match="no policy packs"):
        load_policies([tmp_path])


def test_reload_with_a_bad_pack_keeps_the_packs_in_force(tmp_path: Path, gk: object) -> None:
    from gatekeeper.service import Gatekeeper

    assert isinstance(gk, Gatekeeper)
    folder = tmp_path / "packs"
    shutil.copytree(shipped_policies_dir(), folder)
    before = gk.engine.policies
    (folder / "zz-broken.yaml").write_text(GOOD.replace("decision: pending", "decision: nope"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        gk.reload_policies([str(folder)])
    assert info.value.file is not None and info.value.file.endswith("zz-broken.yaml")
    assert gk.engine.policies is before
    (folder / "zz-broken.yaml").unlink()
    after = gk.reload_policies([str(folder)])
    assert gk.engine.policies is after and after is not before
