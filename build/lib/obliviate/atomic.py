"""Atomic writes: a file or directory is either absent, the old version or the new one, never
half-written, because everything is written to a temporary sibling and renamed into place.

    write_json_atomic(out / "bench.json", summary)
    write_atomic(path, lambda tmp: np.savez(tmp, ...))      # any writer of a file path
    tmp = temporary_dir(final); ...fill tmp...; publish_dir(tmp, final)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def _sibling(path: Path, tag: str = "tmp") -> Path:
    # The pid keeps two processes writing the same path from sharing a temporary file.
    return path.with_name(f".{path.name}.{tag}{os.getpid()}")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary sibling of `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: Path, payload: object, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(payload, indent=indent, default=str))


def temporary_dir(final: Path) -> Path:
    """A fresh, empty temporary sibling directory of `final` (fill it, then `publish_dir`)."""
    tmp = Path(final).with_name(Path(final).name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def publish_dir(tmp: Path, final: Path) -> Path:
    """Rename the complete directory `tmp` to `final`, replacing an older `final`: the old one is
    moved aside first and deleted after, so an interruption leaves one of them whole on disk."""
    if not final.exists():
        tmp.rename(final)
        return final
    old = final.with_name(final.name + f".old{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old)
    return final
