"""Shared benchmark machinery: timed loops, percentiles, result rows and the machine description.

Latency is measured per call with ``time.perf_counter_ns`` and the garbage collector disabled during
the timed loop (a collection landing in one sample says nothing about the code under test). Every
timed loop calls a zero-argument closure; the cost of the timer and of calling an empty closure is
measured in the same run (``Timer.overhead_ns``) and subtracted, so that sub-microsecond figures are
the code's own. Peers are timed by the same loop, in interleaved passes (``Timer.compare``), so the
comparison is like for like and a burst of load from other processes falls on both.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def percentile(sorted_samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of an already sorted list."""
    if not sorted_samples:
        raise ValueError("no samples")
    k = max(0, min(len(sorted_samples) - 1, math.ceil(q / 100 * len(sorted_samples)) - 1))
    return sorted_samples[k]


def _raw_loop(fn: Callable[[], object], n: int) -> list[int]:
    pc = time.perf_counter_ns
    samples = [0] * n
    for k in range(n):
        t0 = pc()
        fn()
        samples[k] = pc() - t0
    return samples


class Timer:
    """Times zero-argument closures call by call; knows its own overhead, measured at start."""

    def __init__(self) -> None:
        def empty() -> None:
            return None

        with no_gc():
            _raw_loop(empty, 20_000)
            runs = [sorted(_raw_loop(empty, 50_000))[25_000] for _ in range(3)]
        self.overhead_ns = min(runs)

    def latency(self, fn: Callable[[], object], n: int, *, warmup: int | None = None) -> Latency:
        """p50/p99/mean of ``n`` calls of ``fn`` in microseconds, net of the timer overhead (one pass)."""
        return self.compare({"_": (fn, n)}, passes=1, warmup=warmup)["_"]

    def compare(self, cases: dict[str, tuple[Callable[[], object], int]], *, passes: int = 5,
                warmup: int | None = None) -> dict[str, Latency]:
        """Time several closures side by side: ``passes`` rounds, each case's share of calls per round.

        The cases take turns (the order rotates each pass), so that whatever else the machine is
        doing lands on all of them alike. A case's figures are those of its pass with the lowest
        median (the pass least disturbed by other processes, as ``timeit`` takes the best of its
        repeats); the pooled figures over every pass are kept beside them.
        """
        for fn, n in cases.values():
            for _ in range(warmup if warmup is not None else max(10, n // 10)):
                fn()
        runs: dict[str, list[list[float]]] = {name: [] for name in cases}
        names = list(cases)
        for p in range(passes):
            k = p % len(names)
            for name in names[k:] + names[:k]:
                fn, n = cases[name]
                with no_gc():
                    samples = _raw_loop(fn, max(1, n // passes))
                runs[name].append(sorted(max(0, x - self.overhead_ns) / 1000 for x in samples))
        out: dict[str, Latency] = {}
        for name, per_pass in runs.items():
            best = min(per_pass, key=lambda xs: percentile(xs, 50))
            pooled = sorted(x for xs in per_pass for x in xs)
            out[name] = Latency(n=len(pooled), p50_us=percentile(best, 50), p99_us=percentile(best, 99),
                                mean_us=statistics.fmean(best), overhead_ns=self.overhead_ns, passes=passes,
                                pooled_p50_us=percentile(pooled, 50), pooled_p99_us=percentile(pooled, 99),
                                pass_p50_us=tuple(round(percentile(xs, 50), 3) for xs in per_pass))
        return out


@dataclass(frozen=True)
class Latency:
    n: int                    # calls timed, over every pass
    p50_us: float             # of the least disturbed pass
    p99_us: float
    mean_us: float
    overhead_ns: int          # subtracted from every sample
    passes: int = 1
    pooled_p50_us: float = 0.0  # over every pass
    pooled_p99_us: float = 0.0
    pass_p50_us: tuple[float, ...] = ()

    def text(self) -> str:
        return f"p50 {fmt_us(self.p50_us)}, p99 {fmt_us(self.p99_us)}"


class no_gc:
    """Disable the cyclic garbage collector for a block (after a collection), re-enable after."""

    def __enter__(self) -> None:
        gc.collect()
        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was:
            gc.enable()


def fmt_us(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    if us >= 100:
        return f"{us:.0f} us"
    if us >= 10:
        return f"{us:.1f} us"
    return f"{us:.2f} us"


def fmt_rate(per_s: float) -> str:
    return f"{per_s:,.0f}/s"


@dataclass
class Row:
    """One line of the report table."""

    section: str
    name: str
    gatekeeper: str          # the figure, as shown
    peer: str = ""           # the peer's figure in the same run, as shown
    goal: str = ""
    met: bool | None = None  # None: no goal, or not measured
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # the raw numbers, for the JSON

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    try:
        import importlib.metadata as md

        versions = {p: md.version(p) for p in ("cedarpy", "c7n", "moto", "boto3", "duckdb")
                    if _has_dist(md, p)}
    except Exception:  # pragma: no cover - metadata is best effort
        versions = {}
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
        "packages": versions,
    }


def _has_dist(md: Any, name: str) -> bool:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class ChildRun:
    """One command run in a child process: its wall time, its own peak resident memory, its output."""

    seconds: float
    peak_rss_mb: float
    exit: int
    stdout: str
    stderr: str
    children_peak_rss_mb: float = 0.0  # the largest of the processes it forked (bench/_peak.py)

    def data(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "peak_rss_mb": self.peak_rss_mb, "exit": self.exit,
                "children_peak_rss_mb": self.children_peak_rss_mb}


def run_child(module: str, args: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT,
              timeout: float = 3600.0) -> ChildRun:
    """Run ``python -m module args`` in a child process: its wall time and its own peak RSS.

    The child runs under ``bench/_peak.py``, which reports the command's peak resident memory
    (VmHWM) as it exits. Output goes to temporary files (no pipe to drain while waiting); a child
    past ``timeout`` seconds is killed (exit -9, no peak).
    """
    with tempfile.TemporaryDirectory(prefix="gk-bench-child-") as tmp:
        peak, out_path, err_path = Path(tmp, "peak"), Path(tmp, "out"), Path(tmp, "err")
        cmd = [sys.executable, str(ROOT / "bench" / "_peak.py"), str(peak), module, *args]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
            # A blocking wait, the timeout kept by a timer: Popen.wait(timeout) polls with sleeps
            # that double up to 50 ms, which added 0-50 ms to every measured command.
            killer = threading.Timer(timeout, proc.kill)
            killer.start()
            try:
                proc.wait()
            finally:
                killer.cancel()
            seconds = time.perf_counter() - t0
        kb = int(peak.read_text(encoding="ascii") or 0) if peak.exists() else 0
        forked = Path(tmp, "peak.children")
        children_kb = int(forked.read_text(encoding="ascii") or 0) if forked.exists() else 0
        return ChildRun(seconds, kb / 1024, proc.returncode, out_path.read_text(encoding="utf-8", errors="replace"),
                        err_path.read_text(encoding="utf-8", errors="replace"), children_kb / 1024)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured child: this checkout's package first on the path, no stray config."""
    path = os.pathsep.join(x for x in (str(ROOT), os.environ.get("PYTHONPATH", "")) if x)
    return {**os.environ, "PYTHONPATH": path, "GATEKEEPER_CONFIG": "", **extra}


_pycache: tempfile.TemporaryDirectory[str] | None = None


def compiled_child_env(**extra: str) -> dict[str, str]:
    """``child_env`` whose children read their modules' bytecode from one ``PYTHONPYCACHEPREFIX``.

    An installed package has its ``.pyc`` files; this checkout run as source, with
    ``PYTHONDONTWRITEBYTECODE`` set (some environments set it), compiles every module it imports in
    every child: 15-25 ms more a command than a user pays. The prefix is one folder for the whole
    bench run, written by the first child that imports a module: run a measured command once
    uncounted first (``run_warm``). Every module, the dependencies' too, is then read from the prefix.
    """
    global _pycache
    if _pycache is None:
        _pycache = tempfile.TemporaryDirectory(prefix="gk-bench-pyc-")
    env = child_env(PYTHONPYCACHEPREFIX=_pycache.name, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_warm(module: str, args: list[str], *, env: dict[str, str], cwd: Path = ROOT,
             timeout: float = 3600.0) -> ChildRun:
    """``run_child`` twice, the first uncounted: it writes the bytecode (``compiled_child_env``) and
    brings the files the command reads into the OS cache, as a second run of a command finds them."""
    run_child(module, args, env=env, cwd=cwd, timeout=timeout)
    return run_child(module, args, env=env, cwd=cwd, timeout=timeout)


def run_median(module: str, args: list[str], *, env: dict[str, str], runs: int = 5, cwd: Path = ROOT,
               timeout: float = 3600.0) -> tuple[ChildRun, list[float]]:
    """``run_child`` once uncounted (as ``run_warm``), then ``runs`` times: the run of median time, and
    every counted run's seconds in order. For a command of a tenth of a second on a shared machine,
    where one run can read 20-40 ms more than the next (see docs/benchmarks.md, i19-ranges)."""
    run_child(module, args, env=env, cwd=cwd, timeout=timeout)
    done = [run_child(module, args, env=env, cwd=cwd, timeout=timeout) for _ in range(runs)]
    return sorted(done, key=lambda r: r.seconds)[len(done) // 2], [r.seconds for r in done]
