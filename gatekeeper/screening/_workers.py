"""Work shared out to forked worker processes, results taken back in order (``screening load``).

A re-screening of every stored profile is CPU-bound Python: one process uses one core. After the
list's index is built, :func:`ordered_map` forks ``workers`` processes (``fork``: each shares the
parent's index, copy on write, so nothing is pickled but the work and its results), sends them
chunks and yields each chunk's result in the order the chunks came. What runs in the workers is
pure (no store, no audit log): the parent keeps the one transaction and writes everything.

Fail closed: an exception raised in a worker is raised again in the parent; a worker that dies
(killed, out of memory) raises :class:`gatekeeper.errors.ScreeningError`. Either way the parent's
transaction rolls back and nothing is changed.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from gatekeeper.errors import ScreeningError

K = TypeVar("K")  # what the parent keeps beside a chunk (never sent)
A = TypeVar("A")  # a chunk, as sent to a worker
R = TypeVar("R")  # a chunk's result

# The work of each running map, by token: set before the fork, so the workers find it without its
# (unpicklable) closure being sent; several maps may run at once in one process (threads).
_WORK: dict[int, Callable[[Any], Any]] = {}
_tokens = itertools.count()


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which a container or ``taskset`` narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _run(token: int, chunk: Any) -> Any:
    return _WORK[token](chunk)


def _detach_std_streams() -> None:
    """In a worker, first: its own stdout and stderr. The inherited ones may have been locked by
    another of the parent's threads at the fork (rich's progress bar refreshes from a thread), and a
    worker flushes them as it exits: it would wait forever. Workers print nothing; their errors
    go back to the parent with their results."""
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (open until the worker exits)


def ordered_map(fn: Callable[[A], R], chunks: Iterable[tuple[K, A]], workers: int) -> Iterator[tuple[K, R]]:
    """``(keep, fn(chunk))`` for each ``(keep, chunk)`` of ``chunks``, in order, computed by ``workers`` forked
    processes; ``chunks`` is read as the workers need it (a few chunks a worker in flight), so memory
    holds a window, not the whole.

    With one worker, or when there is only one chunk, ``fn`` runs here and nothing is forked.
    """
    it = iter(chunks)
    head = list(itertools.islice(it, 2))
    if workers <= 1 or len(head) < 2 or not hasattr(os, "fork"):
        for keep, chunk in itertools.chain(head, it):
            yield keep, fn(chunk)
        return
    token = next(_tokens)
    _WORK[token] = fn
    # Objects that exist now are never collected in the workers: the collector would write to each
    # object's header and so copy every page of the index into every worker.
    thawed = gc.get_freeze_count() == 0  # someone else's freeze (a Lambda's cold start) is left alone
    gc.freeze()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_detach_std_streams)
    window: deque[tuple[K, Future[R]]] = deque()
    try:
        for keep, chunk in itertools.chain(head, it):
            window.append((keep, pool.submit(_run, token, chunk)))
            if len(window) >= 3 * workers:
                done, future = window.popleft()
                yield done, future.result()
        while window:
            done, future = window.popleft()
            yield done, future.result()
    except BrokenProcessPool as exc:
        raise ScreeningError(f"a screening worker process died ({exc}); nothing was changed") from exc
    finally:
        # On any failure (a worker's exception, the parent's write failing, the generator closed
        # early) the queued chunks are dropped and the workers stopped before the caller rolls back.
        pool.shutdown(wait=True, cancel_futures=True)
        _WORK.pop(token, None)
        if thawed:
            gc.unfreeze()
