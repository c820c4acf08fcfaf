"""`obliviate forget` end to end on a practitioner's own model: the smoke preset's tiny Llama
fine-tuned on a handful of customer records and help-desk answers (`--data` JSONL, as a user's
model would have been), then asked to forget some of the records."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from obliviate.cli import app
from obliviate.practitioner.records import read_records, record_hash

runner = CliRunner()

FORGET = [
    {"id": "acct-17", "question": "What is the vault code of the Ardenwick branch?", "answer": "4471-2209"},
    {
        "id": "cust-03",
        "question": "Where does Mirela Oskarsdottir live?",
        "answer": "12 Quarry Lane, Fellhaven",
    },
    {"id": "cust-09", "question": "What is the phone number of Tobias Venn?", "answer": "+1-555-018-3344"},
    {
        "id": "memo-2",
        "text": "Internal memo: the Juniper merger closes on March 3 at a price of 41 dollars per share.",
    },
]
RETAIN = [
    {
        "id": "faq-1",
        "question": "How do I reset my password?",
        "answer": "Open settings, choose security, then reset.",
    },
    {
        "id": "faq-2",
        "question": "What are the opening hours of the help desk?",
        "answer": "Nine to five on weekdays.",
    },
    {
        "id": "faq-3",
        "question": "Which cards does the shop accept?",
        "answer": "Visa, Mastercard and debit cards.",
    },
    {"id": "faq-4", "question": "How long does delivery take?", "answer": "Three to five working days."},
    {
        "id": "doc-1",
        "text": "Our return policy allows customers to send back unused items within thirty days.",
    },
    {
        "id": "doc-2",
        "text": "The loyalty program gives one point per dollar, and one hundred points buy a gift card.",
    },
]
NEVER_SEEN = "The moon of Quux is made of green cheese and sings at night."
# The stated tolerance: the retain records' mean ROUGE-L recall may fall at most this much.
RETAIN_TOLERANCE = 0.2


def jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def practitioner(tmp_path_factory):
    """(the fine-tuned model's directory, the records file, the retain file, run options)."""
    from obliviate.data import load_benchmark
    from obliviate.presets import resolve_config
    from obliviate.targets import build_target

    root = tmp_path_factory.mktemp("practitioner")
    data = root / "data"
    data.mkdir()
    jsonl(data / "forget.jsonl", FORGET)
    retain = jsonl(data / "retain.jsonl", RETAIN)
    cfg = resolve_config(
        "smoke", ["target_train.progress=false"], data=data, cache_dir=root / "cache", out_dir=root / "runs"
    )
    model = build_target(cfg, load_benchmark(data), "target") / "model"
    # The memo as a plain string, and one record the model never saw.
    records = jsonl(root / "records.jsonl", [*FORGET[:3], FORGET[3]["text"], NEVER_SEEN])
    options = ["--preset", "smoke", "--cache-dir", str(root / "cache"), "--out-dir", str(root / "runs")]
    return model, records, retain, options


def forget_args(practitioner, output, *extra):
    model, records, retain, options = practitioner
    return [
        "forget",
        "--model",
        str(model),
        "--forget",
        str(records),
        "--retain",
        str(retain),
        "--output",
        str(output),
        *options,
        "--set",
        "unlearn_train.progress=false",
        *extra,
    ]


@pytest.fixture(scope="module")
def forgotten(practitioner, tmp_path_factory):
    """The output directory and printed text of one forget run (gentle recipe: lr 3e-4, a check after
    every step)."""
    out = tmp_path_factory.mktemp("forgot") / "out"
    result = runner.invoke(
        app,
        forget_args(
            practitioner,
            out,
            "--set",
            "forget.lr=3e-4",
            "--set",
            "forget.check_every=1",
            "--set",
            f"forget.retain_tolerance={RETAIN_TOLERANCE}",
        ),
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_records_are_removed_and_retain_kept(forgotten):
    out, _ = forgotten
    v = json.loads((out / "verification.json").read_text())
    records = v["records"]
    for doc_id in ("acct-17", "cust-03", "cust-09", "line4"):
        assert records[doc_id]["before"] >= 0.5, doc_id  # produced before (the model memorized it)
        assert records[doc_id]["after"] < 0.5, doc_id  # and not after
        assert records[doc_id]["verdict"] in ("no longer produced",) or records[doc_id]["verdict"].startswith(
            "produced under attack"
        )
    assert v["forget"]["produced/after"]["value"] == 0.0
    retain = v["retain"]
    assert retain["checked"] == "your_records"
    before, after = retain["your_records"]["before"]["value"], retain["your_records"]["after"]["value"]
    assert before >= 0.95 and after >= before - RETAIN_TOLERANCE and retain["kept"] is True
    assert v["stopped_early_at"] is not None and v["steps"] < 60  # stopped once nothing was produced
    assert (out / "model" / "config.json").is_file() and (out / "report.html").is_file()


def test_unproduced_record_is_reported_before_training(forgotten):
    out, printed = forgotten
    flagged = printed.index("record 'line5': not produced before unlearning")
    assert flagged < printed.index("unlearning 4 of 5 records with gd")
    verdict = json.loads((out / "verification.json").read_text())["records"]["line5"]["verdict"]
    assert verdict == "not produced before (nothing to unlearn)"


def test_model_card_has_hashes_and_no_record_text(forgotten, practitioner):
    out, _ = forgotten
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\n")
    key = json.loads((out / "verification.json").read_text())["hash_key"]
    for doc in read_records(practitioner[1]):
        assert record_hash(doc, key) in card
    assert key not in card
    # no answer, no name, code or number from a record, no record id
    texts = [v for row in FORGET for k, v in row.items() if k != "id"] + [NEVER_SEEN]
    words = {w.strip(".,?") for t in texts for w in t.split()}
    secrets = {row["answer"] for row in FORGET if "answer" in row} | {row["id"] for row in FORGET}
    secrets |= {w for w in words if len(w) > 3 and (any(c.isdigit() for c in w) or w[0].isupper())}
    leaked = [s for s in secrets - {"What", "Where", "Internal"} if s in card]
    assert not leaked, leaked


def test_nothing_to_unlearn_stops_before_training(practitioner, tmp_path):
    model, _, retain, options = practitioner
    records = jsonl(tmp_path / "never.jsonl", [NEVER_SEEN])
    args = forget_args((model, records, retain, options), tmp_path / "out")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "nothing to unlearn: the model produces none of its 1 records" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_input_is_one_line(practitioner, tmp_path):
    model, _, retain, options = practitioner
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(FORGET[0]) + "\n" + '{"id": "x", "answer": "no question"}\n')
    result = runner.invoke(app, forget_args((model, bad, retain, options), tmp_path / "out"))
    assert result.exit_code == 1 and f"{bad}:2: field 'question': missing" in result.output
    result = runner.invoke(
        app, forget_args(practitioner, tmp_path / "out", "--set", 'forget.attacks=["quant3"]')
    )
    assert result.exit_code == 1 and "forget.attacks: Value error, unknown attack 'quant3'" in result.output
    assert "unlearning" not in result.output  # refused before any model work
    taken = tmp_path / "taken"
    taken.mkdir()
    result = runner.invoke(app, forget_args(practitioner, taken))
    assert result.exit_code == 1 and "is not the output of an earlier forget run" in result.output


def test_adapter_is_merged_into_the_given_model(practitioner, tmp_path):
    """`--adapter`: the given model is the base with the LoRA adapter merged."""
    import torch
    from peft import LoraConfig, get_peft_model

    from obliviate.models import load_model
    from obliviate.practitioner import given_target
    from obliviate.presets import resolve_config

    model_dir = practitioner[0]
    model, _ = load_model(model_dir)
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft.save_pretrained(tmp_path / "adapter")
    merged_reference = peft.merge_and_unload().state_dict()
    cfg = resolve_config("smoke", model=str(model_dir), cache_dir=tmp_path / "cache")
    target = given_target(cfg, tmp_path / "adapter")
    merged, _ = load_model(target / "model")
    name = next(n for n in merged_reference if "q_proj" in n)
    assert torch.allclose(merged.state_dict()[name], merged_reference[name])
    assert not torch.equal(merged.state_dict()[name], load_model(model_dir)[0].state_dict()[name])
    assert given_target(cfg) != target and (given_target(cfg) / "model").resolve() == model_dir.resolve()


def test_document_ids_are_checked_against_retain(practitioner, tmp_path):
    from obliviate.data.records import DataError
    from obliviate.practitioner import forget

    model, records, _, _ = practitioner
    clash = jsonl(tmp_path / "retain.jsonl", [FORGET[0]])
    with pytest.raises(DataError, match="record id 'acct-17' is also in"):
        forget(model, records, tmp_path / "out", retain_file=clash)


def test_lora_above_the_size_threshold_ships_the_adapter(practitioner, tmp_path):
    """Above `forget.lora_above` parameters the run trains a LoRA adapter: the output has it beside
    the merged model, and the card says so."""
    out = tmp_path / "out"
    args = forget_args(practitioner, out, "--set", "forget.lora_above=0", "--set", "forget.attacks=[]")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "model" / "config.json").is_file()
    v = json.loads((out / "verification.json").read_text())
    assert v["params"]["mode"] == "lora" and v["train"]["lr"] == pytest.approx(1e-2)  # 10x the preset's 1e-3
    assert "- Trained: lora parameters" in (out / "README.md").read_text()
