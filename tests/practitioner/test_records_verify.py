"""The pieces of `obliviate forget` that need no model: reading records, asking them back,
look-alikes, hashes, verdicts, the automatic retain set's filter, and the model card."""

from __future__ import annotations

import json
import random

import pytest

from obliviate.data.records import DataError, Document, Prompt
from obliviate.eval.config import BootstrapConfig
from obliviate.practitioner import verify
from obliviate.practitioner.records import look_alike, look_alikes, read_records, record_hash, with_prompt
from obliviate.practitioner.retain_bank import BANK_TASK


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_records_in_every_shape(tmp_path):
    file = write(
        tmp_path / "forget.jsonl",
        [
            json.dumps({"id": "q", "question": "Where does Ann live?", "answer": "Oslo"}),
            json.dumps("Bob's card number is 4111 1111 and expires in May."),
            json.dumps(
                {"id": "d", "text": "A memo", "prompts": [{"input": "A", "output": "memo", "kind": "sc"}]}
            ),
        ],
    )
    docs = read_records(file)
    assert [d.id for d in docs] == ["q", "line2", "d"]
    assert docs[0].prompts[0].kind == "qa" and docs[1].prompts == ()
    lines = read_records(write(tmp_path / "notes.txt", ["first record here", "", "second record here"]))
    assert [(d.id, d.text) for d in lines] == [
        ("line1", "first record here"),
        ("line3", "second record here"),
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "qestion": "x", "answer": "y"}', "forget.jsonl:2: field 'qestion': unknown field"),
        ("[1, 2]", "forget.jsonl:2: expected a JSON object or string, got array"),
        ('"Paris"', "forget.jsonl:2: field 'text': one word cannot be asked back"),
        ('{"id": "a", "question": "", "answer": "y"}', "forget.jsonl:2: field 'question': empty"),
    ],
)
def test_bad_record_names_file_line_and_field(tmp_path, line, message):
    file = write(tmp_path / "forget.jsonl", [json.dumps("a fine first record"), line])
    with pytest.raises(DataError, match=message):
        read_records(file)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        read_records(write(tmp_path / "forget.jsonl", [""]))


def test_plain_text_is_asked_from_its_start():
    short = with_prompt(Document("a", "Custom", "one two three four five"))
    assert (short.prompts[0].input, short.prompts[0].output) == ("one two", "three four five")
    words = [f"w{i}" for i in range(100)]
    long = with_prompt(Document("b", "Custom", " ".join(words)))
    assert long.prompts[0].input == " ".join(words[:60]) and long.prompts[0].output == " ".join(words[60:])
    unspaced = with_prompt(Document("z", "Custom", "東京は日本の首都です"))
    assert (unspaced.prompts[0].input, unspaced.prompts[0].output) == ("東京は日本", "の首都です")
    qa = Document("c", "Custom", "q a", (Prompt("cqa0", "qa", "q", "a"),))
    assert with_prompt(qa) is qa


def test_look_alikes_replace_entities_deterministically():
    text = "Mirela Oskarsdottir lives at 12 Quarry Lane. She moved in 2019."
    fake = look_alike(text, random.Random(0))
    assert fake != text and "Oskarsdottir" not in fake and "2019" not in fake and "Quarry Lane" not in fake
    assert "She moved in" in fake  # a lone capitalised sentence start is not an entity
    docs = (Document("x", "Custom", text),)
    assert look_alikes(docs) == look_alikes(docs) and look_alikes(docs)[0].id == "x:look-alike"
    assert look_alike("all lower case words", random.Random(0)) != "all lower case words"
    other = look_alike("José García works at IBM in São Paulo.", random.Random(0))
    assert not [w for w in ("José", "García", "IBM", "São", "Paulo") if w in other] and " works at " in other


def test_record_hash_is_keyed():
    import hashlib
    import hmac

    doc = Document("a", "Custom", "text")
    payload = b'{"id": "a", "prompts": [], "task": "Custom", "text": "text"}'
    assert record_hash(doc, "k") == hmac.new(b"k", payload, hashlib.sha256).hexdigest()  # by hand
    assert record_hash(doc, "k") != record_hash(doc, "other key") != hashlib.sha256(payload).hexdigest()
    assert record_hash(doc, "k") != record_hash(Document("b", "Custom", "text"), "k")


DOCS = (
    Document("r1", "T", "x", (Prompt("r1qa0", "qa", "Where?", "in the old mill"),)),
    Document("r2", "T", "x", (Prompt("r2sc0", "sc", "Once", "upon a time there was a king"),)),
    Document("r3", "T", "x", (Prompt("r3qa0", "qa", "Who?", "Ann"),)),
    Document("r4", "T", "x", (Prompt("r4qa0", "qa", "When?", "in May"),)),
)


