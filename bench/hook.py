"""Hook cold start: a fresh process imports the Lambda handler and decides its first event, beside a
fresh process importing Cloud Custodian's policy loading with its EC2 resources.

When the hooks engineer's ``bench/bench_hook_cold_start.py`` is present, it is run and its report
is folded in; otherwise the measurement below is used. Both time from the child's first statement
(interpreter start-up, the same for both, is left out) and interleave the two peers run by run.

- gatekeeper: ``from gatekeeper.hooks.aws_lambda import handler`` and ``handler(event)`` for a
  CloudTrail RunInstances event (p4d.24xlarge for a verified US customer: a controlled type, decided
  with every pack, allowed, its audit record fsynced), with a SQLite store and a file audit log;
- Cloud Custodian: ``from c7n.resources import load_resources; load_resources(["aws.ec2"])`` and a
  one-policy ``PolicyCollection`` on ``aws.ec2`` (what a c7n Lambda does before its first event).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import ROOT, Row

GOAL_FRACTION = 1 / 3
EXTERNAL = ROOT / "bench" / "bench_hook_cold_start.py"
ACCOUNT = "111111111111"

_GATEKEEPER_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from gatekeeper.hooks.aws_lambda import handler
t1 = time.perf_counter()
result = handler(json.loads(sys.argv[1]), None)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_decision_s": t2 - t1, "total_s": t2 - t0,
                  "modules": len(sys.modules), "result": result}, default=str))
"""

_C7N_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from c7n.config import Config
from c7n.policy import PolicyCollection
from c7n.resources import load_resources
load_resources(["aws.ec2"])
t1 = time.perf_counter()
policies = PolicyCollection.from_data(
    {"policies": [{"name": "no-a100", "resource": "aws.ec2",
                   "filters": [{"InstanceType": "p4d.24xlarge"}], "actions": ["stop"]}]},
    Config.empty())
assert len(policies) == 1
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "policy_load_s": t2 - t1, "total_s": t2 - t0,
                  "modules": len(sys.modules)}))
"""


def _event() -> dict[str, Any]:
    item = {"instanceId": "i-0123456789abcdef0", "imageId": "ami-12c6146b", "instanceType": "p4d.24xlarge",
            "instanceState": {"code": 0, "name": "pending"}}
    return {
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": ACCOUNT, "time": "2026-11-20T09:15:02Z", "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventTime": "2026-11-20T09:15:01Z", "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances", "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/dev", "accountId": ACCOUNT},
            "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-12c6146b", "minCount": 1,
                                                              "maxCount": 1}]},
                                  "instanceType": "p4d.24xlarge"},
            "responseElements": {"instancesSet": {"items": [item]}, "ownerId": ACCOUNT},
            "eventID": "0f9e8d7c-6b5a-4f3e-2d1c-0b9a8f7e6d5c", "eventType": "AwsApiCall",
        },
    }


def _home(tmp: Path) -> dict[str, str]:
    """A config on a temporary home with the customer's profile stored; the child's environment."""
    from gatekeeper.config import load_config
    from gatekeeper.model import CustomerProfile
    from gatekeeper.stores import open_store

    cfg_path = tmp / "gatekeeper.toml"
    cfg_path.write_text(f'[store]\nurl = "sqlite:///{tmp}/state.db"\n[audit]\nurl = "file://{tmp}/audit"\n'
                        f'signing_key = "{tmp}/key.pem"\n', encoding="utf-8")
    cfg = load_config(cfg_path)
    store = open_store(cfg.store.url, base_dir=cfg.base_dir)
    try:
        init = getattr(store, "init", None)
        if callable(init):
            init()
        store.profiles.put_profiles([CustomerProfile("aws", ACCOUNT, "Acme Analytics Inc.", "US", "US", "US",
                                                     "verified")])
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEKEEPER_", "AWS_"))}
    env.update({"GATEKEEPER_CONFIG": str(cfg_path), "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def _child(code: str, args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}): {proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int) -> dict[str, Any]:
    gk_runs: list[dict[str, Any]] = []
    c7n_runs: list[dict[str, Any]] = []
    event = json.dumps(_event())
    for k in range(runs + 1):  # run 0 warms the OS file cache for both; not counted
        with tempfile.TemporaryDirectory(prefix="gk-bench-hook-") as tmp:
            env = _home(Path(tmp))
            pair = [("gk", _GATEKEEPER_CHILD, [event]), ("c7n", _C7N_CHILD, [])]
            for name, code, args in (pair if k % 2 == 0 else pair[::-1]):
                r = _child(code, args, env, Path(tmp))
                if k:
                    (gk_runs if name == "gk" else c7n_runs).append(r)
    decision = gk_runs[-1]["result"]
    gk = statistics.median(r["total_s"] for r in gk_runs)
    c7n = statistics.median(r["total_s"] for r in c7n_runs)
    return {
        "source": "bench/hook.py", "runs": runs,
        "gatekeeper_s": gk, "gatekeeper_import_s": statistics.median(r["import_s"] for r in gk_runs),
        "gatekeeper_first_decision_s": statistics.median(r["first_decision_s"] for r in gk_runs),
        "gatekeeper_modules": gk_runs[-1]["modules"], "gatekeeper_result": decision,
        "c7n_s": c7n, "c7n_modules": c7n_runs[-1]["modules"], "ratio": gk / c7n,
    }


def _external(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gk-bench-hook-") as tmp:
        out = Path(tmp) / "hook.json"
        proc = subprocess.run([sys.executable, str(EXTERNAL), "--runs", str(runs), "--out", str(out)],
                              capture_output=True, text=True, cwd=ROOT, check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{EXTERNAL.name} failed ({proc.returncode}): {proc.stderr[-1500:]}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    data["source"] = f"bench/{EXTERNAL.name}"
    return data


def rows(d: dict[str, Any]) -> list[Row]:
    gk, c7n = d.get("gatekeeper_s"), d.get("c7n_s")
    if gk is None or c7n is None:
        return [Row("hook", "Lambda cold start (import + first decision)", "see JSON",
                    note=f"measured by {d.get('source', 'bench/hook.py')}", data=d)]
    return [Row("hook", "Lambda handler cold start: import + first decision (fresh process)",
                f"{gk * 1000:.0f} ms ({d['ratio']:.2f} of c7n)",
                f"c7n policy loading with EC2 resources: {c7n * 1000:.0f} ms", "<= 1/3 of c7n",
                d["ratio"] <= GOAL_FRACTION, note=f"measured by {d.get('source', 'bench/hook.py')}", data=d)]


RUNS = {"full": 7, "quick": 3, "smoke": 1}


def run(mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    runs = RUNS[mode]
    if EXTERNAL.exists():
        log(f"hook: {EXTERNAL.name} ({runs} runs)")
        try:
            d = _external(runs)
        except Exception as exc:  # fall back to our own measurement, and say so
            log(f"hook: {EXTERNAL.name} failed ({exc}); measuring with bench/hook.py")
            d = measure(runs)
            d["external_error"] = str(exc)[-500:]
    else:
        log(f"hook: cold start, {runs} fresh processes each")
        d = measure(runs)
    return d, rows(d)
