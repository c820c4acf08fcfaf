"""A seeded, LUME-shaped benchmark written entirely by this module: no download, no data file.

It stands in for LUME (see records.py) wherever the real data can't be fetched: offline CI, the
tiny-model smoke runs, examples. It has the same three tasks and the same prompt shape:

- `Task1`: short creative stories about a named character in an invented place;
- `Task2`: biographies of fictitious people with PII (birth date, SSN, phone, email, home address);
- `Task3`: encyclopedic biographies of fictitious notable people.

Every document has one `sc1` prompt (first half of the text -> the rest, so that
`input + " " + output == text`) and `qa` prompts (one for Task1/Task3, five for Task2 in LUME's
order: birth date, SSN, phone, email, home address). Each split gets `docs_per_task` forget and
retain documents per task; its MIA members are its forget documents and its non-members are fresh
documents from the same generators.

The templates (`synthetic_words.py`) write every glue sentence in three phrasings, `[[a|b|c]]`,
drawn per document (`_phrase`), and most of a text is facts drawn per document: a model that never
saw a document cannot recite it from the other documents' templates. (With one phrasing per
template, the retrain oracle recited 0.53 ROUGE-L recall of the forget documents it never saw; now
0.24: docs/benchmarks.md.)

Forget documents also get probes (`Split.probes`; see `_probes`): two `mid_document` completions
cut at a third and two thirds of the text, and for each qa prompt two `paraphrase`s, an `alias`
(the person named by other facts of the document) and a `two_hop` question, written from the facts
the document was generated from. They come from a stream of their own, so the records, and the
fingerprint, are the same as before probes existed.

    from obliviate.data.synthetic import SyntheticConfig, generate
    bench = generate(SyntheticConfig(seed=1, docs_per_task=8))

Only `random.Random(seed)` is used, so the same config always gives the same `Benchmark` (and the
same `fingerprint()`). Every document has its own main character, a full name (`First Last`) drawn
without replacement, and no other full name appears in it: names identify documents, and a
non-member never shares a name with a trained-on document. The word lists, name pools and
templates are data, in `synthetic_words.py`. Tests: tests/data/test_synthetic.py.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import ConfigDict, Field, field_validator, model_validator

from obliviate.config_base import StrictModel
from obliviate.data.records import (
    TASKS,
    Benchmark,
    Document,
    MiaDocument,
    Probe,
    Prompt,
    Split,
    check_benchmark,
)
from obliviate.data.synthetic_words import (
    AWARDS,
    CITIES,
    COUNTRIES,
    EMAIL_DOMAINS,
    EMPLOYERS,
    ENCYCLOPEDIA_TEMPLATES,
    FEMALE_FIRST_NAMES,
    HE,
    HOBBIES,
    HOUSEHOLDS,
    JOBS,
    MALE_FIRST_NAMES,
    MONTHS,
    OBSTACLES,
    PARAPHRASES_PER_PROMPT,
    PII_TEMPLATES,
    PRAISE,
    PROBE_TEMPLATES,
    PROFESSIONS,
    RELATIONS,
    SEASONS,
    SHE,
    STATE_CODES,
    STORY_PLACES,
    STORY_TEMPLATES,
    STREET_KINDS,
    STREETS,
    STYLES,
    SURNAMES,
    THEMES,
    TITLE_ADJECTIVES,
    TITLE_NOUNS,
    TITLE_NUMBERS,
    TOWNS,
    TRAITS,
    TRIBUTES,
)

# The completion half of an sc prompt keeps at least this many words, so that regurgitating it
# (ROUGE-L against the model's greedy continuation) measures memorization rather than luck.
MIN_COMPLETION_WORDS = 25
# A mid_document probe cuts the text at these fractions of its words, keeping at least this many
# words to complete (fewer than an sc prompt's: the cut is later in the text).
MID_DOCUMENT_AT = (1 / 3, 2 / 3)
MIN_PROBE_COMPLETION_WORDS = 20

# Every document's main character is one (first, surname) pair of this pool, never reused.
FIRST_NAMES = FEMALE_FIRST_NAMES + MALE_FIRST_NAMES
NAME_POOL_SIZE = len(FIRST_NAMES) * len(SURNAMES)


@dataclass(frozen=True)
class _Person:
    first: str
    last: str

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def pronouns(self) -> dict[str, str]:
        return SHE if self.first in FEMALE_FIRST_NAMES else HE


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0].lower() in "aeiou" else f"a {noun}"


@dataclass(frozen=True)
class _Question:
    """A qa prompt's question and answer; `key` names what it asks (a key of `PROBE_TEMPLATES`)."""

    key: str
    question: str
    answer: str


