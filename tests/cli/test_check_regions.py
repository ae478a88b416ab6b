"""``gatekeeper check`` on a region gatekeeper does not know: held for review, the closest region named."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_core_commands import cfg as cfg  # the CLI config fixture
from tests.cli.test_core_commands import check


def test_an_unknown_region_is_pending_and_the_closest_known_one_is_suggested(cfg: Path) -> None:
    code, out = check(cfg, "--provider", "aws", "--account", "111111111111", "--instance-type", "p4d.24xlarge",
                      "--region", "us-esat-1", "--dry-run")
    assert code == 3 and out["decision"] == "pending"
    assert any("us-east-1" in r for r in out["reasons"])  # type: ignore[union-attr]
    code, out = check(cfg, "--provider", "aws", "--account", "111111111111", "--instance-type", "t3.micro",
                      "--region", "xx-fake-9", "--dry-run")
    assert code == 0 and out["decision"] == "allow"
