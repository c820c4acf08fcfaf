"""Content keys: the one way a cache or run directory is named after what produced it.

    content_key({"base": fp, "train": cfg.model_dump()})   # -> 16 hex digits
    text_key("\n".join(lines))                             # -> 16 hex digits of a text

A key is the SHA-256 of the payload's canonical JSON (sorted keys; values JSON cannot encode, such
as paths, written as their `str`), cut to `length` hex digits. Changing how a key is computed
invalidates every cache built before, so this is the only place that computes one.
"""

from __future__ import annotations

import hashlib
import json


def text_key(text: str, length: int = 16) -> str:
    """The first `length` hex digits of the SHA-256 of `text` (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def content_key(payload: object, length: int = 16) -> str:
    """`text_key` of the payload's canonical JSON (sorted keys, `str` for other values)."""
    return text_key(json.dumps(payload, sort_keys=True, default=str), length)
