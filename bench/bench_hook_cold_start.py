"""Cold start of the Lambda hook beside Cloud Custodian's, each in fresh processes.

gatekeeper: a fresh interpreter imports ``gatekeeper.hooks.aws_lambda`` and handles its first event,
a CloudTrail RunInstances record of a p4d.24xlarge for a verified US customer: the runtime is built
(packs loaded and compiled once), the profile read from SQLite, the event claimed, the decision
decided with every pack and its audit record fsynced. No AWS call is needed for an allowed launch, and
the child reports whether boto3 was imported at all (it must not be: lazy imports). The function runs as
a package built by deploy/aws/build.sh has it: with the policy bundle (the shipped packs validated
when the package is built, ``gatekeeper.policy.bundle``, and the compiled methods of gatekeeper's
dataclasses, ``gatekeeper._dataclass_code``, and the rules compiled), so that the child reports pydantic not
imported either (the configuration is read by ``gatekeeper.config_reader``).

Cloud Custodian: a fresh interpreter runs ``from c7n.resources import load_resources;
load_resources(('aws.ec2',))`` and loads a one-policy collection on ``aws.ec2`` (what a c7n Lambda does
before its first event).

Both are timed from the child's first statement (interpreter start-up is the same for both and left
out); the runs interleave the two. Both read every module's bytecode from one ``PYTHONPYCACHEPREFIX``
written by the uncounted run 0, as a deployed package has it (``pip install -t`` writes the ``.pyc``
files; Lambda's /var/task is read-only, so a package without them compiles every module on every cold
start). Without it gatekeeper's modules, run from a source tree, were compiled on every run (the
environment may set ``PYTHONDONTWRITEBYTECODE``) while c7n's came from site-packages' ``.pyc``. CPU
time (``time.process_time``) is reported beside wall time: less disturbed on a shared machine.
Prints one line and writes JSON (``--out``); ``python -m bench`` folds the JSON into its report.

    python bench/bench_hook_cold_start.py [--runs 7] [--out bench/results/hook_cold_start.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "111111111111"

GATEKEEPER_CHILD = r"""
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
from gatekeeper.hooks.aws_lambda import handler
t1 = time.perf_counter()
answer = handler(json.loads(sys.argv[1]), None)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_decision_s": t2 - t1, "total_s": t2 - t0,
                  "cpu_s": time.process_time() - c0, "modules": len(sys.modules),
                  "boto3_imported": "boto3" in sys.modules, "pydantic_imported": "pydantic" in sys.modules,
                  "status": answer["status"], "decision": answer.get("decision")}))
"""

C7N_CHILD = r"""
import json, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
from c7n.resources import load_resources
load_resources(("aws.ec2",))
t1 = time.perf_counter()
from c7n.config import Config
from c7n.policy import PolicyCollection
policies = PolicyCollection.from_data(
    {"policies": [{"name": "no-a100", "resource": "aws.ec2",
                   "filters": [{"InstanceType": "p4d.24xlarge"}], "actions": ["stop"]}]}, Config.empty())
assert len(policies) == 1
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "policy_load_s": t2 - t1, "total_s": t2 - t0,
                  "cpu_s": time.process_time() - c0, "modules": len(sys.modules)}))
"""


def event() -> dict[str, Any]:
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
            "eventType": "AwsApiCall",
        },
    }


def home(tmp: Path, dataclass_code: dict[str, str] | None = None) -> dict[str, str]:
    """A config on a temporary home with the customer's profile stored; the child's environment.
    ``dataclass_code``: ``gatekeeper._dataclass_code.record()``, which a built package's bundle has."""
    sys.path.insert(0, str(ROOT))
    from gatekeeper.config import load_config
    from gatekeeper.model import CustomerProfile
    from gatekeeper.policy import shipped_policies_dir
    from gatekeeper.policy.bundle import build
    from gatekeeper.stores import open_store

    cfg_path = tmp / "gatekeeper.toml"
    cfg_path.write_text(f'[store]\nurl = "sqlite:///{tmp}/state.db"\ncreate = true\n[audit]\nurl = "file://{tmp}/audit"\n'
                        f'signing_key = "{tmp}/key.pem"\n', encoding="utf-8")
    cfg = load_config(cfg_path)
    store = open_store(cfg.store.url, base_dir=cfg.base_dir)
    try:
        store.profiles.put_profiles([CustomerProfile("aws", ACCOUNT, "Acme Analytics Inc.", "US", "US", "US",
                                                     "verified")])
    finally:
        store.close()
    bundle = tmp / "policy-bundle.json"  # what deploy/aws/build.sh puts in the package
    bundle.write_bytes(build([shipped_policies_dir()], dataclass_code=dataclass_code, rule_code=True))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATEKEEPER_", "AWS_", "PYTHONDONTWRITEBYTECODE"))}
    # AWS_LAMBDA_FUNCTION_NAME: what the Lambda runtime sets, and what gatekeeper knows a function host by.
    env.update({"GATEKEEPER_CONFIG": str(cfg_path), "GATEKEEPER_POLICY_BUNDLE": str(bundle),
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_LAMBDA_FUNCTION_NAME": "gatekeeper-bench",
                "PYTHONPATH": str(ROOT)})
    return env


