"""Tokenization of (prompt, answer) pairs: labels only on the answer, truncation keeps labels."""

from __future__ import annotations

from types import SimpleNamespace

from obliviate.training_data import IGNORE_INDEX, tokenize_pair

BOS, EOS = 1, 2


class WordTokenizer:
    """One id per word (10 + its position in first-seen order); BOS first unless told otherwise."""

    bos_token_id, eos_token_id = BOS, EOS

    def __init__(self):
        self.vocab: dict[str, int] = {}

    def __call__(self, text: str, add_special_tokens: bool = True):
        ids = [self.vocab.setdefault(w, 10 + len(self.vocab)) for w in text.split()]
        return SimpleNamespace(input_ids=[BOS, *ids] if add_special_tokens else ids)


def test_labels_cover_the_answer_and_eos_only():
    tok = WordTokenizer()
    ex = tokenize_pair(tok, "a b", "c d", max_length=32)
    assert ex.input_ids == (BOS, 10, 11, 12, 13, EOS)
    assert ex.labels == (IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 12, 13, EOS)


def test_a_long_answer_is_cut_on_the_right():
    tok = WordTokenizer()
    ex = tokenize_pair(tok, "p", " ".join("abcdefghij"), max_length=8)
    assert len(ex.input_ids) == 8 and ex.input_ids[:2] == (BOS, 10)
    assert ex.labels[:2] == (IGNORE_INDEX, IGNORE_INDEX) and ex.labels[2:] == ex.input_ids[2:]


def test_a_prompt_that_fills_the_window_loses_its_start_not_the_answer():
    tok = WordTokenizer()
    prompt = " ".join(f"w{i}" for i in range(20))  # ids 10..29 after BOS
    ex = tokenize_pair(tok, prompt, "x y z", max_length=10)
    # answer "x y z" + EOS = 4 tokens fits in half the window: BOS + the prompt's last 5 words + answer
    assert ex.input_ids == (BOS, 25, 26, 27, 28, 29, 30, 31, 32, EOS)
    assert ex.labels == (*[IGNORE_INDEX] * 6, 30, 31, 32, EOS)
    # an answer longer than the window keeps half of it
    ex = tokenize_pair(tok, prompt, " ".join(f"a{i}" for i in range(12)), max_length=10)
    assert len(ex.input_ids) == 10 and sum(label != IGNORE_INDEX for label in ex.labels) == 5
