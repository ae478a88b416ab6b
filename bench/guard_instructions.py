"""The AWS guard's own instructions per call, counted by callgrind: repeatable on a loaded machine.

Wall-clock figures of the guard (``bench/wrapper.py``) move with the machine's load by tens of percent;
instruction counts do not. This runs N protected ``RunInstances`` decisions (p4d.24xlarge for a
verified US customer: profile look-up, every pack, a durable audit record) against in-process moto,
calling the client's guard directly (its ``before-parameter-build`` handler, then its ``before-call``
check), each inside ``sys.call_tracing``, so that::

    valgrind --tool=callgrind --toggle-collect=sys_call_tracing --callgrind-out-file=/dev/null \\
        python -m bench.guard_instructions guard 100

counts the guard's instructions and nothing else (boto3's serialisation and moto are outside).
Divide the "Collected" figure by N. Other parts, each alone: ``build`` (the request's translation),
``decide`` (``Gatekeeper.decide()`` with its record), ``record`` (the record's construction),
``append`` (the audit writer's append), ``profile`` (the profile look-up), ``evaluate`` (the engine).
Without valgrind it prints the mean CPU time per call of the chosen part.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

ACCOUNT = "123456789012"  # moto's
PARAMS = {"ImageId": "ami-12c6146b", "InstanceType": "p4d.24xlarge", "MinCount": 1, "MaxCount": 1}
PARTS = ("guard", "build", "decide", "record", "append", "profile", "evaluate")


def parts(tmp: str) -> tuple[dict[str, Callable[[], Any]], Callable[[], None]]:
    """The callables to count, by name, and a function that releases what they hold."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[key] = "testing"
    import boto3
    import structlog
    from moto import mock_aws

    import gatekeeper
    from gatekeeper.adapters.aws import _install
    from gatekeeper.adapters.aws._handler import build_request
    from gatekeeper.audit.record import decision_record
    from gatekeeper.config import AuditConfig, Config, StoreConfig
    from gatekeeper.model import CustomerProfile
    from gatekeeper.providers.aws import BY_NAME

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    mock = mock_aws()
    mock.start()
    gk = gatekeeper.configure(Config(store=StoreConfig(url=f"sqlite:///{tmp}/state.db", create=True),
                                     audit=AuditConfig(url=f"file://{tmp}/audit", signing_key=f"{tmp}/key.pem")))
    gk.store.profiles.put_profiles([CustomerProfile("aws", ACCOUNT, "Acme Analytics Inc.", "US", "US", "US",
                                                    "verified")])
    client = boto3.session.Session(region_name="us-east-1").client("ec2")
    gatekeeper.aws.protect(client)
    guard = _install._guards[client]
    model = SimpleNamespace(name="RunInstances")
    op = BY_NAME[("ec2", "RunInstances")]

    def call() -> None:
        context: dict[str, Any] = {}
        guard(params=dict(PARAMS), model=model, context=context)
        guard.sent(model=model, context=context)

    request = build_request(gk, client, op, PARAMS)
    decision = gk.decide(request, dry_run=True)
    profile = gk.profile("aws", ACCOUNT)
    items = gk.engine.classify(request)
    record = decision_record(decision)
    out: dict[str, Callable[[], Any]] = {
        "guard": call,
        "build": lambda: build_request(gk, client, op, PARAMS),
        "decide": lambda: gk.decide(request),
        "record": lambda: decision_record(decision),
        "append": lambda: gk.audit.append(dict(record)),
        "profile": lambda: gk.profile("aws", ACCOUNT),
        "evaluate": lambda: gk.engine.evaluate(request, profile, on=decision.evaluated_at.date(), items=items),
    }

    def close() -> None:
        gatekeeper.runtime.reset()
        mock.stop()

    return out, close


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "guard"
    n = int(argv[1]) if len(argv) > 1 else 100
    if what not in PARTS:
        print(f"usage: python -m bench.guard_instructions [{'|'.join(PARTS)}] [N]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gk-guard-") as tmp:
        found, close = parts(tmp)
        f = found[what]
        try:
            for _ in range(20):  # warm: the log and its segment open, the caller's identity cached
                f()

            def loop() -> None:
                for _ in range(n):
                    f()

            started = time.thread_time_ns()
            sys.call_tracing(loop, ())  # the only region callgrind --toggle-collect=sys_call_tracing counts
            cpu = time.thread_time_ns() - started
        finally:
            close()
    print(f"{what}: {n} calls, CPU {cpu / n / 1000:.1f} us a call (under valgrind: divide Collected by {n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
