"""The Lambda's first event in a fresh process: what it loads and what it leaves of the garbage collector.

Each case runs the handler in a fresh interpreter (this test process has everything loaded, and its
collector must not be touched). Behaviour only; the time is measured by bench/bench_hook_cold_start.py.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.config import load_config
from gatekeeper.model import CustomerProfile
from gatekeeper.policy import shipped_policies_dir
from gatekeeper.policy.bundle import build as build_bundle
from gatekeeper.stores import open_store
from tests.hooks.conftest import US, load_event

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import gc, json, sys
if sys.argv[2] == "gc-off":
    gc.disable()
from gatekeeper.hooks.aws_lambda import handler
answers = [handler(json.loads(sys.argv[1]), None)]
first = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
event = json.loads(sys.argv[1]); event["id"] = event["id"] + "-2"
answers.append(handler(event, None))
print(json.dumps({"answers": [a["status"] + ":" + str(a.get("decision")) for a in answers], "first": first,
                  "pydantic": "pydantic" in sys.modules, "workflow": "gatekeeper.workflow.model" in sys.modules,
                  "yaml": "yaml" in sys.modules,
                  "dataclass_code": [sys.modules["gatekeeper._dataclass_code"].hits,
                                     sys.modules["gatekeeper._dataclass_code"].misses]
                                    if "gatekeeper._dataclass_code" in sys.modules else None,
                  "rule_code": len(sys.modules["gatekeeper.policy.compiled"]._rule_code),
                  "after_second": {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()},
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in
                                   ("boto3", "botocore", "structlog", "rich", "asyncio"))
                            + sorted(m for m in sys.modules if m.startswith("cryptography.hazmat.primitives.serial"))}))
"""


def _home(tmp_path: Path) -> Path:
    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/state.db"\ncreate = true\n'
                   f'[audit]\nurl = "file://{tmp_path}/audit"\nsigning_key = "{tmp_path}/key.pem"\n', encoding="utf-8")
    config = load_config(cfg)
    store = open_store(config.store.url, base_dir=config.base_dir)
    try:
        store.profiles.put_profiles([CustomerProfile("aws", US, "Acme Analytics Inc.", "US", "US", "US", "verified")])
    finally:
        store.close()
    return cfg


def _first_events(tmp_path: Path, *, function_host: bool, gc_off: bool = False,
                  bundle: Path | None = None) -> dict[str, Any]:
    event = load_event("run-instances-console.json", ACCOUNT=US, INSTANCE_TYPE="p4d.24xlarge", AMI="ami-12c6146b",
                       INSTANCE_ID="i-0123456789abcdef0")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATEKEEPER_", "AWS_", "FUNCTIONS_", "FUNCTION_TARGET", "K_SERVICE"))}
    env.update({"GATEKEEPER_CONFIG": str(_home(tmp_path)), "AWS_DEFAULT_REGION": "us-east-1",
                "PYTHONPATH": str(ROOT)})
    if function_host:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "gatekeeper-test"
    if bundle is not None:
        env["GATEKEEPER_POLICY_BUNDLE"] = str(bundle)
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(event), "gc-off" if gc_off else "gc-on"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["log"] = out.stdout
    return result


@functools.cache
def _recorded_code() -> dict[str, Any]:
    from gatekeeper._dataclass_code import record

    return record()


def _packaged_bundle(tmp_path: Path) -> Path:
    """The bundle a packaged function carries (deploy/aws/build.sh): the shipped packs, validated, their
    rules compiled, and the compiled methods of gatekeeper's dataclasses."""
    path = tmp_path / "bundle.json"
    path.write_bytes(build_bundle([shipped_policies_dir()], dataclass_code=_recorded_code(), rule_code=True))
    return path


