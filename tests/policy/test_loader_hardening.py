"""Bad packs are a PolicyError naming file, line, rule and field, never a traceback (issue 15, section 3).

Each case the issue reported is pinned (a duplicate key that turned ``deny`` into ``flag``, impossible
dates, ``!!timestamp`` and other tags, non-UTF-8 files), then a mutation fuzz of a good pack checks that
loading only ever succeeds or raises PolicyError with the file named.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper.errors import PolicyError
from gatekeeper.policy import load_policies, parse_pack, shipped_policies_dir
from gatekeeper.policy.loader import rule_near
from gatekeeper.service import Gatekeeper
from tests.policy.test_loader import GOOD


def _error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        parse_pack(text, "bad.yaml")
    assert info.value.file == "bad.yaml"
    return info.value


def test_a_duplicate_key_is_refused_not_silently_overwritten() -> None:
    # The reported case: the second `decision` won, turning a deny into a flag.
    text = GOOD.replace("decision: pending", "decision: deny\n    decision: flag")
    e = _error(text)
    assert "duplicate key 'decision' (first on line 8)" in str(e)
    assert (e.line, e.rule, e.field) == (9, "r1", "rules.0.decision")


def test_duplicate_keys_anywhere() -> None:
    e = _error("id: a\n" + GOOD)
    assert (e.line, e.field) == (2, "id") and e.rule is None
    e = _error(GOOD.replace("customer: {any_country_in: [D:5]}",
                            "customer: {any_country_in: [D:5], any_country_in: [CN]}"))
    assert (e.line, e.rule, e.field) == (13, "r1", "rules.0.when.customer.any_country_in")


@pytest.mark.parametrize(("old", "new", "line", "rule", "field"), [
    ("effective_from: 2024-01-01", "effective_from: 2025-13-45", 5, None, "effective_from"),
    ("effective_from: 2024-01-01", "effective_from: 2025-02-30", 5, None, "effective_from"),
    ("reason: \"{customer} needs a licence\"", "reason: x\n    effective_until: 2026-00-10", 11, "r1",
     "rules.0.effective_until"),
    ("effective_from: 2024-01-01", "effective_from: !!timestamp tomorrow", 5, None, "effective_from"),
    ("effective_from: 2024-01-01", "effective_from: 2024-01-01T25:61:00", 5, None, "effective_from"),
])
def test_impossible_dates_name_the_field(old: str, new: str, line: int, rule: str | None, field: str) -> None:
    e = _error(GOOD.replace(old, new))
    assert "impossible date" in str(e)
    assert (e.line, e.rule, e.field) == (line, rule, field)


def test_a_valid_timestamp_tag_is_only_a_value() -> None:
    # Allowed, but a timestamp is not text: pydantic's message, still located.
    e = _error(GOOD.replace("citation: c1", "citation: !!timestamp 2024-01-01"))
    assert (e.line, e.rule, e.field) == (9, "r1", "rules.0.citation")


@pytest.mark.parametrize(("value", "what"), [
    ("!!binary aGVsbG8=", "!!binary"), ("!!set {a, b}", "!!set"), ("!!omap [a: 1]", "!!omap"),
    ("!!python/object:os.system x", "!!python/object:os.system"), ("!custom x", "!custom"),
    ("!!pairs [a: 1]", "!!pairs"),
])
def test_tags_other_than_the_core_ones_are_refused(value: str, what: str) -> None:
    e = _error(GOOD.replace("citation: c1", f"citation: {value}"))
    assert f"the YAML tag {what} is not allowed" in str(e)
    assert (e.line, e.rule, e.field) == (9, "r1", "rules.0.citation")


@pytest.mark.parametrize(("value", "kind"), [("!!int abc", "int"), ("!!float x1", "float"), ("!!bool maybe", "bool")])
def test_scalars_that_cannot_be_built(value: str, kind: str) -> None:
    e = _error(GOOD.replace("citation: c1", f"citation: {value}"))
    assert f"not a valid {kind}" in str(e) and (e.line, e.rule, e.field) == (9, "r1", "rules.0.citation")


def test_anchors_aliases_and_merge_keys_are_refused() -> None:
    e = _error(GOOD.replace("citation: c1", "citation: &c c1").replace('reason: "{customer} needs a licence"',
                                                                       "reason: *c"))
    assert "aliases" in str(e) and (e.rule, e.field) == ("r1", "rules.0.reason")
    e = _error("base: &b {decision: deny}\n" + GOOD.replace("decision: pending", "<<: *b"))
    assert "merge keys (<<) are not allowed" in str(e) and (e.line, e.rule) == (9, "r1")
    e = _error(GOOD.replace("decision: pending", "<<: {decision: deny}"))
    assert "merge keys (<<) are not allowed" in str(e) and (e.line, e.rule, e.field) == (8, "r1", "rules.0")


def test_a_billion_laughs_is_refused_at_once() -> None:
    lol = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lol += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    started = time.monotonic()
    e = _error("\n".join(lol) + "\n" + GOOD)
    # Composed, an alias is the anchored node itself: the line is the anchor's, the field the alias's place.
    assert "aliases" in str(e) and (e.line, e.field) == (1, "b.0")
    assert time.monotonic() - started < 5  # refused from the tree, never expanded


def test_keys_must_be_plain_names() -> None:
    e = _error("? [a]\n: 1\n")
    assert "a key must be a plain name" in str(e) and e.line == 1


def test_very_deep_nesting_is_an_error_not_a_crash() -> None:
    e = _error("description: " + "[" * 5000 + "]" * 5000 + "\n" + GOOD)
    assert e.file == "bad.yaml"


def test_a_non_utf8_file_names_line_rule_and_field(tmp_path: Path) -> None:
    pack = tmp_path / "latin1.yaml"
    pack.write_bytes(GOOD.replace("needs a licence", "needs a licence (Zürich)").encode("latin-1"))
    with pytest.raises(PolicyError) as info:
        load_policies([pack])
    e = info.value
    assert "not UTF-8 text: byte 0xfc" in str(e)
    assert (e.file, e.line, e.rule, e.field) == (str(pack), 10, "r1", "reason")


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    pack = tmp_path / "bom.yaml"
    pack.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_policies([pack]).rules[0].rule_id == "r1"


def test_rule_near_reads_the_rule_from_the_text() -> None:
    assert rule_near(GOOD, 9) == "r1" and rule_near(GOOD, 3) is None
    assert rule_near(GOOD + "tests: []\n", 16) is None
    assert rule_near(GOOD + "  - id: 'r2'\n    decision: [\n", 16) == "r2"


# -- a mutation fuzz: whatever the bytes, a PolicyError or a pack -----------------------------------
TOKENS = [": ", "- ", "\n", "  ", "\t", "{", "}", "[", "]", ",", "'", '"', "#", "&a ", "*a", "<<: ", "? ",
          "!!timestamp ", "!!binary ", "!!set ", "!!int ", "!!float ", "!!str ", "!!python/name:os.system ",
          "!x ", "2025-13-45", "2024-02-30", "1e999", "0x1F", "null", "~", "true", "NO", "%YAML 1.1\n",
          "---\n", "...\n", "|\n", ">\n", "\x00", "\x07", "\ufeff", "é", "{customer}", "{nope}", "decision: deny",
          "id: r1", "D:5", "CN", "3A090.a", "-1", "999999999999999999999999"]
BAD_BYTES = [b"\xff", b"\xfe", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = GOOD.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "dup_line", "swap_lines", "bytes"]))
        text = "".join(lines)
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if op == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)):]
        elif op == "replace":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at + draw(st.integers(1, 6)):]
        elif op == "dup_line" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            text = "".join([*lines[: i + 1], lines[i], *lines[i + 1:]])
        elif op == "swap_lines" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 2))
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            text = "".join(lines)
        if op == "bytes":
            raw = text.encode("utf-8", "surrogatepass")
            pos = draw(st.integers(0, len(raw)))
            return raw[:pos] + draw(st.sampled_from(BAD_BYTES)) + raw[pos:]
        lines = text.splitlines(keepends=True)
    return "".join(lines).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=mutated())
def test_mutated_packs_only_ever_raise_policy_error(tmp_path: Path, raw: bytes) -> None:
    pack = tmp_path / "fuzz.yaml"
    pack.write_bytes(raw)
    try:
        load_policies([pack])
    except PolicyError as exc:
        assert exc.file == str(pack), exc
        assert str(exc).strip() and "Traceback" not in str(exc)


@pytest.mark.parametrize("broken", [
    GOOD.replace("decision: pending", "decision: deny\n    decision: flag").encode(),
    GOOD.replace("effective_from: 2024-01-01", "effective_from: 2025-13-45").encode(),
    GOOD.replace("needs a licence", "needs a licence (Zürich)").encode("latin-1"),
    GOOD.replace("citation: c1", "citation: !!binary aGVsbG8=").encode(),
])
def test_a_reload_with_such_a_pack_keeps_the_packs_in_force(tmp_path: Path, gk: Gatekeeper, broken: bytes) -> None:
    folder = tmp_path / "packs"
    shutil.copytree(shipped_policies_dir(), folder)
    before = gk.engine.policies
    (folder / "zz-broken.yaml").write_bytes(broken)
    with pytest.raises(PolicyError) as info:
        gk.reload_policies([str(folder)])
    assert info.value.file is not None and info.value.file.endswith("zz-broken.yaml") and info.value.line
    assert gk.engine.policies is before
