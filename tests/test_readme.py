"""The README's Python API example, executed as written (on the smoke preset), so it cannot rot."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from obliviate.presets import load_run_benchmark

VERDICTS = {
    "no longer produced",
    "still produced",
    "not produced before (nothing to unlearn)",
    "produced under attack quant4",
    "produced under attack probes",
    "produced under attack quant4, probes",
}

README = Path(__file__).resolve().parents[1] / "README.md"


def api_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs(smoke_cfg, smoke_target, smoke_oracle, tmp_path, monkeypatch, capsys):
    # In a fresh directory, with the smoke target and oracle the other tests built as its cache
    # (same preset, same keys), so only the example's own steps run.
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "obliviate").symlink_to(smoke_cfg.cache_dir.resolve(), target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    built = {p.name for p in (smoke_cfg.cache_dir / "targets").glob("*") if "given-" not in p.name}
    exec(compile(api_example(), str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert re.search(r"final 0\.\d{3}, 95% interval \[", printed)
    assert "forget regurgitation" in printed and "-> 4-bit" in printed
    assert (tmp_path / "forgot" / "README.md").is_file() and (
        tmp_path / "forgot" / "model" / "config.json"
    ).is_file()
    assert (tmp_path / "forgot" / "report-again.html").is_file()
    # the verdicts printed: one per forget question of the split, each a verdict the tool gives
    split = load_run_benchmark(smoke_cfg).split(smoke_cfg.split)
    qa_ids = [p.id for d in split.forget for p in d.prompts if p.kind == "qa"]
    verdicts = ast.literal_eval(next(line for line in printed.splitlines() if line.startswith("{")))
    assert sorted(verdicts) == sorted(qa_ids) and set(verdicts.values()) <= VERDICTS
    # the example trained no target or oracle of its own: it used the smoke target
    after = {p.name for p in (smoke_cfg.cache_dir / "targets").glob("*") if "given-" not in p.name}
    assert after == built and Path(smoke_target).name in built


def test_the_api_is_top_level_callable_and_light():
    """Every API name is a function of `obliviate`, also after the modules whose names are near
    theirs are imported, and `import obliviate` alone loads no torch (the command line's start)."""
    import subprocess
    import sys

    code = (
        "import sys, obliviate\n"
        "assert 'torch' not in sys.modules\n"
        "import obliviate.config, obliviate.unlearn, obliviate.report, obliviate.practitioner\n"
        "print(all(callable(getattr(obliviate, name)) for name in obliviate.API))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
