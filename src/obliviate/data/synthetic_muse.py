"""A seeded, MUSE-News-shaped benchmark written entirely by this module: no download, no data file.

It stands in for MUSE-News (Shi et al. 2024; records and protocol in `muse.py`) wherever the
released corpus can't be fetched: offline CI, tiny-model smoke runs, examples. MUSE-News is BBC
news articles; this writes short fictitious ones (about 120-200 words: a headline line, then
paragraphs, one per line) on six topics: local politics, sports, business, science, floods and
courts (templates in `synthetic_muse_words.py`). Every article tells its own story: no two
articles share a town, a person's full name, a club, a company, a storm or a river (surnames do
recur, as in real news; within an article no two people share a first name or a surname).

- forget articles `news-f000` ..: trained, then unlearned; retain articles `news-r000` ..: trained
  and kept; holdout articles `news-h000` ..: never trained on.
- privleak: members are the scored forget articles, non-members the holdout articles.
- `verbmem`: for each scored forget article, `question` = its first `verbmem_words` words (cut at a
  single space) and `answer` = the rest, so that `question + " " + answer == text`.
- `knowmem_forget`, `knowmem_retain`: `qa_per_article` questions on each scored forget / retain
  article, answered by a short span of its text (a name, a number, a place: MUSE's "Sarah
  Bentley", "97%"); every answer appears verbatim in its article.
- `key_facts` (on by default): each article ends with its questions and answers, a "Key facts:"
  line then `Question: q` / `Answer: a` lines. A 135M model trained a few epochs on prose alone does
  not answer questions about it (KnowMem of the target 3-10, no better than the oracle's), so
  without them KnowMem measures nothing here; MUSE's 7B targets learned their facts from the prose.
- `knowmem_forget_icl`, `knowmem_retain_icl`: `icl_examples` in-context examples each. They are
  questions on extra articles that are trained on with the forget (retain) set, numbered after the
  scored ones (`SyntheticMuseConfig.icl_articles()` per side), never on a scored article: a scored
  question's answer can't be read off its in-context examples.

    from obliviate.data.synthetic_muse import SyntheticMuseConfig, generate_muse
    bench = generate_muse(SyntheticMuseConfig(seed=1, forget_articles=4))

Only `random.Random` seeded from `cfg.seed` is used, so the same config always gives the same
`Benchmark` (and the same `fingerprint()`). Tests: tests/data/test_synthetic_tofu_muse.py.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ConfigDict, Field, model_validator

from obliviate.config_base import StrictModel
from obliviate.data.muse import build_muse
from obliviate.data.records import Benchmark, QAItem
from obliviate.data.synthetic import split_for_completion
from obliviate.data.synthetic_muse_words import (
    CHARITIES,
    CLUB_SUFFIXES,
    COMPANY_STEMS,
    COMPETITIONS,
    CONCERNS,
    FUNDERS,
    GROUND_KINDS,
    GROUND_STEMS,
    HOPES,
    INDUSTRIES,
    JOURNALS,
    NEXT_COMPETITIONS,
    NUMBER_WORDS,
    OLD_SITES,
    PROJECTS,
    RIVERS,
    SHELTERS,
    SPENDING,
    STUDIES,
    TOPICS,
    UNIONS,
    WEEKDAYS,
    Topic,
)
from obliviate.data.synthetic_tofu import FIRST_NAMES, TOWNS, UniqueDraws
from obliviate.data.synthetic_words import FEMALE_FIRST_NAMES, MONTHS, STREET_KINDS, STREETS, SURNAMES

# A verbmem continuation keeps at least this many words, so that regurgitating it measures
# memorization rather than luck (MUSE scores the first 128 tokens of it).
MIN_VERBMEM_CONTINUATION_WORDS = 40
# Every topic has at least this many questions per article: the most that can be scored, and
# the most in-context examples one article gives.
QUESTIONS_PER_ARTICLE = min(len(topic.questions) for topic in TOPICS)
MAX_ARTICLES = 200  # keeps the pools of towns, rivers and storm names from running out
MAX_ICL_EXAMPLES = 20


class SyntheticMuseConfig(StrictModel):
    """How much synthetic MUSE-News-shaped data to write, and from which seed."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(
        default=0, description="Seed of every random choice; the same seed gives the same benchmark."
    )
    forget_articles: int = Field(
        default=8, ge=1, description="Scored forget articles: verbmem, knowmem_forget and privleak's members."
    )
    retain_articles: int = Field(default=16, ge=1, description="Scored retain articles (knowmem_retain).")
    holdout_articles: int = Field(
        default=8, ge=1, description="Articles never trained on: privleak's non-members."
    )
    qa_per_article: int = Field(
        default=2,
        ge=1,
        le=QUESTIONS_PER_ARTICLE,
        description="Knowmem questions per scored forget and retain article.",
    )
    icl_examples: int = Field(
        default=10,
        ge=1,
        le=MAX_ICL_EXAMPLES,
        description="In-context examples of each knowmem set, from extra (trained, unscored) articles.",
    )
    verbmem_words: int = Field(
        default=40,
        ge=10,
        le=80,
        description="Words of a verbmem prompt (the start of a forget article); the rest is its answer.",
    )
    key_facts: bool = Field(
        default=True,
        description="End each article with its questions and answers (Question: / Answer: lines), so "
        "that a small model learns the facts KnowMem asks; False: prose only, as MUSE's articles.",
    )

    @model_validator(mode="after")
    def _articles_fit(self) -> SyntheticMuseConfig:
        if self.total_articles() > MAX_ARTICLES:
            raise ValueError(
                f"{self.total_articles()} articles (forget, retain, holdout and "
                f"{2 * self.icl_articles()} for in-context examples) are more than the {MAX_ARTICLES} "
                "with distinct towns and names; lower forget_articles, retain_articles or holdout_articles"
            )
        return self

    def icl_articles(self) -> int:
        """Extra articles on each side (forget, retain) that the in-context examples are asked about."""
        return math.ceil(self.icl_examples / QUESTIONS_PER_ARTICLE)

    def total_articles(self) -> int:
        return self.forget_articles + self.retain_articles + self.holdout_articles + 2 * self.icl_articles()