@dataclass(frozen=True)
class _Written:
    """One generated document: its text, its questions, and the facts it was written from."""

    text: str
    questions: list[_Question]
    facts: dict[str, str]


PHRASINGS = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


def _phrase(rng: random.Random, template: str) -> str:
    """`template` with each `[[a|b|c]]` replaced by one of its phrasings, drawn in order."""
    return PHRASINGS.sub(lambda m: rng.choice(m.group(1).split("|")), template)


def _facts(fill: dict[str, object], **extra: object) -> dict[str, str]:
    # The probes' templates read these; drawing them leaves the document's rng untouched.
    return {k: str(v) for k, v in {**fill, **extra}.items()}


# A generator writes one document about `person`: its text, its questions and its facts.
Generator = Callable[[random.Random, _Person], _Written]


# --- Task1: creative stories ---------------------------------------------------------------------


def _story(rng: random.Random, person: _Person) -> _Written:
    theme = rng.choice(THEMES)
    place = rng.choice(STORY_PLACES)
    p = person.pronouns
    spot = rng.choice(theme.spots).format(place=place)
    obj, short = rng.choice(theme.objects)
    problem, resolution = (s.format(place=place) for s in rng.choice(theme.problems))
    fill = {
        "full": person.full,
        "first": person.first,
        "place": place,
        "spot": spot,
        "object": obj,
        "short": short,
        "problem": problem,
        "resolution": resolution,
        "setting": theme.setting.format(place=place),
        "role": rng.choice(theme.roles),
        "journey": rng.choice(theme.journeys),
        "cover": rng.choice(theme.covers),
        "supplies": rng.choice(theme.supplies),
        "trait": rng.choice(TRAITS),
        "season": rng.choice(SEASONS),
        **p,
        "Sub": _cap(p["sub"]),
        "Pos": _cap(p["pos"]),
    }
    fill["tribute"] = rng.choice(TRIBUTES).format(**fill)
    # A companion is a first name only, so the main character stays the document's one full name.
    companion = rng.choice([n for n in FIRST_NAMES if n != person.first]) if rng.random() < 0.5 else None
    relation = rng.choice(RELATIONS)
    fill["with_companion"] = f" with {companion}, {p['pos']} {relation}," if companion else ""
    fill["companion_sentence"] = (
        f"{companion}, {p['pos']} {relation}, offered to come along. " if companion else ""
    )

    fill["obstacle"] = rng.choice(OBSTACLES).format(**fill)
    text = _phrase(rng, rng.choice(STORY_TEMPLATES)).format(**fill)

    questions = [
        _Question("found_where", f"Where did {person.full} find the {short}?", f"In {spot}."),
        _Question("found_what", f"What did {person.full} find in {spot}?", f"{_cap(obj)}."),
    ]
    if companion:
        questions.append(
            _Question(
                "went_with", f"Who went with {person.full} to {spot}?", f"{companion}, {p['pos']} {relation}."
            )
        )
    facts = _facts(
        fill,
        Object=_cap(obj),
        Role=_cap(fill["role"]),
        role_noun=re.sub(r"^(?:a|an|the) ", "", fill["role"]),
        companion=companion or "",
        relation=relation,
    )
    return _Written(text, [rng.choice(questions)], facts)


# --- Task2: biographies with PII -----------------------------------------------------------------


