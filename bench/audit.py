"""Audit log throughput: durable appends (1, 8 and 64 threads), verification, and ``audit summary``.

- appends: ``gatekeeper.audit.open_audit_log(...).append(record)`` returns once the record is
  fsynced. One thread pays one fsync per record; with 8 threads the writer's group commit covers
  everything queued while the previous fsync ran. The record is a real decision record (a controlled
  request, pending, about 1.9 kB of JSON).
- verify: ``gatekeeper.audit.verify.verify_log`` over the generated log (every line's SHA-256, the
  chain, the signed checkpoints), in records per second.
- summary: ``gatekeeper audit summary --from DIR --json`` over 1,000,000 records, as the command
  (a fresh process: start-up included) and as the library call it makes (``AuditReader.summary``).

The big log is generated once through the writer's own API (256 appending threads, so that group
commit batches them) and cached in ``bench/results/cache/``; later runs reuse it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import RESULTS, ROOT, Row, compiled_child_env, fmt_rate, percentile

# Issue 19's goals for appends: with 8 threads, 85 % of the ceiling 8 / (median fsync) (8 appenders that
# each wait for durability cannot beat 8 records an fsync); with 64 threads, 50,000 records/s.
APPEND_CEILING_SHARE = 0.85
APPEND_GOAL = 50_000  # records/s with 64 threads
APPEND_THREADS = (1, 8, 64)
VERIFY_GOAL = 500_000  # records/s
SUMMARY_GOAL_S = 1.0
CACHE_VERSION = 5  # 2: record v2 with the sidecars of the closed segments; 3: in time order; 4: sidecar footers v2;
# 5: checkpoints with their segment's time range
# Appending threads while generating the big log: the more are waiting, the more records one fsync covers.
GENERATE_THREADS = 256
GENERATE_BATCH = 100_000  # records appended per round while generating (each round its share of the 30 days)


def decision_templates() -> list[dict[str, Any]]:
    """Audit records of a spread of real decisions (outcomes, countries, chips, rules)."""
    from gatekeeper.audit.record import decision_record
    from gatekeeper.config import Config
    from gatekeeper.model import ComputeItem, CustomerProfile, ProvisioningRequest, ScreeningHit, utcnow
    from gatekeeper.service import Gatekeeper

    gk = Gatekeeper(Config())  # store and audit log are never opened: only the engine is used
    customers = [
        CustomerProfile("aws", "111111111111", "Acme Analytics Inc.", "US", "US", "US", "verified"),
        CustomerProfile("aws", "222222222222", "Lion City AI Pte. Ltd.", "SG", "SG", "CN", "verified"),
        CustomerProfile("aws", "333333333333", "Andes Render SpA", "CL", "CL", "CL", "unverified"),
        CustomerProfile("azure", "c0ffee00-0000-4000-8000-000000000001", "Rhein Compute GmbH", "DE", "DE", "DE",
                        "verified"),
        CustomerProfile("gcp", "shenzhen-vision-prod", "Shenzhen Vision Ltd.", "CN", "CN", "CN", "verified",
                        screening_hits=(ScreeningHit("EL", "el-1", "Shenzhen Vision", 97.0),)),
        CustomerProfile("aws", "444444444444", "Persian Gulf Compute Co.", "IR", "IR", "IR", "verified"),
    ]
    types = {"aws": ["p4d.24xlarge", "p5.48xlarge", "g5.xlarge", "g4dn.xlarge"],
             "azure": ["Standard_ND96isr_H100_v5", "Standard_NC24ads_A100_v4"],
             "gcp": ["a3-highgpu-8g", "a2-highgpu-1g"]}
    regions = {"aws": "us-east-1", "azure": "westeurope", "gcp": "us-central1"}
    out = []
    for prof in customers:
        for itype in types[prof.provider]:
            req = ProvisioningRequest(prof.provider, prof.account_id, (ComputeItem(itype, 2),),
                                      region=regions[prof.provider], service="compute", operation="Create",
                                      principal="bench")
            ev = gk.engine.evaluate(req, prof, on=utcnow().date())
            out.append(decision_record(gk._decision("dec-template", req, prof, ev, utcnow())))
    return out


def _open(directory: Path, key: Path) -> Any:
    from gatekeeper.audit import open_audit_log

    return open_audit_log(f"file://{directory}", signing_key=key, base_dir=directory.parent)


def _append_all(log: Any, records: list[dict[str, Any]], threads: int,
                seconds: float | None = None) -> tuple[int, float]:
    """Append ``records`` from ``threads`` threads, stopping early after ``seconds`` if given.

    Returns (records appended, wall-clock seconds from the start barrier to the last thread done).
    """
    chunks = [records[i::threads] for i in range(threads)]
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    done = [0] * threads
    deadline = [0.0]

    def work(k: int, chunk: list[dict[str, Any]]) -> None:
        start.wait()
        try:
            for n, r in enumerate(chunk, 1):
                log.append(r)
                done[k] = n
                if seconds is not None and n % 8 == 0 and time.perf_counter() > deadline[0]:
                    return
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(k, c)) for k, c in enumerate(chunks)]
    for t in ts:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + (seconds or 0.0)
    start.wait()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(done), elapsed


def _records(templates: list[dict[str, Any]], n: int, start: datetime, days: float = 30) -> list[dict[str, Any]]:
    """``n`` records spread evenly over ``days`` from ``start``, in time order."""
    span = days * 24 * 3600 / max(n, 1)
    return [{**templates[i % len(templates)], "decision_id": f"dec-{i:016x}",
             "ts": (start + timedelta(seconds=i * span)).isoformat(timespec="microseconds")} for i in range(n)]


class FsyncCounter:
    """Counts and times the syncs made while it is active (the writer calls os.fdatasync after each batch);
    ``kernel_syncs`` counts the results taken of syncs the kernel ran (a two-step append's, Linux AIO).

    ``noop``: the sync does nothing (nothing is durable): what the writer costs without the disk, the
    CPU ceiling of the appends beside which the durable figure is read.
    """

    def __init__(self, *, noop: bool = False) -> None:
        self.times_us: list[float] = []
        self.kernel_syncs = 0
        self._real = os.fdatasync
        self._noop = noop
        from gatekeeper.audit._syncahead import SyncAhead

        self._ahead, self._real_collect = SyncAhead, SyncAhead.collect

    def __enter__(self) -> FsyncCounter:
        real, times = self._real, self.times_us
        if self._noop:
            def real(fd: Any) -> None:
                return None

        def timed(fd: Any) -> None:
            t0 = time.perf_counter_ns()
            try:
                real(fd)
            finally:
                times.append((time.perf_counter_ns() - t0) / 1000)
        real_collect = self._real_collect

        def collect(ahead: Any) -> Any:
            self.kernel_syncs += 1
            return real_collect(ahead)
        os.fdatasync = timed
        self._ahead.collect = collect  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        os.fdatasync = self._real
        self._ahead.collect = self._real_collect  # type: ignore[method-assign]


def measure_appends(single: int, multi: int, seconds: float | None = None) -> dict[str, Any]:
    """Durable appends with 1, 8 and 64 threads: at most ``single`` (1 thread) or ``multi`` records, or ``seconds``."""
    templates = decision_templates()
    rec = max(templates, key=lambda r: len(json.dumps(r)))
    out: dict[str, Any] = {"record_bytes": len(json.dumps(rec, separators=(",", ":")))}
    with tempfile.TemporaryDirectory(prefix="gk-bench-audit-") as tmp:
        base = Path(tmp)
        for threads, n in ((t, single if t == 1 else multi) for t in APPEND_THREADS):
            runs: dict[bool, tuple[int, float, FsyncCounter]] = {}
            for noop in (False, True):
                d = base / f"log-{threads}{'-noop' if noop else ''}"
                log = _open(d, base / "key.pem")
                try:
                    # The same dict every time: append() copies what it writes and never changes its argument.
                    _append_all(log, [rec] * min(100, n), threads)  # warm-up
                    with FsyncCounter(noop=noop) as fsyncs:
                        count, elapsed = _append_all(log, [rec] * n, threads, seconds and seconds / (2 if noop else 1))
                finally:
                    log.close()
                    wait_for_sidecars()  # before the temporary directory goes
                runs[noop] = (count, elapsed, fsyncs)
            count, elapsed, fsyncs = runs[False]
            n_sync = len(fsyncs.times_us)
            cpu_count, cpu_elapsed, cpu_syncs = runs[True]
            out[f"threads_{threads}"] = {
                "records": count, "seconds": elapsed, "per_second": count / elapsed, "fsyncs": n_sync,
                "records_per_fsync": count / n_sync if n_sync else None,
                "fsync_p50_us": percentile(sorted(fsyncs.times_us), 50) if n_sync else None,
                "fsync_p10_us": percentile(sorted(fsyncs.times_us), 10) if n_sync else None,
                # The same appends with the sync a no-op: the writer's own (CPU) ceiling on this machine.
                "cpu_ceiling_per_second": cpu_count / cpu_elapsed,
                "cpu_us_per_record": cpu_elapsed / cpu_count * 1e6,
                "cpu_records_per_sync": cpu_count / len(cpu_syncs.times_us) if cpu_syncs.times_us else None}
    return out


def cached_log(n: int, log: Callable[[str], None], cache: Path = RESULTS / "cache") -> Path:
    """A log of ``n`` decision records under ``cache`` (bench/results/cache/), generated on first use."""
    d = cache / f"audit-{n}"
    marker = d / "bench-complete.json"
    want = {"records": n, "version": CACHE_VERSION}
    if marker.exists():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == want:
                return d / "log"
        except ValueError:
            pass
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    log(f"audit: generating a log of {n:,} records in {d} (cached for later runs)")
    templates = decision_templates()
    audit = _open(d / "log", d / "key.pem")
    t0 = time.perf_counter()
    try:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        step = GENERATE_BATCH
        for lo in range(0, n, step):
            size = min(step, n - lo)
            # Each batch covers its share of the 30 days: the log is in time order, as a real one is
            # (version 2 had every batch span 30 days, so each segment covered half the log's range).
            batch = _records(templates, size, start + timedelta(days=30 * lo / n), days=30 * size / n)
            for r in batch:
                r["decision_id"] = f"dec-{lo:08x}{r['decision_id'][-8:]}"
            _append_all(audit, batch, GENERATE_THREADS)
            log(f"audit: {lo + len(batch):,} / {n:,} records ({time.perf_counter() - t0:.0f} s)")
    finally:
        audit.close()
    _complete_sidecars(d / "log")
    marker.write_text(json.dumps(want), encoding="utf-8")
    return d / "log"


def wait_for_sidecars() -> None:
    """Join the audit writer's background sidecar threads (before a log's directory is removed or reused)."""
    for t in threading.enumerate():
        if t.name.startswith("gatekeeper-sidecar-"):
            t.join()


def _complete_sidecars(directory: Path) -> None:
    """Wait for the writer's background sidecars, then write any missing (as ``gatekeeper audit index``)."""
    from gatekeeper.audit._format import list_segments
    from gatekeeper.audit._sidecar import COLUMNS, write_missing

    wait_for_sidecars()
    segments, checkpoints = list_segments(directory)
    write_missing(directory, COLUMNS, [(segments[i], checkpoints[i]) for i in sorted(segments) if i in checkpoints])


