"""Wrapper overhead: boto3 ``RunInstances`` through moto's ThreadedMotoServer, with and without gatekeeper.

Two EC2 clients against one moto server (ThreadedMotoServer, in a child process) on 127.0.0.1: a
plain boto3 client, and one protected with ``gatekeeper.aws.protect(client)``, deciding through a
Gatekeeper with a SQLite store and a file audit log (the caller's account, moto's 123456789012, is a
verified US customer). The two clients alternate call by call, A B B A, in rounds with moto's state
reset between them, so that drift (moto's state growing, the machine's load changing) falls on both
alike.

Two figures, both from the same calls:
- end to end, paired: each call with gatekeeper is paired with its neighbour in time without it, and
  the verdict comes from the median of those paired ratios with a bootstrap 95% interval. Pairing
  cancels the machine's drift (a moto call varies by tens of percent from one minute to the next);
  enough pairs are taken (``COUNTS``) for the interval to resolve about 1%. The goal is met when the
  whole interval lies at or below it, missed when the whole interval lies above it, and otherwise
  reported as unresolved (more pairs, or a quieter machine, are needed);
- gatekeeper's own time: handlers registered first and last on the guarded botocore events stamp
  each call, which isolates the guard from boto3 and moto: its decision at
  ``before-parameter-build``, plus its wait for the audit record's sync at
  ``request-created.ec2.RunInstances`` (the record is written at the decision and made durable
  there, before the request is signed and sent); (median without + gatekeeper's median) / median
  without is the overhead as a ratio. The
  same stamps read the thread's CPU time: the guard's CPU time a call (its wait for the sync, and
  time other processes held the core, left out) is reported beside it;
- an A/A control: a second client without gatekeeper against the first, measured the same way, shows
  how far from 1.0 the end-to-end ratio wanders on this machine when nothing differs.

``GK_BENCH_ONE_STEP=1`` (the bench's own switch, for paired A/B runs; nothing in gatekeeper reads
it): the guarded client records in one step as before (durable at the decision, nothing left for
``request-created``), through the same code otherwise.

- plain type (t3.micro): gatekeeper classifies the type and lets the call go (no profile, no record);
- controlled type, allowed (p4d.24xlarge, 8 x A100, 3A090.a, for the US customer): gatekeeper looks
  the customer up, runs every pack, and fsyncs the audit record before the call proceeds.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench._common import Row, fmt_us, percentile
from bench.audit import FsyncCounter

MOTO_ACCOUNT = "123456789012"
PLAIN_GOAL = 1.01
CONTROLLED_GOAL = 1.05
GUARD_FSYNCS_GOAL = 2.0  # the guard's own time on a controlled call, in median fsyncs of the run (issue 19)
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}


# The server runs in a child process: in the benchmark's own process its thread would compete with the
# client for the GIL (a request's teardown in the server thread lands, 5 ms switch interval and all,
# in whatever the client does next), which is no property of either.
_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("%s:%d" % server.get_host_and_port(), flush=True)
sys.stdin.read()  # until the parent closes our stdin
server.stop()
"""


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 (a free port) in a child process; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        if not address:
            raise RuntimeError(f"moto server did not start (exit status {proc.wait()})")
        yield f"http://{address}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def _client(url: str) -> Any:
    import boto3

    return boto3.session.Session(region_name="us-east-1", **CREDENTIALS).client("ec2", endpoint_url=url)


@contextlib.contextmanager
def guarded_setup(prefix: str, directory: str | None = None) -> Iterator[tuple[str, str]]:
    """``(tmp, url)``: a temporary directory (in ``directory``), moto's server, and gatekeeper configured
    there (SQLite store, file audit log) with moto's account a US customer; stdout silenced while it
    runs, the runtime reset at the end. The wrapper benchmark's setting, shared by its probes."""
    import gatekeeper
    from gatekeeper import runtime
    from gatekeeper.config import AuditConfig, Config, StoreConfig
    from gatekeeper.model import CustomerProfile

    with tempfile.TemporaryDirectory(prefix=prefix, dir=directory) as tmp, moto_server() as url, \
            contextlib.redirect_stdout(io.StringIO()):
        cfg = Config(store=StoreConfig(url=f"sqlite:///{tmp}/state.db", create=True),
                     audit=AuditConfig(url=f"file://{tmp}/audit", signing_key=f"{tmp}/key.pem"))
        gk = gatekeeper.configure(cfg)
        try:
            gk.store.profiles.put_profiles([CustomerProfile("aws", MOTO_ACCOUNT, "Acme Analytics Inc.", "US", "US",
                                                            "US", "verified")])
            yield tmp, url
        finally:
            runtime.reset()


