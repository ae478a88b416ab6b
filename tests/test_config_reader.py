"""The function hosts' configuration reader against the pydantic models it stands in for.

gatekeeper/config_reader.py promises: the same sections, fields, defaults, types, bounds, patterns
and checks as gatekeeper/config.py's models (a field added to a model and not to the reader fails
here), the same values for every file it accepts, and for everything else the models' own answer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from gatekeeper import config as models
from gatekeeper import config_reader as reader
from gatekeeper._record import as_dict, fields, is_record
from gatekeeper.errors import ConfigError
from gatekeeper.notify import settings as notify_models

# (reader's dataclass, model) for every section.
PAIRS: list[tuple[type, type[BaseModel]]] = [
    (reader.Config, models.Config),
    (reader.StoreConfig, models.StoreConfig),
    (reader.AuditConfig, models.AuditConfig),
    (reader.WorkflowConfig, models.WorkflowConfig),
    (reader.ScreeningConfig, models.ScreeningConfig),
    (reader.HooksConfig, models.HooksConfig),
    (reader.WebConfig, models.WebConfig),
    (reader.AwsConfig, models.AwsConfig),
    (reader.AzureConfig, models.AzureConfig),
    (reader.GcpConfig, models.GcpConfig),
    (reader.NotifyConfig, notify_models.NotifyConfig),
]
SECTION_OF = {m: r for r, m in PAIRS}


def _constraints(info: Any) -> dict[str, Any]:
    """A model field's Field(...) bounds and pattern, as the reader's metadata names them."""
    out: dict[str, Any] = {}
    for m in info.metadata:
        for key in ("gt", "ge", "lt", "le", "pattern", "min_length"):
            value = getattr(m, key, None)
            if value is not None:
                out[key] = value
    return out


def _validated_fields(model: type[BaseModel]) -> set[str]:
    return {f for d in model.__pydantic_decorators__.field_validators.values() for f in d.info.fields}


def _same_type(plain: Any, model: Any) -> bool:
    if model in SECTION_OF:
        return plain is SECTION_OF[model]
    if get_origin(model) is not None:
        return get_origin(plain) is get_origin(model) and len(get_args(plain)) == len(get_args(model)) and all(
            _same_type(p, m) for p, m in zip(get_args(plain), get_args(model), strict=True))
    return bool(plain == model)


@pytest.mark.parametrize(("plain", "model"), PAIRS, ids=lambda c: getattr(c, "__qualname__", str(c)))
def test_every_field_of_the_model_is_read_alike(plain: type, model: type[BaseModel]) -> None:
    by_name = {f.name: f for f in fields(plain)}
    assert list(by_name) == list(model.model_fields), "the reader's fields are the model's, in order"
    validated = _validated_fields(model)
    for name, info in model.model_fields.items():
        f = by_name[name]
        meta = dict(f.metadata)
        if meta.pop("models_only", False):  # read by the models only: the reader keeps the default
            assert not _constraints(info) or name in {"email", "sns"}
        else:
            assert _same_type(f.type, info.annotation), f"{model.__name__}.{name}: {f.type} vs {info.annotation}"
            assert {k: v for k, v in meta.items() if k != "check"} == _constraints(info), f"{name}: bounds"
            assert ("check" in meta) == (name in validated), f"{name}: the model's validator is the reader's check"


@pytest.mark.parametrize(("plain", "model"), PAIRS, ids=lambda c: getattr(c, "__qualname__", str(c)))
def test_the_defaults_are_the_models(plain: type, model: type[BaseModel]) -> None:
    assert _dump(plain()) == _dump(model())


@pytest.mark.parametrize(("plain", "model"), PAIRS, ids=lambda c: getattr(c, "__qualname__", str(c)))
def test_the_models_methods_are_there(plain: type, model: type[BaseModel]) -> None:
    own = {n for n in dir(model) if not n.startswith("_")} - set(dir(BaseModel)) - set(model.model_fields)
    assert own <= set(dir(plain)), f"methods the reader's {plain.__name__} lacks: {own - set(dir(plain))}"


def test_the_methods_give_the_same_answers(tmp_path: Path) -> None:
    data = {"policies": ["packs/", "/abs/p.yaml"], "aws": {"provider_accounts": [" 111111111111 "]},
            "azure": {"provider_accounts": ["ABC-def"]}}
    m = models.Config(**data, base_dir=str(tmp_path))
    r = reader.plain_config(data, str(tmp_path))
    assert r is not None
    assert r.policy_paths() == m.policy_paths() and r.provider_accounts() == m.provider_accounts()
    assert r.resolve("k.pem") == m.resolve("k.pem") and r.notify.enabled is m.notify.enabled is False
    assert reader.Config().policy_paths() == models.Config().policy_paths()


def _dump(obj: Any) -> str:
    """Values with their types (5 and 5.0 differ), NaN equal to itself."""
    data = obj.model_dump() if isinstance(obj, BaseModel) else as_dict(obj)

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, float):
            return ["float", "nan" if math.isnan(v) else repr(v)]
        return [type(v).__name__, v]
    return json.dumps(norm(data), sort_keys=True)


# -- generated configurations through both ------------------------------------------------------------
FINGERPRINT = "ed25519:" + "ab" * 32
ANY = st.one_of(st.text(max_size=5), st.integers(-3, 3), st.floats(), st.booleans(), st.none(),
                st.lists(st.integers(0, 2), max_size=2),
                st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(
    ["store", "none", "s3://b/p", "s3:/b", "default", "log\n", "a" * 201, "-x", "http://h", "https://H:1",
     "ftp://h", "https://h/p", "viewer", "alice:reviewer", ":auditor", "reviewer", " t ", FINGERPRINT,
     "ed25519:zz", "keys/k.pem", " ", "arn:aws:iam::{account}:role/r"]))


def _value_for(tp: Any, typed: bool) -> st.SearchStrategy[Any]:
    """Values for a field of type ``tp``: of that TOML type only (``typed``), or also of others that
    pydantic may coerce or refuse."""
    origin = get_origin(tp)
    if tp is str:
        return TEXT
    if tp is bool:
        return st.booleans() if typed else st.one_of(st.booleans(), st.sampled_from([0, 1, "true"]))
    if tp is int:
        ints = st.one_of(st.integers(-2, 70_000), st.sampled_from([0, 1, 2, 3, 1024, 65535, 65536]))
        return ints if typed else st.one_of(ints, st.sampled_from([2.0, "5", True]))
    if tp is float:
        nums = st.one_of(st.floats(-1, 400), st.floats(), st.integers(-1, 400),
                         st.sampled_from([0, 0.0, 60, 60.5, 300]))
        return nums if typed else st.one_of(nums, st.sampled_from([True, "1"]))
    if origin is not None and str(origin) == "typing.Literal":
        return st.sampled_from(get_args(tp)) if typed else st.one_of(st.sampled_from(get_args(tp)), TEXT)
    if origin is list:
        items = st.lists(_value_for(get_args(tp)[0], typed), max_size=3)
        return items if typed else st.one_of(items, TEXT)
    if origin is dict:
        table = st.dictionaries(TEXT, TEXT, max_size=3)
        return table if typed else st.one_of(table, st.lists(TEXT, max_size=1))
    if is_record(tp):
        return _section(tp, typed)
    return ANY


def _section(cls: Any, typed: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    chosen = [f for f in fields(cls) if f.name != "base_dir"]
    per_field = {f.name: (_value_for(f.type, typed) if typed else st.one_of(_value_for(f.type, typed), ANY))
                 if not f.metadata.get("models_only") else st.one_of(st.just([]), st.none(), ANY) for f in chosen}
    extra = {} if typed else {"extra_key": ANY}
    return st.fixed_dictionaries({}, optional={**per_field, **extra})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_section(reader.Config), _section(reader.Config, typed=True),
                 st.fixed_dictionaries({"audit": st.fixed_dictionaries({}, optional={
                     "trusted_keys": st.lists(TEXT, max_size=2), "witness": TEXT, "log_id": TEXT})}),
                 st.fixed_dictionaries({"web": st.fixed_dictionaries({}, optional={
                     "tokens": st.dictionaries(TEXT, TEXT, max_size=2), "origins": st.lists(TEXT, max_size=2)})})))
def test_what_the_reader_accepts_the_models_accept_with_the_same_values(data: dict[str, Any]) -> None:
    found = reader.plain_config(data, "/base")
    try:
        expected: models.Config | None = models.Config(**data, base_dir="/base")
    except (ValidationError, TypeError):
        expected = None
    if found is not None:
        assert expected is not None, f"the reader accepted what the models refuse: {data!r}"
        assert _dump(found) == _dump(expected)


@pytest.mark.parametrize("data", [
    {}, {"mode": "shadow", "on_error": "allow", "policies": ["p/"]},
    {"store": {"url": "dynamodb://gk?region=us-east-1", "timeout_seconds": 2}},
    {"audit": {"url": "s3://b/a?region=us-east-1", "trusted_keys": [FINGERPRINT, "keys/k.pem"], "witness": "none",
               "log_id": "lambda@eu-west-1", "witness_interval_seconds": 60}},
    {"hooks": {"on_flag": "none", "on_deny": "stop", "account_map": {"111111111111": "222222222222"},
               "ignore_principals": ["arn:aws:iam::1:role/x"], "aws_role": "arn:aws:iam::{account}:role/r"}},
    {"web": {"tokens": {"t0123": "alice:reviewer", "t2": "auditor"}, "origins": ["https://Example.com"]}},
    {"notify": {"console_url": "https://gk/", "events": ["case.opened"], "retries": 0}},
])
def test_an_ordinary_function_configuration_is_read_without_the_models(data: dict[str, Any]) -> None:
    found = reader.plain_config(data, "/base")
    assert found is not None
    assert _dump(found) == _dump(models.Config(**data, base_dir="/base"))


# -- files: the same configuration, or the same error ----------------------------------------------------
@pytest.mark.parametrize("text", [
    'mode = "enforcing"\n', 'on_error = "ignore"\n', '[store]\nurll = "x"\n', 'modes = "shadow"\n', "mode = \n",
    'base_dir = "/"\n', "[store]\ntimeout_seconds = 0\n", '[audit]\nwitness = "ftp://x"\n',
    '[audit]\ntrusted_keys = ["ed25519:00"]\n',
    '[audit]\nlog_id = "bad id"\n', '[web]\ntokens = {t = "boss"}\n', '[web]\norigins = ["example.com"]\n',
    "[web]\nport = 70000\n", '[hooks]\non_deny = "explode"\n', '[[notify.webhooks]]\nurl = "ftp://x"\n',
    'store = "sqlite:///x"\n', "[workflow]\napprovals_required = 3\n", '[notify]\nevents = ["case.closed"]\n',
    b"mode = \"\xff\"\n",
])
def test_a_bad_file_gets_the_models_error(tmp_path: Path, text: str | bytes) -> None:
    f = tmp_path / "g.toml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as expected:
        models.load_config(f)
    with pytest.raises(ConfigError) as found:
        reader.read_config(f)
    assert str(found.value) == str(expected.value)


@pytest.mark.parametrize("text", [
    '[store]\ncreate = 1\n',  # pydantic turns 1 into True: the reader hands it over
    '[store]\ntimeout_seconds = "5"\n',  # and "5" into 5.0
    '[[notify.webhooks]]\nurl = "https://hooks.example.com/x"\n',  # a channel: the models read it
])
def test_a_file_the_reader_is_unsure_of_is_the_models_configuration(tmp_path: Path, text: str) -> None:
    f = tmp_path / "g.toml"
    f.write_text(text, encoding="utf-8")
    found = reader.read_config(f)
    assert isinstance(found, models.Config) and found == models.load_config(f)


def test_a_good_file_is_read_alike_and_relative_to_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "g.toml"
    f.write_text('mode = "shadow"\npolicies = ["packs/"]\n[store]\nurl = "sqlite:///s.db"\ncreate = true\n'
                 '[hooks]\naccount_map = {"111111111111" = "222222222222"}\n', encoding="utf-8")
    monkeypatch.setenv("GATEKEEPER_CONFIG", str(f))
    found, expected = reader.read_config(), models.load_config()
    assert isinstance(found, reader.Config)
    assert _dump(found) == _dump(expected) and found.base_dir == str(tmp_path.resolve())
    assert found.policy_paths() == [tmp_path.resolve() / "packs"]
    monkeypatch.delenv("GATEKEEPER_CONFIG")
    assert _dump(reader.read_config()) == _dump(models.load_config())


def test_a_missing_file_is_the_same_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as expected:
        models.load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as found:
        reader.read_config(tmp_path / "nope.toml")
    assert str(found.value) == str(expected.value)
