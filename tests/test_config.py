"""Configuration: file, environment variable, defaults; typos refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.config import Config, load_config
from gatekeeper.errors import ConfigError


def test_defaults_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEKEEPER_CONFIG", raising=False)
    cfg = load_config()
    assert cfg == Config()
    assert cfg.mode == "enforce" and cfg.on_error == "deny"
    assert cfg.store.url == "sqlite:///.gatekeeper/state.db" and cfg.audit.url == "file://.gatekeeper/audit"


def test_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "g.toml"
    f.write_text('mode = "shadow"\npolicies = ["packs/"]\n[store]\nurl = "sqlite:///s.db"\n', encoding="utf-8")
    monkeypatch.setenv("GATEKEEPER_CONFIG", str(f))
    cfg = load_config()
    assert cfg.mode == "shadow"
    assert cfg.policy_paths() == [tmp_path.resolve() / "packs"]
    assert cfg.resolve("s.db") == tmp_path.resolve() / "s.db"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('mode = "enforcing"\n', "mode"),
        ('on_error = "ignore"\n', "on_error"),
        ('[store]\nurll = "x"\n', "store.urll"),
        ('modes = "shadow"\n', "modes"),
        ("mode = \n", "not valid TOML"),
        ('base_dir = "/"\n', "base_dir"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "g.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_config(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    assert blocks, "the README shows the configuration"
    f = tmp_path / "g.toml"
    f.write_text(blocks[0], encoding="utf-8")
    cfg = load_config(f)
    assert cfg.hooks.account_map == {"123456789012": "222222222222"}
    assert cfg.web.tokens == {"change-me": "alice:reviewer"}