def measure(rounds: int, per_round: int, log: Callable[[str], None]) -> dict[str, Any]:
    import gatekeeper

    out: dict[str, Any] = {"rounds": rounds, "calls_per_round": per_round}
    with guarded_setup("gk-bench-") as (tmp, url):
        raw, guarded = _client(url), _client(url)
        if os.environ.get("GK_BENCH_ONE_STEP") == "1":
            _one_step()
        out["one_step"] = os.environ.get("GK_BENCH_ONE_STEP") == "1"
        gatekeeper.aws.protect(guarded)
        clocks = {"without": _HandlerClock(raw), "with": _HandlerClock(guarded)}
        ami = raw.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        for label, itype in (("plain", "t3.micro"), ("controlled", "p4d.24xlarge")):
            log(f"wrapper: RunInstances {itype}, {rounds} rounds x {per_round} calls a client")
            with FsyncCounter() as fsyncs:  # the syncs the guard's audit records cost, in this run
                out[label] = _ab(url, clocks, ami, itype, rounds, per_round)
            out[label]["instance_type"] = itype
            out[label]["fsyncs"] = len(fsyncs.times_us)
            out[label]["kernel_syncs"] = fsyncs.kernel_syncs
            out[label]["fsync_p50_us"] = statistics.median(fsyncs.times_us) if fsyncs.times_us else None
        # The unit of the guard's goal: a plain fsync (a ~1 kB record appended, then fdatasync, no
        # early write-back) on the same disk, in this run: with write-back started at the decision
        # the guard's own sync is shorter than this, and dividing by it would flatter nothing.
        out["controlled"]["fsync_plain_p50_us"] = _plain_fsync_us(Path(tmp), 200)
        # The noise floor: two clients without gatekeeper, measured the same way.
        log(f"wrapper: A/A control (two clients without gatekeeper), {rounds} rounds x {per_round} calls")
        other = _client(url)
        out["control"] = _ab(url, {"without": clocks["without"], "with": _HandlerClock(other)}, ami, "t3.micro",
                             rounds, per_round)
        out["control"]["instance_type"] = "t3.micro"
        out["audit_records"] = sum(p.read_bytes().count(b"\n") for p in Path(tmp, "audit").glob("*.jsonl"))
    return out


def _one_step() -> None:
    """The A side of an A/B: the guard decides and records durably in one step (the path before the
    two-step record), by swapping the handler's deferred decision for the one-step one."""
    from gatekeeper.adapters.aws import _handler

    def one_step(*args: Any, **kwargs: Any) -> tuple[Any, None]:
        return _handler.decide_call(*args, **kwargs), None

    _handler.decide_call_deferred = one_step  # type: ignore[assignment]


class _HandlerClock:
    """Timestamps taken by handlers registered first and last on the guarded event: gatekeeper's time.

    botocore runs the handlers of an event in order (``register_first`` ones, then the others, then
    ``register_last`` ones), so the span between the two stamps is the guard's decision, its audit
    record included, and nothing of boto3's or moto's. The thread's CPU time is stamped too: it
    leaves out the wait for the disk's sync and the time other processes held the core, so it
    compares code before and after a change on a loaded machine where the wall figures cannot.
    """

    # The wait for the record's sync, where the guard makes it (a span added to the decision's).
    WAIT_EVENT = "request-created.ec2.RunInstances"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.spans: list[int] = []
        self.cpu_spans: list[int] = []
        self.wait_spans: list[int] = []  # of the spans above, the part at WAIT_EVENT
        self._t0 = self._c0 = self._w0 = self._wc0 = 0
        event = "before-parameter-build.ec2.RunInstances"
        client.meta.events.register_first(event, self._first, unique_id="bench.first")
        client.meta.events.register_last(event, self._last, unique_id="bench.last")
        client.meta.events.register_first(self.WAIT_EVENT, self._wait_first, unique_id="bench.wait_first")
        client.meta.events.register_last(self.WAIT_EVENT, self._wait_last, unique_id="bench.wait_last")

    def _first(self, **_: Any) -> None:
        self._c0 = time.thread_time_ns()
        self._t0 = time.perf_counter_ns()

    def _last(self, **_: Any) -> None:
        self.spans.append(time.perf_counter_ns() - self._t0)
        self.cpu_spans.append(time.thread_time_ns() - self._c0)

    def _wait_first(self, **_: Any) -> None:
        self._wc0 = time.thread_time_ns()
        self._w0 = time.perf_counter_ns()

    def _wait_last(self, **_: Any) -> None:
        # Once per call (a retry builds the request again: not in this bench, whose calls succeed).
        wait = time.perf_counter_ns() - self._w0
        self.wait_spans.append(wait)
        self.spans[-1] += wait
        self.cpu_spans[-1] += time.thread_time_ns() - self._wc0