def test_a_packaged_lambda_decides_its_first_allowed_event_without_pydantic(tmp_path: Path) -> None:
    # The configuration by the plain reader, the packs from the bundle, no case opened: none of the
    # pydantic models is needed, so pydantic is not imported at all (nor the workflow models); the
    # catalog's and jurisdictions' data come parsed in the bundle: no YAML parser either.
    r = _first_events(tmp_path, function_host=True, bundle=_packaged_bundle(tmp_path))
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["pydantic"] is False and r["workflow"] is False and r["yaml"] is False
    assert "bundle_rejected" not in r["log"]
    # every dataclass method it created came compiled from the bundle (gatekeeper/_dataclass_code.py)
    hits, misses = r["dataclass_code"]
    assert hits > 100 and misses == 0
    assert r["rule_code"] > 10  # and the rules' functions came compiled too


def test_outside_a_function_host_the_bundled_dataclass_code_is_not_used(tmp_path: Path) -> None:
    r = _first_events(tmp_path, function_host=False, bundle=_packaged_bundle(tmp_path))
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["dataclass_code"] is None


def test_a_lambda_whose_bundle_has_another_pythons_code_compiles_its_own(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(build_bundle([shipped_policies_dir()],
                                    dataclass_code={**_recorded_code(), "python": "00000d0a"}))
    r = _first_events(tmp_path, function_host=True, bundle=bundle)
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["pydantic"] is False  # the packs still come from the bundle
    assert "bundle_code_unused" in r["log"] and "another Python" in r["log"]
    assert r["dataclass_code"] is None or r["dataclass_code"][0] == 0


def test_a_lambda_whose_bundle_does_not_vouch_for_its_packs_validates_them(tmp_path: Path) -> None:
    bundle = _packaged_bundle(tmp_path)
    header, _, body = bundle.read_bytes().partition(b"\n")
    bundle.write_bytes(header + b"\n" + body.replace(b'"decision":"pending"', b'"decision":"flag"'))
    r = _first_events(tmp_path, function_host=True, bundle=bundle)
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["pydantic"] is True  # the packs were validated from their files
    assert "bundle_rejected" in r["log"] and "does not match its digest" in r["log"]


def test_in_lambda_the_first_event_leaves_the_runtime_frozen_and_the_collector_on(tmp_path: Path) -> None:
    r = _first_events(tmp_path, function_host=True)
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["first"]["enabled"] is True and r["first"]["frozen"] > 10_000
    # the second event freezes nothing more (the pause is the container's first event only; frozen
    # objects freed by their reference counts leave the count)
    assert r["after_second"]["enabled"] is True and r["after_second"]["frozen"] <= r["first"]["frozen"]
    # an allowed launch needs no SDK, no rich console logging and no general PEM parser
    assert r["loaded"] == []


def test_outside_a_function_host_the_collector_is_left_alone(tmp_path: Path) -> None:
    r = _first_events(tmp_path, function_host=False)
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["first"] == {"enabled": True, "frozen": 0}


@pytest.mark.parametrize("function_host", [True, False])
def test_a_collector_disabled_before_stays_disabled(tmp_path: Path, function_host: bool) -> None:
    r = _first_events(tmp_path, function_host=function_host, gc_off=True)
    assert r["answers"] == ["decided:allow", "decided:allow"]
    assert r["first"] == {"enabled": False, "frozen": 0}


def test_a_first_event_that_fails_still_restores_the_collector(tmp_path: Path) -> None:
    code = ("import gc, json, sys\nfrom gatekeeper.hooks.aws_lambda import handler\n"
            "try:\n    handler({'id': 'e1', 'detail-type': 'x'}, None)\nexcept Exception as exc:\n"
            "    print(json.dumps({'error': type(exc).__name__, 'enabled': gc.isenabled()}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEKEEPER_", "AWS_"))}
    env.update({"GATEKEEPER_CONFIG": str(tmp_path / "missing.toml"), "AWS_LAMBDA_FUNCTION_NAME": "gatekeeper-test",
                "PYTHONPATH": str(ROOT)})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"error": "ConfigError", "enabled": True}
