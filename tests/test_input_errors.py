"""Bad input gets a clear error and changes nothing (issue 15, section 3): accounts files and config.

Pinned cases (non-UTF-8 accounts files, account ids per provider, the screening threshold's range, a
store path that does not exist, a SQLite lock held by another process, the exit status when the
store or the audit log fails), then hypothesis fuzzes of accounts files and configuration files
that must only ever raise the project's own error types.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gatekeeper.accounts import account_id_problem, parse_csv, read_profiles
from gatekeeper.accounts import parse_json as read_json_text
from gatekeeper.cli.main import app
from gatekeeper.config import Config, load_config
from gatekeeper.errors import ConfigError, InvalidInputError
from gatekeeper.service import Gatekeeper

HEADER = "provider,account_id,legal_name,country,headquarters_country,ultimate_parent_country,kyc_status\n"
SUB = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
GOOD_CSV = (HEADER + "aws,123456789012,Acme Inc.,US,US,US,verified\n"
            f"azure,{SUB},Lion City AI,SG,SG,CN,verified\n"
            "gcp,acme-analytics-prod,Acme Analytics,DE,DE,DE,pending\n")
runner = CliRunner()


# -- accounts --------------------------------------------------------------------------------------
def test_a_non_utf8_accounts_file_names_the_row(tmp_path: Path) -> None:
    f = tmp_path / "accounts.csv"
    f.write_bytes(GOOD_CSV.encode() + "aws,210987654321,Société Générale,FR,FR,FR,verified\n".encode("latin-1"))
    with pytest.raises(InvalidInputError) as info:
        read_profiles(f)
    assert info.value.row == 5 and "not UTF-8" in str(info.value) and "0xe9" in str(info.value)
    j = tmp_path / "accounts.json"
    j.write_bytes(b'[\n{"provider": "aws",\n "legal_name": "Soci\xe9t\xe9"}]')
    with pytest.raises(InvalidInputError) as info:
        read_profiles(j)
    assert info.value.row == 3


def test_unreadable_csv_and_json_are_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="not valid CSV") as info:
        parse_csv(GOOD_CSV + 'aws,123456789013,"' + "x" * 200_000 + '",US,US,US,verified\n')
    assert info.value.row == 5
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_json_text("[" + "1" * 5000 + "]")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_json_text("[" * 100_000 + "]" * 100_000)


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    f = tmp_path / "accounts.csv"
    f.write_bytes(b"\xef\xbb\xbf" + GOOD_CSV.encode())
    assert [p.provider for p in read_profiles(f)] == ["aws", "azure", "gcp"]


@pytest.mark.parametrize(("provider", "account_id"), [
    ("aws", "123456789012"), ("azure", SUB), ("azure", SUB.upper()), ("gcp", "acme-analytics-prod"),
    ("gcp", "a12345"), ("gcp", "example.com:my-project"), ("gcp", "p" + "x" * 28 + "1"),
])
def test_valid_account_ids(provider: str, account_id: str) -> None:
    assert account_id_problem(provider, account_id) is None


@pytest.mark.parametrize(("provider", "account_id", "hint"), [
    ("aws", "12ab", "12 digits"), ("aws", "12345678901", "12 digits"), ("aws", "1234567890123", "12 digits"),
    ("aws", "１２３４５６７８９０１２", "12 digits"),  # full-width digits are not an account id
    ("azure", "ABC-DEF", "GUID"), ("azure", SUB[:-1], "GUID"), ("azure", "{" + SUB + "}", "GUID"),
    ("gcp", "proj", "6 to 30"), ("gcp", "1project", "starting with a letter"), ("gcp", "my-project-", "hyphen"),
    ("gcp", "My-Project", "lowercase"), ("gcp", "p" * 31, "6 to 30"), ("gcp", "my_project", "lowercase"),
])
def test_invalid_account_ids_name_row_and_field(provider: str, account_id: str, hint: str) -> None:
    text = GOOD_CSV + f"{provider},{account_id},Bad Co,US,US,US,verified\n"
    with pytest.raises(InvalidInputError) as info:
        parse_csv(text)
    assert (info.value.row, info.value.field) == (5, "account_id")
    assert hint in str(info.value) and repr(account_id) in str(info.value)


def test_a_bad_accounts_file_imports_nothing(gk: Gatekeeper, tmp_path: Path) -> None:
    cfg = tmp_path / "gk.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/state.db"\ncreate = true\n', encoding="utf-8")
    before = gk.store.profiles.list_profiles()
    f = tmp_path / "bad.csv"
    f.write_text(GOOD_CSV + "aws,12ab,Typo Ltd,US,US,US,verified\n", encoding="utf-8")
    result = runner.invoke(app, ["accounts", "import", str(f), "--config", str(cfg)])
    assert result.exit_code == 1 and "row 5" in result.output and "12 digits" in result.output
    assert "Traceback" not in result.output
    assert gk.store.profiles.list_profiles() == before


CSV_TOKENS = [",", "\n", "\r", '"', "\x00", "\u2028", "\x0b", "aws", "azure", "gcp", "verified", "US", "CN",
              "123456789012", SUB, "=HYPERLINK(\"x\")", " ", "é", "x" * 200_000]


@st.composite
def accounts_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".csv", ".json"]))
    if suffix == ".json":
        text = json.dumps([dict(zip(HEADER.strip().split(","), row.split(","), strict=True))
                           for row in GOOD_CSV.splitlines()[1:]], indent=1)
    else:
        text = GOOD_CSV
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from([*CSV_TOKENS, "[", "{", "}", ":", "1" * 5000, "null"])) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
    raw = text.encode("utf-8")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"])) + raw[at:]
    return suffix, raw


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=accounts_bytes())
def test_fuzzed_accounts_files_only_raise_invalid_input(tmp_path: Path, case: tuple[str, bytes]) -> None:
    suffix, raw = case
    f = tmp_path / f"fuzz{suffix}"
    f.write_bytes(raw)
    try:
        profiles = read_profiles(f)
    except InvalidInputError as exc:
        assert str(exc).strip()
    else:
        assert all(account_id_problem(p.provider, p.account_id) is None for p in profiles)


# -- configuration -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "ok"), [(0, True), (88, True), (100, True), (500, False), (-1, False),
                                           (100.5, False)])
def test_screening_threshold_is_0_to_100(tmp_path: Path, value: float, ok: bool) -> None:
    f = tmp_path / "g.toml"
    f.write_text(f"[screening]\nthreshold = {value}\n", encoding="utf-8")
    if ok:
        assert load_config(f).screening.threshold == value
    else:
        with pytest.raises(ConfigError, match=r"screening\.threshold"):
            load_config(f)


def test_a_non_utf8_config_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_bytes(b'mode = "enforce"\n# caf\xe9\n')
    with pytest.raises(ConfigError, match=r"g\.toml:2: not UTF-8"):
        load_config(f)


def _cfg(tmp_path: Path, store: str, extra: str = "") -> Path:
    f = tmp_path / "gatekeeper.toml"
    f.write_text(f'[store]\nurl = "{store}"\n{extra}[audit]\nurl = "file://audit"\nsigning_key = "k.pem"\n',
                 encoding="utf-8")
    return f


def test_a_store_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "sqlite:///nonexist/dir/state.db")
    result = runner.invoke(app, ["check", "--provider", "aws", "--account", "222222222222", "--instance-type",
                                 "p4d.24xlarge", "--config", str(cfg)])
    assert result.exit_code == 1, result.output
    assert "does not exist" in result.output and "gatekeeper store init" in result.output
    assert not (tmp_path / "nonexist").exists()  # nothing was created
    result = runner.invoke(app, ["accounts", "show", "222222222222", "--config", str(cfg)])
    assert result.exit_code == 1 and not (tmp_path / "nonexist").exists()


def test_store_init_creates_it_and_then_it_is_used(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "sqlite:///data/state.db")
    result = runner.invoke(app, ["store", "init", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "state.db").is_file()
    csv = tmp_path / "c.csv"
    csv.write_text(GOOD_CSV, encoding="utf-8")
    result = runner.invoke(app, ["accounts", "import", str(csv), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["accounts", "show", "123456789012", "--config", str(cfg), "--json"])
    assert result.exit_code == 0 and "Acme Inc." in result.output, result.output


def test_create_true_and_the_embedded_default_make_the_store(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tmp_path, "sqlite:///made.db", "create = true\n")
    gk = Gatekeeper(load_config(cfg))
    try:
        assert gk.store.profiles.list_profiles() == [] and (tmp_path / "made.db").is_file()
    finally:
        gk.close()
    monkeypatch.chdir(tmp_path)
    gk = Gatekeeper(Config())
    try:
        gk.store.profiles.list_profiles()
        assert (tmp_path / ".gatekeeper" / "state.db").is_file()
    finally:
        gk.close()


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_another_process_denies_quickly_with_the_reason(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "sqlite:///state.db", "timeout_seconds = 0.5\n")
    assert runner.invoke(app, ["store", "init", "--config", str(cfg)]).exit_code == 0
    csv = tmp_path / "c.csv"
    csv.write_text(HEADER + "aws,222222222222,Lion City AI Pte. Ltd.,SG,SG,CN,verified\n", encoding="utf-8")
    assert runner.invoke(app, ["accounts", "import", str(csv), "--config", str(cfg)]).exit_code == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "state.db")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = runner.invoke(app, ["check", "--json", "--provider", "aws", "--account", "222222222222",
                                     "--instance-type", "p4d.24xlarge", "--config", str(cfg)])
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    # Denied fail-closed with the reason, and exit 1: gatekeeper could not decide (not a policy "no").
    assert result.exit_code == 1, result.output
    d = json.loads(result.stdout)
    assert d["decision"] == "deny" and "0.5 s ([store] timeout_seconds)" in d["error"]
    assert waited < 20  # not the 30 s the old busy timeout made a provisioning call wait


def test_the_lock_timeout_is_configurable_and_bounded() -> None:
    assert Config().store.timeout_seconds == 5.0
    with pytest.raises(ValueError, match="timeout_seconds"):
        Config(store={"timeout_seconds": 0})  # type: ignore[arg-type]


def test_an_audit_failure_exits_1_not_4(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the audit folder should be", encoding="utf-8")
    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text('[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
                   '[audit]\nurl = "file://blocked/audit"\nsigning_key = "k.pem"\n', encoding="utf-8")
    result = runner.invoke(app, ["check", "--json", "--provider", "aws", "--account", "222222222222",
                                 "--instance-type", "p4d.24xlarge", "--config", str(cfg)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output


def test_a_policy_deny_still_exits_4(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "sqlite:///state.db", "create = true\n")
    csv = tmp_path / "c.csv"
    csv.write_text(HEADER + "aws,444444444444,Persian Gulf Compute Co.,IR,IR,IR,verified\n", encoding="utf-8")
    assert runner.invoke(app, ["accounts", "import", str(csv), "--config", str(cfg)]).exit_code == 0
    result = runner.invoke(app, ["check", "--json", "--provider", "aws", "--account", "444444444444",
                                 "--instance-type", "p5.48xlarge", "--config", str(cfg)])
    assert result.exit_code == 4 and json.loads(result.stdout)["error"] is None


GOOD_TOML = """mode = "enforce"
on_error = "deny"
policies = []
[store]
url = "sqlite:///state.db"
timeout_seconds = 5
[audit]
url = "file://audit"
[screening]
threshold = 88
[workflow]
approvals_required = 1
[web]
port = 8765
max_body_bytes = 65536
origins = ["https://gk.example.com"]
[web.tokens]
"abcdefghijklmnopqrstuvwxyz" = "alice:reviewer"
"""
TOML_TOKENS = ["=", '"', "'", "[", "]", "{", "}", ",", "\n", "#", ".", "-1", "1e400", "500", "nan", "inf",
               "true", "\x00", "é", '"""', "[[x]]", "base_dir", "0x10", "1979-05-27", "a.b.c = 1\n", "[store]\n"]