def _ab(url: str, clocks: dict[str, _HandlerClock], ami: str, itype: str, rounds: int,
        per_round: int) -> dict[str, Any]:
    def call(client: Any) -> int:
        t0 = time.perf_counter_ns()
        client.run_instances(ImageId=ami, InstanceType=itype, MinCount=1, MaxCount=1)
        return time.perf_counter_ns() - t0

    times: dict[str, list[int]] = {"without": [], "with": []}
    paired: list[float] = []
    clients = {name: clock.client for name, clock in clocks.items()}
    for r in range(rounds):
        _reset(url)
        for c in clients.values():  # after a reset the first calls build moto's default VPC: untimed
            call(c)
            call(c)
        for clock in clocks.values():
            clock.spans.clear()
            clock.cpu_spans.clear()
            clock.wait_spans.clear()
        for k in range(per_round):
            # Call by call, A B B A: neighbours in time share the machine's state, in both orders.
            pair = {}
            for name in (("without", "with") if (k + r) % 2 == 0 else ("with", "without")):
                pair[name] = call(clients[name])
                times[name].append(pair[name])
            paired.append(pair["with"] / pair["without"])
    med_without, med_with = statistics.median(times["without"]), statistics.median(times["with"])
    # botocore has handlers of its own on this event (the idempotency token, ...): what the raw
    # client spends there is subtracted.
    spans, base_spans = clocks["with"].spans, clocks["without"].spans
    med_span = max(0.0, statistics.median(spans) - statistics.median(base_spans))
    med_cpu = max(0.0, statistics.median(clocks["with"].cpu_spans) - statistics.median(clocks["without"].cpu_spans))
    med_wait = max(0.0, statistics.median(clocks["with"].wait_spans) - statistics.median(clocks["without"].wait_spans))
    lo, hi = _bootstrap_ratio(times["with"], times["without"])
    plo, phi = _bootstrap_median(paired)
    return {
        "median_without_us": med_without / 1000, "median_with_us": med_with / 1000,
        "ratio": med_with / med_without, "ratio_ci95": [lo, hi],
        "paired_ratio": statistics.median(paired), "paired_ratio_ci95": [plo, phi], "pairs": len(paired),
        "gatekeeper_median_us": med_span / 1000, "event_span_p99_us": _p99(spans) / 1000,
        "gatekeeper_cpu_median_us": med_cpu / 1000,
        "gatekeeper_wait_median_us": med_wait / 1000,
        "event_span_median_without_us": statistics.median(base_spans) / 1000,
        "ratio_from_gatekeeper_time": (med_without + med_span) / med_without,
        "calls_per_client": len(times["with"]),
    }


def _p99(xs: list[int]) -> float:
    # Nearest rank (of two values, the larger): the smaller would put a median above its "p99".
    return percentile([float(x) for x in sorted(xs)], 99) if xs else 0.0


def _bootstrap_ratio(a: list[int], b: list[int], n: int = 400) -> tuple[float, float]:
    """95% interval of median(a) / median(b) by resampling (seeded: the report is reproducible)."""
    import random

    rng = random.Random(1)
    ratios = sorted(statistics.median(rng.choices(a, k=len(a))) / statistics.median(rng.choices(b, k=len(b)))
                    for _ in range(n))
    return ratios[int(0.025 * n)], ratios[int(0.975 * n) - 1]