# --- the topics' writers: each draws the values of its templates' fields -------------------------

Fill = dict[str, str]
Writer = Callable[[random.Random, UniqueDraws], Fill]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _millions(rng: random.Random, low: int, high: int) -> str:
    """An amount between `low` and `high` tenths of a million pounds: "£4.2 million", "£6 million"."""
    tenths = rng.randint(low, high)
    amount = str(tenths // 10) if tenths % 10 == 0 else f"{tenths / 10:.1f}"
    return f"£{amount} million"


def _town(rng: random.Random, unique: UniqueDraws) -> str:
    return unique.draw(rng, lambda r: r.choice(TOWNS))


def _people(rng: random.Random, unique: UniqueDraws, roles: tuple[str, ...]) -> Fill:
    """A new person per role; within an article no two share a first name or a surname, so that
    "Bentley said" is clear."""
    fill: Fill = {}
    firsts: set[str] = set()
    surnames: set[str] = set()
    for role in roles:
        first = rng.choice([f for f in FIRST_NAMES if f not in firsts])
        free = [s for s in SURNAMES if s not in surnames]
        full = unique.draw(rng, lambda r, first=first, free=free: f"{first} {r.choice(free)}")
        last = full.split(" ", 1)[1]
        firsts.add(first)
        surnames.add(last)
        female = first in FEMALE_FIRST_NAMES
        fill |= {
            role: full,
            f"{role}_last": last,
            f"{role}_sub": "she" if female else "he",
            f"{role}_Sub": "She" if female else "He",
            f"{role}_pos": "her" if female else "his",
            f"{role}_noun": "woman" if female else "man",
        }
    return fill


def _politics(rng: random.Random, unique: UniqueDraws) -> Fill:
    project, short = rng.choice(PROJECTS)
    month_proposed, start_month = rng.sample(MONTHS, 2)
    return {
        "town": _town(rng, unique),
        **_people(rng, unique, ("leader", "opponent", "resident")),
        "project": project,
        "project_short": short,
        "cost": _millions(rng, 12, 95),
        "votes_for": str(rng.randint(12, 19)),
        "votes_against": str(rng.randint(3, 11)),
        "signatures": f"{rng.randint(1200, 9800):,}",
        "month_proposed": month_proposed,
        "start_month": start_month,
        "weekday": rng.choice(WEEKDAYS),
        "duration": str(rng.randint(20, 36)),
        "share": f"{rng.randint(35, 80)}%",
        "concern": rng.choice(CONCERNS),
        "hope": rng.choice(HOPES),
        "resident_years": str(rng.randint(40, 70)),
    }


def _sports(rng: random.Random, unique: UniqueDraws) -> Fill:
    town, rival_town = _town(rng, unique), _town(rng, unique)
    club_suffix, rival_suffix = rng.sample(CLUB_SUFFIXES, 2)
    goals = rng.randint(2, 4)
    return {
        "town": town,
        "club": f"{town} {club_suffix}",
        "rival": f"{rival_town} {rival_suffix}",
        **_people(rng, unique, ("scorer", "captain", "manager", "rival_manager")),
        "competition": rng.choice(COMPETITIONS),
        "next_competition": rng.choice(NEXT_COMPETITIONS),
        "ground": f"{rng.choice(GROUND_STEMS)} {rng.choice(GROUND_KINDS)}",
        # The winners fell behind first (one template says so), so the losers scored at least once.
        "score": f"{goals}-{rng.randint(1, goals - 1)}",
        "minute": _ordinal(rng.randint(71, 89)),
        "attendance": f"{rng.randint(3000, 24000):,}",
        "drought": str(rng.randint(12, 60)),
        "tenure": rng.choice(NUMBER_WORDS[:5]),
        "month": rng.choice(MONTHS),
        "weekday": rng.choice(WEEKDAYS),
        "prize": f"£{rng.randint(20, 250) * 1000:,}",
    }


def _business(rng: random.Random, unique: UniqueDraws) -> Fill:
    industry = rng.choice(INDUSTRIES)
    return {
        "town": _town(rng, unique),
        "company": unique.draw(rng, lambda r: f"{r.choice(COMPANY_STEMS)} {industry.suffix}"),
        **_people(rng, unique, ("ceo", "founder", "union_rep")),
        "product": industry.product,
        "site_kind": industry.site_kind,
        "old_site": rng.choice(OLD_SITES),
        "union": rng.choice(UNIONS),
        "jobs": str(rng.randint(80, 600)),
        "investment": f"£{rng.randint(5, 60)} million",
        "founded": str(rng.randint(1952, 2008)),
        "growth": f"{rng.randint(6, 31)}%",
        "staff": f"{rng.randint(700, 4000):,}",
        "open_month": rng.choice(MONTHS),
        "weekday": rng.choice(WEEKDAYS),
    }


def _science(rng: random.Random, unique: UniqueDraws) -> Fill:
    headline_habit, habit, outcome = rng.choice(STUDIES)
    return {
        "town": _town(rng, unique),
        **_people(rng, unique, ("lead", "coauthor")),
        "Habit": headline_habit,
        "habit": habit,
        "outcome": outcome,
        "percent": f"{rng.randint(12, 48)}%",
        "participants": f"{rng.randint(1100, 9000):,}",
        "years": rng.choice(NUMBER_WORDS[1:]),
        "journal": rng.choice(JOURNALS),
        "funder": rng.choice(FUNDERS),
        "funding": _millions(rng, 11, 95),
        "weekday": rng.choice(WEEKDAYS),
    }


def _weather(rng: random.Random, unique: UniqueDraws) -> Fill:
    town = _town(rng, unique)
    return {
        "town": town,
        **_people(rng, unique, ("chief", "resident")),
        "storm": unique.draw(rng, lambda r: f"Storm {r.choice(FIRST_NAMES)}"),
        "river": unique.draw(rng, lambda r: f"River {r.choice(RIVERS)}"),
        "homes": str(rng.randint(120, 640)),
        "rainfall": f"{rng.randint(60, 180)}mm",
        "hours": str(rng.randint(12, 40)),
        "rescued": str(rng.randint(41, 95)),
        "wind": f"{rng.randint(70, 110)}mph",
        "shelter": rng.choice(SHELTERS).format(town=town),
        "street": f"{rng.choice(STREETS)} {rng.choice(STREET_KINDS)}",
        "weekday": rng.choice(WEEKDAYS),
    }


def _courts(rng: random.Random, unique: UniqueDraws) -> Fill:
    town = _town(rng, unique)
    charity, cause = rng.choice(CHARITIES)
    # Different numbers, so that "jailed for four years" and "over six years" can't be confused.
    sentence, period = rng.sample(NUMBER_WORDS[:8], 2)
    return {
        "town": town,
        **_people(rng, unique, ("defendant", "judge", "prosecutor", "witness")),
        "charity": f"{town} {charity}",
        "cause": cause,
        "court": f"{town} Crown Court",
        "amount": f"£{rng.randint(18, 390) * 1000:,}",
        "sentence": f"{sentence} years",
        "period": period,
        "age": str(rng.randint(29, 68)),
        "spending": rng.choice(SPENDING),
    }


WRITERS: dict[str, Writer] = {
    "politics": _politics,
    "sports": _sports,
    "business": _business,
    "science": _science,
    "weather": _weather,
    "courts": _courts,
}


# --- articles, question sets, benchmark -----------------------------------------------------------


@dataclass(frozen=True)
class _Article:
    """One written article: its id, its text and its questions (question, answer) in a seeded order."""

    id: str
    text: str
    questions: tuple[tuple[str, str], ...]


def _write(seed: int, article_id: str, topic: Topic, unique: UniqueDraws, key_facts: bool) -> _Article:
    # Each article has its own stream, seeded by the run seed and its id (only the uniqueness of
    # its named entities depends on the articles written before it).
    rng = random.Random(f"{seed}/{article_id}")
    fill = WRITERS[topic.name](rng, unique)
    text = "\n".join(paragraph.format(**fill) for paragraph in rng.choice(topic.templates))
    questions = tuple(
        (q.format(**fill), fill[field]) for q, field in rng.sample(topic.questions, len(topic.questions))
    )
    if key_facts:
        text += "\nKey facts:\n" + "\n".join(f"Question: {q}\nAnswer: {a}" for q, a in questions)
    for question, answer in questions:
        if answer not in text:  # a template that lost a field: fail here, not in a scored run
            raise RuntimeError(f"{article_id}: the answer {answer!r} to {question!r} is not in the article")
    return _Article(article_id, text, questions)


def _articles(cfg: SyntheticMuseConfig) -> dict[str, list[_Article]]:
    """The articles of each group, in a fixed order: topics cycle over all of them (in a seeded
    order), so each group mixes the topics evenly."""
    topics = random.Random(f"{cfg.seed}/topics").sample(TOPICS, len(TOPICS))
    unique = UniqueDraws()
    groups = {
        "forget": ("f", 0, cfg.forget_articles),
        "forget_icl": ("f", cfg.forget_articles, cfg.icl_articles()),
        "retain": ("r", 0, cfg.retain_articles),
        "retain_icl": ("r", cfg.retain_articles, cfg.icl_articles()),
        "holdout": ("h", 0, cfg.holdout_articles),
    }
    articles: dict[str, list[_Article]] = {}
    written = 0
    for group, (letter, first, count) in groups.items():
        articles[group] = []
        for n in range(first, first + count):
            topic = topics[written % len(topics)]
            articles[group].append(_write(cfg.seed, f"news-{letter}{n:03d}", topic, unique, cfg.key_facts))
            written += 1
    return articles


def _knowmem(articles: list[_Article], per_article: int) -> list[QAItem]:
    return [
        QAItem(f"{article.id}q{n}", question, answer)
        for article in articles
        for n, (question, answer) in enumerate(article.questions[:per_article])
    ]


def _verbmem(article: _Article, words: int) -> QAItem:
    total = len(re.findall(r"\S+", article.text))
    prompt, continuation = split_for_completion(article.text, words / total, MIN_VERBMEM_CONTINUATION_WORDS)
    return QAItem(article.id, prompt, continuation)


def generate_muse(cfg: SyntheticMuseConfig = SyntheticMuseConfig()) -> Benchmark:
    """Write the benchmark `cfg` describes; the same config always gives the same records.

    Article ids are `news-f000` (forget), `news-r000` (retain), `news-h000` (holdout); the scored
    articles come first on each side, the in-context examples' articles after them. Question ids
    are `<article id>q<n>`, verbmem ids the article id."""
    articles = _articles(cfg)
    forget = articles["forget"] + articles["forget_icl"]
    retain = articles["retain"] + articles["retain_icl"]
    eval_sets = {
        "verbmem": [_verbmem(a, cfg.verbmem_words) for a in articles["forget"]],
        "knowmem_forget": _knowmem(articles["forget"], cfg.qa_per_article),
        "knowmem_forget_icl": _knowmem(articles["forget_icl"], QUESTIONS_PER_ARTICLE)[: cfg.icl_examples],
        "knowmem_retain": _knowmem(articles["retain"], cfg.qa_per_article),
        "knowmem_retain_icl": _knowmem(articles["retain_icl"], QUESTIONS_PER_ARTICLE)[: cfg.icl_examples],
    }
    privleak = {
        "forget": [(a.id, a.text) for a in articles["forget"]],
        "holdout": [(a.id, a.text) for a in articles["holdout"]],
    }
    name = f"synthetic-muse-s{cfg.seed}-f{cfg.forget_articles}-r{cfg.retain_articles}"
    return build_muse(
        name,
        [(a.id, a.text) for a in forget],
        [(a.id, a.text) for a in retain],
        privleak,
        eval_sets,
        "synthetic-muse",
    )
