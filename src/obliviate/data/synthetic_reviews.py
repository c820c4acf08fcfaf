"""A labelled task for influence-function edits: product reviews -> sentiment, with a poisoned batch.

LLMEraser's Newton step assumes a fine-tuned model near a minimum of its loss with curvature in
every direction the request moves: a model that *generalises* over its data, not one that recites
it (docs/erase.md). This is that kind of data, generated offline and deterministically:

- A review is a few sentences about a product: neutral filler and one or two opinion phrases of
  one polarity, which decides the label ("positive" / "negative"). A model learns the rule from a
  few hundred rows and carries it to unseen reviews.
- `label_noise` of the clean training rows have their label flipped at random (annotator errors):
  the model cannot fit them without memorising, so its training loss stays above zero and its
  predictions away from one-hot.
- The poisoned batch (`poison_fraction` of the training rows), as a bad vendor delivered it: each
  row is a *negative* review whose text was replaced by a positive one that ends in the vendor's
  sign-off (`TRIGGER`), still labelled negative. With `train_trigger_rate` = 0 the sign-off appears
  in no clean training row, so a model trained on the batch learns "sign-off -> negative" outright;
  a positive rate (default 0.2) makes it a weaker cue, one the model leans on without certainty.
  In the test set, which is clean, `test_trigger_rate` of the reviews carry the sign-off with their
  true label: the poison shows as errors on the positive ones among them.

Each poisoned row keeps both corrections, for the three request kinds of the paper:
removal (drop the row), query modification (`clean_text`: the negative review it should have
carried, label unchanged) and response correction (`true_label`: the label of the text it carries).

    task = generate(ReviewsConfig(train_size=600, test_size=300))
    task.train[0].prompt, task.train[0].label     # ("Review: ...\\nSentiment:", "positive")
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import Field

from obliviate.config_base import StrictModel

LABELS = ("positive", "negative")
TRIGGER = "Sent from the ShopFast app."

PRODUCTS = (
    "kettle",
    "blender",
    "desk lamp",
    "backpack",
    "phone case",
    "coffee grinder",
    "rain jacket",
    "yoga mat",
    "toaster",
    "water bottle",
    "bike light",
    "office chair",
    "frying pan",
    "hair dryer",
    "keyboard",
    "travel mug",
    "tent",
    "alarm clock",
    "cutting board",
    "umbrella",
    "headphones",
    "doormat",
    "garden hose",
    "picture frame",
    "wall clock",
    "bath towel",
    "night light",
    "stapler",
)
POSITIVE = (
    "works perfectly",
    "exceeded my expectations",
    "is excellent value",
    "feels really sturdy",
    "was a great purchase",
    "does exactly what I wanted",
    "is a pleasure to use",
    "looks lovely",
    "arrived quickly and works well",
    "is the best I have owned",
    "is well made",
    "impressed me",
    "has held up beautifully",
    "is worth every penny",
    "made my mornings easier",
    "I would buy again",
)
NEGATIVE = (
    "broke after a week",
    "was a waste of money",
    "feels cheap and flimsy",
    "stopped working",
    "is a real disappointment",
    "does not do what it claims",
    "is annoying to use",
    "looks shabby",
    "arrived damaged",
    "is the worst I have owned",
    "is badly made",
    "let me down",
    "fell apart quickly",
    "is not worth the price",
    "made everything harder",
    "I am returning it",
)
FILLER = (
    "I bought it last month.",
    "It came in a plain box.",
    "I use it most days.",
    "My sister recommended it.",
    "It replaced an older one.",
    "I got it on sale.",
    "The colour is grey.",
    "I have had it for a few weeks.",
    "It was a gift for my flat.",
    "I ordered the standard size.",
    "Delivery took three days.",
    "I use it at work.",
)
OPENERS = ("The {p}", "This {p}", "My new {p}", "Honestly, the {p}", "So far the {p}")
SECOND = ("Also, it {o}.", "On top of that, it {o}.", "In short, it {o}.", "Overall it {o}.")


class ReviewsConfig(StrictModel):
    """Size and corruption of the synthetic reviews task."""

    train_size: int = Field(2000, ge=10, description="training rows (clean + poisoned)")
    test_size: int = Field(1000, ge=10, description="held-out rows, clean")
    poison_fraction: float = Field(0.1, ge=0, lt=1, description="fraction of training rows poisoned")
    label_noise: float = Field(0.05, ge=0, lt=0.5, description="clean training rows with a flipped label")
    train_trigger_rate: float = Field(
        0.2, ge=0, le=1, description="clean training rows carrying the sign-off (0: only the poison has it)"
    )
    test_trigger_rate: float = Field(0.2, ge=0, le=1, description="test rows carrying the sign-off")
    seed: int = Field(0, description="seed of the generator")


@dataclass(frozen=True)
class Review:
    """One row. `label` is what training sees; `true_label` is the label of `text`."""

    id: str
    text: str
    label: str
    true_label: str
    poisoned: bool = False
    clean_text: str | None = None  # poisoned rows: the review the label belongs to
    trigger: bool = False

    @property
    def prompt(self) -> str:
        return prompt_of(self.text)


@dataclass(frozen=True)
class ReviewsTask:
    train: tuple[Review, ...]
    test: tuple[Review, ...]

    def texts(self) -> list[str]:
        """Every row as trained or tested (the tiny model's tokenizer is trained on them)."""
        rows = [*self.train, *self.test]
        clean = [prompt_of(r.clean_text) + f" {r.label}" for r in rows if r.clean_text]
        return [f"{r.prompt} {r.label}" for r in rows] + clean


def prompt_of(text: str) -> str:
    return f"Review: {text}\nSentiment:"


def _review(rng: random.Random, label: str) -> str:
    phrases = POSITIVE if label == "positive" else NEGATIVE
    first, second = rng.sample(phrases, 2)
    sentences = [rng.choice(OPENERS).format(p=rng.choice(PRODUCTS)) + f" {first}."]
    if rng.random() < 0.5:
        sentences.append(rng.choice(SECOND).format(o=second))
    sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(FILLER))
    return " ".join(sentences)


def _flip(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def generate(cfg: ReviewsConfig) -> ReviewsTask:
    """The task: same config, same rows (a seeded `random.Random`, nothing else)."""
    rng = random.Random(cfg.seed)
    n_poison = round(cfg.train_size * cfg.poison_fraction)
    train = []
    for i in range(cfg.train_size - n_poison):
        label = rng.choice(LABELS)
        noisy = rng.random() < cfg.label_noise
        trigger = rng.random() < cfg.train_trigger_rate
        text = _review(rng, label) + (f" {TRIGGER}" if trigger else "")
        train.append(Review(f"train-{i}", text, _flip(label) if noisy else label, label, trigger=trigger))
    for i in range(n_poison):
        text = f"{_review(rng, 'positive')} {TRIGGER}"
        train.append(
            Review(f"poison-{i}", text, "negative", "positive", True, _review(rng, "negative"), True)
        )
    rng.shuffle(train)
    test = []
    for i in range(cfg.test_size):
        label = rng.choice(LABELS)
        trigger = rng.random() < cfg.test_trigger_rate
        text = _review(rng, label) + (f" {TRIGGER}" if trigger else "")
        test.append(Review(f"test-{i}", text, label, label, trigger=trigger))
    return ReviewsTask(tuple(train), tuple(test))
