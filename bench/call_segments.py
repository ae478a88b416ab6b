"""Where a guarded boto3 call's time goes, segment by segment, against the plain call (issue 19, wrapper).

Not part of ``python -m bench``; run ``python -m bench.call_segments [ROUNDS]``. The bench's setting
(moto's server in a child process, p4d.24xlarge for a verified US customer, the audit log on the
work disk), one plain client and one guarded one, botocore's events stamped on both. Each round
calls every arm once, in a rotating order:

- ``plain``: the client without gatekeeper;
- ``one-step``: the guarded client with its record made durable inside the decision (the handler's
  deferred decision swapped for the one-step one, as the bench's ``GK_BENCH_ONE_STEP`` does);
- ``kernel``: the product's path: the record written at the decision, its fdatasync submitted to
  the kernel (Linux AIO) and its result taken at ``request-created``;
- ``write-back``: the same where the kernel's sync cannot be started (early write-back, then an
  fdatasync at ``request-created``);
- ``guard off``: the guarded client with its guard switched off (the A/A of the two clients);
- ``raw + fsync``: the plain client writing 900 bytes and fdatasyncing them in its own
  ``before-parameter-build`` handler (what a bare durable write costs in this setting).

Printed: per segment between the stamps, the plain call's median and each arm's median minus it.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.wrapper import _client, _reset, guarded_setup

ARMS = ("plain", "one-step", "kernel", "write-back", "guard off", "raw + fsync")
SEGMENTS = ("start -> before-parameter-build", "the decision's event", "-> request-created", "-> before-sign",
            "-> before-send", "-> after-call (moto)", "-> returned", "whole call")
# (event, stamp name), in the call's order.
EVENTS = (("before-parameter-build", "pb0"), ("request-created", "rc"), ("before-sign", "sign"),
          ("before-send", "send"), ("after-call", "ac"))


def main(rounds: int) -> None:
    import gatekeeper
    from gatekeeper.adapters.aws import _handler
    from gatekeeper.adapters.aws._handler import ClientGuard
    from gatekeeper.audit._syncahead import SyncAhead

    deferred, real_submit = _handler.decide_call_deferred, SyncAhead.submit

    def one_step(*args: Any, **kwargs: Any) -> tuple[Any, None]:
        return _handler.decide_call(*args, **kwargs), None

    def no_submit(self: SyncAhead, fd: int) -> bool:
        return False

    data: dict[str, dict[str, list[int]]] = {a: {s: [] for s in SEGMENTS} for a in ARMS}
    stamps: dict[str, int] = {}
    current = [""]

    def stamp(name: str) -> Callable[..., None]:
        def handler(**_: Any) -> None:
            stamps[name] = time.perf_counter_ns()
        return handler

    with guarded_setup("gk-seg-", os.environ.get("GK_BENCH_DIR")) as (tmp, url):
        fd = os.open(f"{tmp}/raw.bin", os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            raw, guarded = _client(url), _client(url)
            gatekeeper.aws.protect(guarded)
            guard = next(o for o in gc.get_objects() if isinstance(o, ClientGuard) and o._client() is guarded)

            def raw_fsync(**_: Any) -> None:
                if current[0] == "raw + fsync":
                    os.write(fd, b"x" * 899 + b"\n")
                    os.fdatasync(fd)

            raw.meta.events.register("before-parameter-build.ec2.RunInstances", raw_fsync)
            for c in (raw, guarded):
                events = c.meta.events
                for event, name in EVENTS:
                    events.register_first(f"{event}.ec2.RunInstances", stamp(name))
                events.register_last("before-parameter-build.ec2.RunInstances", stamp("pb1"))
            ami = raw.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            for r in range(rounds + 10):
                if r % 100 == 0:
                    _reset(url)
                    for _ in range(2):
                        raw.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
                k = r % len(ARMS)
                for arm in ARMS[k:] + ARMS[:k]:
                    current[0] = arm
                    _handler.decide_call_deferred = one_step if arm == "one-step" else deferred  # type: ignore[assignment]
                    SyncAhead.submit = no_submit if arm == "write-back" else real_submit  # type: ignore[method-assign]
                    guard.explicit = arm != "guard off"
                    client = raw if arm in ("plain", "raw + fsync") else guarded
                    t0 = time.perf_counter_ns()
                    client.run_instances(ImageId=ami, InstanceType="p4d.24xlarge", MinCount=1, MaxCount=1)
                    t1 = time.perf_counter_ns()
                    if r < 10:
                        continue  # warm-up
                    s, d = stamps, data[arm]
                    marks = [t0, s["pb0"], s["pb1"], s["rc"], s["sign"], s["send"], s["ac"], t1]
                    for name, a, b in zip(SEGMENTS, marks, marks[1:], strict=False):
                        d[name].append(b - a)
                    d["whole call"].append(t1 - t0)
        finally:
            os.close(fd)
            SyncAhead.submit = real_submit  # type: ignore[method-assign]
            _handler.decide_call_deferred = deferred  # type: ignore[assignment]
    print(f"{rounds} rounds; load {os.getloadavg()[0]:.2f}; medians in us (arms: minus the plain call's)")
    print(f"{'segment':34}" + "".join(f"{a:>12}" for a in ARMS))
    for name in SEGMENTS:
        meds = [statistics.median(data[a][name]) / 1000 for a in ARMS]
        print(f"{name:34}{meds[0]:12.0f}" + "".join(f"{m - meds[0]:+12.0f}" for m in meds[1:]))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
