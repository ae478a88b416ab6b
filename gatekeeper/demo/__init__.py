"""``gatekeeper demo``: the main job on embedded defaults, in sections.

Each section is a module ``gatekeeper.demo.<name>`` with ``run(ctx: DemoContext) -> None``; they run in
``SECTIONS`` order against one fresh home folder (SQLite store, local audit log, in-process moto and
local stand-ins for Azure and Google Cloud), so the demo is the same on every run and touches no cloud.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from gatekeeper.accounts import read_profiles
from gatekeeper.config import load_config
from gatekeeper.service import Gatekeeper

DATA = Path(__file__).parent / "data"
SECTIONS = ("story", "core", "aws", "workflow", "azure_gcp", "screening", "audit")
# Sample tokens for the console on the demo's state (loopback only; never use these anywhere else).
REVIEWER_TOKEN = "demo-reviewer-5f0c2a7e9b1d4c83"
AUDITOR_TOKEN = "demo-auditor-8e3b6d1f4a7c2e95"

# Sample customers by role: (provider, account id) per cloud.
ACCOUNTS = {
    "us_verified": {"aws": "111111111111", "azure": "11111111-1111-1111-1111-111111111111",
                    "gcp": "acme-analytics-prod"},
    "sg_cn_parent": {"aws": "222222222222", "azure": "22222222-2222-2222-2222-222222222222",
                     "gcp": "lioncity-ai-train"},
    "unverified_foreign": {"aws": "333333333333", "azure": "33333333-3333-3333-3333-333333333333",
                           "gcp": "andes-render"},
    "embargoed": {"aws": "444444444444", "azure": "44444444-4444-4444-4444-444444444444",
                  "gcp": "persian-gulf-compute"},
}


@dataclass
class DemoContext:
    console: Console
    gk: Gatekeeper
    home: Path
    config_path: Path
    # role -> (provider, account id) on AWS; ``accounts_by_cloud`` has every cloud's ids.
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    accounts_by_cloud: dict[str, dict[str, str]] = field(default_factory=dict)
    reviewer_token: str = REVIEWER_TOKEN
    sections_shown: int = 0

    def section(self, title: str) -> None:
        """A numbered section heading (numbered in the order the sections run)."""
        self.sections_shown += 1
        self.console.rule(f"[bold]{self.sections_shown}. {title}")


def write_config(home: Path) -> Path:
    path = home / "gatekeeper.toml"
    path.write_text(
        'mode = "enforce"\non_error = "deny"\n'
        '[store]\nurl = "sqlite:///state.db"\ncreate = true\n'
        '[audit]\nurl = "file://audit"\nsigning_key = "audit-signing-key.pem"\n'
        "# Demo tokens for `gatekeeper serve --config` on this folder (the server listens on 127.0.0.1 only).\n"
        f'[web.tokens]\n"{REVIEWER_TOKEN}" = "demo-reviewer:reviewer"\n"{AUDITOR_TOKEN}" = "demo-auditor:auditor"\n',
        encoding="utf-8",
    )
    return path


def prepare(home: Path, console: Console) -> DemoContext:
    """A fresh demo home with its config, the sample customers imported, and the runtime configured."""
    from gatekeeper import runtime

    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    config_path = write_config(home)
    gk = runtime.configure(load_config(config_path))
    profiles = read_profiles(DATA / "customers.csv")
    gk.store.profiles.put_profiles(profiles)
    return DemoContext(
        console=console, gk=gk, home=home, config_path=config_path,
        accounts={role: ("aws", ids["aws"]) for role, ids in ACCOUNTS.items()},
        accounts_by_cloud={role: dict(ids) for role, ids in ACCOUNTS.items()},
    )


def run_demo(home: Path, console: Console, sections: tuple[str, ...] = SECTIONS) -> DemoContext:
    ctx = prepare(home, console)
    for name in sections:
        module = importlib.import_module(f"gatekeeper.demo.{name}")
        module.run(ctx)
    ctx.console.print(f"\nDemo state is in [bold]{home}[/]; inspect it with "
                      f"[bold]gatekeeper --help[/] commands and [bold]--config {ctx.config_path}[/].\n"
                      f"Review console on it: [bold]gatekeeper serve --config {ctx.config_path}[/], then open "
                      f"[bold]http://127.0.0.1:8765/?token={ctx.reviewer_token}[/] (a demo token).", highlight=False)
    return ctx
