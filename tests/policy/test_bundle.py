"""The policy bundle: packs validated at packaging time, compiled in a function host without pydantic.

What it must give is what validating the files gives (the same compiled rules, the same decisions),
and only while it vouches for exactly the files in force: a damaged, edited or stale bundle is
rejected and the files are validated as everywhere else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from structlog.testing import capture_logs

from gatekeeper._record import MISSING, fields
from gatekeeper.engine import Engine
from gatekeeper.errors import PolicyError
from gatekeeper.model import ComputeItem, CustomerProfile, Owner, ProvisioningRequest, ScreeningHit
from gatekeeper.policy import bundle, load_policies, plain, schema, shipped_policies_dir
from gatekeeper.policy.compiled import CompiledRule, PolicySet, compile_packs
from gatekeeper.policy.loader import read_packs
from gatekeeper.policy.testing import _run as run_cases

PAIRS: list[tuple[type, type[BaseModel]]] = [
    (plain.ItemCondition, schema.ItemCondition), (plain.OwnedBy, schema.OwnedBy),
    (plain.CustomerCondition, schema.CustomerCondition), (plain.RegionCondition, schema.RegionCondition),
    (plain.When, schema.When), (plain.Rule, schema.Rule), (plain.Suspension, schema.Suspension),
    (plain.TestRequest, schema.TestRequest), (plain.TestOwner, schema.TestOwner),
    (plain.TestCustomer, schema.TestCustomer), (plain.TestCase, schema.TestCase), (plain.Pack, schema.Pack),
]


@pytest.mark.parametrize(("form", "model"), PAIRS, ids=lambda c: getattr(c, "__name__", str(c)))
def test_the_plain_form_has_every_field_of_the_model(form: type, model: type[BaseModel]) -> None:
    names = [f.name for f in fields(form)]
    assert names == list(model.model_fields)
    for f in fields(form):
        info = model.model_fields[f.name]
        if f.default is not MISSING:
            assert f.default == info.default or (f.default == () and info.default_factory is list) or (
                f.default == {} and info.default_factory is dict), f.name
        elif f.factory is not None:
            assert plain.to_data(f.factory()) == info.get_default(call_default_factory=True).model_dump(
                mode="json"), f.name
        else:
            assert info.is_required(), f"{model.__name__}.{f.name} has a default the plain form lacks"


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bundle's body is read once per process and content (a rejection is logged once): each test
    # starts as a new process would.
    from gatekeeper import _prebuilt

    monkeypatch.setattr(_prebuilt, "_cache", None)


def _bundle(tmp_path: Path, paths: list[Path]) -> Path:
    out = tmp_path / "bundle.json"
    out.write_bytes(bundle.build(paths))
    return out


@pytest.fixture
def packs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "packs"
    shutil.copytree(shipped_policies_dir(), d)
    return d


@pytest.fixture
def bundled(tmp_path: Path, packs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = _bundle(tmp_path, [packs_dir])
    monkeypatch.setenv(bundle.ENV_VAR, str(path))
    return path


def test_every_shipped_pack_comes_back_as_the_models_dump(packs_dir: Path, bundled: Path) -> None:
    got = bundle.bundled_packs([packs_dir])
    assert got is not None
    want = read_packs([packs_dir])
    assert [f for _, f in got] == [f for _, f in want]
    for (p, _), (m, _) in zip(got, want, strict=True):
        assert isinstance(p, plain.Pack)
        assert plain.to_data(p) == m.model_dump(mode="json")
    assert sum(len(p.tests) for p, _ in got) == sum(len(m.tests) for m, _ in want) > 0  # the cases too


def _rule_view(r: CompiledRule) -> dict[str, Any]:
    # Everything but the generated functions (compared through their source and their decisions).
    return {f.name: getattr(r, f.name) for f in dataclasses.fields(r)
            if f.name not in ("item", "customer", "region", "matches")}


PROFILES = [
    CustomerProfile("aws", "111111111111", "Acme", "US", "US", "US", "verified"),
    CustomerProfile("aws", "222222222222", "Lion AI", "SG", "SG", "CN", "verified"),
    CustomerProfile("aws", "333333333333", "Gulf", "AE", "AE", "AE", "pending"),
    CustomerProfile("aws", "444444444444", "Sanctioned", "IR", "IR", "IR", "verified"),
    CustomerProfile("aws", "555555555555", "Owned", "NL", "NL", "NL", "verified",
                    owners=(Owner("X", "CN", 60.0, ("ENTITY",)),),
                    screening_hits=(ScreeningHit("ENTITY", "x", "X", 95.0),)),
    CustomerProfile.unknown("aws", "666666666666"),
]
TYPES = ["p4d.24xlarge", "p5.48xlarge", "g5.xlarge", "t3.micro", "trn1.32xlarge", "g6.48xlarge"]
REGIONS = ["us-east-1", "cn-north-1", "me-central-1", "ap-southeast-1", ""]
DAYS = [date(2023, 1, 1), date(2025, 3, 1), date(2026, 12, 5)]


def _decisions(ps: PolicySet) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    engine = Engine(ps)
    out = []
    for p in PROFILES:
        for t in TYPES:
            for region in REGIONS:
                req = ProvisioningRequest("aws", p.account_id, (ComputeItem(t, 2),), region=region)
                for on in DAYS:
                    ev = engine.evaluate(req, p, on=on)
                    out.append((ev.outcome.label, tuple(m.rule_id for m in ev.matches), tuple(ev.reasons)))
    return out


def test_packs_from_the_bundle_compile_and_decide_as_the_files_do(packs_dir: Path, bundled: Path) -> None:
    got = bundle.bundled_packs([packs_dir])
    assert got is not None
    from_bundle, from_files = compile_packs(got), compile_packs(read_packs([packs_dir]))
    assert [_rule_view(r) for r in from_bundle.rules] == [_rule_view(r) for r in from_files.rules]
    assert from_bundle.plain_countries == from_files.plain_countries
    decisions = _decisions(from_files)
    assert {d[0] for d in decisions} >= {"allow", "pending", "deny"}  # the grid reaches the rules
    assert _decisions(from_bundle) == decisions


# Generated packs: every condition field, alone or together, through both forms.
COUNTRIES = st.lists(st.sampled_from(["CN", "D:5", "MO", "E:1", "US", "A:5", "IR", "TIER1-2025"]),
                     min_size=1, max_size=3)
ITEM = st.fixed_dictionaries({}, optional={
    "export_class": st.lists(st.sampled_from(["3A090.a", "3A090.b", "none", "unknown"]), min_size=1, max_size=2),
    "chips": st.lists(st.sampled_from(["A100", "H100-SXM", "H200"]), min_size=1, max_size=2),
    "named_by_rule": st.booleans(), "confirmed": st.booleans(), "min_tpp": st.sampled_from([0, 1600, 4800.5]),
    "max_tpp": st.sampled_from([1, 4800]), "min_memory_bandwidth": st.sampled_from([0, 600]),
    "max_memory_bandwidth": st.sampled_from([1, 1400.5]), "memory_bandwidth_published": st.booleans(),
    "providers": st.lists(st.sampled_from(["aws", "azure", "gcp"]), min_size=1, max_size=2)})
CUSTOMER = st.fixed_dictionaries({}, optional={
    **{k: COUNTRIES for k in ("country_in", "country_not_in", "headquarters_in", "headquarters_not_in", "parent_in",
                              "parent_not_in", "any_country_in", "no_country_in", "any_country_not_in")},
    "kyc_status": st.lists(st.sampled_from(["verified", "pending", "unverified"]), min_size=1, max_size=2),
    "foreign": st.booleans(), "known": st.booleans(),
    "screening_lists": st.lists(st.sampled_from(["ENTITY", "MEU"]), min_size=1, max_size=2),
    "owned_by": st.fixed_dictionaries({"lists": st.lists(st.sampled_from(["ENTITY", "SDN"]), min_size=1)}, optional={
        "min_share": st.sampled_from([50, 25.5]), "any_owner_on": st.lists(st.just("ENTITY"), min_size=1)})})
REGION = st.fixed_dictionaries({}, optional={"country_in": COUNTRIES, "country_not_in": COUNTRIES,
                                             "unknown": st.booleans()})
RULE = st.fixed_dictionaries(
    {"decision": st.sampled_from(["flag", "pending", "deny"]), "citation": st.just("c"),
     "reason": st.sampled_from(["r", "{customer} in {country}"]),
     "when": st.fixed_dictionaries({}, optional={"item": ITEM, "customer": CUSTOMER, "region": REGION})},
    optional={"effective_from": st.sampled_from([date(2022, 1, 1), date(2025, 6, 1)]),
              "effective_until": st.sampled_from([date(2025, 1, 1), date(2030, 1, 1)]),
              "applies_to": st.sampled_from(["accelerated", "all"]),
              "review_policy": st.sampled_from(["case-by-case", "presumption of denial"])})

CASE_COUNTRY = st.sampled_from(["CN", "US", "SG", "ir", ""])
CASE = st.fixed_dictionaries(
    {"name": st.just("case"), "expect": st.sampled_from(["allow", "flag", "pending", "deny"]),
     "request": st.fixed_dictionaries({}, optional={
         "provider": st.sampled_from(["aws", "azure", "gcp"]),
         "instance_type": st.sampled_from([*TYPES, "a2-highgpu-1g"]),
         "count": st.sampled_from([0, 1, 3]), "region": st.sampled_from(REGIONS),
         "attached": st.dictionaries(st.sampled_from(["nvidia-tesla-a100", "nvidia-l4"]), st.sampled_from([1, 2.5]),
                                     max_size=2),
         "account_id": st.just("123456789012"), "unresolved": st.lists(st.just("launch template"), max_size=1)})},
    optional={
        "customer": st.fixed_dictionaries({}, optional={
            "legal_name": st.just("Acme"), "country": CASE_COUNTRY, "headquarters_country": CASE_COUNTRY,
            "ultimate_parent_country": CASE_COUNTRY,
            "kyc_status": st.sampled_from(["verified", "pending", "unverified"]),
            "screening_lists": st.lists(st.sampled_from(["ENTITY", "MEU"]), max_size=2),
            "owners": st.lists(st.fixed_dictionaries({"name": st.just("o"), "share": st.sampled_from([60, 10.5])},
                                                     optional={"country": CASE_COUNTRY,
                                                               "screening_lists": st.lists(st.just("entity"))}),
                               max_size=2)}),
        "on": st.sampled_from([date(2025, 3, 1), date(2026, 12, 5)]),
        "expect_rules": st.lists(st.sampled_from(["r0", "r1"]), max_size=2)})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RULE, min_size=1, max_size=3), st.booleans(), st.lists(CASE, max_size=3))
def test_a_generated_pack_compiles_alike_from_both_forms(rules: list[dict[str, Any]], suspended: bool,
                                                         cases: list[dict[str, Any]]) -> None:
    data = {"id": "gen", "version": "1", "title": "t", "citation": "c", "effective_from": date(2021, 1, 1),
            "rules": [{"id": f"r{n}", **r} for n, r in enumerate(rules)], "tests": cases}
    if suspended:
        data["suspended"] = [{"effective_from": date(2024, 1, 1), "effective_until": date(2024, 6, 1),
                              "citation": "s"}]
    try:
        model = schema.Pack.model_validate(data)
    except ValidationError:
        return  # not a pack (e.g. applies_to: all without countries): nothing to bundle
    form = plain.from_data(json.loads(json.dumps(model.model_dump(mode="json"))))
    assert plain.to_data(form) == model.model_dump(mode="json")
    try:
        a = compile_packs([(model, "gen.yaml")])
    except PolicyError as exc:  # not compilable (a chip the catalog lacks): the same error either way
        with pytest.raises(PolicyError) as other:
            compile_packs([(form, "gen.yaml")])
        assert str(other.value) == str(exc)
        return
    b = compile_packs([(form, "gen.yaml")])
    assert [_rule_view(r) for r in a.rules] == [_rule_view(r) for r in b.rules]
    assert _decisions(a) == _decisions(b)
    # The pack's test cases: the same cases, run the same, from either form.
    assert list(run_cases(form, "gen.yaml", Engine(b))) == list(run_cases(model, "gen.yaml", Engine(a)))


# -- what the bundle vouches for, and what happens when it cannot -------------------------------------
def _rejected(paths: list[Path]) -> str:
    with capture_logs() as logs:
        assert bundle.bundled_packs(paths) is None
    # the file itself (bundle_rejected), or what it holds for these packs (policy.bundle_rejected)
    reasons = [e["reason"] for e in logs if e["event"] in ("bundle_rejected", "policy.bundle_rejected")]
    assert len(reasons) == 1, logs
    return reasons[0]


def _rewrite(path: Path, edit: Any, *, fix_digest: bool) -> None:
    header, _, body = path.read_bytes().partition(b"\n")
    data = json.loads(body)
    edit(data)
    new = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    if fix_digest:
        header = f"{bundle.MAGIC} {bundle.FORMAT} sha256:{hashlib.sha256(new).hexdigest()}".encode()
    path.write_bytes(header + b"\n" + new)


def _first_rule_flags(data: dict[str, Any]) -> None:
    data["packs"][0]["pack"]["rules"][0]["decision"] = "flag"


def test_no_bundle_is_no_bundle_and_no_warning(tmp_path: Path, packs_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bundle.ENV_VAR, str(tmp_path / "none.json"))
    with capture_logs() as logs:
        assert bundle.bundled_packs([packs_dir]) is None
    assert logs == []


def test_a_pack_changed_after_the_build_rejects_the_bundle(packs_dir: Path, bundled: Path) -> None:
    f = sorted(packs_dir.glob("*.yaml"))[0]
    f.write_text(f.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert "changed or added since the bundle was built" in _rejected([packs_dir])


def test_a_pack_added_after_the_build_rejects_the_bundle(packs_dir: Path, bundled: Path) -> None:
    extra = packs_dir / "zz-extra.yaml"
    extra.write_text(sorted(packs_dir.glob("*.yaml"))[0].read_text(encoding="utf-8").replace("\nid: ", "\nid: x", 1),
                     encoding="utf-8")
    assert "zz-extra.yaml is not in it" in _rejected([packs_dir])


def test_an_edited_bundle_is_rejected(packs_dir: Path, bundled: Path) -> None:
    _rewrite(bundled, _first_rule_flags, fix_digest=False)
    assert "does not match its digest" in _rejected([packs_dir])


def test_a_bundle_of_another_pack_format_is_rejected(packs_dir: Path, bundled: Path) -> None:
    _rewrite(bundled, lambda d: d.update(validator="0" * 64), fix_digest=True)
    assert "another version of the pack format" in _rejected([packs_dir])


@pytest.mark.parametrize(("edit", "why"), [
    (lambda d: d["packs"][0]["pack"].update(surprise=1), "unknown field 'surprise'"),
    (lambda d: d["packs"][0]["pack"].pop("rules"), "field 'rules' missing"),
    (lambda d: d["packs"][0]["pack"]["rules"][0].update(decision="maybe"), "not one of"),
    (lambda d: d["packs"][0]["pack"].update(effective_from="2025-13-01"), "expected a date"),
    (lambda d: d["packs"][0]["pack"]["tests"][0].update(expect="maybe"), "not one of"),
    (lambda d: d["packs"][0]["pack"]["tests"][0]["request"].update(count="2"), "expected a whole number"),
    (lambda d: d["packs"][0]["pack"]["tests"][0]["request"].update(attached={"nvidia-l4": "two"}), "expected a number"),
    (lambda d: d["packs"][0]["pack"]["tests"][0].pop("expect"), "field 'expect' missing"),
])
def test_bundled_data_that_is_no_validated_pack_is_rejected(packs_dir: Path, bundled: Path, edit: Any,
                                                             why: str) -> None:
    _rewrite(bundled, edit, fix_digest=True)
    assert why in _rejected([packs_dir])


@pytest.mark.parametrize("raw", [b"", b"{}", b"gatekeeper-policy-bundle 2 sha256:00\n{}", b"\xff\xfe garbage"])
def test_what_is_not_a_bundle_of_this_format_is_rejected(packs_dir: Path, bundled: Path, raw: bytes) -> None:
    bundled.write_bytes(raw)
    _rejected([packs_dir])


def test_in_a_function_host_the_packs_come_from_the_bundle_while_it_vouches_for_them(
        packs_dir: Path, bundled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gatekeeper-test")
    ps = load_policies([packs_dir])
    assert all(isinstance(p.pack, plain.Pack) for p in ps.packs)
    # A pack edited after the build: the files are read and validated, the bundle is not used.
    f = packs_dir / "us-cloud-advanced-compute.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("\ntitle: ", "\ntitle: Edited ", 1), encoding="utf-8")
    ps = load_policies([packs_dir])
    assert all(isinstance(p.pack, schema.Pack) for p in ps.packs)
    assert ps.pack("us-cloud-advanced-compute").pack.title.startswith("Edited ")
    # ... and an edit that breaks the pack is the validator's error, as without a bundle.
    f.write_text(f.read_text(encoding="utf-8").replace("decision: pending", "decision: maybe", 1), encoding="utf-8")
    with pytest.raises(PolicyError, match="decision"):
        load_policies([packs_dir])


def test_outside_a_function_host_the_bundle_is_not_read(packs_dir: Path, bundled: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper._log import FUNCTION_HOST_VARS

    for var in FUNCTION_HOST_VARS:
        monkeypatch.delenv(var, raising=False)
    assert all(isinstance(p.pack, schema.Pack) for p in load_policies([packs_dir]).packs)


def test_the_command_builds_the_shipped_packs_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    assert bundle.main(["--out", str(out)]) == 0
    assert "packs validated and bundled" in capsys.readouterr().out
    monkeypatch.setenv(bundle.ENV_VAR, str(out))
    got = bundle.bundled_packs([shipped_policies_dir()])
    assert got is not None and len(got) == len(read_packs([shipped_policies_dir()]))


def test_the_command_refuses_a_bad_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: '1'\n", encoding="utf-8")
    assert bundle.main(["--out", str(tmp_path / "b.json"), str(bad)]) == 1
    assert "error:" in capsys.readouterr().err and not (tmp_path / "b.json").exists()


# -- the shipped data files, parsed at packaging time ------------------------------------------------
def test_in_a_function_host_each_data_file_is_its_bundled_document(tmp_path: Path, bundled: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper import _prebuilt
    from gatekeeper._log import FUNCTION_HOST_VARS
    from gatekeeper.catalog._catalog import _read_yaml
    from gatekeeper.jurisdictions import DATA_DIR, _read

    for var in FUNCTION_HOST_VARS:
        monkeypatch.delenv(var, raising=False)
    files = sorted(DATA_DIR.glob("*.yaml"))
    parsed = {f.name: (_read_yaml(f), _read(f)) for f in files}  # outside a function host: the YAML
    assert all(a == b for a, b in parsed.values())
    assert all(_prebuilt.document(f) is _prebuilt.MISSING for f in files)  # not a function host
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gatekeeper-test")
    for f in files:
        doc = _prebuilt.document(f)
        assert doc is not _prebuilt.MISSING, f.name
        assert doc == parsed[f.name][0] and doc is not _prebuilt.document(f)  # a fresh copy per reader
        assert _read_yaml(f) == doc and _read(f) == doc
    # A data file edited after the build is parsed from its bytes, not taken from the bundle.
    copy = tmp_path / "regions.yaml"
    copy.write_text((DATA_DIR / "regions.yaml").read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert _prebuilt.document(copy) is _prebuilt.MISSING and _read(copy) == parsed["regions.yaml"][1]


def test_a_damaged_bundle_gives_no_data_documents(bundled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper import _prebuilt
    from gatekeeper.jurisdictions import DATA_DIR

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gatekeeper-test")
    raw = bundled.read_bytes()
    assert b'\\"AE\\"' in raw  # a country inside a data document (JSON text in the bundle's JSON)
    bundled.write_bytes(raw.replace(b'\\"AE\\"', b'\\"US\\"', 1))
    with capture_logs() as logs:
        assert _prebuilt.document(DATA_DIR / "regions.yaml") is _prebuilt.MISSING
    assert [e["reason"] for e in logs if e["event"] == "bundle_rejected"] == [
        "its content does not match its digest (edited or damaged)"]


# -- a bundled pack's test cases: ``gatekeeper policy test`` gives the files' results ----------------
def _policy(*args: str) -> tuple[int, Any]:
    from typer.testing import CliRunner

    from gatekeeper.cli.main import app

    out = CliRunner().invoke(app, ["policy", *args, "--json"])
    return out.exit_code, json.loads(out.stdout)


def _expect_allow_in_one_case(packs_dir: Path) -> str:
    """A pack whose first case now expects the wrong outcome (the results must show the failure)."""
    f = packs_dir / "us-embargo.yaml"
    text = f.read_text(encoding="utf-8")
    f.write_text(text.replace("    expect: deny\n", "    expect: allow\n", 1), encoding="utf-8")
    return "us-embargo"


def test_policy_test_against_a_bundle_gives_the_files_results(tmp_path: Path, packs_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    failing = _expect_allow_in_one_case(packs_dir)
    b = _bundle(tmp_path, [packs_dir])
    code, files = _policy("test", str(packs_dir))
    assert code == 1 and files["failed"] == 1 and files["passed"] > 50
    assert [c["pack"] for c in files["cases"] if not c["passed"]] == [failing]
    assert _policy("test", "--bundle", str(b), str(packs_dir)) == (code, files)
    # validate lists the same packs with the same numbers of cases, from the files or the bundle
    assert _policy("validate", "--bundle", str(b), str(packs_dir)) == _policy("validate", str(packs_dir))
    # In a function host the bundle in force is used when it vouches for the files: the same results.
    monkeypatch.setenv(bundle.ENV_VAR, str(b))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gatekeeper-test")
    from gatekeeper.policy.compiled import pack_sources

    assert all(isinstance(p, plain.Pack) for p, _ in pack_sources([packs_dir]))
    # compiling alone (load_policies) leaves a bundle's cases out: a cold start does not build them
    assert [p.tests for p, _ in pack_sources([packs_dir], cases=False)] == [()] * len(read_packs([packs_dir]))
    assert _policy("test", str(packs_dir)) == (code, files)
    _, listed = _policy("validate", str(packs_dir))
    assert {p["id"]: p["tests"] for p in listed["packs"]} == {m.id: len(m.tests) for m, _ in read_packs([packs_dir])}


def test_policy_test_refuses_a_bundle_with_tampered_test_cases(tmp_path: Path, packs_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    b = _bundle(tmp_path, [packs_dir])

    def flip(data: dict[str, Any]) -> None:  # one case's expectation changed: it would pass as "allow"
        case = next(c for e in data["packs"] for c in e["pack"]["tests"] if c["expect"] == "deny")
        case["expect"] = "allow"

    _rewrite(b, flip, fix_digest=False)
    code, out = _policy("test", "--bundle", str(b), str(packs_dir))
    assert code == 1 and "does not match its digest" in out["error"] and out["type"] == "PolicyError"
    monkeypatch.setenv(bundle.ENV_VAR, str(b))  # and a function host does not use it
    assert "does not match its digest" in _rejected([packs_dir])
    _rewrite(b, lambda d: d["packs"][0]["pack"]["tests"][0].update(expect="maybe"), fix_digest=True)
    code, out = _policy("test", "--bundle", str(b), str(packs_dir))
    assert code == 1 and "not one of" in out["error"]
    # A bundle that does not vouch for the files given (one edited after the build) is refused, not
    # silently replaced by the files.
    fresh = _bundle(tmp_path, [packs_dir])
    _expect_allow_in_one_case(packs_dir)
    code, out = _policy("test", "--bundle", str(fresh), str(packs_dir))
    assert code == 1 and "us-embargo.yaml is not in it" in out["error"]
# The rules compiled when the bundle is built (compiled.recorded_rule_code).
def _functions(ps: PolicySet) -> list[Any]:
    return [getattr(r, k) for r in ps.rules for k in ("item", "customer", "region", "matches")]


def test_rules_run_from_the_bundles_code_are_those_compiled_from_their_text(
        tmp_path: Path, packs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.policy import compiled

    path = tmp_path / "bundle.json"
    path.write_bytes(bundle.build([packs_dir], rule_code=True))
    monkeypatch.setenv(bundle.ENV_VAR, str(path))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gatekeeper-test")
    monkeypatch.setattr(compiled, "_rule_code", {})  # this process's table, as a new process has it
    from_text = compile_packs(read_packs([packs_dir]))
    with capture_logs() as logs:
        from_code = load_policies([packs_dir])
    assert logs == []
    assert len(compiled._rule_code) > 10  # installed, and the same functions come out
    assert all(isinstance(p.pack, plain.Pack) for p in from_code.packs)
    got, want = _functions(from_code), _functions(from_text)
    assert len(got) == len(want) and sum(f is not None for f in got) > 50
    stored = {id(c) for code in compiled._rule_code.values() for c in code.co_consts}
    for g, w in zip(got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:  # the very code object of the bundle, equal to the one compiled from the text
            assert id(g.__code__) in stored and g.__code__ == w.__code__
    assert _decisions(from_code) == _decisions(from_text)


def test_a_bundles_rule_code_of_another_python_is_not_used(tmp_path: Path, packs_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.policy import compiled

    path = tmp_path / "bundle.json"
    path.write_bytes(bundle.build([packs_dir], rule_code=True))
    _rewrite(path, lambda d: d["rule_code"].update(python="00000d0a"), fix_digest=True)
    monkeypatch.setenv(bundle.ENV_VAR, str(path))
    monkeypatch.setattr(compiled, "_rule_code", {})
    with capture_logs() as logs:
        got = bundle.bundled_packs([packs_dir])
    assert got is not None  # the packs are still the bundle's; their rules compile from their text
    assert [e["reason"] for e in logs if e["event"] == "policy.bundle_code_unused"] == ["compiled by another Python"]
    assert compiled._rule_code == {}