def child(code: str, args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}): {proc.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _pair_run(k: int, payload: str, pycache: str, code: dict[str, str], gk_runs: list[dict[str, Any]],
              c7n_runs: list[dict[str, Any]]) -> None:
    """Run ``k``: one fresh process each, in alternating order; run 0 is not counted."""
    with tempfile.TemporaryDirectory(prefix="gk-bench-hook-") as tmp:
        env = home(Path(tmp), code)
        env["PYTHONPYCACHEPREFIX"] = pycache
        pair = [("gk", GATEKEEPER_CHILD, [payload]), ("c7n", C7N_CHILD, [])]
        for name, code, args in (pair if k % 2 == 0 else pair[::-1]):
            r = child(code, args, env, Path(tmp))
            if k:
                (gk_runs if name == "gk" else c7n_runs).append(r)


def measure(runs: int) -> dict[str, Any]:
    gk_runs: list[dict[str, Any]] = []
    c7n_runs: list[dict[str, Any]] = []
    payload = json.dumps(event())
    sys.path.insert(0, str(ROOT))
    from gatekeeper._dataclass_code import record

    code = record()  # recorded once: the same for every run
    with tempfile.TemporaryDirectory(prefix="gk-bench-pyc-") as pycache:
        for k in range(runs + 1):  # run 0 writes the bytecode and warms the OS file cache for both; not counted
            _pair_run(k, payload, pycache, code, gk_runs, c7n_runs)
    last = gk_runs[-1]
    if last["status"] != "decided" or last["decision"] != "allow":
        raise RuntimeError(f"the hook's first event did not decide as expected: {last}")
    gk = statistics.median(r["total_s"] for r in gk_runs)
    c7n = statistics.median(r["total_s"] for r in c7n_runs)
    return {
        "benchmark": "hook_cold_start", "runs": runs, "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "gatekeeper_s": gk,
        "gatekeeper_import_s": statistics.median(r["import_s"] for r in gk_runs),
        "gatekeeper_first_decision_s": statistics.median(r["first_decision_s"] for r in gk_runs),
        "gatekeeper_modules": last["modules"], "gatekeeper_boto3_imported": any(r["boto3_imported"] for r in gk_runs),
        "gatekeeper_pydantic_imported": any(r["pydantic_imported"] for r in gk_runs),
        "gatekeeper_decision": last["decision"],
        "c7n_s": c7n, "c7n_import_s": statistics.median(r["import_s"] for r in c7n_runs),
        "c7n_modules": c7n_runs[-1]["modules"],
        "ratio": gk / c7n,
        "bytecode": "compiled: both read .pyc from one PYTHONPYCACHEPREFIX written by run 0",
        "gatekeeper_cpu_s": statistics.median(r["cpu_s"] for r in gk_runs),
        "c7n_cpu_s": statistics.median(r["cpu_s"] for r in c7n_runs),
        "cpu_ratio": statistics.median(r["cpu_s"] for r in gk_runs) / statistics.median(r["cpu_s"] for r in c7n_runs),
        "samples": {"gatekeeper_s": [r["total_s"] for r in gk_runs], "c7n_s": [r["total_s"] for r in c7n_runs]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="fresh processes per tool (median reported)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hook_cold_start.json")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    d = measure(args.runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    print(f"hook cold start (median of {d['runs']}): gatekeeper import {d['gatekeeper_import_s'] * 1000:.0f} ms "
          f"+ first decision {d['gatekeeper_first_decision_s'] * 1000:.0f} ms = {d['gatekeeper_s'] * 1000:.0f} ms "
          f"(boto3 imported: {'yes' if d['gatekeeper_boto3_imported'] else 'no'}, "
          f"pydantic: {'yes' if d['gatekeeper_pydantic_imported'] else 'no'}); "
          f"c7n load_resources aws.ec2 + policy: {d['c7n_s'] * 1000:.0f} ms; ratio {d['ratio']:.2f} "
          f"(CPU: {d['gatekeeper_cpu_s'] * 1000:.0f} / {d['c7n_cpu_s'] * 1000:.0f} ms, {d['cpu_ratio']:.2f}) "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
