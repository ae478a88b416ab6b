"""Run a Python module as ``__main__`` and write its own peak resident memory (VmHWM) to a file at exit.

    python bench/_peak.py OUT_FILE MODULE [ARG ...]

``OUT_FILE.children`` gets the largest peak RSS of the processes it forked and waited for (the
workers of ``screening load``; ``getrusage(RUSAGE_CHILDREN)``), 0 when none: their pages shared
with the command (copy on write) count in each, so the command's and theirs added are an upper bound.

The parent cannot take the figure from ``wait4``: Linux carries a process's peak RSS across fork and
exec, so a child started by a large benchmark process would report the parent's size. ``VmHWM`` in
``/proc/self/status`` belongs to the memory map of the program after exec, so it is the command's own.
"""

from __future__ import annotations

import atexit
import resource
import runpy
import sys
from pathlib import Path


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    out, module, *args = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(str(peak_kb()), encoding="ascii"))
    atexit.register(lambda: Path(out + ".children").write_text(
        str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss), encoding="ascii"))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
