"""What a CLI user expects: readable catalog and help screens, accounts list, --version, --config before
the command, "did you mean" for unknown instance types and regions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gatekeeper.cli.main import GROUPS, app, hoist_config
from tests.cli.test_core_commands import cfg  # the sample customers imported into a fresh home

__all__ = ["cfg"]
runner = CliRunner()
PYTHON_VALUES = re.compile(r"\b(None|True|False)\b|\[\]|\b\d+\.0\b")


@pytest.mark.parametrize("name", ["p5.48xlarge", "m5.large", "g5.xlarge", "Standard_ND96asr_v4"])
def test_catalog_show_has_no_python_values(name: str) -> None:
    out = runner.invoke(app, ["catalog", "show", name], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    body = "\n".join(line for line in out.stdout.splitlines() if "http" not in line)
    assert not PYTHON_VALUES.search(body), body
    assert "export class" in body and "figures confirmed" in body


def test_catalog_show_values() -> None:
    out = runner.invoke(app, ["catalog", "show", "p5.48xlarge"], env={"COLUMNS": "200"}).stdout
    assert re.search(r"TPP\s+│\s+15,832", out) and re.search(r"accelerators\s+│\s+8\s", out)
    plain = runner.invoke(app, ["catalog", "show", "m5.large"], env={"COLUMNS": "200"}).stdout
    assert re.search(r"chip\s+│\s+none", plain) and re.search(r"PD\s+│\s+-", plain)


@pytest.mark.parametrize("command", [["check"], ["cases", "approve"], ["cases", "export"], ["audit", "query"],
                                     ["accounts", "list"], ["serve"], *([g] for g in GROUPS)])
def test_help_shows_no_type_names(command: list[str]) -> None:
    out = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert not re.search(r"<(bool|str|int|float|path|list\[[a-z]+\])>", out.stdout), out.stdout


def test_help_labels() -> None:
    out = runner.invoke(app, ["check", "--help"], env={"COLUMNS": "200"}).stdout
    assert re.search(r"--dry-run\s+What-if", out) and re.search(r"--count\s+INTEGER", out)
    assert re.search(r"--attach\s+TEXT\.\.\.", out)


def test_version() -> None:
    from importlib.metadata import version

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.stdout.strip() == f"gatekeeper {version('gatekeeper')}"


def test_config_before_the_command(cfg: Path, tmp_path: Path) -> None:
    for args in (["--config", str(cfg), "accounts", "list", "--json"], [f"--config={cfg}", "accounts", "list",
                                                                         "--json"],
                 ["accounts", "list", "--json", "--config", str(cfg)]):
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
        assert len(json.loads(out.stdout)) == 12
    # Given before and after the command, the one after wins (an empty home has no profiles).
    other = tmp_path / "other"
    other.mkdir()
    empty = other / "g.toml"
    empty.write_text('[store]\nurl = "sqlite:///s.db"\ncreate = true\n[audit]\nurl = "file://audit"\n',
                     encoding="utf-8")
    out = runner.invoke(app, ["--config", str(cfg), "accounts", "list", "--json", "--config", str(empty)])
    assert out.exit_code == 0 and json.loads(out.stdout) == []
    # Nothing after it: a usage error, not a crash.
    assert runner.invoke(app, ["--config", str(cfg)]).exit_code == 2


def test_hoist_config() -> None:
    assert hoist_config(["--config", "a", "check", "-x"]) == ["check", "-x", "--config", "a"]
    assert hoist_config(["--config=a", "cases", "list"]) == ["cases", "list", "--config=a"]
    assert hoist_config(["check", "--config", "a"]) == ["check", "--config", "a"]
    assert hoist_config(["--version"]) == ["--version"]
    assert hoist_config(["--config"]) == ["--config"]


@pytest.mark.parametrize(("args", "accounts"), [
    ([], 12),
    (["--provider", "aws"], 4),
    (["--country", "cn"], 3),  # the Singapore customers whose parent is in China, on each cloud
    (["--kyc", "unverified"], 3),
    (["--name", "lion city", "--provider", "gcp"], 1),
    (["--name", "lioncity-ai"], 1),  # part of a GCP project id
    (["--hits"], 0),
])
def test_accounts_list_filters(cfg: Path, args: list[str], accounts: int) -> None:
    out = runner.invoke(app, ["accounts", "list", "--json", "--config", str(cfg), *args])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert len(rows) == accounts
    if "--country" in args:
        assert all("CN" in (r["country"], r["headquarters_country"], r["ultimate_parent_country"]) for r in rows)


def test_accounts_list_table_and_bad_filters(cfg: Path) -> None:
    out = runner.invoke(app, ["accounts", "list", "--config", str(cfg), "--provider", "aws"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "Lion City AI Pte. Ltd." in out.stdout and "4 profile(s)" in out.stdout
    for args, message in ((["--provider", "ibm"], "--provider must be"), (["--kyc", "maybe"], "--kyc must be"),
                          (["--country", "China"], "--country must be")):
        bad = runner.invoke(app, ["accounts", "list", "--config", str(cfg), *args])
        assert bad.exit_code == 1 and message in bad.output


def test_did_you_mean(cfg: Path) -> None:
    out = runner.invoke(app, ["check", "--json", "--dry-run", "--config", str(cfg), "--provider", "aws",
                              "--account", "111111111111", "--instance-type", "p5.48xlarg", "--region", "us-est-1"])
    d = json.loads(out.stdout)
    assert d["suggestions"]["instance_type"][0] == "p5.48xlarge" and d["suggestions"]["region"][0] == "us-east-1"
    assert d["decision"] != "allow"  # still decided as unknown: suggestions never decide
    text = runner.invoke(app, ["check", "--dry-run", "--config", str(cfg), "--provider", "aws", "--account",
                               "111111111111", "--instance-type", "p5.48xlarg"], env={"COLUMNS": "200"}).stdout
    assert "did you mean p5.48xlarge" in text
    known = runner.invoke(app, ["check", "--json", "--dry-run", "--config", str(cfg), "--provider", "aws",
                                "--account", "111111111111", "--instance-type", "p5.48xlarge", "--region",
                                "us-east-1a"])
    assert "suggestions" not in json.loads(known.stdout)
    show = runner.invoke(app, ["catalog", "show", "p4d.24xlarg", "--json"])
    assert show.exit_code == 1 and json.loads(show.stdout)["did_you_mean"][0] == "p4d.24xlarge"