def measure_verify(directory: Path) -> dict[str, Any]:
    from gatekeeper.audit.verify import verify_log

    # Like with like: the peer (hashing the same lines) runs after verify and so finds the files in
    # the page cache; read them once first, untimed, so that neither pays the disk (a log generated
    # just before, or a bigger one read since, would otherwise leave verify the cold reads).
    for seg in sorted(directory.glob("segment-*.jsonl")):
        with seg.open("rb") as fh:
            while fh.read(1 << 22):
                pass
    t0 = time.perf_counter()
    report = verify_log(directory)
    elapsed = time.perf_counter() - t0
    # The benchmark pins no key (it measures the hashing): the log must be consistent, and is
    # reported "unverified" rather than "intact".
    if not report.consistent:
        raise RuntimeError(f"the benchmark log does not verify: {report.problem}")
    processes = verify_processes(directory)
    return {"records": report.records, "seconds": elapsed, "per_second": report.records / elapsed,
            "bytes": _size(directory), "processes": processes,
            "per_second_per_process": report.records / elapsed / processes}


def verify_processes(directory: Path) -> int:
    """How many processes ``verify_log`` uses on ``directory`` (its own rule: one a core, for big logs)."""
    from gatekeeper.audit.verify import PARALLEL_THRESHOLD

    segments = sorted(directory.glob("segment-*.jsonl"))
    workers = min(os.cpu_count() or 1, len(segments))
    return workers if _size(directory) >= PARALLEL_THRESHOLD and workers >= 2 else 1


