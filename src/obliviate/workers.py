"""Independent jobs on forked worker processes of one thread each (the robustness attacks' rows).

On a CPU, the passes the attacks make are small: a decoding step of a 135M model over 40 rows runs
its matmuls near the cores' throughput for barely a third of its time (the rest is Python and one
row's memory-bound reads), and a relearning step's matmuls are small too. Two threads therefore
make one pass only ~1.3x faster than one thread (2-core AVX-512 EPYC: 7.6 s against 10.2 s for 40
forget prompts; 6 relearning steps 16.3 s against 20.2 s), while two one-thread processes run two
passes side by side in the time of one (9.6 s each). Rows are independent, so each job is a row.

Each job runs in a process forked for it alone, so a job is any function of the parent's state
(closures over models, configs and caches need no pickling) and all it allocated goes back to the
system when it ends: a long-lived worker would keep every job's heap, and memory, not cores, is
what limits the count (a row's attacks take 5-7 GB at 135M). Before forking, the parent hands its
freed heap back (`malloc_trim`) and freezes its objects out of the garbage collector, so children
share its pages instead of copying them (a bench's parent holds ~7 GB of freed training memory
otherwise, which each child copied as it wrote). A child sets torch to one thread first: no OpenMP
team, whose threads do not survive a fork, starts in it (as in torch's DataLoader workers). Results
come back pickled over a pipe. A child that dies (killed for memory) fails the call with its exit
code instead of hanging it. Fork is Linux's: elsewhere, and with one worker, jobs run in this
process.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any


def fork_available() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes the kernel can give without swapping (`MemAvailable`), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def worker_count(requested: int, jobs: int, bytes_per_worker: int) -> int:
    """`requested` workers (0: as many as there are usable cores and jobs, and as fit in the
    available memory at `bytes_per_worker` each), 1 where fork is unavailable."""
    if requested:
        if requested > 1 and not fork_available():
            raise ValueError(f"{requested} workers need fork (Linux); use 1 (or 0: automatic)")
        return max(1, min(requested, jobs))
    if not fork_available():
        return 1
    return_free_memory()
    memory = available_memory()
    fit = memory // bytes_per_worker if memory is not None and bytes_per_worker > 0 else jobs
    return max(1, min(usable_cores(), jobs, fit))


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc
        return None


def return_free_memory() -> None:
    """Collect garbage and give the heap's free pages back to the system (glibc's `malloc_trim`;
    a no-op elsewhere), so that `available_memory` counts them and forked children share less."""
    gc.collect()
    if (libc := _glibc()) is not None:
        libc.malloc_trim(0)


def _keep_freed_memory() -> None:
    """glibc: serve large blocks from the heap and never trim it, so that a step's freed gradients
    and activations are reused by the next step instead of unmapped and faulted in (zeroed) again;
    the process lives one job, so what it keeps goes back when it ends."""
    if (libc := _glibc()) is not None:
        libc.mallopt(-4, 0)  # M_MMAP_MAX
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD


def _child(job: Callable[[int], Any], index: int, conn: Connection) -> None:
    import torch

    torch.set_num_threads(1)
    _keep_freed_memory()
    try:
        result = ("ok", job(index))
    except BaseException as error:  # sent to the parent, raised there
        result = ("error", error, traceback.format_exc())
    try:
        conn.send(result)
    except Exception as error:  # an unpicklable result or exception
        conn.send(("error", RuntimeError(f"job {index}: its result cannot be sent back: {error}"), ""))
    conn.close()


def run_jobs(
    job: Callable[[int], Any], count: int, workers: int, on_done: Callable[[int, Any], None]
) -> None:
    """`on_done(i, job(i))` for i in range(count), as each job ends (in order with one worker).
    With `workers` > 1 each job runs in a one-thread process forked for it, at most `workers` at
    once; a job's exception is raised here, after the other running jobs are stopped."""
    if workers <= 1 or count <= 1:
        for i in range(count):
            on_done(i, job(i))
        return
    context = multiprocessing.get_context("fork")
    return_free_memory()
    gc.freeze()  # the collector would write to every object it scans, copying the pages
    running: dict[Connection, tuple[int, multiprocessing.process.BaseProcess]] = {}
    try:
        waiting = list(range(count))
        while waiting or running:
            while waiting and len(running) < workers:
                index = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(job, index, send))
                process.start()
                send.close()  # the child's end: EOF here once the child is gone
                running[receive] = (index, process)
            for conn in wait(list(running)):
                index, process = running.pop(conn)
                try:
                    message = conn.recv()
                except EOFError:
                    process.join()
                    raise RuntimeError(
                        f"job {index}: its worker process died (exit code {process.exitcode}; "
                        "-9 is usually the system out of memory: set fewer workers)"
                    ) from None
                finally:
                    conn.close()
                process.join()
                if message[0] == "error":
                    _, error, trace = message
                    raise error from RuntimeError(f"in the worker of job {index}:\n{trace}")
                on_done(index, message[1])
    finally:
        for _, process in running.values():
            process.kill()
            process.join()
        gc.unfreeze()