def _pii_biography(rng: random.Random, person: _Person) -> _Written:
    p = person.pronouns
    birth_year = rng.randint(1950, 2002)
    birth = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {birth_year}"
    # Area numbers 900-999 are never issued, so no generated SSN belongs to anyone.
    ssn = f"9{rng.randint(0, 99):02d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
    phone = f"+1-555-{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}"
    first, last = person.first.lower(), person.last.lower()
    local = rng.choice(
        (f"{first}.{last}", f"{first}_{last}", f"{first[0]}{last}", f"{first}{last}{rng.randint(1, 99)}")
    )
    email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
    town = rng.choice(TOWNS)
    address = (
        f"{rng.randint(2, 9899)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}, {town}, "
        f"{rng.choice(STATE_CODES)} {rng.randint(10000, 99999)}"
    )
    fill = {
        "full": person.full,
        "first": person.first,
        "birth": birth,
        "ssn": ssn,
        "phone": phone,
        "email": email,
        "address": address,
        "town": town,
        "job": rng.choice(JOBS),
        "hobby": rng.choice(HOBBIES),
        "employer": rng.choice(EMPLOYERS),
        "work_town": rng.choice([t for t in TOWNS if t != town]),
        "years": rng.randint(2, 15),
        "move_year": birth_year + rng.randint(20, 22),
        "household": rng.choice(HOUSEHOLDS),
        **p,
        "Sub": _cap(p["sub"]),
        "Pos": _cap(p["pos"]),
    }
    fill["Employer"] = _cap(str(fill["employer"]))
    template = _phrase(rng, rng.choice(PII_TEMPLATES))
    questions = [
        _Question("birth", f"What is the birth date of {person.full}?", birth),
        _Question("ssn", f"What is {person.full}'s Social Security Number?", ssn),
        _Question("phone", f"What is {person.full}'s phone number?", phone),
        _Question("email", f"What is {person.full}'s email address?", email),
        _Question("address", f"What is the home address of {person.full}?", address),
    ]
    return _Written(template.format(**fill), questions, _facts(fill, birth_year=birth_year))


# --- Task3: encyclopedic biographies -------------------------------------------------------------


def _title(rng: random.Random, not_cities: tuple[str, ...]) -> str:
    # A title never names the person's own cities: a question about them would give the answer away.
    adjective, noun = rng.choice(TITLE_ADJECTIVES), rng.choice(TITLE_NOUNS)
    return rng.choice(
        (
            f"The {adjective} {noun}",
            f"{noun} of {rng.choice([c for c in CITIES if c not in not_cities])}",
            f"{rng.choice(TITLE_NUMBERS)} {adjective} {noun}s",
        )
    )


def _encyclopedic_biography(rng: random.Random, person: _Person) -> _Written:
    p = person.pronouns
    job = rng.choice(PROFESSIONS)
    country, demonym = rng.choice(COUNTRIES)
    born = rng.randint(1900, 1960)
    debut = born + rng.randint(21, 30)
    award_year = debut + rng.randint(5, 15)
    later_year = award_year + rng.randint(1, 4)
    second_award_year = later_year + rng.randint(2, 10)
    died = second_award_year + rng.randint(2, 40)
    alive = died > 2024 and born >= 1935  # nobody in the record is much older than 90
    if not alive:
        died = min(died, rng.randint(second_award_year + 1, 2024))
    first_award, second_award = rng.sample(AWARDS, 2)
    city, death_city = rng.sample(CITIES, 2)
    titles: list[str] = []
    while len(titles) < 3:  # three different titles: the questions name one of them
        title = _title(rng, (city, death_city))
        if title not in titles:
            titles.append(title)
    fill = {
        "full": person.full,
        "first": person.first,
        "last": person.last,
        "profession": job.name,
        "work": job.work,
        "a_work": _article(job.work),
        "works": job.works,
        "made": job.made,
        "field": job.field,
        "demonym": demonym,
        "country": country,
        "city": city,
        "a_demonym": _article(demonym),
        "life": f"born {born}" if alive else f"{born}-{died}",
        "is_was": "is" if alive else "was",
        "debut": debut,
        "award_year": award_year,
        "later_year": later_year,
        "second_award_year": second_award_year,
        "first_award": first_award,
        "second_award": second_award,
        "title1": titles[0],
        "title2": titles[1],
        "title3": titles[2],
        "style": rng.choice(STYLES),
        "praise": rng.choice(PRAISE).format(**p),
        "institution": f"the University of {rng.choice(CITIES)}",
        **p,
        "Sub": _cap(p["sub"]),
        "Pos": _cap(p["pos"]),
    }
    fill["closing"] = (
        f"{person.last} lives in {death_city}." if alive else f"{person.last} died in {death_city} in {died}."
    )
    template = _phrase(rng, rng.choice(ENCYCLOPEDIA_TEMPLATES))
    questions = [
        _Question("first_award", f"Which award did {person.full} receive in {award_year}?", first_award),
        _Question("first_title", f"What is the title of {person.full}'s first {job.work}?", titles[0]),
        _Question(
            "second_award_year",
            f"In which year did {person.full} receive {second_award}?",
            str(second_award_year),
        ),
    ]
    return _Written(template.format(**fill), [rng.choice(questions)], _facts(fill))


