"""Peak memory of one block of work inside a long-lived process (a bench runs many methods).

`ru_maxrss` only ever grows over the life of a process, so it cannot tell one method's peak from
the previous method's; a background thread samples the resident set size instead (Linux
`/proc/self/statm`; elsewhere it falls back to `ru_maxrss`). CUDA peaks come from torch.

    with PeakMemory() as peak:
        train(...)
    peak.rss_mb, peak.cuda_mb
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

import torch

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_mb() -> float:
    if _STATM.is_file():
        return int(_STATM.read_text().split()[1]) * _PAGE / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux units (KiB); a bound elsewhere


class PeakMemory:
    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.rss_mb = 0.0
        self.cuda_mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.rss_mb = max(self.rss_mb, current_rss_mb())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.rss_mb = round(max(self.rss_mb, current_rss_mb()), 1)
        if torch.cuda.is_available():
            self.cuda_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
