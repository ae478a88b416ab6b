"""Paired A/B/C of the AWS wrapper's audit record (issue 19): when is the record made durable?

Not part of ``python -m bench``; run ``python -m bench.record_ab [CALLS]``. One process, moto's server
in a child process (as in ``bench/wrapper.py``), one plain boto3 client and one guarded one, p4d.24xlarge
for a verified US customer. Each round makes four calls in a rotating order: the plain client, and the
guarded client with its record made durable

- ``one-step``: in the guard, before the decision returns (the path before the two-step record;
  the bench swaps the handler's deferred decision for the one-step one, as ``GK_BENCH_ONE_STEP`` does);
- ``two-step``: written at the decision with its fdatasync started in the kernel (Linux AIO,
  ``gatekeeper.audit._syncahead``), its result taken at ``request-created`` (the product's path);
- ``two-step, write-back``: the same where the kernel's sync cannot be started: early write-back
  (``sync_file_range``) at the decision, an fdatasync at ``request-created`` (the path before).

Printed per arm: the median of the per-round ratios to the plain call of the same round (paired), the
guard's own time (``before-parameter-build`` span plus the ``request-created`` span, minus the plain
client's), its thread-CPU time, the medians of the process's fdatasyncs and of the write-back calls, and
how much longer than the plain call the rest of the call took (boto3 and moto outside the guard's spans).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

from bench.wrapper import _client, _HandlerClock, _reset, guarded_setup

ARMS = ("one-step", "two-step", "two-step, write-back")


def main(calls: int) -> None:
    import gatekeeper
    from gatekeeper.adapters.aws import _handler
    from gatekeeper.audit import _writeback
    from gatekeeper.audit._syncahead import SyncAhead

    deferred = _handler.decide_call_deferred

    def one_step(*args: Any, **kwargs: Any) -> tuple[Any, None]:
        return _handler.decide_call(*args, **kwargs), None

    syncs: list[int] = []
    real_sync = os.fdatasync

    def timed_sync(fd: int) -> None:
        t = time.perf_counter_ns()
        real_sync(fd)
        syncs.append(time.perf_counter_ns() - t)

    write_backs: list[int] = []
    real_start = _writeback.start

    def timed_start(fd: int, offset: int, nbytes: int) -> bool:
        t = time.perf_counter_ns()
        try:
            return real_start(fd, offset, nbytes)
        finally:
            write_backs.append(time.perf_counter_ns() - t)

    real_submit, real_collect = SyncAhead.submit, SyncAhead.collect

    def timed_collect(self: SyncAhead) -> tuple[int, BaseException | None]:
        t = time.perf_counter_ns()
        try:
            return real_collect(self)
        finally:
            syncs.append(time.perf_counter_ns() - t)

    def no_submit(self: SyncAhead, fd: int) -> bool:
        return False

    SyncAhead.collect = timed_collect  # type: ignore[method-assign]
    os.fdatasync = timed_sync  # type: ignore[assignment]
    _writeback.start = timed_start  # type: ignore[assignment]
    real_start(0, 0, 0)  # load the C function outside the timed calls
    with guarded_setup("gk-ab-") as (_, url):
        raw, guarded = _client(url), _client(url)
        gatekeeper.aws.protect(guarded)
        clocks = {"plain": _HandlerClock(raw), "guarded": _HandlerClock(guarded)}
        ami = raw.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ratios: dict[str, list[float]] = {a: [] for a in ARMS}
        spans: dict[str, list[int]] = {a: [] for a in ("plain", *ARMS)}
        cpu: dict[str, list[int]] = {a: [] for a in ("plain", *ARMS)}
        arm_syncs: dict[str, list[int]] = {a: [] for a in ARMS}
        arm_wb: dict[str, list[int]] = {a: [] for a in ARMS}
        order = ["plain", *ARMS]
        plain_times: list[int] = []
        outside: dict[str, list[int]] = {a: [] for a in ("plain", *ARMS)}  # the call less the guard's spans
        for r in range(calls + 10):
            if r % 100 == 0:
                _reset(url)
                for _ in range(2):
                    raw.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
            times = {}
            for arm in order[r % 4:] + order[:r % 4]:
                _handler.decide_call_deferred = one_step if arm == "one-step" else deferred  # type: ignore[assignment]
                SyncAhead.submit = no_submit if arm == "two-step, write-back" else real_submit  # type: ignore[method-assign]
                clock = clocks["plain" if arm == "plain" else "guarded"]
                n_sync, n_wb = len(syncs), len(write_backs)
                t = time.perf_counter_ns()
                (raw if arm == "plain" else guarded).run_instances(ImageId=ami, InstanceType="p4d.24xlarge",
                                                                   MinCount=1, MaxCount=1)
                times[arm] = time.perf_counter_ns() - t
                if r >= 10:
                    outside[arm].append(times[arm] - clock.spans[-1])
                    spans[arm].append(clock.spans[-1])
                    cpu[arm].append(clock.cpu_spans[-1])
                    if arm != "plain":
                        arm_syncs[arm] += syncs[n_sync:]
                        arm_wb[arm] += write_backs[n_wb:]
            if r >= 10:
                plain_times.append(times["plain"])
                for arm in ARMS:
                    ratios[arm].append(times[arm] / times["plain"])
    # Printed after the with: the bench silences stdout while gatekeeper runs.
    base, base_cpu = statistics.median(spans["plain"]), statistics.median(cpu["plain"])
    print(f"{calls} rounds; load {os.getloadavg()[0]:.2f}; "
          f"the plain call (moto) {statistics.median(plain_times) / 1e6:.2f} ms")
    for arm in ARMS:
        guard = (statistics.median(spans[arm]) - base) / 1000
        fs = statistics.median(arm_syncs[arm]) / 1000 if arm_syncs[arm] else float("nan")
        wb = statistics.median(arm_wb[arm]) / 1000 if arm_wb[arm] else 0.0
        rest = (statistics.median(outside[arm]) - statistics.median(outside["plain"])) / 1000
        print(f"{arm:24} x{statistics.median(ratios[arm]):.4f}  guard {guard:6.0f} us "
              f"(CPU {(statistics.median(cpu[arm]) - base_cpu) / 1000:4.0f} us)  fdatasync p50 {fs:5.0f} us "
              f"-> guard {guard / fs:4.2f} fsyncs; write-back call p50 {wb:4.0f} us; the rest of the call "
              f"{rest:+5.0f} us against plain")

    # The arms against one another within each round (the same moto state and machine moment).
    for arm in ARMS[1:]:
        diffs = sorted(a - b for a, b in zip(ratios[arm], ratios["one-step"], strict=True))
        lo, hi = _median_ci(diffs)
        print(f"{arm} - one-step, per round: median {statistics.median(diffs):+.4f} (95% CI {lo:+.4f} to {hi:+.4f})")


def _median_ci(xs: list[float], n: int = 1000) -> tuple[float, float]:
    import random

    rng = random.Random(3)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