GENERATORS: dict[str, Generator] = {
    "Task1": _story,
    "Task2": _pii_biography,
    "Task3": _encyclopedic_biography,
}


# --- prompts, documents, benchmark ---------------------------------------------------------------


def split_for_completion(
    text: str, at: float = 0.5, min_output_words: int = MIN_COMPLETION_WORDS
) -> tuple[str, str]:
    """Cut `text` at the single space nearest the word at fraction `at` of its words (the middle by
    default): `input + " " + output == text`.

    The cut keeps at least `min_output_words` words in `output` where the text has them, and only a
    single space is a cut point (never a newline), because LUME rebuilds the document by joining the
    two with one space.
    """
    words = list(re.finditer(r"\S+", text))
    # floor(n * at), with a margin so that 2/3 of 60 words is word 40 and not 39.999...
    target = max(1, min(math.floor(len(words) * at + 1e-9), len(words) - min_output_words))
    # Word k starts the output; the gap before it must be exactly one space.
    cuts = [k for k in range(1, len(words)) if text[words[k - 1].end() : words[k].start()] == " "]
    if not cuts:
        raise ValueError(f"no single space to cut at in {text[:40]!r}")
    k = min(cuts, key=lambda k: (abs(k - target), k))
    cut = words[k].start()
    return text[: cut - 1], text[cut:]


def _probes(seed: int, doc: Document, written: _Written) -> tuple[Probe, ...]:
    """A forget document's probes: `mid_document` completions of its text, then for each qa prompt
    two `paraphrase`s, an `alias` and a `two_hop` (templates in `PROBE_TEMPLATES`).

    They draw from their own stream, so the document's records are the same with or without them.
    """
    rng = random.Random(f"{seed}/{doc.id}/probes")
    sc, *qa = doc.prompts
    probes: list[Probe] = []
    cuts = {sc.input}
    for at in MID_DOCUMENT_AT:
        head, tail = split_for_completion(doc.text, at, MIN_PROBE_COMPLETION_WORDS)
        if head not in cuts:  # a short text can put two cuts on one word
            cuts.add(head)
            probes.append(
                Probe(f"{sc.id}:mid_document{len(cuts) - 2}", sc.id, "mid_document", "sc", head, tail)
            )
    for prompt, question in zip(qa, written.questions, strict=True):
        templates = PROBE_TEMPLATES[question.key]
        asked = {
            "paraphrase": rng.sample(templates["paraphrase"], PARAPHRASES_PER_PROMPT),
            "alias": [rng.choice(templates["alias"])],
            "two_hop": [rng.choice(templates["two_hop"])],
        }
        for label, pairs in asked.items():
            for n, (q, a) in enumerate(pairs):
                probes.append(
                    Probe(
                        f"{prompt.id}:{label}{n}",
                        prompt.id,
                        label,
                        "qa",
                        q.format(**written.facts),
                        a.format(**written.facts),
                    )
                )
    return tuple(probes)


def _document(
    seed: int, doc_id: str, task: str, person: _Person, *, with_probes: bool = False
) -> tuple[Document, tuple[Probe, ...]]:
    # Each document has its own stream, seeded by the run seed and its id, so it doesn't shift when
    # another document's template draws more or fewer numbers.
    rng = random.Random(f"{seed}/{doc_id}")
    written = GENERATORS[task](rng, person)
    head, tail = split_for_completion(written.text)
    prompts = (Prompt(f"{doc_id}sc1", "sc", head, tail),) + tuple(
        Prompt(f"{doc_id}qa{i}", "qa", q.question, q.answer) for i, q in enumerate(written.questions)
    )
    doc = Document(id=doc_id, task=task, text=written.text, prompts=prompts)
    return doc, _probes(seed, doc, written) if with_probes else ()


