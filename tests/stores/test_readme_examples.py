"""The README's configuration examples, one per cloud, are valid: each loads as a configuration and
its store and audit URLs parse with the backend they name (nothing is contacted)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from gatekeeper.audit import OBJECT_STORES, local_directory
from gatekeeper.config import load_config
from gatekeeper.stores import BACKENDS

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("#### Shared state and audit storage, one per cloud"):text.index("### Customer profiles")]
    out = {}
    for m in re.finditer(r"```toml\n(.*?)```", section, re.S):
        paragraph = section[:m.start()].rstrip().split("\n\n")[-1]  # what introduces the block
        out[paragraph.split(" (")[0].strip()] = m.group(1)
    return out


def test_one_example_per_cloud(tmp_path: Path) -> None:
    examples = _examples()
    assert set(examples) == {"AWS", "Azure", "Google Cloud", "On-premises"}, list(examples)
    schemes = set()
    for cloud, body in examples.items():
        cfg_file = tmp_path / f"{cloud}.toml"
        cfg_file.write_text(body, encoding="utf-8")
        cfg = load_config(cfg_file)
        store_scheme = cfg.store.url.split("://", 1)[0]
        assert store_scheme in BACKENDS, cloud
        parser = {"postgresql": "gatekeeper.stores.postgres:PostgresLocation",
                  "dynamodb": "gatekeeper.stores.dynamodb:DynamoDBLocation"}[store_scheme]
        mod, cls = parser.split(":")
        getattr(importlib.import_module(mod), cls).parse(cfg.store.url)  # raises on a bad URL
        audit_scheme = cfg.audit.url.split("://", 1)[0]
        assert audit_scheme == "file" or audit_scheme in OBJECT_STORES, cloud
        local_directory(cfg.audit.url, tmp_path)  # parses the audit URL with its backend
        schemes |= {store_scheme, audit_scheme}
    assert {"postgresql", "dynamodb", "s3", "azblob", "gs"} <= schemes
