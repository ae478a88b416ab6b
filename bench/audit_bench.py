"""Audit log benchmarks: durable appends under concurrency, verify speed, DuckDB review speed.

    .venv/bin/python bench/audit_bench.py                      # all, 1,000,000 records for verify/review
    .venv/bin/python bench/audit_bench.py --records 200000 --skip-review

Goals (issue 19, as ``python -m bench`` states them): with 8 threads 85 % of 8 records an fsync, with
64 threads (``--threads 64``) 50,000 durable appends/s; verify 500,000 records/s; a million records
answer a query in seconds. Numbers depend on the disk's fsync latency and on the load of
the machine; run it on a quiet one, several times.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gatekeeper.audit import _writer, decision_record, open_audit_log
from gatekeeper.audit._prepare import prepare
from gatekeeper.audit._writer import FileAuditLog, _Entry
from gatekeeper.audit.review import AuditReader, Filters
from gatekeeper.audit.verify import verify_log
from gatekeeper.model import (
    AcceleratorInfo,
    ClassifiedItem,
    ComputeItem,
    CustomerProfile,
    Decision,
    Outcome,
    ProvisioningRequest,
    RuleMatch,
)

CUSTOMERS = [("111111111111", "Acme Analytics Inc.", "US", "US"),
             ("222222222222", "Lion City AI Pte. Ltd.", "SG", "CN"),
             ("333333333333", "Andes Render SpA", "CL", "CL"),
             ("555555555555", "Shenzhen Cloud Co.", "CN", "CN"),
             ("666666666666", "Bangalore Vision Pvt Ltd", "IN", "IN")]
TYPES = [("p5.48xlarge", "H100", "3A090.a", 8), ("p4d.24xlarge", "A100", "3A090.a", 8),
         ("g6e.12xlarge", "L40S", "3A090.b", 4), ("g5.xlarge", "A10G", "none", 1)]


def decision(i: int, rng: random.Random) -> Decision:
    acct, name, country, parent = rng.choice(CUSTOMERS)
    itype, chip, ecls, n = rng.choice(TYPES)
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=37 * i)
    item = ComputeItem(itype, rng.randint(1, 4))
    acc = AcceleratorInfo(chip, n, n * item.count, 15832.0, 19.6, ecls, True, ("catalog",))
    ci = ClassifiedItem(item, itype, True, ecls != "none", ecls, (acc,))
    outcome = rng.choice(list(Outcome))
    matches = () if outcome == Outcome.ALLOW else (
        RuleMatch(f"rule-{outcome.label}", "us-ear-destinations", "2026.11.0", outcome, "15 CFR 744.23(a)",
                  f"{name} ({country}/{parent}) requests {chip} compute"),)
    req = ProvisioningRequest("aws", acct, (item,), region="us-east-1", service="ec2", operation="RunInstances",
                              principal="arn:aws:iam::123456789012:role/deployer", at=at)
    prof = CustomerProfile("aws", acct, name, country, country, parent, "verified")
    return Decision(f"dec-{i:016x}", outcome, req, prof, (ci,), matches, outcome, at, "enforce",
                    reasons=tuple(m.reason for m in matches))


def bench_appends(base: Path, threads: int, per_thread: int) -> None:
    fsyncs = [0]
    real = os.fdatasync

    def counting(fd: int) -> None:
        fsyncs[0] += 1
        real(fd)

    _writer.os.fdatasync = counting  # type: ignore[attr-defined]
    try:
        log = open_audit_log("file://appends", signing_key=base / "key.pem", segment_max_bytes=64 << 20,
                             segment_max_seconds=3600, base_dir=base)
        rng = random.Random(1)
        recs = [decision_record(decision(i, rng)) for i in range(1000)]
        barrier = threading.Barrier(threads + 1)

        def work(t: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                log.append(recs[(t * per_thread + i) % len(recs)])

        ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for th in ths:
            th.start()
        barrier.wait()
        start, fs0 = time.perf_counter(), fsyncs[0]
        for th in ths:
            th.join()
        elapsed = time.perf_counter() - start
        n = threads * per_thread
        log.close()
        print(f"append   {threads} threads x {per_thread}: {n / elapsed:,.0f} durable appends/s; "
              f"{n / max(1, fsyncs[0] - fs0):.1f} records per fsync; "
              f"p(avg) latency {elapsed / per_thread * 1e6:,.0f} us")
    finally:
        _writer.os.fdatasync = real  # type: ignore[attr-defined]


def generate(directory: Path, n: int, key: Path) -> float:
    """Write ``n`` decision records through the real writer, in large batches without per-batch fsync."""
    from gatekeeper.audit._keys import load_or_create_signer, publish_public_key

    signer = load_or_create_signer(key)
    log = FileAuditLog(directory, signer=signer, segment_max_bytes=64 << 20, segment_max_seconds=10**9)
    publish_public_key(signer, directory)
    rng = random.Random(2)
    templates = [decision_record(decision(i, rng)) for i in range(2000)]
    start = time.perf_counter()
    with log._io, log._file_lock():
        log._sync_locked()
        for lo in range(0, n, 5000):
            batch = []
            for i in range(lo, min(n, lo + 5000)):
                rec: dict[str, Any] = dict(templates[i % len(templates)])
                rec["decision_id"] = f"dec-{i:016x}"
                rec["ts"] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=37 * i)).isoformat()
                out, members = prepare(rec)
                batch.append(_Entry(out, members))
            log._write_locked(batch)  # the segment fd: written now, synced when the log closes it
    log.close()
    return time.perf_counter() - start


def bench_verify_and_review(base: Path, n: int, review: bool) -> None:
    d = base / "big"
    gen = generate(d, n, base / "key.pem")
    size = sum(p.stat().st_size for p in d.glob("segment-*.jsonl"))
    print(f"generate {n:,} records ({size / 1e9:.2f} GB, {len(list(d.glob('segment-*.jsonl')))} segments) "
          f"in {gen:.1f} s")
    for label, threshold in (("serial", 1 << 62), ("parallel", 0)):
        start = time.perf_counter()
        report = verify_log(d, public_keys=[base / "key.pem"], parallel_threshold=threshold)
        el = time.perf_counter() - start
        assert report.ok, report.problem
        print(f"verify   {label:8s}: {report.records / el:,.0f} records/s ({el:.1f} s, {size / el / 1e6:,.0f} MB/s)")
    if not review:
        return
    with AuditReader(d) as r:
        for label, fn in (
            ("count all decisions", lambda: r.count(Filters())),
            ("query deny+CN, 100 rows", lambda: len(r.query(Filters(decision="deny", country="CN"), limit=100))),
            ("query chip H100 since", lambda: len(r.query(Filters(chip="h100", since=datetime(2026, 1, 5, tzinfo=UTC)),
                                                          limit=100))),
            ("summary", lambda: r.summary(Filters())["total"]),
            ("export parquet", lambda: r.export(Filters(), "parquet", base / "out.parquet")),
        ):
            start = time.perf_counter()
            result = fn()
            print(f"review   {label:26s}: {time.perf_counter() - start:6.2f} s  ({result})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--appends", type=int, default=5000, help="appends per thread")
    ap.add_argument("--records", type=int, default=1_000_000, help="records for verify/review")
    ap.add_argument("--skip-review", action="store_true")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary folder)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="gk-audit-bench-", dir=args.dir))
    try:
        bench_appends(base, args.threads, args.appends)
        bench_verify_and_review(base, args.records, not args.skip_review)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