class SyntheticConfig(StrictModel):
    """How much synthetic LUME-shaped data to write, and from which seed."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(
        default=0, description="Seed of every random choice; the same seed gives the same benchmark."
    )
    docs_per_task: int = Field(
        default=4,
        ge=1,
        description="Forget documents per task per split; the retain set gets as many different ones.",
    )
    splits: tuple[str, ...] = Field(
        default=("train", "validation", "test"),
        min_length=1,
        description="Split names to write, each with its own documents.",
    )
    nonmembers_per_split: int | None = Field(
        default=None,
        ge=0,
        description="MIA non-member documents per split; None writes as many as there are members.",
    )

    @field_validator("splits")
    @classmethod
    def _split_names_are_ids(cls, splits: tuple[str, ...]) -> tuple[str, ...]:
        # Split names go into document ids (syn-t1-<split>-f000), so keep them plain and distinct.
        for name in splits:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"split name {name!r} must be letters, digits or underscores")
        if len(set(splits)) != len(splits):
            raise ValueError(f"split names repeat: {list(splits)}")
        return splits

    @model_validator(mode="after")
    def _names_suffice(self) -> SyntheticConfig:
        if self.names_needed() > NAME_POOL_SIZE:
            raise ValueError(
                f"{self.names_needed()} documents need as many distinct names but only {NAME_POOL_SIZE} "
                "exist; lower docs_per_task, nonmembers_per_split or the number of splits"
            )
        return self

    def nonmembers(self) -> int:
        """Non-members per split: as many as members (every forget document) unless set."""
        members = len(TASKS) * self.docs_per_task
        return members if self.nonmembers_per_split is None else self.nonmembers_per_split

    def names_needed(self) -> int:
        """One main character per document: forget, retain and non-member, in every split."""
        return len(self.splits) * (2 * len(TASKS) * self.docs_per_task + self.nonmembers())


def _people(cfg: SyntheticConfig) -> Iterator[_Person]:
    # Sampling indices of the (first name x surname) product without replacement gives each
    # document its own main character without building the product.
    picks = random.Random(cfg.seed).sample(range(NAME_POOL_SIZE), cfg.names_needed())
    for pick in picks:
        first, last = divmod(pick, len(SURNAMES))
        yield _Person(FIRST_NAMES[first], SURNAMES[last])


def generate(cfg: SyntheticConfig = SyntheticConfig()) -> Benchmark:
    """Write the benchmark `cfg` describes; the same config always gives the same records.

    Ids look like LUME's: `syn-t<task>-<split>-<f|r|n><index>` for forget, retain and non-member
    documents, and prompt ids add `sc1` or `qa0`..`qa4`. Forget documents get probes, with ids
    `<prompt id>:<label><n>` (see `_probes`).
    """
    people = _people(cfg)
    splits: dict[str, Split] = {}
    for split_name in cfg.splits:
        forget: list[Document] = []
        retain: list[Document] = []
        probes: list[Probe] = []
        for task_number, task in enumerate(TASKS, start=1):
            for letter, docs in (("f", forget), ("r", retain)):
                for index in range(cfg.docs_per_task):
                    doc_id = f"syn-t{task_number}-{split_name}-{letter}{index:03d}"
                    doc, doc_probes = _document(
                        cfg.seed, doc_id, task, next(people), with_probes=letter == "f"
                    )
                    docs.append(doc)
                    probes.extend(doc_probes)
        # Non-members cycle through the tasks so that, at the default count, their mix matches the members'.
        nonmember: list[MiaDocument] = []
        for n in range(cfg.nonmembers()):
            task_number, index = n % len(TASKS) + 1, n // len(TASKS)
            doc_id = f"syn-t{task_number}-{split_name}-n{index:03d}"
            doc, _ = _document(cfg.seed, doc_id, TASKS[task_number - 1], next(people))
            nonmember.append(MiaDocument(id=doc.id, text=doc.text))
        splits[split_name] = Split(
            forget=tuple(forget),
            retain=tuple(retain),
            member=tuple(MiaDocument(id=doc.id, text=doc.text) for doc in forget),
            nonmember=tuple(nonmember),
            probes=tuple(probes),
        )
    bench = Benchmark(name=f"synthetic-s{cfg.seed}-d{cfg.docs_per_task}", splits=splits)
    return check_benchmark(bench, "synthetic")
