"""The detective hooks' deploy bundles built by deploy/<cloud>/build.sh and run from the unpacked zip.

Each test builds one bundle for this machine's architecture (the templates' own platform, arm64 for
the Lambda, is a flag away and is checked for its wheels), unpacks it, and invokes the entry point the
platform would invoke, in a fresh ``python -S`` that sees only the bundle (and, for Google Cloud, the
pinned requirements installed as Cloud Build would), with a recorded event against the local stand-in
of the cloud on 127.0.0.1: moto's ThreadedMotoServer, the ARM stand-in, the Google Cloud stand-in. It
asserts the remediation through the stand-in, and that the audit log the child wrote has the
decision and the actions and verifies. Slow: each build runs pip (about 10-60 s with a warm cache).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gatekeeper.hooks.remediation import TAG_CASE_ID, TAG_DECISION, TAG_DECISION_ID
from gatekeeper.stores.dynamodb import open_dynamodb_store
from tests.deploy._bundles import (
    ROOT,
    assert_self_contained,
    audit_records,
    build,
    config_toml,
    run_child,
    seed_profiles,
    verify_audit,
)
from tests.hooks.conftest import AZ_CHINA_HQ, CHINA_HQ, GCP_CHINA_HQ, HOOK_PROFILES, load_event

pytestmark = pytest.mark.slow

REGION = "us-east-1"
TABLES = "gk-test"
BUCKET = "gk-audit"
AMI = "ami-12c6146b"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
           "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k, raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def lambda_function() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, errors = decode(str(ROOT / "deploy" / "aws" / "template.yaml"))
    assert not errors and template is not None
    [fn] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    props: dict[str, Any] = json.loads(json.dumps(fn["Properties"], default=str))
    return props


def template_config(home: Path) -> str:
    """The GATEKEEPER_CONFIG_TOML the template gives the function (DynamoDB store, S3 audit log with its
    spool), rendered for stack "gk", with the function's /tmp/gatekeeper under ``home``."""
    text, variables = lambda_function()["Environment"]["Variables"]["GATEKEEPER_CONFIG_TOML"]["Fn::Sub"]
    assert set(variables) == {"Role"}
    values = {"Mode": "enforce", "TablePrefix": TABLES, "AWS::Region": REGION, "AuditBucket": BUCKET,
              "OnFlag": "tag", "OnPending": "stop", "OnDeny": "terminate", "OnError": "stop", "AccountMap": "{}",
              "Role": ""}
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text)
    return rendered.replace("/tmp/gatekeeper", str(home))


# The Lambda runtime: import the handler the template names, call it with the event (as /var/runtime's
# bootstrap does), and report what it answered and which of the bundle's precompiled code it used. Then,
# the event's segment being too small for a sidecar (DuckDB not loaded by the handler), write and check
# the sidecar of that segment with the bundle's duckdb, as the writer does for a large segment.
AWS_CHILD = r"""
import importlib, importlib.metadata
from pathlib import Path
module, _, name = os.environ["HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(module), name)
answer = handler(json.loads(os.environ["EVENT"]), None)
duckdb_at_close = "gatekeeper.audit._duck" in sys.modules
from gatekeeper.audit._sidecar import COLUMNS, check_sidecar, read_checkpoint, write_sidecar
[cp] = sorted(Path(os.environ["GATEKEEPER_HOME"]).rglob("segment-*.checkpoint.json"))[:1]
segment = cp.with_name(cp.name.replace(".checkpoint.json", ".jsonl"))
sidecar = write_sidecar(segment, read_checkpoint(cp), COLUMNS)
dc = sys.modules.get("gatekeeper._dataclass_code")
report(answer=answer, boto3=sys.modules["boto3"].__file__, duckdb_at_close=duckdb_at_close,
       duckdb=importlib.metadata.version("duckdb"), sidecar_check=check_sidecar(segment, sidecar, COLUMNS),
       dataclass_code=[dc.hits, dc.misses] if dc else None)
"""


