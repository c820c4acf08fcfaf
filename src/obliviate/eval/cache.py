"""On-disk cache of model passes: greedy generations and per-token statistics.

Keyed by the model's content fingerprint, the exact inputs (prompts or texts), the settings that
change the output (max new tokens, dtype) and a format version; batch size is not in the key,
since batching does not change the result (tested). Sampled generations are never cached (there
are none: evaluation is greedy). Files are written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from obliviate.atomic import write_atomic, write_json_atomic
from obliviate.eval.passes import TokenStats
from obliviate.keys import content_key

CACHE_VERSION = 1


def _key(*parts: object) -> str:
    return content_key([CACHE_VERSION, *parts], 20)


class PassCache:
    """`root=None` disables the cache (every pass recomputes)."""

    def __init__(self, root: Path | None):
        self.root = root

    def generations(
        self, model_fp: str, prompts: Sequence[str], settings: dict, compute: Callable[[], list[str]]
    ) -> list[str]:
        return self.value("generations", model_fp, {"prompts": list(prompts), **settings}, compute)

    def token_stats(
        self, model_fp: str, texts: Sequence[str], settings: dict, compute: Callable[[], list[TokenStats]]
    ) -> list[TokenStats]:
        if self.root is None:
            return compute()
        path = self.root / "token_stats" / f"{model_fp}-{_key(list(texts), settings)}.npz"
        if path.is_file():
            data = np.load(path)
            bounds = np.cumsum([0, *data["lengths"]])
            return [
                TokenStats(data["logps"][a:b], data["mu"][a:b], data["sigma"][a:b])
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        result = compute()

        def write(tmp: Path) -> None:
            with tmp.open("wb") as f:
                np.savez(
                    f,
                    lengths=np.array([len(s.logps) for s in result], dtype=np.int64),
                    logps=np.concatenate([s.logps for s in result]) if result else np.zeros(0),
                    mu=np.concatenate([s.mu for s in result]) if result else np.zeros(0),
                    sigma=np.concatenate([s.sigma for s in result]) if result else np.zeros(0),
                )

        write_atomic(path, write)
        return result

    def value(self, name: str, model_fp: str, settings: dict, compute: Callable[[], object]):
        """A small JSON-able result (a perplexity, a list of known QA ids) of one model."""
        if self.root is None:
            return compute()
        path = self.root / name / f"{model_fp}-{_key(settings)}.json"
        if path.is_file():
            return json.loads(path.read_text())
        result = compute()
        write_json_atomic(path, result, indent=None)
        return result
