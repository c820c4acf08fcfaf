"""Tests for the synthetic TOFU and MUSE-News look-alikes (src/obliviate/data/synthetic_tofu.py,
src/obliviate/data/synthetic_muse.py). Fast: no model, each benchmark takes milliseconds.

Run: `.venv/bin/python -m pytest tests/data/test_synthetic_tofu_muse.py -q`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from pydantic import ValidationError

from obliviate.data.records import Benchmark, QAItem, Split
from obliviate.data.synthetic_muse import (
    MAX_ARTICLES,
    MIN_VERBMEM_CONTINUATION_WORDS,
    QUESTIONS_PER_ARTICLE,
    SyntheticMuseConfig,
    generate_muse,
)
from obliviate.data.synthetic_tofu import (
    FIRST_NAMES,
    MAX_AUTHORS,
    MAX_QUESTIONS,
    SyntheticTofuConfig,
    generate_tofu,
)
from obliviate.data.synthetic_tofu_words import CORE_QUESTIONS, QUESTION_TEMPLATES, REAL_BOOKS, WORLD_FACTS
from obliviate.data.synthetic_words import SURNAMES
from obliviate.data.tofu import prompt

FULL_NAME = re.compile(rf"\b(?:{'|'.join(FIRST_NAMES)}) (?:{'|'.join(SURNAMES)})\b")
TOFU_SMALL = SyntheticTofuConfig(seed=5, authors=8, forget_authors=2, questions_per_author=10, retain_eval=15)


def train(bench: Benchmark) -> Split:
    return bench.split("train")


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def tofu() -> Benchmark:
    return generate_tofu(SyntheticTofuConfig(seed=3))


@pytest.fixture(scope="module")
def muse() -> Benchmark:
    return generate_muse(SyntheticMuseConfig(seed=3))


# --- both -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generate", "cfg", "other"),
    [
        (generate_tofu, TOFU_SMALL, TOFU_SMALL.model_copy(update={"seed": 6})),
        (generate_muse, SyntheticMuseConfig(seed=5), SyntheticMuseConfig(seed=6)),
    ],
)
def test_same_config_gives_the_same_benchmark_and_another_seed_another(generate, cfg, other) -> None:
    first, second = generate(cfg), generate(cfg.model_copy())
    assert first == second
    assert first.fingerprint() == second.fingerprint()
    assert generate(other).fingerprint() != first.fingerprint()


def test_output_does_not_depend_on_the_hash_seed() -> None:
    # Set or dict iteration over strings would vary with PYTHONHASHSEED; fresh processes show it doesn't.
    code = (
        "from obliviate.data.synthetic_tofu import SyntheticTofuConfig, generate_tofu;"
        "from obliviate.data.synthetic_muse import SyntheticMuseConfig, generate_muse;"
        "print(generate_tofu(SyntheticTofuConfig(seed=2)).fingerprint(),"
        " generate_muse(SyntheticMuseConfig(seed=2)).fingerprint())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1


# --- TOFU -----------------------------------------------------------------------------------------


def test_tofu_sizes_match_the_config() -> None:
    cfg = SyntheticTofuConfig(
        seed=1,
        authors=7,
        forget_authors=3,
        questions_per_author=9,
        perturbed_answers=4,
        retain_eval=13,
        real_authors=41,
        world_facts=42,
        holdout_authors=3,
    )
    bench = generate_tofu(cfg)
    split = train(bench)
    assert bench.protocol == "tofu"
    assert bench.name == "synthetic-tofu-s1-a7-f3"
    assert (len(split.forget), len(split.retain)) == (3, 4)
    assert all(len(doc.prompts) == 9 for doc in (*split.forget, *split.retain))
    sizes = {name: len(items) for name, items in split.eval_sets.items()}
    assert sizes == {"forget": 27, "retain": 13, "real_authors": 41, "world_facts": 42, "holdout": 27}
    for name in ("forget", "retain", "real_authors", "world_facts", "holdout"):
        assert all(len(item.perturbed_answers) == 4 for item in split.eval_sets[name])


def test_tofu_without_holdout_authors_has_no_holdout_set() -> None:
    split = train(generate_tofu(TOFU_SMALL.model_copy(update={"holdout_authors": 0})))
    assert "holdout" not in split.eval_sets


def test_tofu_forget_authors_are_the_last_and_all_their_questions_are_scored(tofu: Benchmark) -> None:
    split = train(tofu)
    forget_ids = [doc.id for doc in split.forget]
    retain_ids = [doc.id for doc in split.retain]
    assert forget_ids == ["tofu-a018", "tofu-a019"]
    assert retain_ids == [f"tofu-a{n:03d}" for n in range(18)]
    scored = [(item.question, item.answer) for item in split.eval_sets["forget"]]
    trained = [(p.input, p.output) for doc in split.forget for p in doc.prompts]
    assert [(prompt(q), a) for q, a in scored] == trained


def test_tofu_retain_questions_are_retain_authors_spread_evenly(tofu: Benchmark) -> None:
    split = train(tofu)
    retain_ids = {doc.id for doc in split.retain}
    per_author = Counter(item.id[: len("tofu-a000")] for item in split.eval_sets["retain"])
    assert set(per_author) <= retain_ids
    assert max(per_author.values()) - min(per_author.values()) <= 1
    trained = {(p.input, p.output) for doc in split.retain for p in doc.prompts}
    assert all((prompt(item.question), item.answer) in trained for item in split.eval_sets["retain"])


def test_tofu_ids_are_unique_and_well_formed(tofu: Benchmark) -> None:
    split = train(tofu)
    for name, items in split.eval_sets.items():
        ids = [item.id for item in items]
        assert len(set(ids)) == len(ids), name
    author_questions = [item for name in ("forget", "retain", "holdout") for item in split.eval_sets[name]]
    assert all(re.fullmatch(r"tofu-a\d{3}q\d{2}", item.id) for item in author_questions)
    assert all(re.fullmatch(r"real-\d{2}", item.id) for item in split.eval_sets["real_authors"])
    assert all(re.fullmatch(r"world-\d{2}", item.id) for item in split.eval_sets["world_facts"])


def test_tofu_perturbed_answers_are_wrong_and_distinct_and_paraphrases_differ(tofu: Benchmark) -> None:
    for name, items in train(tofu).eval_sets.items():
        for item in items:
            assert item.answer not in item.perturbed_answers, item.id
            assert len(set(item.perturbed_answers)) == len(item.perturbed_answers), item.id
            if name in ("forget", "retain", "holdout"):
                assert item.paraphrased_answer and item.paraphrased_answer != item.answer, item.id


def test_tofu_perturbed_answer_keeps_the_sentence_and_changes_one_fact(tofu: Benchmark) -> None:
    # TOFU perturbs the paraphrased answer: here the same sentence, one value swapped.
    for item in train(tofu).eval_sets["forget"]:
        for wrong in item.perturbed_answers:
            shared_start = len(os.path.commonprefix([item.paraphrased_answer, wrong]))
            shared_end = len(os.path.commonprefix([item.paraphrased_answer[::-1], wrong[::-1]]))
            assert shared_start + shared_end >= len(item.paraphrased_answer) // 3, (
                item.paraphrased_answer,
                wrong,
            )


def author_name(items: list[tuple[str, str]]) -> str:
    """The author a list of (question, answer) is about: the answer of its full-name question (every
    author is asked it: `CORE_QUESTIONS`)."""
    answer = next(a for q, a in items if "What is the full name of the author" in q)
    return answer.removesuffix(".").rsplit(" is ", 1)[1]


def test_tofu_authors_are_distinct_people(tofu: Benchmark) -> None:
    split = train(tofu)
    authors = [*split.forget, *split.retain]
    names = [author_name([(p.input, p.output) for p in doc.prompts]) for doc in authors]
    holdout = split.eval_sets["holdout"]
    names += [
        author_name([(i.question, i.answer) for i in holdout if i.id.startswith(a)])
        for a in ("tofu-a020", "tofu-a021")
    ]
    assert len(set(names)) == len(names) == 22
    for doc, name in zip(authors, names, strict=False):
        assert FULL_NAME.findall(doc.text) and set(FULL_NAME.findall(doc.text)) == {name}


def test_tofu_holdout_authors_appear_in_no_training_document(tofu: Benchmark) -> None:
    split = train(tofu)
    holdout = split.eval_sets["holdout"]
    holdout_names = {n for item in holdout for n in FULL_NAME.findall(item.answer)}
    assert len(holdout_names) == 2
    training = "\n".join(doc.text for doc in (*split.forget, *split.retain))
    assert not any(name in training for name in holdout_names)
    scored = [item for name in ("forget", "retain") for item in split.eval_sets[name]]
    assert not any(
        name in wrong for item in scored for wrong in item.perturbed_answers for name in holdout_names
    )


def test_tofu_every_author_gets_the_core_questions() -> None:
    cfg = TOFU_SMALL.model_copy(update={"questions_per_author": len(CORE_QUESTIONS), "retain_eval": 4})
    split = train(generate_tofu(cfg))
    core = [t for t in QUESTION_TEMPLATES if t.key in CORE_QUESTIONS]
    for doc in (*split.forget, *split.retain):
        asked = [p.input for p in doc.prompts]
        assert len(asked) == len(core)
        for text, template in zip(asked, core, strict=True):
            assert text.startswith("Question: " + template.question.split("{", 1)[0])


def test_tofu_answers_are_one_short_sentence(tofu: Benchmark) -> None:
    answers = [p.output for doc in (*train(tofu).forget, *train(tofu).retain) for p in doc.prompts]
    lengths = [words(a) for a in answers]
    assert all(5 <= n <= 25 for n in lengths)
    assert 8 <= sum(lengths) / len(lengths) <= 16
    assert all(a.endswith(".") and a.count(". ") == 0 for a in answers)


def test_tofu_real_world_lists_are_long_enough() -> None:
    assert len(REAL_BOOKS) >= 40 and len(WORLD_FACTS) >= 40
    writers = [writer for _, writer in REAL_BOOKS]
    assert len(set(writers)) == len(writers)
    assert all(len(set(f.wrong)) == 5 and f.answer not in f.wrong for f in WORLD_FACTS)


@pytest.mark.parametrize(
    "bad",
    [
        {"forget_authors": 20},
        {"authors": 3, "forget_authors": 5},
        {"forget_authors": 0},
        {"questions_per_author": len(CORE_QUESTIONS) - 1},
        {"questions_per_author": MAX_QUESTIONS + 1},
        {"perturbed_answers": 0},
        {"perturbed_answers": 6},
        {"retain_eval": 18 * 20 + 1},
        {"real_authors": len(REAL_BOOKS) + 1},
        {"world_facts": 0},
        {"holdout_authors": -1},
        {"authrs": 5},
    ],
)
def test_tofu_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValidationError):
        SyntheticTofuConfig(**bad)


def test_tofu_config_errors_say_what_to_change() -> None:
    with pytest.raises(ValidationError, match=r"forget_authors \(20\) must be fewer than authors \(20\)"):
        SyntheticTofuConfig(forget_authors=20)
    with pytest.raises(ValidationError, match=r"retain_eval \(400\) is more than the 360 retain questions"):
        SyntheticTofuConfig(retain_eval=400)


# --- MUSE -----------------------------------------------------------------------------------------


def articles(split: Split) -> dict[str, str]:
    return {doc.id: doc.text for doc in (*split.forget, *split.retain)} | {
        d.id: d.text for d in split.nonmember
    }


def article_of(item: QAItem) -> str:
    return item.id.rsplit("q", 1)[0]


def test_muse_sizes_match_the_config() -> None:
    cfg = SyntheticMuseConfig(
        seed=2, forget_articles=5, retain_articles=7, holdout_articles=4, qa_per_article=3, icl_examples=13
    )
    bench = generate_muse(cfg)
    split = train(bench)
    assert bench.protocol == "muse"
    assert bench.name == "synthetic-muse-s2-f5-r7"
    assert cfg.icl_articles() == -(-13 // QUESTIONS_PER_ARTICLE)
    assert (len(split.forget), len(split.retain)) == (5 + cfg.icl_articles(), 7 + cfg.icl_articles())
    assert (len(split.member), len(split.nonmember)) == (5, 4)
    sizes = {name: len(items) for name, items in split.eval_sets.items()}
    assert sizes == {
        "verbmem": 5,
        "knowmem_forget": 15,
        "knowmem_forget_icl": 13,
        "knowmem_retain": 21,
        "knowmem_retain_icl": 13,
    }


def test_muse_ids_are_unique_and_well_formed(muse: Benchmark) -> None:
    split = train(muse)
    ids = list(articles(split))
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"news-[frh]\d{3}", i) for i in ids)
    assert all(doc.id.startswith("news-f") for doc in split.forget)
    assert all(doc.id.startswith("news-r") for doc in split.retain)
    assert all(doc.id.startswith("news-h") for doc in split.nonmember)
    for name, items in split.eval_sets.items():
        item_ids = [item.id for item in items]
        assert len(set(item_ids)) == len(item_ids), name


def test_muse_articles_are_news_sized_with_a_headline(muse: Benchmark) -> None:
    for text in articles(train(muse)).values():
        story, facts = text.split("\nKey facts:\n")
        assert 110 <= words(story) <= 210
        headline, *paragraphs = story.split("\n")
        assert words(headline) <= 16 and len(paragraphs) >= 4
        assert "\n\n" not in text and "{" not in text
        assert facts.count("Question: ") == facts.count("\nAnswer: ") == 6  # every question, answered


def test_muse_key_facts_can_be_left_out() -> None:
    prose = generate_muse(SyntheticMuseConfig(key_facts=False))
    with_facts = generate_muse(SyntheticMuseConfig())
    for doc, other in zip(train(prose).forget, train(with_facts).forget, strict=True):
        assert "Key facts" not in doc.text and other.text.startswith(doc.text + "\nKey facts:\n")


def test_muse_knowmem_answers_are_short_spans_of_their_article(muse: Benchmark) -> None:
    split = train(muse)
    texts = articles(split)
    for name in ("knowmem_forget", "knowmem_forget_icl", "knowmem_retain", "knowmem_retain_icl"):
        for item in split.eval_sets[name]:
            assert item.answer in texts[article_of(item)], item.id
            assert words(item.answer) <= 4, item.answer
            assert item.answer not in item.question, item.id


def test_muse_questions_come_from_the_right_articles(muse: Benchmark) -> None:
    split = train(muse)
    member_ids = [m.id for m in split.member]
    assert [item.id for item in split.eval_sets["verbmem"]] == member_ids
    assert {article_of(i) for i in split.eval_sets["knowmem_forget"]} == set(member_ids)
    forget_ids = {doc.id for doc in split.forget}
    retain_ids = {doc.id for doc in split.retain}
    scored_retain = {article_of(i) for i in split.eval_sets["knowmem_retain"]}
    assert scored_retain <= retain_ids and len(scored_retain) == 16
    # The in-context examples are trained on, on their own side, and never on a scored article.
    for side, trained, scored in (
        ("forget", forget_ids, set(member_ids)),
        ("retain", retain_ids, scored_retain),
    ):
        icl = {article_of(i) for i in split.eval_sets[f"knowmem_{side}_icl"]}
        assert icl <= trained and not icl & scored
        scored_questions = {i.question for i in split.eval_sets[f"knowmem_{side}"]}
        assert not scored_questions & {i.question for i in split.eval_sets[f"knowmem_{side}_icl"]}


def test_muse_holdout_articles_are_never_trained_on(muse: Benchmark) -> None:
    split = train(muse)
    trained = [doc.text for doc in (*split.forget, *split.retain)]
    training = "\n".join(trained)
    for holdout in split.nonmember:
        assert holdout.text not in trained
        for name in FULL_NAME.findall(holdout.text):
            assert name not in training, (holdout.id, name)
    assert {m.text for m in split.member} <= {doc.text for doc in split.forget}


def test_muse_articles_share_no_person(muse: Benchmark) -> None:
    seen: dict[str, str] = {}
    for article_id, text in articles(train(muse)).items():
        for name in set(FULL_NAME.findall(text)):
            assert name not in seen, (name, seen.get(name), article_id)
            seen[name] = article_id
        first_line = text.split("\n", 1)[0]
        assert first_line not in seen
        seen[first_line] = article_id


def test_muse_verbmem_prompt_and_answer_rebuild_the_article(muse: Benchmark) -> None:
    split = train(muse)
    texts = articles(split)
    for item in split.eval_sets["verbmem"]:
        assert item.question + " " + item.answer == texts[item.id]
        assert abs(words(item.question) - 40) <= 3
        assert words(item.answer) >= MIN_VERBMEM_CONTINUATION_WORDS


def test_muse_verbmem_words_sets_the_prompt_length() -> None:
    split = train(generate_muse(SyntheticMuseConfig(verbmem_words=70)))
    for item in split.eval_sets["verbmem"]:
        assert words(item.question) >= 60
        assert words(item.answer) >= MIN_VERBMEM_CONTINUATION_WORDS


@pytest.mark.parametrize(
    "bad",
    [
        {"forget_articles": 0},
        {"holdout_articles": 0},
        {"qa_per_article": 0},
        {"qa_per_article": QUESTIONS_PER_ARTICLE + 1},
        {"icl_examples": 0},
        {"icl_examples": 21},
        {"verbmem_words": 9},
        {"verbmem_words": 81},
        {"retain_articles": 190},
        {"articles": 5},
    ],
)
def test_muse_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValidationError):
        SyntheticMuseConfig(**bad)


def test_muse_config_error_says_what_to_change() -> None:
    with pytest.raises(ValidationError, match=r"lower forget_articles, retain_articles or holdout_articles"):
        SyntheticMuseConfig(retain_articles=190)


def test_the_largest_configs_do_not_run_out_of_names() -> None:
    tofu = SyntheticTofuConfig(
        authors=MAX_AUTHORS, forget_authors=20, holdout_authors=MAX_AUTHORS, perturbed_answers=5
    )
    assert len(train(generate_tofu(tofu)).eval_sets["holdout"]) == MAX_AUTHORS * 20
    muse = SyntheticMuseConfig(forget_articles=60, retain_articles=100, holdout_articles=MAX_ARTICLES - 164)
    assert muse.total_articles() == MAX_ARTICLES
    assert len(train(generate_muse(muse)).nonmember) == MAX_ARTICLES - 164
