"""The HTML report: built from saved results only, every generated text escaped, PII masked, the
ROUGE-L match highlighted; and, where Debian's chromium is installed, rendered by a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from obliviate.eval import uncertainty
from obliviate.eval.config import BootstrapConfig
from obliviate.eval.metrics import lume
from obliviate.report import audit, write_report

SCRIPT = "<script>alert('pwned')</script>"
NASTY_ROW = "<i>row&"  # a row name is a file name: no slash
PII = "Mail ana.lopez@example.org, SSN 123-45-6789, phone (555) 123-4567, born March 3, 1990."


def _result(name: str, generations: dict[str, str]) -> dict:
    prompts = [
        ("forget", "Task1", "f0", "sc", "Ana was born", "in Lisbon on March 3, 1990 and moved to Porto"),
        ("forget", "Task2", "f1", "qa", "What is Ana's SSN?", "123-45-6789"),
        ("retain", "Task1", "r0", "sc", "The lighthouse", "stood on the cliff above the bay"),
        ("retain", "Task2", "r1", "qa", "Where is the lighthouse?", "the cliff"),
    ]
    items = {"forget": [], "retain": []}
    for side, task, doc, kind, prompt, reference in prompts:
        generation = generations.get(doc, reference)
        metric = lume.regurgitation if kind == "sc" else lume.knowledge
        items[side].append(
            {
                "id": f"{doc}{kind}0",
                "document": doc,
                "task": task,
                "kind": kind,
                "input": prompt,
                "reference": reference,
                "generation": generation,
                "score": metric(reference, generation),
            }
        )
    forget, retain = lume.per_task_means(items["forget"]), lume.per_task_means(items["retain"])
    result = {
        "name": name,
        "subject": f"/models/{name}",
        "items": items,
        "per_task": {"forget": forget, "retain": retain},
        "task_aggregate": lume.task_aggregate(forget, retain),
        "mia_items": {
            "member_ids": ["m0", "m1"],
            "nonmember_ids": ["n0", "n1"],
            "loss": {"member": [-1.0, -2.5], "nonmember": [-2.0, -3.0]},
        },
        "mia": 0.5,
        "utility/kind": "offline",
        "utility_items": [{"id": "u0", "correct": True}, {"id": "u1", "correct": False}],
        "utility": 0.5,
        "training_curve": {"losses": [2.0, 1.0], "step_logs": [{"forget_term": -1.0}, {"forget_term": -2.0}]},
        "timings": {"total_s": 1.0},
    }
    for side in ("forget", "retain"):
        for kind, metric in (("sc", "regurgitation"), ("qa", "knowledge")):
            scores = [it["score"] for it in items[side] if it["kind"] == kind]
            result[f"{metric}/{side}"] = sum(scores) / len(scores)
    result["final"] = lume.final_score(result["task_aggregate"], result["mia"], result["utility"])
    draws = uncertainty.bootstrap_draws(result, BootstrapConfig())
    result["intervals"] = uncertainty.intervals(draws, 0.95)
    return result


def fixture_run(directory: Path, with_intervals: bool = True) -> Path:
    """A run directory as a bench writes it: eval/<row>.json, leaderboard.json, run.json."""
    from obliviate.leaderboard import summary_row

    results = [
        _result("target", {}),
        _result("oracle", {"f0": "in a small town", "f1": "I do not know"}),
        _result(NASTY_ROW, {"f0": f"in {SCRIPT} Lisbon", "f1": PII}),
    ]
    (directory / "eval").mkdir(parents=True)
    rows = []
    for r in results:
        (directory / "eval" / f"{r['name']}.json").write_text(json.dumps(r))
        row = {**summary_row(r), "train_seconds": 10.0, "peak_rss_mb": 900.0}
        if not with_intervals:
            row.pop("intervals")
        rows.append(row)
    board = {"benchmark": "toy", "split": "test", "rows": rows}
    (directory / "leaderboard.json").write_text(json.dumps(board))
    (directory / "run.json").write_text(
        json.dumps({"command": "bench", "config": {"model": {"name": "tiny"}}})
    )
    return directory


def test_report_builds_from_saved_results_without_loading_a_model(tmp_path):
    run = fixture_run(tmp_path / "run")
    code = (
        "import sys; from pathlib import Path; from obliviate.report import write_report; "
        f"print(write_report(Path({str(run)!r}))); "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = (run / "report.html").read_text()
    assert page.count("<svg") >= 5  # forget/retain, heatmap, MIA, cost, loss curves
    assert page.count("<tr data-side=") == 3 * 4  # every (prompt, row) in the audit
    assert "http://" not in page.replace("http://www.w3.org/", "") and "https://" not in page
    assert "<link" not in page and "<script src" not in page


def test_every_generated_text_and_row_name_is_escaped(tmp_path):
    page = write_report(fixture_run(tmp_path / "run")).read_text()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own sorting and filtering
    assert NASTY_ROW not in page and "&lt;i&gt;row&amp;" in page


def test_older_runs_get_their_intervals_and_ranks(tmp_path):
    page = write_report(fixture_run(tmp_path / "run", with_intervals=False)).read_text()
    assert '<span class="ci">[' in page


def test_redact_pii_masks_each_kind(tmp_path):
    assert audit.redact(PII) == "Mail [EMAIL], SSN [SSN], phone [PHONE], born [DATE]."
    assert audit.redact("on 1990-03-03, 3/4/1990 and 12 May 2001; call +1 555.123.4567") == (
        "on [DATE], [DATE] and [DATE]; call [PHONE]"
    )
    plain = write_report(fixture_run(tmp_path / "a")).read_text()
    masked = write_report(fixture_run(tmp_path / "b"), redact_pii=True).read_text()
    for secret in ("ana.lopez@example.org", "123-45-6789", "(555) 123-4567", "March 3, 1990"):
        assert secret in plain and secret not in masked
    assert "[SSN]" in masked and "[EMAIL]" in masked and "[PHONE]" in masked and "[DATE]" in masked


def test_highlight_marks_the_rouge_l_match():
    reference = "The quick brown foxes jumped over the lazy dogs"
    generation = "A quick fox jumps <b>over</b> the dogs"
    marked = audit.highlighted(reference, generation)
    # quick, fox(es), jump(s/ed), over, the, dog(s): 6 of the reference's 9 tokens, its ROUGE-L recall
    assert marked.count("<mark>") == 6
    assert lume.regurgitation(reference, generation) == pytest.approx(6 / 9)
    assert "&lt;b&gt;<mark>over</mark>&lt;/b&gt;" in marked


def test_a_directory_without_a_leaderboard_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a finished run directory"):
        write_report(tmp_path)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_smoke_bench_report_renders_in_chromium(smoke_bench, tmp_path):
    run, _ = smoke_bench
    page = run / "report.html"
    assert page.is_file()  # bench writes it by default
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2400"]
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr
    # The DOM after the page's script ran: the figures are rendered SVG, the audit table is filled.
    dom = subprocess.run(
        [*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count('<svg role="img"') >= 4
    assert dom.count("<tr data-side=") >= 8
    assert 'id="audit"' in dom and "forget regurg" in dom
