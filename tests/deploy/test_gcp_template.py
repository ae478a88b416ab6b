"""deploy/gcp: the Terraform (JSON syntax) template is in step with the code (one Eventarc trigger per
audited call of the Google Cloud spec, the roles the hook needs), refers only to what it declares, and
its triggers match the recorded audit entries of the hook tests; main.py binds the function."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from gatekeeper.hooks.gcp_function import AUDITED, IAM_ROLES, TRIGGERS, method_key
from gatekeeper.providers.gcp import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
GCP = ROOT / "deploy" / "gcp"
EVENTS = ROOT / "tests" / "hooks" / "events"


def template() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GCP / "main.tf.json").read_text(encoding="utf-8"))
    return doc


def test_one_trigger_per_audited_call_of_the_spec() -> None:
    triggers = template()["locals"]["triggers"]
    assert sorted((t["service"], t["method"]) for t in triggers.values()) == sorted(TRIGGERS)
    assert {(s, method_key(m)) for s, m in AUDITED} == {(op.service, method_key(op.audit)) for op in OPERATIONS}
    [trigger] = template()["resource"]["google_eventarc_trigger"].values()
    criteria = {c["attribute"]: c["value"] for c in trigger["matching_criteria"]}
    assert criteria == {"type": "google.cloud.audit.log.v1.written", "serviceName": "${each.value.service}",
                        "methodName": "${each.value.method}"}
    # Trigger names: at most 63 characters, lowercase letters, digits and hyphens.
    for key in triggers:
        name = "gk-" + key[:58]
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,62}", name), name


def test_the_hook_gets_exactly_the_roles_the_code_names() -> None:
    assert template()["locals"]["roles"] == list(IAM_ROLES)
    binding = template()["resource"]["google_project_iam_member"]["hook"]
    assert binding["for_each"] == "${toset(local.roles)}"
    assert not any(r in ("roles/owner", "roles/editor") for r in IAM_ROLES)


def test_every_reference_is_declared() -> None:
    doc = template()
    text = json.dumps(doc)
    for kind, declared in (("var", doc["variable"]), ("local", doc["locals"])):
        used = set(re.findall(rf"\b{kind}\.([a-z_]+)", text))
        assert used <= set(declared), (kind, used - set(declared))
    for rtype, name in re.findall(r"\$\{(google_[a-z0-9_]+)\.([a-z_]+)\.", text):
        assert name in doc["resource"][rtype], (rtype, name)
    for name in re.findall(r"data\.archive_file\.([a-z_]+)\.", text):
        assert name in doc["data"]["archive_file"]


def test_the_function_runs_main_py_with_the_config_and_its_own_identity() -> None:
    fn = template()["resource"]["google_cloudfunctions2_function"]["hook"]
    assert fn["build_config"]["entry_point"] == "gatekeeper_hook"
    env = fn["service_config"]["environment_variables"]
    assert set(env) == {"GATEKEEPER_CONFIG_TOML", "GATEKEEPER_SELF_PRINCIPAL_ID"}
    tree = ast.parse((GCP / "main.py").read_text(encoding="utf-8"))
    [func] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "gatekeeper_hook"]
    assert any(isinstance(d, ast.Attribute) and d.attr == "cloud_event" for d in func.decorator_list)
    # The source is the unpacked bundle of deploy/gcp/build.sh (gatekeeper vendored, its dependencies
    # pinned: tests/deploy/test_bundles.py), never this folder: gatekeeper is not on PyPI.
    assert "default" not in template()["variable"]["source_dir"]
    assert not (GCP / "requirements.txt").exists()


def _entry(path: Path) -> dict[str, Any]:
    raw = re.sub(r"\{\{[A-Z_]+\}\}", "0", path.read_text(encoding="utf-8"))
    doc: dict[str, Any] = json.loads(raw)
    return doc.get("data", doc)


def test_the_triggers_match_the_recorded_entries() -> None:
    triggers = {(t["service"], t["method"]) for t in template()["locals"]["triggers"].values()}
    samples = sorted(EVENTS.glob("gcp-*.json"))
    assert samples
    for path in samples:
        p = _entry(path)["protoPayload"]
        assert (p["serviceName"], p["methodName"]) in triggers, path.name
    assert ("compute.googleapis.com", "v1.compute.instances.setLabels") not in triggers
    assert ("compute.googleapis.com", "v1.compute.instances.stop") not in triggers
