"""``python -m bench``: every benchmark side by side with its peer, one Markdown table, one JSON file.

    python -m bench                 the full run (about 14 minutes on 2 cores; the first: + ~12 min)
    python -m bench --quick         small counts, for a fast pass
    python -m bench --smoke         tiny counts: does every benchmark run? (the smoke test's mode)
    python -m bench --only engine,audit
    python -m bench --out FILE --markdown FILE
    python -m bench --readme        also publish the run as README's performance table
                                    (docs/bench-latest.json; a test holds the two equal)
    python -m bench --readme-from FILE   re-render the README's table from a saved report, no run

Sections: engine (the pure engine beside cedarpy, and Gatekeeper.decide()), stores (decide() with the
SQLite, PostgreSQL and DynamoDB stores side by side), wrapper (boto3 through
moto with and without gatekeeper.aws), audit (durable appends, verify, summary), hook (Lambda cold
start beside Cloud Custodian), screening, scaling (the engine with 13/130/1,300 rules, decide() with
1k/100k/1M profiles, audit summary and query over 1M and 5M records with their peak memory) and bulk
(accounts import of 100k and 1M rows, screening load over 1M profiles). The table goes to stdout,
progress to stderr, the JSON to bench/results/latest.json. No goal is asserted: a missed goal shows
as "no" in the table. The exit status is 1 only when a section could not be measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``python bench/__main__.py`` as well as ``python -m bench``
    sys.path.insert(0, str(ROOT))

from bench._common import RESULTS, Row, Timer, machine  # noqa: E402
from bench.report import markdown, write_readme  # noqa: E402

SECTIONS = ("engine", "stores", "wrapper", "audit", "hook", "screening", "scaling", "bulk")


def _quiet_logs() -> None:
    import structlog

    # gatekeeper logs key creation, segment rotation... at info: not what a benchmark report is for.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(sections: list[str], mode: str, cache: Path = RESULTS / "cache") -> tuple[dict[str, Any], list[Row], bool]:
    from bench import audit, bulk, engine, hook, scaling, screening, stores, wrapper

    raw: dict[str, Any] = {}
    rows: list[Row] = []
    ok = True
    timer: Timer | None = None
    for name in sections:
        t0 = time.perf_counter()
        try:
            if name == "engine":
                timer = timer or Timer()
                raw["timer_overhead_ns"] = timer.overhead_ns
                d, r = engine.run(timer, mode, _log)
                raw.update(d)
            elif name == "audit":
                d, r = audit.run(mode, _log, cache)
                raw[name] = d
            elif name == "scaling":
                timer = timer or Timer()
                d, r = scaling.run(timer, mode, _log, cache)
                raw[name] = d
            else:
                module = {"wrapper": wrapper, "hook": hook, "screening": screening, "stores": stores,
                          "bulk": bulk}[name]
                d, r = module.run(mode, _log)
                raw[name] = d
            rows.extend(r)
        except Exception as exc:
            ok = False
            _log(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            raw[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
            rows.append(Row("error", name, "not measured", note=f"{type(exc).__name__}: {exc}"[:300]))
        _log(f"{name}: {time.perf_counter() - t0:.1f} s")
    return raw, rows, ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description="Every benchmark side by side with its peer: "
                                 "one Markdown table, one JSON report.")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small counts: a fast pass, figures are rough")
    size.add_argument("--smoke", action="store_true",
                      help="tiny counts: checks that every benchmark runs; the figures mean nothing")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections to run (default: all of {', '.join(SECTIONS)})")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="JSON report (default: %(default)s)")
    ap.add_argument("--markdown", type=Path, help="also write the Markdown table to this file")
    ap.add_argument("--cache", type=Path, default=RESULTS / "cache",
                    help="where generated audit logs are kept between runs (default: %(default)s)")
    ap.add_argument("--readme", action="store_true",
                    help="publish this run as the README's performance table (docs/bench-latest.json)")
    ap.add_argument("--readme-from", type=Path, metavar="FILE",
                    help="render the README's performance table from a saved JSON report, without running")
    args = ap.parse_args(argv)
    if args.readme_from:
        write_readme(json.loads(args.readme_from.read_text(encoding="utf-8")))
        _log(f"README table rendered from {args.readme_from}")
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        ap.error(f"unknown section(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SECTIONS)}")

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    _quiet_logs()
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    _log(f"{mode} run: {', '.join(sections)} on {info['cpu']}, "
         f"{info['cores']} cores, Python {info['python']}")
    raw, rows, ok = run(sections, mode, args.cache)
    seconds = time.perf_counter() - t0
    table = markdown(rows, info, mode=mode, seconds=seconds)
    report = {"schema": "gatekeeper.bench/v1", "started": started.isoformat(timespec="seconds"),
              "seconds": round(seconds, 1), "mode": mode, "sections": sections, "machine": info,
              "rows": [r.as_dict() for r in rows], "results": raw, "markdown": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    _log(f"wrote {args.out}")
    if args.readme:
        if mode != "full" or not ok:
            _log("--readme publishes only a complete full run: README left as it was")
            return 1
        write_readme(report)
        _log("README performance table updated (docs/bench-latest.json)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