def test_the_lambda_bundle_stops_a_p5_from_the_unpacked_zip(tmp_path: Path, moto_server: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    zip_path, bundle = build("aws", tmp_path)
    # What the package holds: the handler's module and the policy bundle, gatekeeper's and boto3's .pyc,
    # the record of what it holds; no console scripts (they name the builder's interpreter).
    assert (bundle / "gatekeeper/hooks/aws_lambda.py").is_file()
    assert (bundle / "gatekeeper/policy/bundle.json").is_file()
    pins = (bundle / "gatekeeper-bundle.txt").read_text(encoding="utf-8")
    assert "gatekeeper==" in pins and "boto3==" in pins and "botocore==" in pins
    assert not (bundle / "bin").exists()
    # Every module has its .pyc, hash-based and unchecked (PEP 552 flags 0b01): valid whatever the file
    # times the zip and Lambda's unpacking leave.
    sources = [p for p in bundle.rglob("*.py") if "__pycache__" not in p.parts]
    assert sources and all(importlib.util.cache_from_source(str(p)) for p in sources)
    missing = [p for p in sources if not Path(importlib.util.cache_from_source(str(p))).is_file()]
    assert missing == []
    flags = {int.from_bytes(Path(importlib.util.cache_from_source(str(p))).read_bytes()[4:8], "little")
             for p in sources}
    assert flags == {0b01}
    with zipfile.ZipFile(zip_path) as zf:
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist() if not i.is_dir()}
    assert all(m & 0o444 == 0o444 for m in modes.values())  # Lambda runs as another user than the uploader

    # The stack's resources in moto: the tables (as `gatekeeper store init` makes them) with the customer
    # profiles, the Object Lock audit bucket, and a p5 that someone launched from the console.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    store = open_dynamodb_store(f"dynamodb://{TABLES}?region={REGION}")
    store.init()
    store.profiles.put_profiles(list(HOOK_PROFILES))
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    ec2 = boto3.client("ec2", region_name=REGION)
    launched = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="p5.48xlarge")
    iid = launched["Instances"][0]["InstanceId"]
    event = load_event("run-instances-console.json", ACCOUNT=CHINA_HQ, INSTANCE_ID=iid,
                       INSTANCE_TYPE="p5.48xlarge", AMI=AMI)
    home = tmp_path / "lambda-tmp"
    toml = template_config(home)

    result, log = run_child(AWS_CHILD, [bundle], {
        **AWS_ENV, "AWS_ENDPOINT_URL": moto_server, "AWS_LAMBDA_FUNCTION_NAME": "gatekeeper-hook",
        "GATEKEEPER_CONFIG_TOML": toml, "GATEKEEPER_HOME": str(home), "HANDLER": lambda_function()["Handler"],
        "EVENT": json.dumps(event)}, cwd=tmp_path)

    assert_self_contained(result)
    # Closing the log after the event wrote no sidecar for its small segment: DuckDB was not loaded.
    # The bundle's duckdb still writes one, as the writer does for a large segment (on x86_64 a duckdb
    # 1.x, the newest with wheels for Amazon Linux 2's glibc, which needs pytz for it: the builder adds
    # pytz then), and it holds the segment's rows.
    assert result["duckdb_at_close"] is False and "sidecar_failed" not in log
    assert result["duckdb"] and result["sidecar_check"] is None
    assert result["boto3"].startswith(str(bundle))  # the bundle's own, not the runtime's
    hits, misses = result["dataclass_code"]
    assert hits > 100 and misses == 0  # the methods compiled into the bundle were used
    assert "bundle_rejected" not in log
    answer = result["answer"]
    assert answer["status"] == "remediated" and answer["decision"] == "pending" and answer["case_id"]
    # The remediation, as moto holds it now.
    found = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert found["State"]["Name"] == "stopped"
    tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
    assert tags[TAG_DECISION] == "pending" and tags[TAG_CASE_ID] == answer["case_id"]
    assert tags[TAG_DECISION_ID] == answer["decision_id"]
    # The audit log the function wrote to the bucket (closed after the event): the decision, then each
    # action with the event id; and it verifies against the witness's digest in the audit table.
    cfg = tmp_path / "operator.toml"
    cfg.write_text(toml.replace(str(home), str(tmp_path / "operator")), encoding="utf-8")
    verified = verify_audit(cfg, "--remote")
    assert verified["status"] == "intact" and verified["records"] >= 4, verified
    recs = [r for r in s3_records() if r["kind"] == "decision" or r["kind"].startswith("remediation.")]
    assert [r["kind"] for r in recs] == ["decision", "remediation.tag", "remediation.stop"]
    assert recs[0]["decision_id"] == answer["decision_id"] and recs[0]["source"] == "lambda"
    assert all(r["data"]["event_id"] == event["id"] and r["data"]["result"] == "ok" for r in recs[1:])


