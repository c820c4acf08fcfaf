"""Utility: how much general ability a model keeps after unlearning. Two kinds, never mixed.

- `offline` (the default; needs nothing beyond this package and the standard library):
  1. general-knowledge QA on `eval/data/general_qa.jsonl`, ~190 simple world facts written for this
     project. Only the items the BASE model answers correctly count (`select_known_items`, run once);
     the utility is the fraction of those the evaluated model still answers (`qa_utility`). Scoring
     is lenient on form (case, punctuation, articles, trailing words), strict on content;
  2. perplexity on a fixed English text from the standard library's `pydoc_data` (the Python
     language reference), reported as the ratio to the target's perplexity (> 1: worse than the
     target). A diagnostic beside the QA fraction; it does not enter `utility`.
- `mmlu`: MMLU accuracy through lm-evaluation-harness (`pip install lm-eval`, imported only when
  used) with the `cais/mmlu` data from the Hugging Face hub, or from a local copy in its format
  (`utility.mmlu.data_dir`; `obliviate.eval.multiple_choice`). If either is missing,
  `UtilityUnavailable` says which; nothing falls back to `offline` behind the user's back.

`evaluate_utility` returns `utility/kind` with every result, and the report must show it: an
offline QA fraction and an MMLU accuracy are different numbers on different scales.

    items = load_general_qa()
    known_ids = select_known_items(base_subject, items)                     # once, on the base
    target_ppl = perplexity(target_model, tokenizer, reference_text())     # once, on the target
    result = evaluate_utility(subject, UtilityConfig(), known_ids=known_ids, target_ppl=target_ppl)

The QA items and the reference text reach a model through a subject (`obliviate.subjects`: its
`generate` and `perplexity` passes), so a wrapped or quantized model is measured the same way.

Tests: `pytest tests/eval/test_utility.py` (fake models with fixed logits; literal strings).
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import torch

from obliviate.eval.config import MMLUConfig, UtilityConfig
from obliviate.eval.multiple_choice import SuiteUnavailable, lm_eval_modules, multiple_choice_accuracy
from obliviate.keys import text_key
from obliviate.numerics import summed_nll
from obliviate.training_data import IGNORE_INDEX

# Three fixed shots, none of them (question or answer) in the QA set: they show the format
# "short answer, then a new line", which a small instruct model follows without a chat template.
QA_SHOTS: tuple[tuple[str, str], ...] = (
    ("What is the capital of Italy?", "Rome"),
    ("How many wheels does a bicycle have?", "Two"),
    ("Who wrote Pride and Prejudice?", "Jane Austen"),
)

# Prose-heavy sections of the language reference, in this order. `pydoc_data.topics` is generated
# from the docs of the running Python, so the text (and the perplexity) can differ between Python
# minor versions: compare perplexities from one install only (`reference_text_fingerprint`).
REFERENCE_TOPICS: tuple[str, ...] = ("objects", "execmodel", "exceptions", "truth", "types")


class UtilityUnavailable(RuntimeError):
    """The requested utility cannot be computed here; the message says what is missing."""


# ---------------------------------------------------------------------------------------------
# General-knowledge QA


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str
    aliases: tuple[str, ...]


def _qa_file():
    return resources.files("obliviate.eval").joinpath("data/general_qa.jsonl")


@lru_cache(maxsize=1)
def _qa_lines() -> tuple[str, ...]:
    return tuple(line for line in _qa_file().read_text(encoding="utf-8").splitlines() if line.strip())


def load_general_qa(max_items: int | None = None) -> list[QAItem]:
    """The QA set in file order (the first `max_items` if given)."""
    items = []
    for line in _qa_lines():
        row = json.loads(line)
        items.append(QAItem(row["id"], row["question"], row["answer"], tuple(row.get("aliases", ()))))
    return items if max_items is None else items[:max_items]


def qa_set_fingerprint() -> str:
    """sha256 (16 hex) of the QA file, so saved `known_ids` can be matched to the set they came from."""
    return text_key("\n".join(_qa_lines()))


def qa_prompt(question: str) -> str:
    """The fixed 3-shot completion prompt, ending in 'Answer:' (the model writes ' <answer>\\n...')."""
    shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in QA_SHOTS)
    return f"{shots}Question: {question}\nAnswer:"


_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[.,](?=\d)")


def normalize_answer(text: str) -> str:
    """Lowercase; drop apostrophes and separators inside numbers ('1,000' -> '1000', so '100.5'
    does not read as '100'); other punctuation and symbols become spaces ('100°C' -> '100 c',
    'D.C.' -> 'd c'); drop the articles a/an/the; collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("\u2019", "")
    text = _DIGIT_SEPARATOR.sub("", text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def qa_correct(generation: str, answer: str, aliases: Sequence[str] = ()) -> bool:
    """Whether the first non-empty line of `generation` gives `answer` (or an alias).

    Correct if the normalized line equals the normalized gold or starts with it followed by a word
    boundary: 'Paris.' and 'Paris is the capital' match 'Paris'; 'Parisian' does not match and
    '1000' does not match '100'. A gold that normalizes to nothing (e.g. the alias 'A') is ignored,
    since it would match everything."""
    lines = generation.strip().splitlines()
    got = normalize_answer(lines[0]) if lines else ""
    if not got:
        return False
    for gold in (answer, *aliases):
        norm = normalize_answer(gold)
        if norm and (got == norm or got.startswith(norm + " ")):
            return True
    return False


def qa_generations(
    subject, items: Sequence[QAItem], max_new_tokens: int = 8, batch_size: int = 16
) -> list[str]:
    """Greedy continuations of `qa_prompt` for each item, from a subject (`obliviate.subjects`)."""
    return subject.generate([qa_prompt(it.question) for it in items], max_new_tokens, batch_size)


def select_known_items(
    subject, items: Sequence[QAItem], max_new_tokens: int = 8, batch_size: int = 16
) -> list[str]:
    """Ids of the items `model` answers correctly. Run it once on the BASE model: the offline
    utility of any later model is measured on these only, so questions the base never knew
    (or our scoring cannot read) do not count as losses."""
    generations = qa_generations(subject, items, max_new_tokens, batch_size)
    return [
        it.id for it, gen in zip(items, generations, strict=True) if qa_correct(gen, it.answer, it.aliases)
    ]


def qa_utility(
    subject,
    items: Sequence[QAItem],
    known_ids: Sequence[str],
    max_new_tokens: int = 8,
    batch_size: int = 16,
) -> dict:
    """Fraction of the known items the subject still answers, with per-item generations for audit.

    {"qa_fraction": float, "known": int, "correct": int, "items": [{id, question, answer,
    generation, correct}]}. Only the known items are generated."""
    by_id = {it.id: it for it in items}
    missing = [i for i in known_ids if i not in by_id]
    if missing:
        raise ValueError(
            f"{len(missing)} known ids are not in the QA items (first: {missing[0]!r}); were they "
            "selected with another QA set or qa_max_items?"
        )
    if not known_ids:
        raise ValueError("no known QA items: the base model answered none, so the QA fraction is undefined")
    known = [by_id[i] for i in known_ids]
    generations = qa_generations(subject, known, max_new_tokens, batch_size)
    rows = [
        {
            "id": it.id,
            "question": it.question,
            "answer": it.answer,
            "generation": gen,
            "correct": qa_correct(gen, it.answer, it.aliases),
        }
        for it, gen in zip(known, generations, strict=True)
    ]
    correct = sum(r["correct"] for r in rows)
    return {"qa_fraction": correct / len(rows), "known": len(rows), "correct": correct, "items": rows}


# ---------------------------------------------------------------------------------------------
# Perplexity on a fixed English text


def reference_text(n_chars: int = 20_000) -> str:
    """The first `n_chars` characters of the `REFERENCE_TOPICS` sections of `pydoc_data.topics`
    (the Python language reference as plain text), each stripped, joined by blank lines.

    Deterministic for a given Python install; the default 20,000 characters are ~4,500 SmolLM2
    tokens and come from 'objects', 'execmodel', 'exceptions', 'truth' and the start of 'types'."""
    try:
        from pydoc_data.topics import topics
    except ImportError as err:  # some distributions split pydoc_data out of the stdlib package
        raise UtilityUnavailable(
            "the offline perplexity text comes from the standard library's pydoc_data, which this "
            "Python install lacks (install the full stdlib package)"
        ) from err
    text = "\n\n".join(topics[key].strip() for key in REFERENCE_TOPICS if key in topics)
    if len(text) < n_chars:
        raise ValueError(f"reference text has {len(text)} characters here; asked for {n_chars}")
    return text[:n_chars]


def reference_text_fingerprint(n_chars: int = 20_000) -> str:
    """sha256 (16 hex) of `reference_text(n_chars)`: perplexities are comparable only when it matches."""
    return text_key(reference_text(n_chars))


def _windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first_scored) per window; each token is scored once, in the first window that
    reaches it, and only with context from its own window. With stride == window, the first token
    of every window has no context and is not scored."""
    spans = []
    prev_end = 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + window, n_tokens)
        first = max(begin + 1, prev_end)
        if first < end:
            spans.append((begin, end, first))
        prev_end = end
        if end == n_tokens:
            break
    return spans


@torch.inference_mode()
def perplexity(
    model,
    tokenizer,
    text: str,
    window: int = 512,
    stride: int | None = None,
    batch_size: int = 4,
) -> float:
    """exp(mean next-token NLL) of `text`, over windows of `window` tokens starting every `stride`
    (None: `window`, i.e. non-overlapping windows).

    The text is tokenized once without special tokens (no BOS: the tokenizers we use disagree on it,
    and the ratio to the target only needs both models scored the same way). Every scored token
    weighs the same: the mean is over tokens, not over windows. Windows are right-padded into
    batches; padding is masked out of attention and of the loss."""
    stride = window if stride is None else stride
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be in [1, window]; got stride={stride}, window={window}")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    spans = _windows(len(ids), window, stride)
    if not spans:
        raise ValueError("text too short for perplexity: fewer than 2 tokens")
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    total_nll = 0.0
    total_tokens = 0
    for start in range(0, len(spans), batch_size):
        batch = spans[start : start + batch_size]
        width = max(end - begin for begin, end, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        for r, (begin, end, first) in enumerate(batch):
            input_ids[r, : end - begin] = torch.tensor(ids[begin:end])
            attention_mask[r, : end - begin] = 1
            labels[r, first - begin : end - begin] = input_ids[r, first - begin : end - begin]
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        nll, n_tokens = summed_nll(logits, labels.to(device))
        total_nll += float(nll)
        total_tokens += int(n_tokens)
    return math.exp(total_nll / total_tokens)


def ppl_ratio(ppl_model: float, ppl_target: float) -> float:
    """Perplexity of the evaluated model over the target's: 1 unchanged, > 1 worse."""
    if ppl_target <= 0:
        raise ValueError(f"target perplexity must be positive; got {ppl_target}")
    return ppl_model / ppl_target


