"""The Lambda with an S3 audit log: each event closes a segment of a few records, and no sidecar is
written for it, so an invocation never loads DuckDB.

The handler runs in a fresh interpreter (this test process has DuckDB loaded) against moto's S3
served on 127.0.0.1 (``ThreadedMotoServer``): the child is the function as deployed, with no moto in
it. Behaviour only; the time saved is in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from gatekeeper.audit._format import list_segments
from gatekeeper.audit._sidecar import MIN_BYTES, MIN_RECORDS, read_checkpoint
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.config import load_config
from gatekeeper.model import CustomerProfile
from gatekeeper.stores import open_store
from tests.deploy.test_bundles import moto_server  # noqa: F401 (a fixture)
from tests.hooks.conftest import US, load_event

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BUCKET = "gk-audit"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}

CHILD = r"""
import json, sys, threading
from gatekeeper.hooks.aws_lambda import handler
answers = []
for i in range(int(sys.argv[2])):
    event = json.loads(sys.argv[1]); event["id"] = f"{event['id']}-{i}"
    answers.append(handler(event, None))
print(json.dumps({"answers": [a["status"] + ":" + str(a.get("decision")) for a in answers],
                  "duckdb": sorted(m for m in sys.modules if "duckdb" in m),
                  "sidecar_module": "gatekeeper.audit._sidecar" in sys.modules,
                  "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("gatekeeper-sidecar"))}))
"""


@pytest.fixture
def s3_endpoint(moto_server: str) -> str:  # noqa: F811 (the imported fixture, requested)
    """The deploy tests' moto server (their environment), with an object-locked audit bucket."""
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server)
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    return moto_server


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "gatekeeper.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/state.db"\ncreate = true\n'
                   f'[audit]\nurl = "s3://{BUCKET}/audit?region={REGION}&spool={tmp_path}/spool"\n'
                   f'signing_key = "{tmp_path}/key.pem"\n', encoding="utf-8")
    store = open_store(load_config(cfg).store.url, base_dir=tmp_path)
    try:
        store.profiles.put_profiles([CustomerProfile("aws", US, "Acme Analytics Inc.", "US", "US", "US", "verified")])
    finally:
        store.close()
    return cfg


def test_an_invocation_that_closes_a_small_segment_does_not_load_duckdb(tmp_path: Path, s3_endpoint: str) -> None:
    events = 3
    event = load_event("run-instances-console.json", ACCOUNT=US, INSTANCE_TYPE="p4d.24xlarge", AMI="ami-12c6146b",
                       INSTANCE_ID="i-0123456789abcdef0")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEKEEPER_", "AWS_"))}
    env.update({**AWS_ENV, "AWS_ENDPOINT_URL": s3_endpoint, "GATEKEEPER_CONFIG": str(_config(tmp_path)),
                "AWS_LAMBDA_FUNCTION_NAME": "gatekeeper-test", "PYTHONPATH": str(ROOT)})
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(event), str(events)], capture_output=True,
                         text=True, env=env, cwd=tmp_path, check=False, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["answers"] == ["decided:allow"] * events
    # Each event closed (and shipped) its segment; none was big enough for a sidecar, so DuckDB was
    # never imported and no sidecar thread was started.
    assert r["duckdb"] == [] and r["threads"] == []
    assert r["sidecar_module"] is True  # the close did consult the threshold
    spool = tmp_path / "spool"
    segments, checkpoints = list_segments(spool)
    assert len(checkpoints) >= events and set(checkpoints) == set(segments)
    for cp in checkpoints.values():
        checkpoint = read_checkpoint(cp)
        assert checkpoint is not None and checkpoint["count"] < MIN_RECORDS and checkpoint["bytes"] < MIN_BYTES
    assert list(spool.glob("*.columns.parquet")) == []
    # Every segment and checkpoint reached S3 (the log was closed before each invocation returned).
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=s3_endpoint)
    keys = {o["Key"].rsplit("/", 1)[1] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="audit/")["Contents"]}
    assert {p.name for p in [*segments.values(), *checkpoints.values()]} <= keys
    # The spool reads from its JSON: every decision is there.
    with AuditReader(spool) as reader:
        assert reader.sidecars == [] and reader.count(Filters()) == events
