"""Probe: what moves ``gatekeeper audit query`` (one day, 100 rows) over a big log, and by how much.

    PYTHONPATH=. python bench/query_probe.py LOG_DIR [--old /work/main] [--rounds 7]

The measured command is the scaling section's (``bench/scaling.py: review_commands``), run as it runs
it (a child process, compiled bytecode, timed by ``run_child``), under conditions taken one after the
other, each for ``--rounds`` rounds; with ``--old``, every round runs the command from that checkout
and from this one, alternating (paired), and the CLI's start-up alone (``audit summary --help``):

- warm: the log's files in the OS cache (an uncounted run first);
- cold: the log's files dropped from the OS cache before each run (``posix_fadvise(DONTNEED)`` on
  the log's own files only: nothing else on the machine is evicted);
- cpu: one other process spinning on a core during each run (the machine has two);
- writeback: 512 MB written (not synced) to a scratch file just before each run, so that the kernel
  writes it back while the command runs.

Prints the median, min and max of each, the load and the CPU steal during the condition.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import ROOT, compiled_child_env, run_child
from bench.scaling import CLI, review_commands


def _drop(directory: Path) -> None:
    for p in directory.iterdir():
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _spin(stop: float) -> None:
    while time.time() < stop:
        pass


def _steal() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs so far."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[7], sum(fields)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log", type=Path)
    ap.add_argument("--old", type=Path, default=None, help="another checkout, run alternately (paired)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="warm,cold,cpu,writeback")
    args = ap.parse_args()
    query = review_commands(args.log)["query"]
    env = compiled_child_env()
    # Each arm: (command, environment). "floor": the CLI's start-up alone (the scaling section's peer),
    # in the same rounds, so that the query's own cost can be read apart from the machine's load.
    trees = {"new": (query, env), "floor": (["audit", "summary", "--help"], env)}
    if args.old is not None:
        trees = {"old": (query, {**env, "PYTHONPATH": str(args.old)}), **trees}
    for cmd, e in trees.values():  # writes the bytecode, reads the files
        run_child(CLI, cmd, env=e)
    scratch = Path(tempfile.mkdtemp(prefix="gk-probe-"))
    spinner: list[multiprocessing.Process] = []

    def before(cond: str) -> None:
        if cond == "cold":
            _drop(args.log)
        elif cond == "writeback":
            with open(scratch / "dirty", "wb") as f:
                for _ in range(512):
                    f.write(os.urandom(1 << 20))
        elif cond == "cpu":
            p = multiprocessing.Process(target=_spin, args=(time.time() + 3,))
            p.start()
            spinner.append(p)
            time.sleep(0.05)

    def after(cond: str) -> None:
        for p in spinner:
            p.terminate()
            p.join()
        spinner.clear()
        if cond == "writeback":
            (scratch / "dirty").unlink(missing_ok=True)

    runs: dict[tuple[str, str], list[float]] = {}
    conditions: list[str] = args.only.split(",")
    try:
        for cond in conditions:
            load0 = os.getloadavg()[0]
            s0, t0 = _steal()
            for _ in range(args.rounds):
                for tree, (cmd, e) in trees.items():
                    before(cond)
                    try:
                        r = run_child(CLI, cmd, env=e)
                    finally:
                        after(cond)
                    if r.exit != 0:
                        sys.exit(f"{tree} {cond}: exit {r.exit}: {r.stderr[-500:]}")
                    runs.setdefault((cond, tree), []).append(r.seconds)
            s1, t1 = _steal()
            for tree in trees:
                xs = runs[(cond, tree)]
                print(f"{cond:10s} {tree:5s} median {statistics.median(xs):.3f} s  min {min(xs):.3f}  "
                      f"max {max(xs):.3f}  (n={len(xs)}; load {load0:.1f} -> {os.getloadavg()[0]:.1f}, "
                      f"steal {100 * (s1 - s0) / max(t1 - t0, 1):.1f} %)", flush=True)
    finally:
        for f in scratch.iterdir():
            f.unlink()
        scratch.rmdir()
    print(f"log {args.log}; tree {ROOT}")


if __name__ == "__main__":
    main()
