"""One build at a time per run directory: an exclusive `fcntl.flock` on `.<run dir>.lock` beside it.

Two processes that build the same target, unlearning run, erase run or base model would otherwise
share `<key>.partial/` and its checkpoint files and crash (or publish a mix of both). With the lock,
the second one waits (saying so on one line), then finds the finished run and reuses it.

    with build_lock(final):            # locks <parent>/.<final name>.lock
        if not done(final):
            build(final)

The operating system releases a flock when its process dies, so a killed build never leaves a stale
lock. The lock file itself stays: deleting it while another process waits on it would let a third
process lock a new file of the same name and build at the same time. The wait is bounded by
`timeout` seconds, else by the environment variable OBLIVIATE_LOCK_TIMEOUT, else 6 hours.

Test: PYTHONPATH=src python -m pytest tests/test_locks.py -q
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TIMEOUT_ENV = "OBLIVIATE_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_S = 6 * 3600.0
POLL_S = 0.2


class LockTimeout(TimeoutError):
    """Another process held a build lock for longer than the timeout."""


def lock_path(final: Path) -> Path:
    # Hidden, like the temporary files of `atomic`, so that `runs/unlearn/gd-*` lists runs only.
    return final.with_name(f".{final.name}.lock")


def lock_timeout(timeout: float | None = None) -> float:
    """`timeout`, else OBLIVIATE_LOCK_TIMEOUT (seconds), else the default."""
    if timeout is not None:
        return timeout
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={raw!r}: expected a number of seconds") from None


def _try_lock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def build_lock(final: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive lock of the run directory `final` for the block; wait for it if needed."""
    # Under `accelerate launch` / torchrun every rank runs the build, and the ranks of one launch
    # meet in the training's collectives: if they waited for each other here they would deadlock,
    # so only rank 0 takes the lock and the other ranks follow it.
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    path = lock_path(Path(final))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        if not _try_lock(handle):
            limit = lock_timeout(timeout)
            print(
                f"waiting for {path}: another process is building {Path(final).name}",
                file=sys.stderr,
                flush=True,
            )
            deadline = time.monotonic() + limit
            while not _try_lock(handle):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{path}: another process still builds {Path(final).name} after {limit:g} s "
                        f"(wait longer with {TIMEOUT_ENV}=<seconds>)"
                    )
                time.sleep(POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