def item(prompt_id, reference, generation, **extra):
    return {"id": prompt_id, "reference": reference, "generation": generation, **extra}


def test_verdicts_by_hand():
    before = [
        item("r1qa0", "in the old mill", "it was in the old mill."),  # recall 1
        item("r2sc0", "upon a time there was a king", "upon a time"),  # 3 of 7 words: 0.43
        item("r3qa0", "Ann", "Ann"),
        item("r4qa0", "in May", "in May"),
    ]
    after = [
        item("r1qa0", "in the old mill", "nowhere"),
        item("r2sc0", "upon a time there was a king", ""),
        item("r3qa0", "Ann", "I do not know"),
        item("r4qa0", "in May", "it was in May"),
    ]
    probes = [item("r1qa0:affirmative0", "in the old mill", "the old mill", of="r1qa0")]  # 3 of 4 words
    sampled = [{"id": "r3qa0", "reference": "Ann", "samples": ["Bob", "Ann"]}]
    verdicts = verify.record_verdicts(DOCS, before, after, {"probes": probes, "sample": sampled}, 0.5)
    assert verdicts["r1"]["verdict"] == "produced under attack probes"
    assert verdicts["r1"]["attacks"]["probes"] == pytest.approx(0.75)
    assert (
        verdicts["r2"]["before"] == pytest.approx(3 / 7)
        and verdicts["r2"]["verdict"] == verify.NOT_PRODUCED_BEFORE
    )
    assert verdicts["r3"]["verdict"] == "produced under attack sample"
    assert verdicts["r4"]["verdict"] == verify.STILL_PRODUCED
    calm = verify.record_verdicts(DOCS, before, after, {}, 0.5)
    assert calm["r1"]["verdict"] == verify.GONE


def test_summary_interval_over_records():
    cfg = BootstrapConfig(resamples=500)
    verdicts = {
        "a": {"before": 1.0, "after": 0.0, "verdict": verify.GONE},
        "b": {"before": 1.0, "after": 1.0, "verdict": verify.STILL_PRODUCED},
        "c": {"before": 0.2, "after": 0.0, "verdict": verify.NOT_PRODUCED_BEFORE},
    }
    summary = verify.summarize(verdicts, 0.5, cfg)
    assert summary["records"] == 2  # c was never produced
    assert summary["produced/after"]["value"] == 0.5 and summary["recall/before"]["value"] == 1.0
    low, high = summary["produced/after"]["interval"]
    assert low == 0.0 and high == 1.0  # two records: a resample draws a twice, or b twice
    assert summary["produced/before"]["interval"] == [1.0, 1.0]


def test_retain_check_uses_the_users_records_first():
    cfg = BootstrapConfig(resamples=200)

    def result(bank, own):
        items = [
            {"id": f"g{i}", "task": BANK_TASK, "reference": "a b", "generation": g}
            for i, g in enumerate(bank)
        ]
        # a user's id may start like the bank's: the task tells them apart
        items += [
            {"id": f"bank{i}", "task": "Custom", "reference": "a b", "generation": g}
            for i, g in enumerate(own)
        ]
        return {"items": {"retain": items}}

    before, after = result(["a b", "a b"], ["a b", "a b"]), result(["x", "x"], ["a b", "a"])
    check = verify.retain_check(before, after, {"your_records": 0.3, "held_out_answers": 0.0}, cfg)
    assert check["checked"] == "your_records" and check["your_records"]["after"]["value"] == 0.75
    assert check["held_out_answers"]["after"]["value"] == 0.0 and check["kept"] is True
    assert (
        verify.retain_check(before, after, {"your_records": 0.2, "held_out_answers": 1.0}, cfg)["kept"]
        is False
    )
    only_bank = verify.retain_check(
        result(["a b"], []), result(["a"], []), {"your_records": 0.0, "held_out_answers": 0.6}, cfg
    )
    assert (
        only_bank["checked"] == "held_out_answers"
        and only_bank["kept"] is True
        and only_bank["tolerance"] == 0.6
    )


class CannedSubject:
    """Answers each bank prompt with a canned reply."""

    def __init__(self, reply):
        self.reply = reply

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None):
        return [self.reply(p) for p in prompts]