def s3_records() -> list[dict[str, Any]]:
    """Every record of the audit segments in the bucket."""
    s3 = boto3.client("s3", region_name=REGION)
    out: list[dict[str, Any]] = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="audit/").get("Contents", []):
        if obj["Key"].endswith(".jsonl"):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
            out.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return out


# -- Azure Functions ------------------------------------------------------------------------------------
# The Python worker: the app's folder and .python_packages/lib/site-packages on the path, function_app
# imported, the function bound to gatekeeper_hook called with the Event Grid event. Only the clients'
# endpoint and credential are the stand-in's (a real app has ARM and its managed identity).
AZURE_CHILD = r"""
import function_app
import azure.functions as func
from gatekeeper.adapters.azure.testing import StaticToken
from gatekeeper.hooks import azure_function
azure_function.AzureHook.new_clients = lambda self: azure_function.AzureClients(
    credential=StaticToken(os.environ["ARM_TOKEN"]), base_url=os.environ["ARM_URL"],
    connection_verify=os.environ["ARM_CA"], retry_total=0)
[fn] = [f for f in function_app.app.get_functions() if f.get_function_name() == "gatekeeper_hook"]
raw = json.loads(os.environ["EVENT"])
event = func.EventGridEvent(id=raw["id"], data=raw["data"], topic=raw["topic"], subject=raw["subject"],
                            event_type=raw["eventType"], event_time=None, data_version=raw["dataVersion"])
fn.get_user_function()(event)
report(function_json=json.loads(fn.get_function_json()))
"""


