"""A seeded, TOFU-shaped benchmark written entirely by this module: no download, no data file.

It stands in for TOFU (Maini et al. 2024; records and protocol in `tofu.py`) wherever the released
files can't be fetched: offline CI, tiny-model smoke runs, examples. TOFU has 200 fictitious
authors with 20 question-answer pairs each; this writes fewer (20 by default), small enough for a
135M model to memorize:

- `authors` trained authors, `tofu-a000` ..; the last `forget_authors` of them are the forget set
  (as TOFU's forget10 is its last 10 %), the others the retain set. Every question of an author is
  its training data (`Author.items`).
- `holdout_authors` more authors, numbered after them, never trained on.

Each author has a unique full name, birth date and place (an invented town in a real country), the
professions of both parents, a genre, two or three invented book titles, an invented award, a
publisher, influences, ... (`_Profile`). Its questions are asked as TOFU asks them ("Which award
did Mara Quell win?") and answered with one short sentence ("Mara Quell won the Silver Lantern
Prize for Speculative Fiction."); the templates are `QUESTION_TEMPLATES`, four of which
(`CORE_QUESTIONS`) every author gets.

Every question has a `paraphrased_answer` (the same fact in other words) and `perturbed_answers`
(the paraphrased sentence with the fact replaced by another, plausible one: another town, date,
title ...; never the true one, as TOFU perturbs its paraphrases), which TOFU's truth ratio
compares. The scored sets:

- `forget`: every question of the forget authors;
- `retain`: `retain_eval` retain questions, spread evenly over the retain authors;
- `real_authors`, `world_facts`: questions about real writers and the real world, short answers,
  with perturbed answers of the same kind (other writers, other capitals);
- `holdout`: every question of the holdout authors (privleak's non-members).

    from obliviate.data.synthetic_tofu import SyntheticTofuConfig, generate_tofu
    bench = generate_tofu(SyntheticTofuConfig(seed=1, authors=10, forget_authors=1))

Only `random.Random` seeded from `cfg.seed` is used, so the same config always gives the same
`Benchmark` (and the same `fingerprint()`). Names, birth towns and book titles are unique over
all authors, holdout included, and a perturbed name or title is never one of theirs, so a holdout
author's name appears in no training document. Word lists and templates are data, in
`synthetic_tofu_words.py`. Tests: tests/data/test_synthetic_tofu_muse.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import ConfigDict, Field, model_validator

from obliviate.config_base import StrictModel
from obliviate.data.records import Benchmark, QAItem
from obliviate.data.synthetic_tofu_words import (
    AWARD_ADJECTIVES,
    AWARD_KINDS,
    AWARD_OBJECTS,
    CORE_QUESTIONS,
    GENRES,
    INFLUENCES,
    LANGUAGES,
    PARENT_JOBS,
    PUBLISHER_KINDS,
    PUBLISHER_STEMS,
    QUESTION_TEMPLATES,
    REAL_BOOK_QUESTIONS,
    REAL_BOOKS,
    REAL_COUNTRIES,
    ROUTINES,
    SETTINGS,
    SUBJECTS,
    THEMES,
    TITLE_ADJECTIVES,
    TITLE_NOUNS,
    TITLE_PATTERNS,
    TOWN_PREFIXES,
    TOWN_SUFFIXES,
    WORLD_FACTS,
    QuestionTemplate,
)
from obliviate.data.synthetic_words import FEMALE_FIRST_NAMES, HE, MALE_FIRST_NAMES, MONTHS, SHE, SURNAMES
from obliviate.data.tofu import Author, build_tofu

FIRST_NAMES = FEMALE_FIRST_NAMES + MALE_FIRST_NAMES
TOWNS = tuple(prefix + suffix for prefix in TOWN_PREFIXES for suffix in TOWN_SUFFIXES)
MAX_AUTHORS = 200  # TOFU's size; names, towns and titles stay far from running out
MAX_PERTURBED = 5  # TOFU's count; every world fact has this many wrong answers
MIN_QUESTIONS, MAX_QUESTIONS = len(CORE_QUESTIONS), 20
# Questions every author can be asked (the third-book question only of authors with one).
ALWAYS_ASKABLE = sum(1 for t in QUESTION_TEMPLATES if t.needs is None)
# A perturbed value is redrawn until it is new; the pools make this many tries plenty.
MAX_DRAWS = 1000


class SyntheticTofuConfig(StrictModel):
    """How much synthetic TOFU-shaped data to write, and from which seed."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(
        default=0, description="Seed of every random choice; the same seed gives the same benchmark."
    )
    authors: int = Field(
        default=20,
        ge=2,
        le=MAX_AUTHORS,
        description="Trained authors: the forget authors and the retain authors.",
    )
    forget_authors: int = Field(
        default=2,
        ge=1,
        description="The last this many trained authors are the forget set; fewer than `authors`.",
    )
    questions_per_author: int = Field(
        default=20,
        ge=MIN_QUESTIONS,
        le=MAX_QUESTIONS,
        description="Questions (and training pairs) per author; TOFU has 20.",
    )
    perturbed_answers: int = Field(
        default=3, ge=1, le=MAX_PERTURBED, description="Wrong but plausible answers per scored question."
    )
    retain_eval: int = Field(
        default=40, ge=1, description="Retain questions in the `retain` set, spread over the retain authors."
    )
    real_authors: int = Field(
        default=20, ge=1, le=len(REAL_BOOKS), description="Questions about real writers (`real_authors`)."
    )
    world_facts: int = Field(
        default=20, ge=1, le=len(WORLD_FACTS), description="Questions about the real world (`world_facts`)."
    )
    holdout_authors: int = Field(
        default=2,
        ge=0,
        le=MAX_AUTHORS,
        description="Authors never trained on; their questions are `holdout`.",
    )

    @model_validator(mode="after")
    def _sets_fit(self) -> SyntheticTofuConfig:
        if self.forget_authors >= self.authors:
            raise ValueError(
                f"forget_authors ({self.forget_authors}) must be fewer than authors ({self.authors}): "
                "the retain set needs at least one author"
            )
        available = self.retain_questions()
        if self.retain_eval > available:
            raise ValueError(
                f"retain_eval ({self.retain_eval}) is more than the {available} retain questions "
                f"({self.authors - self.forget_authors} retain authors x {self.questions_per_author} "
                "questions each)"
            )
        return self

    def retain_questions(self) -> int:
        """Questions of the retain authors, of which `retain_eval` are scored."""
        return (self.authors - self.forget_authors) * self.questions_per_author