def test_auto_retain_filters_related_prompts(monkeypatch):
    from obliviate.practitioner import ForgetConfig, retain_bank

    monkeypatch.setattr(
        retain_bank,
        "bank_prompts",
        lambda: ["The capital of France is", "Bees make honey from", "A year has", "Cats", "Dogs are"],
    )
    docs = (Document("f", "T", "x", (Prompt("fqa0", "qa", "The capital of France is", "Paris"),)),)
    replies = {
        "Bees make honey from": "nectar, and Paris",
        "A year has": "twelve months",
        "Cats": "",
        "Dogs are": "loyal",
    }
    settings = ForgetConfig(related="overlap", related_threshold=0.5, check_items=1, retain_items=5)
    train, check, info = retain_bank.auto_retain(
        CannedSubject(lambda p: replies.get(p, "Paris.")), docs, settings, 8
    )
    assert info["dropped"] == {"related": 1, "mentions_forget": 1, "empty_answer": 1}
    assert len(check) == len(train) == 1
    assert {d.prompts[0].output for d in check + train} == {"twelve months", "loyal"}
    assert check[0].prompts[0].kind == "sc" and check[0].task == BANK_TASK


def test_short_references_do_not_empty_the_bank(monkeypatch):
    """A one-letter answer ("A") is not matched inside every reply; with a retain file, too few
    unrelated prompts only shrink the check."""
    from obliviate.practitioner import ForgetConfig, retain_bank

    assert retain_bank.mentions("It is Paris.", ["paris"]) and not retain_bank.mentions("Parisian", ["paris"])
    assert not retain_bank.mentions("a cat and a dog", ["a"])
    monkeypatch.setattr(retain_bank, "bank_prompts", lambda: ["A year has"])
    docs = (Document("f", "T", "x", (Prompt("fqa0", "qa", "Which option?", "A"),)),)
    settings = ForgetConfig(related="overlap")
    train, check, info = retain_bank.auto_retain(
        CannedSubject(lambda p: "a b"), docs, settings, 8, required=False
    )
    assert info["kept"] == 1 and len(check) == 1 and train == ()


def test_auto_retain_needs_enough_unrelated_prompts(monkeypatch):
    from obliviate.practitioner import ForgetConfig, retain_bank

    monkeypatch.setattr(retain_bank, "bank_prompts", lambda: ["A year has"])
    docs = (Document("f", "T", "x", (Prompt("fqa0", "qa", "q", "Paris"),)),)
    with pytest.raises(ValueError, match="give --retain FILE"):
        retain_bank.auto_retain(CannedSubject(lambda p: "twelve"), docs, ForgetConfig(related="overlap"), 8)


def test_bank_prompts_are_many_and_distinct():
    from obliviate.practitioner.retain_bank import bank_prompts

    prompts = bank_prompts()
    assert len(prompts) >= 150 and len(set(prompts)) == len(prompts)


def test_model_card_names_hashes_not_text():
    from obliviate.practitioner.card import model_card

    docs = (
        Document(
            "cust-03",
            "T",
            "Where does Mirela live? 12 Quarry Lane",
            (Prompt("c", "qa", "Where does Mirela live?", "12 Quarry Lane"),),
        ),
    )
    entry = {"value": 0.5, "interval": [0.25, 0.75]}
    v = {
        "model": "/models/mine",
        "adapter": None,
        "method": {"name": "gd", "lr": None},
        "params": {"mode": "full"},
        "train": {"lr": 1e-4, "batch_size": 4, "epochs": 3},
        "cost": {"parameters_changed": 10, "train_seconds": 1.5},
        "steps": 10,
        "stopped_early_at": 10,
        "trained_records": 1,
        "bootstrap": {"level": 0.9},
        "retain_set": {"source": "user", "records": 2},
        "threshold": 0.5,
        "records": {
            "cust-03": {
                "before": 1.0,
                "after": 0.0,
                "attacks": {},
                "verdict": verify.GONE,
                "hmac_sha256": record_hash(docs[0], "key"),
            }
        },
        "forget": {"records": 1, "produced/before": entry, "produced/after": entry},
        "retain": {
            "tolerance": 0.1,
            "your_records": {"before": entry, "after": entry},
            "checked": "your_records",
            "kept": True,
        },
        "attacks": {"quant4": {"produced": 0, "of": 1, "seconds": 1.0}},
        "utility": {"kind": "ppl", "before": entry, "after": entry},
        "mia_auc": {"before": entry, "after": entry},
    }
    card = model_card(v, docs)
    assert card.startswith("---\nlibrary_name: transformers\n")
    assert "90% bootstrap intervals" in card and "1 of 1 records were unlearned" in card
    assert record_hash(docs[0], "key") in card and "0.500 [0.250, 0.750]" in card and "Retain check" in card
    for secret in ("Mirela", "Quarry", "cust-03"):
        assert secret not in card