def _hash_lines(path: str) -> tuple[int, int]:
    import hashlib

    sha256 = hashlib.sha256
    lines = nbytes = 0
    with open(path, "rb") as fh:
        for line in fh:
            sha256(line).digest()
            lines += 1
            nbytes += len(line)
    return lines, nbytes


def measure_hash_floor(directory: Path, processes: int | None = None) -> dict[str, Any]:
    """The floor under verify: SHA-256 of every raw line, nothing else, on as many processes as verify.

    Like with like: verify spreads a big log's segments over one process a core (forked), so the
    peer hashes the same segments on the same number of forked processes. Per-process figures are
    reported beside the totals.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    paths = [str(p) for p in sorted(directory.glob("segment-*.jsonl"))]
    workers = processes if processes is not None else verify_processes(directory)
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            counts = list(pool.map(_hash_lines, paths))
    else:
        counts = [_hash_lines(p) for p in paths]
    elapsed = time.perf_counter() - t0
    lines, nbytes = sum(c[0] for c in counts), sum(c[1] for c in counts)
    rate = lines / elapsed if elapsed else 0.0
    return {"records": lines, "bytes": nbytes, "seconds": elapsed, "per_second": rate, "processes": workers,
            "per_second_per_process": rate / workers, "mb_per_second": nbytes / 1e6 / elapsed if elapsed else 0.0}


def measure_duckdb_scan(directory: Path) -> dict[str, Any]:
    """The floor under summary: DuckDB reading the same files once, two columns, one aggregate."""
    import duckdb

    files = [str(p) for p in sorted(directory.glob("segment-*.jsonl"))]
    con = duckdb.connect(":memory:")
    try:
        t0 = time.perf_counter()
        n = con.execute("SELECT count(*) FROM read_json(?, format='newline_delimited', "
                        "columns={'kind': 'VARCHAR', 'decision': 'VARCHAR'}) WHERE kind = 'decision'",
                        [files]).fetchone()
        elapsed = time.perf_counter() - t0
    finally:
        con.close()
    return {"records": int(n[0]) if n else 0, "seconds": elapsed}


def measure_summary(directory: Path) -> dict[str, Any]:
    from gatekeeper.audit.review import AuditReader, Filters

    t0 = time.perf_counter()
    with AuditReader(directory) as reader:
        s = reader.summary(Filters())
    in_process = time.perf_counter() - t0
    exe = Path(sys.executable).with_name("gatekeeper")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "gatekeeper.cli.main"]
    env = compiled_child_env()
    args = [*cmd, "audit", "summary", "--from", str(directory), "--json"]
    # Timed on its second run: the first writes the bytecode (compiled_child_env), as an install has it.
    subprocess.run(args, capture_output=True, cwd=ROOT, env=env, check=False)
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    command = time.perf_counter() - t0
    out: dict[str, Any] = {"records": s["total"], "library_seconds": in_process, "command_seconds": command,
                           "bytes": _size(directory), "command_exit": proc.returncode}
    if proc.returncode != 0:
        out["command_error"] = proc.stderr[-2000:]
    else:
        out["command_total"] = json.loads(proc.stdout)["total"]
    return out


def _last_line(text: str) -> str:
    """The last line of a CLI error that says something (rich draws boxes around typer's errors)."""
    lines = [ln.strip(" \u2502\u2500\u256d\u256e\u256f\u2570") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip("\u2500 ")]
    return lines[-1][:200] if lines else ""


def _procs(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("segment-*.jsonl"))


def _cpu_peer(run: dict[str, Any]) -> str:
    """The same appends with the sync a no-op: what the writer itself allows on this machine."""
    if "cpu_ceiling_per_second" not in run:
        return ""
    return (f"the same appends with the sync a no-op (the writer's CPU ceiling): "
            f"{fmt_rate(run['cpu_ceiling_per_second'])}, {run['cpu_us_per_record']:.1f} us a record")


def rows(d: dict[str, Any]) -> list[Row]:
    a = d["appends"]
    one, eight = a["threads_1"], a["threads_8"]
    fsync = eight["fsync_p50_us"] or 0.0
    ceiling = 8 / (fsync / 1e6) if fsync else 0.0
    share = eight["per_second"] / ceiling if ceiling else 0.0
    r = [
        Row("audit", f"durable appends, 1 thread ({a['record_bytes']:,}-byte decision record)",
            fmt_rate(one["per_second"]), _cpu_peer(one),
            note=f"one fsync a record: {one['fsync_p50_us'] or 0:,.0f} us median, "
            f"{one['fsync_p10_us'] or 0:,.0f} us 10th percentile, on this disk during the run", data=one),
        Row("audit", "durable appends, 8 threads (group commit)",
            f"{fmt_rate(eight['per_second'])} ({eight['records_per_fsync'] or 0:.1f} records an fsync), "
            f"{share:.0%} of the ceiling", _cpu_peer(eight),
            goal=f">= {APPEND_CEILING_SHARE:.0%} of 8 / (median fsync)", met=share >= APPEND_CEILING_SHARE,
            note=f"8 appenders that each wait for durability cannot beat 8 records an fsync: "
                 f"{fmt_rate(ceiling)} at this run's median fsync of {fsync:,.0f} us",
            data={**eight, "ceiling_per_second": ceiling, "ceiling_share": share}),
    ]
    many = a.get("threads_64")
    if many:
        r.append(Row("audit", "durable appends, 64 threads (group commit)",
                     f"{fmt_rate(many['per_second'])} ({many['records_per_fsync'] or 0:.1f} records an fsync)",
                     _cpu_peer(many), goal=f">= {APPEND_GOAL:,}/s", met=many["per_second"] >= APPEND_GOAL,
                     note=f"median fsync {many['fsync_p50_us'] or 0:,.0f} us during the run", data=many))
    v, h = d.get("verify"), d.get("hash_floor")
    if v:
        procs = v.get("processes", 1)
        peer = (f"Python hashing the same raw lines (SHA-256 only) on {_procs(h.get('processes', 1))}: "
                f"{fmt_rate(h['per_second'])} ({fmt_rate(h.get('per_second_per_process', h['per_second']))} "
                f"a process), {h['mb_per_second']:,.0f} MB/s" if h else "")
        r.append(Row("audit", f"verify ({v['records']:,} records, {v['bytes'] / 1e6:,.0f} MB)",
                     f"{fmt_rate(v['per_second'])} ({v['seconds']:.2f} s) on {_procs(procs)} "
                     f"({fmt_rate(v.get('per_second_per_process', v['per_second']))} a process)", peer,
                     goal=f">= {VERIFY_GOAL:,}/s", met=v["per_second"] >= VERIFY_GOAL, data={**v, "hash_floor": h}))
    s, scan = d.get("summary"), d.get("duckdb_scan")
    if s:
        what = f"audit summary ({s['records']:,} records, {s['bytes'] / 1e6:,.0f} MB)"
        peer = f"DuckDB reading the same files once (2 columns, count): {scan['seconds']:.2f} s" if scan else ""
        if s["command_exit"] == 0:
            r.append(Row("audit", what, f"{s['command_seconds']:.2f} s as the command, "
                         f"{s['library_seconds']:.2f} s in-process (AuditReader.summary)", peer,
                         goal=f"<= {SUMMARY_GOAL_S:g} s", met=s["command_seconds"] <= SUMMARY_GOAL_S,
                         data={**s, "duckdb_scan": scan}))
        else:
            r.append(Row("audit", what, f"{s['library_seconds']:.2f} s in-process (AuditReader.summary)", peer,
                         goal=f"<= {SUMMARY_GOAL_S:g} s", met=s["library_seconds"] <= SUMMARY_GOAL_S,
                         note=f"the command failed: {_last_line(s.get('command_error', ''))}",
                         data={**s, "duckdb_scan": scan}))
    return r


# (appends with 1 thread, appends with 8 and with 64 threads, seconds at most for each, records in the
# verified/summarized log) per mode
COUNTS: dict[str, tuple[int, int, float | None, int]] = {
    "full": (20_000, 400_000, 5.0, 1_000_000), "quick": (5_000, 100_000, 1.5, 100_000),
    "smoke": (5, 40, None, 300)}


def run(mode: str, log: Callable[[str], None], cache: Path = RESULTS / "cache") -> tuple[dict[str, Any], list[Row]]:
    single, multi, seconds, n = COUNTS[mode]
    log("audit: durable appends, 1, 8 and 64 threads")
    d: dict[str, Any] = {"appends": measure_appends(single, multi, seconds)}
    directory = cached_log(n, log, cache)
    log(f"audit: verify {n:,} records, beside plain hashing of the same lines")
    d["verify"] = measure_verify(directory)
    d["hash_floor"] = measure_hash_floor(directory)
    log(f"audit: summary over {n:,} records, beside one DuckDB pass over the same files")
    d["summary"] = measure_summary(directory)
    d["duckdb_scan"] = measure_duckdb_scan(directory)
    return d, rows(d)