def _bootstrap_median(xs: list[float], n: int = 1000) -> tuple[float, float]:
    """95% interval of the median of ``xs`` by resampling (seeded: the report is reproducible)."""
    import random

    rng = random.Random(2)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


def verdict(ci: tuple[float, float] | list[float], goal: float) -> bool | None:
    """Met (the whole interval within the goal), missed (the whole interval beyond it), or unresolved."""
    lo, hi = ci
    if hi <= goal:
        return True
    if lo > goal:
        return False
    return None


def _plain_fsync_us(directory: Path, n: int) -> float:
    """The median of ``n`` appends of a 1 kB line to a file in ``directory``, each then fdatasync'ed."""
    path = directory / "plain-fsync.bin"
    line = b"x" * 1023 + b"\n"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(n):
            os.write(fd, line)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            times.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        os.close(fd)
        path.unlink()
    return float(statistics.median(times))


def rows(d: dict[str, Any]) -> list[Row]:
    out = []
    for label, goal, what in (("plain", PLAIN_GOAL, "plain type"),
                              ("controlled", CONTROLLED_GOAL, "allowed controlled type, durable audit record")):
        m = d[label]
        lo, hi = m["paired_ratio_ci95"]
        met = verdict((lo, hi), goal)
        goal_text, notes = f"<= {goal}", [] if met is not None else ["unresolved: the interval straddles the goal"]
        fsync = m.get("fsync_plain_p50_us") or m.get("fsync_p50_us")
        if label == "controlled" and fsync:
            # Issue 19: the guard's own time (its decision and durable record) within two syncs.
            in_fsyncs = m["gatekeeper_median_us"] / fsync
            m["guard_in_fsyncs"] = in_fsyncs
            goal_text += f"; own time <= {GUARD_FSYNCS_GOAL:g} fsyncs"
            own_syncs = (f"the guard's own syncs, write-back started early: {fmt_us(m['fsync_p50_us'])}"
                         if m.get("fsync_p50_us") else
                         "no fdatasync in the guard's thread: the record's sync is run by the kernel (Linux AIO) "
                         "from the decision on")
            notes.append(f"own time {in_fsyncs:.1f} fsyncs of {fmt_us(fsync)} (this run's median plain "
                         f"1 kB write + fdatasync; {own_syncs}); "
                         f"its CPU time {fmt_us(m['gatekeeper_cpu_median_us'])} a call; "
                         f"of its own time, the wait for the record's sync before the request is signed "
                         f"{fmt_us(m.get('gatekeeper_wait_median_us', 0.0))}")
            if in_fsyncs > GUARD_FSYNCS_GOAL:
                met = False
        out.append(Row(
            "wrapper", f"boto3 RunInstances {m['instance_type']} via moto server: {what}",
            f"end to end x{m['paired_ratio']:.4f} (paired, {m['pairs']} pairs, 95% CI {lo:.4f}-{hi:.4f}); "
            f"gatekeeper's own time {fmt_us(m['gatekeeper_median_us'])} a call "
            f"(x{m['ratio_from_gatekeeper_time']:.4f})",
            f"boto3 without gatekeeper: {fmt_us(m['median_without_us'])} a call", goal_text,
            met, note="; ".join(notes), data=m))
    c = d.get("control")
    if c:
        lo, hi = c["paired_ratio_ci95"]
        out.append(Row("wrapper", "A/A control: two boto3 clients without gatekeeper, measured the same way",
                       f"x{c['paired_ratio']:.4f} (paired, 95% CI {lo:.4f}-{hi:.4f})", "",
                       note="the end-to-end noise floor of this machine", data=c))
    return out


# (rounds, calls a client a round) per mode
# A moto call's paired ratio has a spread of about 10% on a quiet machine; ~1,200 pairs give a 95%
# interval of the median about +-0.5% wide, enough to resolve a 1% goal.
COUNTS = {"full": (8, 150), "quick": (2, 40), "smoke": (1, 2)}


def run(mode: str, log: Callable[[str], None]) -> tuple[dict[str, Any], list[Row]]:
    d = measure(*COUNTS[mode], log)
    return d, rows(d)