# ---------------------------------------------------------------------------------------------
# MMLU through lm-evaluation-harness


def _lm_eval():
    """(lm_eval, HFLM, TaskManager), or `UtilityUnavailable` saying how to install lm-eval."""
    try:
        return lm_eval_modules()
    except SuiteUnavailable as err:
        raise UtilityUnavailable(f"utility.kind=mmlu: {err}, or use `--set utility.kind=offline`") from err


def mmlu_accuracy(model, tokenizer, cfg: MMLUConfig) -> float:
    """Accuracy on `cfg.task` (the `mmlu` group: the mean over all the questions of its subjects)
    with lm-eval's `simple_evaluate` on the in-memory model, from the hub or from `cfg.data_dir`
    (`obliviate.eval.multiple_choice`, which WMDP shares).

    lm-eval scores the log-likelihood of the option letters after an 'Answer:' prompt; LUME's
    organizers used an Open-Instruct MMLU script, so the numbers are close in kind but not
    guaranteed digit for digit. Raises `UtilityUnavailable` if lm-eval is not installed or the
    data cannot be loaded; never falls back to another utility or, with a data_dir, to the hub."""
    try:
        return multiple_choice_accuracy(model, tokenizer, cfg)
    except SuiteUnavailable as err:
        raise UtilityUnavailable(f"utility.kind=mmlu: {err}; or use `--set utility.kind=offline`") from err