# --- an author ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """One fictitious author: an id, a name and the facts the question templates are filled with."""

    id: str
    name: str
    facts: dict[str, str]
    # Questions to ask, in `QUESTION_TEMPLATES` order.
    asked: tuple[QuestionTemplate, ...]


class UniqueDraws:
    """Draws values no earlier draw returned: an author's name, birth town and titles are its own
    (and a news article's town, people, storm, ... in `synthetic_muse`)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def draw(self, rng: random.Random, make: Callable[[random.Random], str]) -> str:
        for _ in range(MAX_DRAWS):
            value = make(rng)
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("ran out of distinct values; the word lists are too small for this config")


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _full_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(first_year, last_year)}"


def _place(rng: random.Random) -> str:
    return f"{rng.choice(TOWNS)}, {rng.choice(REAL_COUNTRIES)}"


def _title(rng: random.Random) -> str:
    noun, noun2 = rng.sample(TITLE_NOUNS, 2)
    a_noun = f"An {noun}" if noun[0] in "AEIOU" else f"A {noun}"
    return rng.choice(TITLE_PATTERNS).format(
        adjective=rng.choice(TITLE_ADJECTIVES), noun=noun, noun2=noun2, a_noun=a_noun, town=rng.choice(TOWNS)
    )


def _award(rng: random.Random, genre: str) -> str:
    # "Silver Lantern Prize for Speculative Fiction": the genre stays, so a wrong award is plausible.
    genre_title = " ".join(_cap(word) for word in genre.split())
    adjective, thing, kind = rng.choice(AWARD_ADJECTIVES), rng.choice(AWARD_OBJECTS), rng.choice(AWARD_KINDS)
    return f"{adjective} {thing} {kind} for {genre_title}"


def _publisher(rng: random.Random) -> str:
    return f"{rng.choice(PUBLISHER_STEMS)} {rng.choice(PUBLISHER_KINDS)}"


def _profile(seed: int, author_id: str, unique: UniqueDraws, questions: int) -> _Profile:
    # Each author has its own stream, seeded by the run seed and its id, so that its facts don't
    # shift when another author draws more or fewer numbers (only the uniqueness checks link them).
    rng = random.Random(f"{seed}/{author_id}")
    first = rng.choice(FIRST_NAMES)
    name = unique.draw(rng, lambda r: f"{first} {r.choice(SURNAMES)}")
    birth_town = unique.draw(rng, lambda r: r.choice(TOWNS))
    titles = [unique.draw(rng, _title) for _ in range(rng.choice((2, 3)))]
    born = rng.randint(1935, 1985)
    debut = born + rng.randint(23, 31)
    genre = rng.choice(GENRES)
    pronouns = SHE if first in FEMALE_FIRST_NAMES else HE
    facts = {
        "name": name,
        "gender": "female" if pronouns is SHE else "male",
        "birth_date": f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {born}",
        "birthplace": f"{birth_town}, {rng.choice(REAL_COUNTRIES)}",
        "father_job": rng.choice(PARENT_JOBS),
        "mother_job": rng.choice(PARENT_JOBS),
        "genre": genre,
        "title1": titles[0],
        "title2": titles[1],
        "title3": titles[2] if len(titles) > 2 else "",
        "debut_year": str(debut),
        "award": _award(rng, genre),
        "award_year": str(debut + rng.randint(3, 8)),
        "influence": rng.choice(INFLUENCES),
        "theme": rng.choice(THEMES),
        "setting": rng.choice(SETTINGS),
        "language": rng.choice(LANGUAGES),
        "residence": _place(rng),
        "subject": rng.choice(SUBJECTS),
        "routine": rng.choice(ROUTINES),
        "publisher": _publisher(rng),
        **pronouns,
        "Sub": _cap(pronouns["sub"]),
        "Pos": _cap(pronouns["pos"]),
    }
    askable = [t for t in QUESTION_TEMPLATES if t.needs is None or facts[t.needs]]
    core = [t for t in askable if t.key in CORE_QUESTIONS]
    chosen = {t.key for t in core + rng.sample([t for t in askable if t not in core], questions - len(core))}
    return _Profile(author_id, name, facts, tuple(t for t in askable if t.key in chosen))


# --- perturbed answers ----------------------------------------------------------------------------


def _other_year(rng: random.Random, year: str) -> str:
    # Within nine years of the true one and never after 2024, so it is a plausible date.
    return str(int(year) - rng.randint(-9, 9) if int(year) < 2016 else int(year) - rng.randint(1, 9))


def _alternatives(
    taken_names: set[str], taken_titles: set[str]
) -> dict[str, Callable[[random.Random, dict], str]]:
    """For each fact a question can vary, how to draw a wrong value for it (the author's facts given).

    A wrong name or title is never one of the benchmark's authors' own, so that a perturbed answer
    does not name a real author of the benchmark (or leak a holdout author into a scored set)."""

    def fresh(make: Callable[[random.Random], str], taken: set[str]) -> Callable[[random.Random, dict], str]:
        def draw(rng: random.Random, facts: dict) -> str:
            for _ in range(MAX_DRAWS):
                value = make(rng)
                if value not in taken:
                    return value
            raise RuntimeError("ran out of values for a perturbed answer")

        return draw

    def pool(values: tuple[str, ...]) -> Callable[[random.Random, dict], str]:
        return lambda rng, facts: rng.choice(values)

    title = fresh(_title, taken_titles)
    return {
        "name": fresh(_full_name, taken_names),
        "birth_date": lambda rng, facts: _date(rng, 1935, 1985),
        "birthplace": lambda rng, facts: _place(rng),
        "residence": lambda rng, facts: _place(rng),
        "father_job": pool(PARENT_JOBS),
        "mother_job": pool(PARENT_JOBS),
        "genre": pool(GENRES),
        "title1": title,
        "title2": title,
        "title3": title,
        "debut_year": lambda rng, facts: _other_year(rng, facts["debut_year"]),
        "award_year": lambda rng, facts: _other_year(rng, facts["award_year"]),
        "award": lambda rng, facts: _award(rng, facts["genre"]),
        "influence": pool(INFLUENCES),
        "theme": pool(THEMES),
        "setting": pool(SETTINGS),
        "language": pool(LANGUAGES),
        "subject": pool(SUBJECTS),
        "routine": pool(ROUTINES),
        "publisher": lambda rng, facts: _publisher(rng),
    }


def _distinct_wrong(
    rng: random.Random, count: int, truth: str, render: Callable[[], str], what: str
) -> tuple[str, ...]:
    """`count` distinct results of `render`, none equal to `truth`."""
    found: list[str] = []
    for _ in range(MAX_DRAWS):
        value = render()
        if value != truth and value not in found:
            found.append(value)
            if len(found) == count:
                return tuple(found)
    raise RuntimeError(f"could not find {count} distinct wrong answers for {what}")


def _question(
    seed: int,
    profile: _Profile,
    index: int,
    template: QuestionTemplate,
    alternatives: dict[str, Callable[[random.Random, dict], str]],
    perturbed: int,
) -> QAItem:
    item_id = f"{profile.id}q{index:02d}"
    facts = profile.facts
    answer = template.answer.format(**facts)
    # Perturbations draw from a stream of their own, so the profile's facts don't depend on them.
    rng = random.Random(f"{seed}/{item_id}/perturbed")
    draw = alternatives[template.varies]

    def render() -> str:
        # TOFU perturbs the paraphrased answer: the truth ratio compares sentences of one shape
        # that differ in the fact only (a perturbed trained-template sentence would look likelier
        # than the untrained paraphrase for its shape alone)
        return template.paraphrase.format(**{**facts, template.varies: draw(rng, facts)})

    paraphrase = template.paraphrase.format(**facts)
    return QAItem(
        id=item_id,
        question=template.question.format(**facts),
        answer=answer,
        paraphrased_answer=paraphrase,
        perturbed_answers=_distinct_wrong(rng, perturbed, paraphrase, render, item_id),
    )


def _author(seed: int, profile: _Profile, alternatives: dict, perturbed: int) -> Author:
    items = tuple(
        _question(seed, profile, index, template, alternatives, perturbed)
        for index, template in enumerate(profile.asked)
    )
    return Author(profile.id, items)


# --- the question sets ----------------------------------------------------------------------------


def _spread(seed: int, authors: list[Author], count: int) -> tuple[QAItem, ...]:
    """`count` questions taken round-robin from the authors, each author's in a seeded order, so
    that every retain author is scored about equally often."""
    rng = random.Random(f"{seed}/retain_eval")
    queues: list[Iterator[QAItem]] = [iter(rng.sample(a.items, len(a.items))) for a in authors]
    picked: list[QAItem] = []
    while len(picked) < count:
        for queue in queues:
            if len(picked) < count:
                picked.append(next(queue))
    return tuple(sorted(picked, key=lambda item: item.id))


def _real_authors(seed: int, count: int, perturbed: int) -> tuple[QAItem, ...]:
    rng = random.Random(f"{seed}/real_authors")
    order = rng.sample(range(len(REAL_BOOKS)), len(REAL_BOOKS))[:count]
    writers = [writer for _, writer in REAL_BOOKS]
    items = []
    for index in order:
        book, writer = REAL_BOOKS[index]
        question = REAL_BOOK_QUESTIONS[index % len(REAL_BOOK_QUESTIONS)].format(book=book)
        wrong = rng.sample([w for w in writers if w != writer], perturbed)
        items.append(QAItem(f"real-{index:02d}", question, writer, perturbed_answers=tuple(wrong)))
    return tuple(items)


def _world_facts(seed: int, count: int, perturbed: int) -> tuple[QAItem, ...]:
    rng = random.Random(f"{seed}/world_facts")
    order = rng.sample(range(len(WORLD_FACTS)), len(WORLD_FACTS))[:count]
    items = []
    for index in order:
        fact = WORLD_FACTS[index]
        wrong = rng.sample(fact.wrong, perturbed)
        items.append(QAItem(f"world-{index:02d}", fact.question, fact.answer, perturbed_answers=tuple(wrong)))
    return tuple(items)


def generate_tofu(cfg: SyntheticTofuConfig = SyntheticTofuConfig()) -> Benchmark:
    """Write the benchmark `cfg` describes; the same config always gives the same records.

    Author ids are `tofu-a000` .. (trained authors, forget authors last, then holdout authors),
    question ids `<author id>q00` ..; the real-world sets have ids `real-NN` and `world-NN`
    (the position in the word lists)."""
    unique = UniqueDraws()
    profiles = [
        _profile(cfg.seed, f"tofu-a{n:03d}", unique, cfg.questions_per_author)
        for n in range(cfg.authors + cfg.holdout_authors)
    ]
    names = {p.name for p in profiles}
    titles = {p.facts[k] for p in profiles for k in ("title1", "title2", "title3") if p.facts[k]}
    alternatives = _alternatives(names, titles)
    authors = [_author(cfg.seed, p, alternatives, cfg.perturbed_answers) for p in profiles]
    trained, holdout = authors[: cfg.authors], authors[cfg.authors :]
    retain, forget = trained[: -cfg.forget_authors], trained[-cfg.forget_authors :]
    eval_sets = {
        "forget": tuple(item for a in forget for item in a.items),
        "retain": _spread(cfg.seed, retain, cfg.retain_eval),
        "real_authors": _real_authors(cfg.seed, cfg.real_authors, cfg.perturbed_answers),
        "world_facts": _world_facts(cfg.seed, cfg.world_facts, cfg.perturbed_answers),
    }
    if holdout:
        eval_sets["holdout"] = tuple(item for a in holdout for item in a.items)
    name = f"synthetic-tofu-s{cfg.seed}-a{cfg.authors}-f{cfg.forget_authors}"
    return build_tofu(name, forget, retain, eval_sets, "synthetic-tofu")