@st.composite
def toml_bytes(draw: st.DrawFn) -> bytes:
    text = GOOD_TOML
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(TOML_TOKENS)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 15)):]
    raw = text.encode("utf-8")
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\xff" + raw[at:]
    return raw


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=toml_bytes())
def test_fuzzed_config_files_only_raise_config_error(tmp_path: Path, raw: bytes) -> None:
    f = tmp_path / "fuzz.toml"
    f.write_bytes(raw)
    try:
        cfg = load_config(f)
    except ConfigError as exc:
        assert str(exc).startswith(str(f)) or str(exc).startswith("cannot read"), exc
    else:
        assert 0 <= cfg.screening.threshold <= 100 and cfg.store.timeout_seconds > 0


def test_sqlite_is_really_locked_by_the_holder(tmp_path: Path) -> None:
    """The lock test's premise: BEGIN EXCLUSIVE in another process blocks a writer here."""
    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        conn = sqlite3.connect(db, timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            conn.execute("BEGIN IMMEDIATE")
        conn.close()
    finally:
        holder.kill()
        holder.wait()


def test_serve_refuses_a_missing_store_at_start(tmp_path: Path) -> None:
    from gatekeeper.cli.serve import serve

    cfg = _cfg(tmp_path, "sqlite:///typo/state.db")
    result = CliRunner().invoke(typer.Typer(add_completion=False, invoke_without_command=True,
                                            callback=serve), ["--config", str(cfg), "--port", "0"])
    assert result.exit_code == 1 and "does not exist" in result.output, result.output
    assert not (tmp_path / "typo").exists()
