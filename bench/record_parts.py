"""Where the AWS guard's time goes with the two-step record (issue 19): the writer's steps, timed.

Not part of ``python -m bench``; run ``python -m bench.record_parts [CALLS]``. The bench's setting (moto's
server in a child process, a guarded client, p4d.24xlarge for a verified US customer), with the
writer's two-step append, the write-back call, the ticket's wait and the process's fdatasyncs timed,
and botocore's events stamped: the decision's span, from its end to ``request-created``, and from
there to ``before-send``. Medians and 90th percentiles.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.wrapper import _client, guarded_setup

PARTS = ("decision span", "append_deferred", "write-back call", "wait", "fdatasync", "decision to request-created",
         "request-created to before-send")


def _timed(acc: list[int], fn: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            acc.append(time.perf_counter_ns() - t)
    return timed


def main(calls: int) -> None:
    import gatekeeper
    from gatekeeper.audit import _writeback, _writer

    acc: dict[str, list[int]] = {p: [] for p in PARTS}
    _writer.FileAuditLog.append_deferred = _timed(acc["append_deferred"],  # type: ignore[method-assign]
                                                  _writer.FileAuditLog.append_deferred)
    _writer.Pending.wait = _timed(acc["wait"], _writer.Pending.wait)  # type: ignore[method-assign]
    _writeback.start = _timed(acc["write-back call"], _writeback.start)  # type: ignore[assignment]
    os.fdatasync = _timed(acc["fdatasync"], os.fdatasync)  # type: ignore[assignment]
    stamps: dict[str, int] = {}

    def stamp(name: str) -> Callable[..., None]:
        def handler(**_: Any) -> None:
            stamps[name] = time.perf_counter_ns()
        return handler

    with guarded_setup("gk-parts-") as (_, url):
        client = _client(url)
        gatekeeper.aws.protect(client)
        events = client.meta.events
        events.register_first("before-parameter-build.ec2.RunInstances", stamp("pb0"))
        events.register_last("before-parameter-build.ec2.RunInstances", stamp("pb1"))
        events.register_first("request-created.ec2.RunInstances", stamp("rc"))
        events.register_first("before-send.ec2.RunInstances", stamp("send"))
        ami = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for i in range(calls + 30):
            client.run_instances(ImageId=ami, InstanceType="p4d.24xlarge", MinCount=1, MaxCount=1)
            if i == 29:
                for v in acc.values():
                    v.clear()
            elif i > 29:
                acc["decision span"].append(stamps["pb1"] - stamps["pb0"])
                acc["decision to request-created"].append(stamps["rc"] - stamps["pb1"])
                acc["request-created to before-send"].append(stamps["send"] - stamps["rc"])
    print(f"{calls} calls; load {os.getloadavg()[0]:.2f}")
    for part, xs in acc.items():
        if xs:
            xs.sort()
            p90 = xs[int(0.9 * len(xs))]
            print(f"{part:32} median {statistics.median(xs) / 1000:7.1f} us   p90 {p90 / 1000:7.1f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
