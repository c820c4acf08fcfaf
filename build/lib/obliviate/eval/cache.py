"""On-disk cache of model passes: greedy generations, sampled generations, per-token statistics,
answer log-probs and small values (a perplexity, a list of known QA ids).

Keyed by the subject's content fingerprint, the exact inputs (prompts, texts, answers), the
settings that change the output (max new tokens, dtype, device) and a format version; batch size
is not in the key, since batching does not change the result (tested). Sampled generations are
cached apart from greedy ones, keyed by every sampling setting including the seed: with a seeded
generator per sample they are as reproducible as greedy ones. Files are written atomically.
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


def _load_ragged(path: Path, fields: Sequence[str]) -> list[tuple[np.ndarray, ...]]:
    """Rows of arrays saved by `_save_ragged`: one tuple (one array per field) per row."""
    data = np.load(path)
    bounds = np.cumsum([0, *data["lengths"]])
    return [tuple(data[f][a:b] for f in fields) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _save_ragged(path: Path, rows: Sequence[tuple[np.ndarray, ...]], fields: Sequence[str]) -> None:
    """Each field's arrays concatenated over the rows, with the rows' lengths."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.savez(
                f,
                lengths=np.array([len(row[0]) for row in rows], dtype=np.int64),
                **{
                    name: np.concatenate([row[i] for row in rows]) if rows else np.zeros(0)
                    for i, name in enumerate(fields)
                },
            )

    write_atomic(path, write)


class PassCache:
    """`root=None` disables the cache (every pass recomputes)."""

    def __init__(self, root: Path | None):
        self.root = root

    def generations(
        self, model_fp: str, prompts: Sequence[str], settings: dict, compute: Callable[[], list[str]]
    ) -> list[str]:
        return self.value("generations", model_fp, {"prompts": list(prompts), **settings}, compute)

    def samples(
        self, model_fp: str, prompts: Sequence[str], settings: dict, compute: Callable[[], list[list[str]]]
    ) -> list[list[str]]:
        """k sampled generations per prompt, as JSON lists of lists."""
        return self.value("samples", model_fp, {"prompts": list(prompts), **settings}, compute)

    def token_stats(
        self, model_fp: str, texts: Sequence[str], settings: dict, compute: Callable[[], list[TokenStats]]
    ) -> list[TokenStats]:
        fields = ("logps", "mu", "sigma")
        rows = self._ragged(
            "token_stats",
            model_fp,
            list(texts),
            settings,
            fields,
            lambda: [(s.logps, s.mu, s.sigma) for s in compute()],
        )
        return [TokenStats(*row) for row in rows]

    def answer_logprobs(
        self,
        model_fp: str,
        pairs: Sequence[tuple[str, str]],
        settings: dict,
        compute: Callable[[], list[np.ndarray]],
    ) -> list[np.ndarray]:
        inputs = [list(p) for p in pairs]
        rows = self._ragged(
            "answer_logprobs", model_fp, inputs, settings, ("logps",), lambda: [(a,) for a in compute()]
        )
        return [row[0] for row in rows]

    def _ragged(self, name, model_fp, inputs, settings, fields, compute) -> list[tuple[np.ndarray, ...]]:
        if self.root is None:
            return compute()
        path = self.root / name / f"{model_fp}-{_key(inputs, settings)}.npz"
        if path.is_file():
            return _load_ragged(path, fields)
        rows = compute()
        _save_ragged(path, rows, fields)
        return rows

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