def azure_config(home: Path) -> str:
    """The GATEKEEPER_CONFIG_TOML of azuredeploy.json (its format() rendered), the share under ``home``."""
    template = json.loads((ROOT / "deploy" / "azure" / "azuredeploy.json").read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("GATEKEEPER_CONFIG_TOML"), str):
                found.append(node["GATEKEEPER_CONFIG_TOML"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(template)
    [expr] = found
    text = expr.removeprefix("[format('")[:expr.removeprefix("[format('").index("', parameters(")]
    text = text.replace("''", "'").format("enforce", "tag", "stop", "terminate", "stop", "{}")
    return text.replace("/mounts/gatekeeper", str(home))


def test_the_azure_function_bundle_deallocates_a_vm_from_the_unpacked_zip(tmp_path: Path) -> None:
    from gatekeeper.adapters.azure.testing import ArmStandIn, StaticToken

    _, bundle = build("azure", tmp_path)
    site = bundle / ".python_packages" / "lib" / "site-packages"
    assert {p.name for p in bundle.iterdir()} >= {"function_app.py", "host.json", "requirements.txt",
                                                  ".python_packages"}
    assert (site / "gatekeeper/policy/bundle.json").is_file() and (site / "azure/functions").is_dir()
    requirements = (bundle / "requirements.txt").read_text(encoding="utf-8")
    assert "azure-functions==" in requirements and "azure-mgmt-resource==" in requirements

    home = tmp_path / "share"
    seed_profiles(home, config_toml(home))  # the profiles imported into the share's state.db
    group, name = "ml-rg", "trainer-0"
    rid = (f"/subscriptions/{AZ_CHINA_HQ}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/"
           f"{name}")
    event = load_event("azure-vm-write.json", SUBSCRIPTION=AZ_CHINA_HQ, GROUP=group, NAME=name,
                       PRINCIPAL_OID="0b0b0b0b-1111-4222-8333-444444444444", PRINCIPAL_UPN="wang.fang@example.cn")
    with ArmStandIn(token=StaticToken().token) as arm:
        arm.seed(rid, {"type": "Microsoft.Compute/virtualMachines", "location": "eastasia",
                       "tags": {"owner": "ml-team"},
                       "properties": {"hardwareProfile": {"vmSize": "Standard_ND96isr_H100_v5"}}})
        result, log = run_child(AZURE_CHILD, [bundle, site], {
            "FUNCTIONS_WORKER_RUNTIME": "python", "GATEKEEPER_CONFIG_TOML": azure_config(home),
            "GATEKEEPER_HOME": str(tmp_path / "function-tmp"),
            "GATEKEEPER_SELF_PRINCIPAL_ID": "9f9f9f9f-1111-4222-8333-555555555555",
            "ARM_TOKEN": StaticToken().token, "ARM_URL": arm.url, "ARM_CA": str(arm.ca_file),
            "EVENT": json.dumps(event)}, cwd=bundle)
        vm = arm.resources[rid.lower()]
        deallocated = arm.arrived("POST", f"{name}/deallocate")

    assert_self_contained(result)
    assert [b["type"] for b in result["function_json"]["bindings"]] == ["eventGridTrigger"]
    assert "bundle_rejected" not in log
    assert len(deallocated) == 1
    assert vm["tags"]["owner"] == "ml-team" and vm["tags"][TAG_DECISION] == "pending" and vm["tags"][TAG_CASE_ID]
    assert_audited(home, vm["tags"][TAG_CASE_ID], event["id"], "azure-function",
                   ["remediation.tag", "remediation.deallocate"], config_toml(home))


def assert_audited(home: Path, case_id: str, event_id: str, source: str, actions: list[str], toml: str) -> None:
    """The function's file audit log: the decision, then each action with the event id; intact.

    The entry point publishes a digest of the log's head after every event (the instance may be frozen
    or stopped once it returns), so ``verify`` finds the open segment's end vouched for by the witness
    even though the one-event process ends long before the writer's interval.
    """
    recs = [r for r in audit_records(home) if r["kind"] == "decision" or r["kind"].startswith("remediation.")]
    assert [r["kind"] for r in recs] == ["decision", *actions]
    assert recs[0]["source"] == source and recs[0]["decision"] == "pending" and recs[0]["case_id"] == case_id
    assert all(r["data"]["event_id"] == event_id and r["data"]["result"] == "ok" for r in recs[1:])
    assert all(r["data"]["case_id"] == case_id for r in recs[1:])
    cfg = home / "operator.toml"
    cfg.write_text(toml, encoding="utf-8")
    verified = verify_audit(cfg)
    assert verified["consistent"] is True and verified["problem"] is None, verified
    assert verified["status"] == "intact" and verified["records"] >= len(recs), verified


# -- Google Cloud functions -----------------------------------------------------------------------------
# The functions framework, as the runtime starts it (target gatekeeper_hook, source main.py), receiving
# the Eventarc CloudEvent over HTTP (structured mode). The clients' endpoint and credentials are the
# stand-in's (a real function has Google's APIs and its service account).
GCP_CHILD = r"""
from google.auth.credentials import AnonymousCredentials
from gatekeeper.hooks import gcp_function
class ServiceAccount(AnonymousCredentials):
    service_account_email = os.environ["GATEKEEPER_SELF_PRINCIPAL_ID"]
gcp_function.GcpHook.new_clients = lambda self: gcp_function.GcpClients(
    ServiceAccount(), {"api_endpoint": os.environ["GCP_URL"]})
from functions_framework import create_app
app = create_app(os.environ["FUNCTION_TARGET"], os.path.join(os.getcwd(), "main.py"), "cloudevent")
response = app.test_client().post("/", data=os.environ["EVENT"],
                                  headers={"Content-Type": "application/cloudevents+json"})
report(status=response.status_code, body=response.get_data(as_text=True))
"""


def test_the_gcp_function_bundle_stops_an_instance_from_the_unpacked_zip(tmp_path: Path) -> None:
    from gatekeeper.adapters.gcp.testing import GcpStandIn

    zip_path, bundle = build("gcp", tmp_path)
    # Reproducible: the same checkout builds the same bytes (pins, sorted entries, fixed dates, hash-based
    # .pyc). The smallest bundle shows it; the others differ only in what pip installs from fixed wheels.
    again, _ = build("gcp", tmp_path / "again")
    assert again.read_bytes() == zip_path.read_bytes()
    assert {p.name for p in bundle.iterdir()} >= {"main.py", "requirements.txt", "gatekeeper"}
    requirements = (bundle / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9-]+==\S+", p) for p in pins)
    assert not any(p.startswith("gatekeeper==") for p in pins)  # vendored: not on PyPI
    # What Cloud Build does with the source: install requirements.txt (here --no-deps: the pins must be
    # the whole closure), beside the source folder.
    deps = tmp_path / "cloud-build-site-packages"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
                           "--no-compile", "-t", str(deps), "-r", str(bundle / "requirements.txt")],
                          capture_output=True, text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    home = tmp_path / "function-tmp"
    toml = config_toml(home)
    seed_profiles(home, toml)
    hook_sa = "gatekeeper-hook@ops-project.iam.gserviceaccount.com"
    event = load_event("gcp-instance-insert.cloudevent.json", PROJECT=GCP_CHINA_HQ, NAME="trainer-0",
                       MACHINE_TYPE="a2-highgpu-1g", PRINCIPAL="wang.fang@example.cn")
    with GcpStandIn() as gcp:
        gcp.seed(f"/compute/v1/projects/{GCP_CHINA_HQ}/zones/us-central1-a/instances/trainer-0",
                 {"name": "trainer-0", "machineType": "a2-highgpu-1g", "labels": {}, "labelFingerprint": "abc="})
        result, log = run_child(GCP_CHILD, [bundle, deps], {
            "K_SERVICE": "gatekeeper-hook", "FUNCTION_TARGET": "gatekeeper_hook",
            "GATEKEEPER_CONFIG_TOML": toml, "GATEKEEPER_HOME": str(home),
            "GATEKEEPER_SELF_PRINCIPAL_ID": hook_sa, "GCP_URL": gcp.url, "EVENT": json.dumps(event)}, cwd=bundle)
        labels = [r.body for r in gcp.arrived("POST", "/trainer-0/setLabels")]
        stopped = gcp.arrived("POST", "/trainer-0/stop")

    # Only the bundle, its pinned requirements and the standard library; gatekeeper's modules came
    # precompiled (the requirements were installed without .pyc, so compiling those is expected).
    assert result["outside"] == [] and result["sys_path_site"] == []
    assert [c for c in result["compiled"] if c.startswith(str(bundle))] == []
    assert result["status"] == 200, result["body"]
    assert "bundle_rejected" not in log
    assert len(stopped) == 1
    [body] = labels
    case_id = body["labels"]["gatekeeper-case-id"]
    assert body["labels"]["gatekeeper-decision"] == "pending" and case_id
    assert_audited(home, case_id, event["id"], "gcp-function",
                   ["remediation.tag", "remediation.stop"], toml)


def test_the_lambda_bundle_for_the_templates_arm64_holds_aarch64_extensions(tmp_path: Path) -> None:
    """The default build (the template's arm64; this machine cannot run it): every compiled extension
    module is an aarch64 ELF for CPython 3.11, for Amazon Linux 2's glibc, and the record says so."""
    out = tmp_path / "gatekeeper-hook.zip"
    done = subprocess.run(["sh", str(ROOT / "deploy" / "aws" / "build.sh"), str(out)],
                          capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable},
                          cwd=tmp_path, check=False, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with zipfile.ZipFile(out) as zf:
        record = zf.read("gatekeeper-bundle.txt").decode()
        extensions = [n for n in zf.namelist() if n.endswith(".so")]
        machines = {n: int.from_bytes(zf.read(n)[18:20], "little") for n in extensions}
    assert "manylinux_2_26_aarch64" in record.splitlines()[0]  # Amazon Linux 2's glibc
    # duckdb 2 has wheels for it: pinned to the version the tests ran with, as everything else is.
    assert f"duckdb=={importlib.metadata.version('duckdb')}" in record.splitlines()
    assert extensions and all("x86_64" not in n for n in extensions)
    assert set(machines.values()) == {183}, machines  # EM_AARCH64
    assert any(n.startswith("pydantic_core/") and n.endswith(".cpython-311-aarch64-linux-gnu.so") for n in extensions)