# ---------------------------------------------------------------------------------------------
# Entry point


def evaluate_utility(
    subject,
    cfg: UtilityConfig,
    *,
    known_ids: Sequence[str] | None,
    target_ppl: float | None,
) -> dict:
    """The utility of a subject (`obliviate.subjects`), always labelled with its kind.

    {"utility/kind": "offline" | "ppl" | "mmlu", "utility": the number that enters the final score
    (offline: the QA fraction; ppl: min(1, target ppl / model ppl); mmlu: the accuracy),
    "utility/qa_fraction", "utility/ppl",
    "utility/ppl_ratio", "utility/mmlu" (None where the kind does not compute them),
    "provenance": what was measured on, "items": per-item QA generations (offline)}.

    `known_ids` (offline, required): `select_known_items` on the base model, same QA set and
    `qa_max_items`. `target_ppl` (offline, optional): the target's `perplexity` on the same text;
    None leaves `utility/ppl_ratio` None. Both are ignored for mmlu. The subject's perplexity goes
    through its pass cache where it has one (the target's was computed for the baseline)."""
    if cfg.kind == "mmlu":
        _lm_eval()  # a missing lm-eval is reported before any model is loaded
        acc = mmlu_accuracy(*subject.hf_model(), cfg.mmlu)
        return {
            "utility/kind": "mmlu",
            "utility": acc,
            "utility/mmlu": acc,
            "utility/qa_fraction": None,
            "utility/ppl": None,
            "utility/ppl_ratio": None,
            "provenance": {"mmlu": cfg.mmlu.model_dump(mode="json")},
            "items": [],
        }
    if cfg.kind == "ppl":
        if target_ppl is None:
            raise ValueError("utility kind 'ppl' needs the target's perplexity")
        text = reference_text(cfg.text_chars)
        ppl = subject.perplexity(text, cfg.ppl_window, cfg.ppl_stride, cfg.ppl_batch_size)
        return {
            "utility/kind": "ppl",
            "utility": min(1.0, target_ppl / ppl),  # 1 = as fluent as the target on general text
            "utility/qa_fraction": None,
            "utility/ppl": ppl,
            "utility/ppl_ratio": ppl_ratio(ppl, target_ppl),
            "utility/mmlu": None,
            "provenance": {
                "text": text_key(text),
                "text_chars": cfg.text_chars,
            },
            "items": [],
        }
    if known_ids is None:
        raise ValueError("offline utility needs known_ids: run select_known_items on the base model first")
    items = load_general_qa(cfg.qa_max_items)
    qa = qa_utility(subject, items, known_ids, cfg.qa_max_new_tokens, cfg.qa_batch_size)
    text = reference_text(cfg.text_chars)
    ppl = subject.perplexity(text, cfg.ppl_window, cfg.ppl_stride, cfg.ppl_batch_size)
    return {
        "utility/kind": "offline",
        "utility": qa["qa_fraction"],
        "utility/qa_fraction": qa["qa_fraction"],
        "utility/ppl": ppl,
        "utility/ppl_ratio": ppl_ratio(ppl, target_ppl) if target_ppl is not None else None,
        "utility/mmlu": None,
        "provenance": {
            "qa_set": qa_set_fingerprint(),
            "qa_known": qa["known"],
            "qa_correct": qa["correct"],
            "text": text_key(text),
            "text_source": f"pydoc_data.topics {list(REFERENCE_TOPICS)}, Python {sys.version.split()[0]}",
            "text_chars": cfg.text_chars,
        },
        "items": qa["items"],
    }
