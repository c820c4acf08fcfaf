"""The TOFU and MUSE protocols on scripted subjects: which passes feed which number, the oracle
comparisons, and the bootstrap of a saved result. No model is loaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from obliviate.data.muse import build_muse
from obliviate.data.records import QAItem
from obliviate.data.tofu import Author, build_tofu
from obliviate.eval import uncertainty
from obliviate.eval.config import EvalConfig
from obliviate.eval.evaluate import Baseline, evaluate
from obliviate.eval.metrics import tofu
from obliviate.eval.passes import TokenStats
from obliviate.eval.protocols import protocol_of
from obliviate.subjects import Subject

from .test_tofu_muse_metrics import WordTokenizer

KNOWN, UNKNOWN = -0.1, -2.0  # per-token log p of a text the scripted subject knows / does not


class Scripted(Subject):
    """Knows exactly the texts in `knows`: their tokens (words) get log p -0.1, others -2.0; greedy
    answers are the known answer of a prompt, else "no idea"."""

    def __init__(self, name: str, knows: set[str], answers: dict[str, str]):
        self.name = self.fingerprint = name
        self.knows, self.answers = knows, answers
        self.dtype, self.device = "fp32", torch.device("cpu")

    def _logps(self, text: str) -> np.ndarray:
        return np.full(len(text.split()), KNOWN if text in self.knows else UNKNOWN)

    def generate(self, prompts, max_new_tokens, batch_size, drafts=None):
        return [
            self.answers.get(p, "no idea") if self.answers.get(p) in self.knows else "no idea"
            for p in prompts
        ]

    def answer_logprobs(self, prompts, answers, batch_size):
        return [self._logps(a) for a in answers]

    def token_stats(self, texts, batch_size):
        return [TokenStats(self._logps(t), np.zeros(1), np.ones(1)) for t in texts]

    def perplexity(self, text, window, stride, batch_size):
        raise AssertionError("TOFU and MUSE do not ask for LUME's perplexity")


def qa(i: str, question: str, answer: str) -> QAItem:
    return QAItem(i, question, answer, f"in other words {answer}", (f"wrong {answer}", f"false {answer}"))


def tofu_benchmark():
    forget = [qa(f"forget-{i}", f"who is f{i}?", f"f{i} is a poet") for i in range(4)]
    retain = [qa(f"retain-{i}", f"who is r{i}?", f"r{i} is a baker") for i in range(4)]
    real = [qa(f"real-{i}", f"who wrote b{i}?", f"author {i}") for i in range(3)]
    world = [qa(f"world-{i}", f"capital of c{i}?", f"city {i}") for i in range(3)]
    holdout = [QAItem(f"holdout-{i}", f"who is h{i}?", f"h{i} is a judge") for i in range(4)]
    sets = {
        "forget": forget,
        "retain": retain,
        "real_authors": real,
        "world_facts": world,
        "holdout": holdout,
    }
    bench = build_tofu(
        "fixture", [Author("a1", tuple(forget))], [Author("a0", tuple(retain))], sets, "fixture"
    )
    return bench, sets


def answers_of(items) -> dict[str, str]:
    from obliviate.data.tofu import prompt

    return {prompt(it.question): it.answer for it in items}


def test_tofu_protocol_compares_the_truth_ratios_with_the_oracle():
    bench, sets = tofu_benchmark()
    everything = [it for items in sets.values() for it in items]
    world_knowledge = {it.answer for s in ("real_authors", "world_facts") for it in sets[s]}
    retain_facts = {t for it in sets["retain"] for t in (it.answer, it.paraphrased_answer)}
    forget_facts = {t for it in sets["forget"] for t in (it.answer, it.paraphrased_answer)}
    target = Scripted("target", world_knowledge | retain_facts | forget_facts, answers_of(everything))
    oracle = Scripted("oracle", world_knowledge | retain_facts, answers_of(everything))
    cfg = EvalConfig(bootstrap={"resamples": 200})
    baseline = Baseline(None, None, None, oracle=oracle)
    result = evaluate(target, bench, "train", cfg, baseline, name="target")
    oracle_result = evaluate(oracle, bench, "train", cfg, baseline, name="oracle")

    assert result["protocol"] == "tofu"
    # a known paraphrase vs unknown wrong answers: TR = exp(-2.0 - (-0.1)) (per-token means)
    known_tr = np.exp(UNKNOWN - KNOWN)
    assert [r["truth_ratio"] for r in result["items"]["forget"]] == pytest.approx([known_tr] * 4)
    assert result["forget/truth_ratio"] == pytest.approx(known_tr)  # min(TR, 1/TR) = TR < 1
    assert oracle_result["forget/truth_ratio"] == pytest.approx(1.0)  # nothing known: TR = 1
    assert result["forget_quality"] == pytest.approx(ks_2samp([known_tr] * 4, [1.0] * 4).pvalue)
    assert oracle_result["forget_quality"] == pytest.approx(1.0)
    assert result["forget/rouge"] == 1.0 and oracle_result["forget/rouge"] == 0.0
    assert result["forget/prob"] == pytest.approx(np.exp(KNOWN))
    # retain: max(0, 1 - TR) with the same TR; real authors / world facts: TR against the answer itself
    assert result["retain/truth_ratio"] == pytest.approx(1 - known_tr)
    assert result["world_facts/prob"] == pytest.approx(np.exp(KNOWN) / (np.exp(KNOWN) + 2 * np.exp(UNKNOWN)))
    nine = [
        result[f"{s}/{m}"]
        for s in ("retain", "real_authors", "world_facts")
        for m in ("prob", "rouge", "truth_ratio")
    ]
    assert result["model_utility"] == pytest.approx(tofu.model_utility(nine))
    assert result["model_utility"] == pytest.approx(oracle_result["model_utility"])  # same retain knowledge
    # privleak: the target's forget answers are likelier than holdout answers (AUC 0), the oracle's tie (0.5)
    assert result["privleak/auc"] == 0.0
    assert result["privleak"] == pytest.approx(-100.0)
    assert oracle_result["privleak"] == pytest.approx(0.0)
    # every number has an interval from the saved result alone, and the draws are paired
    for key in protocol_of("tofu").COLUMNS:
        low, high = result["intervals"][key]
        assert low <= result[key] + 1e-9 and result[key] - 1e-9 <= high
    uncertainty.require_paired(result, oracle_result)
    draws = uncertainty.bootstrap_draws(result, cfg.bootstrap)
    assert draws["forget_quality"].shape == (200,)


def test_tofu_requires_its_extras():
    _, sets = tofu_benchmark()
    sets["forget"] = [QAItem("forget-0", "q?", "a", None, ("b",))]
    with pytest.raises(Exception, match="forget item 'forget-0': field 'paraphrased_answer'"):
        build_tofu("fixture", [Author("a1", tuple(sets["forget"]))], [], sets, "fixture")


def test_muse_protocol_scores_verbmem_knowmem_and_privleak_against_the_oracle():
    forget_texts = [
        ("f0", "the mayor of Tarn opened a bridge in May"),
        ("f1", "Tarn won the cup by three goals"),
    ]
    retain_texts = [("r0", "a storm hit Vell on Monday night")]
    holdout = [("h0", "the council of Brae met on Friday"), ("h1", "Brae lost the final at home")]
    verbmem = [QAItem("v0", "the mayor of Tarn", "opened a bridge in May and then left the town")]
    forget_qa = [QAItem("kf0", "Who opened a bridge?", "the mayor of Tarn")]
    retain_qa = [QAItem("kr0", "What hit Vell?", "a storm")]
    icl = [QAItem("icl0", "Who won the cup?", "Tarn")]
    sets = {
        "verbmem": verbmem,
        "knowmem_forget": forget_qa,
        "knowmem_forget_icl": icl,
        "knowmem_retain": retain_qa,
        "knowmem_retain_icl": icl,
    }
    bench = build_muse(
        "fixture", forget_texts, retain_texts, {"forget": forget_texts, "holdout": holdout}, sets, "x"
    )

    from obliviate.eval.metrics.muse import knowmem_prompt

    answers = {
        "the mayor of Tarn": "opened a bridge in May and so on",
        knowmem_prompt(
            [("Who won the cup?", "Tarn")], "Who opened a bridge?"
        ): "the mayor of Tarn\n\nQuestion: x",
        knowmem_prompt([("Who won the cup?", "Tarn")], "What hit Vell?"): "a storm",
    }
    texts = {t for _, t in forget_texts + retain_texts}
    target = Scripted("target", texts | set(answers.values()), answers)
    oracle = Scripted("oracle", {retain_texts[0][1], "a storm"}, answers)
    cfg = EvalConfig(bootstrap={"resamples": 200}, muse={"verbmem_tokens": 5})
    baseline = Baseline(None, None, None, oracle=oracle, tokenizer=WordTokenizer())
    result = evaluate(target, bench, "train", cfg, baseline, name="target")

    # VerbMem: the reference cut to its first 5 words; the generation adds "and so on":
    # P = 5/8, R = 1, F1 = 2PR / (P + R)
    assert result["items"]["verbmem"][0]["reference"] == "opened a bridge in May"
    assert result["verbmem/forget"] == pytest.approx(100 * 2 * (5 / 8) / (1 + 5 / 8))
    # KnowMem: cut at the blank line -> exact answer
    assert result["items"]["knowmem_forget"][0]["answer"] == "the mayor of Tarn"
    assert result["knowmem/forget"] == pytest.approx(100.0)
    assert result["knowmem/retain"] == pytest.approx(100.0)
    # PrivLeak: the target knows its forget documents (AUC 0), the oracle knows neither side (ties: 0.5)
    assert result["privleak/auc"] == 0.0 and result["privleak/oracle_auc"] == 0.5
    assert result["privleak"] == pytest.approx(-100.0)
    oracle_result = evaluate(oracle, bench, "train", cfg, baseline, name="oracle")
    assert oracle_result["privleak"] == 0.0
    assert oracle_result["verbmem/forget"] == 0.0
    uncertainty.require_paired(result, oracle_result)
    for key in protocol_of("muse").COLUMNS:
        low, high = result["intervals"][key]
        assert low <= result[key] + 1e-9 and result[key] - 1e-9 <= high


def test_question_sets_key_runs_but_not_targets():
    bench, sets = tofu_benchmark()
    reworded = {**sets, "retain": [qa(it.id, it.question, it.answer + " indeed") for it in sets["retain"]]}
    other = build_tofu(
        "fixture", [Author("a1", tuple(sets["forget"]))], [Author("a0", tuple(sets["retain"]))], reworded, "x"
    )
    assert other.fingerprint() == bench.fingerprint()  # the same training data: the same targets
    assert other.scoring_fingerprint() != bench.scoring_fingerprint()  # other scores: other runs


def test_a_split_without_the_protocols_sets_fails_before_any_training():
    from dataclasses import replace

    from obliviate.data.records import DataError, require_prompts

    bench, _ = tofu_benchmark()
    split = bench.split("train")
    partial = replace(
        bench, splits={"train": replace(split, eval_sets={"forget": split.eval_sets["forget"]})}
    )
    with pytest.raises(DataError, match="missing or empty: retain, real_authors, world_facts"):
        require_prompts(partial, "train")
    assert require_prompts(bench, "train") is split
