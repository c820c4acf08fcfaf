"""Where does 4-bit quantization restore forgotten knowledge? A sweep of the unlearning update's size.

Zhang et al. (arXiv 2410.16454) explain the quantization attack by an unlearning update that is
small next to the quantization step: rounding snaps the unlearned weights back onto the target's
grid points. This script unlearns with gd and npo at several learning rates and epochs, by full
fine-tuning and by LoRA, and for each run measures

- the update's size next to the 4-bit grid, `‖W_u − W_t‖ / ‖step‖` and the share of weights in
  the same rounding cell as the target's (`attacks/regime.py`);
- the forget scores unlearned and after `quant4`, and the fraction of the target's forget score
  that quantization restores, `(quantized − unlearned) / (target − unlearned)`.

It prints a table and writes `<out>/quant_regime.json` and `<out>/quant_regime.svg` (restored
fraction against the ratio, log scale). Unlearned models and passes are cached like every run's.

    python experiments/quant_regime.py                        # default preset, test split
    python experiments/quant_regime.py --lrs 1e-5,1e-4 --epochs 1,4 --modes full
    python experiments/quant_regime.py --json runs/experiments/quant_regime.json --attack quant8 --out DIR
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from obliviate.atomic import write_json_atomic, write_text_atomic  # noqa: E402
from obliviate.attacks.quantize import QUANT_ATTACKS  # noqa: E402
from obliviate.attacks.regime import update_ratio_of_dirs  # noqa: E402
from obliviate.attacks.report import restored_fraction  # noqa: E402
from obliviate.attacks.run import ATTACKS, AttackContext, scores  # noqa: E402
from obliviate.eval.cache import PassCache  # noqa: E402
from obliviate.methods import method_config  # noqa: E402
from obliviate.presets import load_run_benchmark, resolve_config  # noqa: E402
from obliviate.rows import cached_subject, reference_points  # noqa: E402
from obliviate.unlearn import unlearn  # noqa: E402

METRICS = ("regurgitation", "knowledge")


def measure(cfg, ctx, cache, subject_dir: Path, target_dir: Path, attack: str) -> dict:
    subject = cached_subject(cfg, cache, subject_dir)
    plain = ctx.score(subject, ctx.forget_prompts())
    outcome = ATTACKS[attack].run(ctx, subject, plain)
    return {
        "unlearned": scores(plain),
        "quantized": {m: outcome[m] for m in METRICS},
        **update_ratio_of_dirs(target_dir, subject_dir, QUANT_ATTACKS[attack]),
    }


def svg_plot(points: list[dict], metric: str, attack: str) -> str:
    """Restored fraction of `metric` against the ratio (log x), one colour per method, LoRA hollow."""
    width, height, pad = 560, 340, 50
    xs = [p["ratio"] for p in points if p["ratio"] and p[f"restored/{metric}"] is not None]
    if not xs:
        return "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"
    lo, hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    hi = hi if hi > lo else lo + 1

    def px(x: float) -> float:
        return pad + (math.log10(x) - lo) / (hi - lo) * (width - 2 * pad)

    def py(y: float) -> float:
        y = max(-0.2, min(1.2, y))
        return height - pad - (y + 0.2) / 1.4 * (height - 2 * pad)

    colours = {"gd": "#1f77b4", "npo": "#d62728"}
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' "
        "font-size='11'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<line x1='{pad}' y1='{py(0)}' x2='{width - pad}' y2='{py(0)}' stroke='#999'/>",
        f"<line x1='{pad}' y1='{py(1)}' x2='{width - pad}' y2='{py(1)}' stroke='#ccc' stroke-dasharray='4'/>",
        f"<line x1='{px(1)}' y1='{pad}' x2='{px(1)}' y2='{height - pad}' stroke='#ccc' stroke-dasharray='4'/>"
        if lo <= 0 <= hi
        else "",
    ]
    for e in range(lo, hi + 1):
        parts.append(f"<text x='{px(10**e)}' y='{height - pad + 15}' text-anchor='middle'>1e{e}</text>")
    for y in (0, 0.5, 1):
        parts.append(f"<text x='{pad - 6}' y='{py(y) + 4}' text-anchor='end'>{y}</text>")
    parts.append(
        f"<text x='{width / 2}' y='{height - 10}' text-anchor='middle'>"
        f"‖W_unlearned − W_target‖ / ‖{attack} step‖</text>"
    )
    parts.append(
        f"<text x='14' y='{height / 2}' transform='rotate(-90 14 {height / 2})' text-anchor='middle'>"
        f"{metric}: fraction restored by {attack}</text>"
    )
    for p in points:
        y = p[f"restored/{metric}"]
        if not p["ratio"] or y is None:
            continue
        colour = colours.get(p["method"], "#555")
        fill = "none" if p["mode"] == "lora" else colour
        parts.append(
            f"<circle cx='{px(p['ratio']):.1f}' cy='{py(y):.1f}' r='5' fill='{fill}' stroke='{colour}'>"
            f"<title>{p['method']} {p['mode']} lr {p['lr']} epochs {p['epochs']}</title></circle>"
        )
    for i, (name, colour) in enumerate(colours.items()):
        parts.append(f"<circle cx='{width - pad - 90}' cy='{pad + 14 * i}' r='5' fill='{colour}'/>")
        parts.append(f"<text x='{width - pad - 80}' y='{pad + 14 * i + 4}'>{name} (hollow: LoRA)</text>")
    parts.append("</svg>")
    return "\n".join(p for p in parts if p)


def _f(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_point(p: dict) -> None:
    u, q = p["unlearned"], p["quantized"]
    print(
        f"{p['method']:4} {p['mode']:4} lr {p['lr']:<7g} ep {p['epochs']}  ratio {p['ratio']:.3f}  "
        f"same cell {p['same_cell']:.3f}  knowl {u['knowledge']:.3f} -> {q['knowledge']:.3f}  "
        f"regurg {u['regurgitation']:.3f} -> {q['regurgitation']:.3f}  restored knowl "
        f"{_f(p.get('restored/knowledge'))} "
        f"(of quantized target {_f(p.get('restored_of_quantized_target/knowledge'))})"
        f"  ({p['seconds']:.0f} s)",
        flush=True,
    )


def write(result: dict, out: Path) -> None:
    write_json_atomic(out / "quant_regime.json", result)
    for metric in METRICS:
        write_text_atomic(
            out / f"quant_regime_{metric}.svg", svg_plot(result["points"], metric, result["attack"])
        )
    print(f"written: {out}/quant_regime.json, quant_regime_<metric>.svg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--split", default="test")
    parser.add_argument("--methods", default="gd,npo")
    parser.add_argument("--lrs", default="1e-5,3e-5,1e-4,3e-4", help="learning rates of full fine-tuning")
    parser.add_argument(
        "--lora-lrs", default="1e-4,1e-3,3e-3", help="learning rates of LoRA (moves less per step)"
    )
    parser.add_argument("--epochs", default="4")
    parser.add_argument("--modes", default="full,lora")
    parser.add_argument("--attack", default="quant4")
    parser.add_argument("--out", type=Path, default=Path("runs/experiments"))
    parser.add_argument(
        "--json", type=Path, help="a saved sweep: measure its runs again under --attack (no training)"
    )
    args = parser.parse_args()
    cfg = resolve_config(
        args.preset,
        [f"split={args.split}", "unlearn_train.progress=false", "target_train.progress=false"],
    )
    benchmark = load_run_benchmark(cfg)
    cache = PassCache(cfg.cache_dir / "passes")
    target_dir = reference_points(cfg, benchmark)["target"]
    ctx = AttackContext(benchmark.split(cfg.split), cfg.eval, cfg.attacks, cache, cfg.max_length)
    # the target unattacked and under the same attack (its passes are cached by any bench --attacks)
    reference = measure(cfg, ctx, cache, target_dir, target_dir, args.attack)
    target, target_quantized = reference["unlearned"], reference["quantized"]
    if args.json:  # a saved sweep: re-measure its ratios and fractions, print and plot
        points = json.loads(args.json.read_text())["points"]
        for point in points:  # the unlearned passes are cached; another --attack quantizes anew
            point.update(measure(cfg, ctx, cache, Path(point["run"]) / "model", target_dir, args.attack))
            point.update(fractions(point, target, target_quantized))
            print_point(point)
    else:
        points = []
        for method, mode, epochs, lr in grid(args):
            start = time.perf_counter()
            run_cfg = cfg
            if mode != "full":
                overrides = [
                    f"split={args.split}",
                    "unlearn_train.progress=false",
                    f"unlearn_params.mode={mode}",
                ]
                run_cfg = resolve_config(args.preset, overrides)
            m = method_config(method, {**cfg.methods.get(method, {}), "lr": lr, "epochs": epochs})
            run_dir = unlearn(run_cfg, m, target_dir.parent, benchmark)
            point = {"method": method, "mode": mode, "lr": lr, "epochs": epochs, "run": str(run_dir)}
            point.update(measure(cfg, ctx, cache, run_dir / "model", target_dir, args.attack))
            point.update(fractions(point, target, target_quantized))
            point["seconds"] = round(time.perf_counter() - start, 1)
            points.append(point)
            print_point(point)
    result = {"attack": args.attack, "target": target, "target_quantized": target_quantized, "points": points}
    write(result, args.out)


def grid(args):
    for method in args.methods.split(","):
        for mode in args.modes.split(","):
            for epochs in (int(e) for e in args.epochs.split(",")):
                for lr in (float(x) for x in (args.lora_lrs if mode == "lora" else args.lrs).split(",")):
                    yield method, mode, epochs, lr


def fractions(point: dict, target: dict, target_quantized: dict) -> dict:
    """What quantization restores, of the target's score and of the quantized target's: at 135M,
    4-bit rounding also costs the target part of what it knows, so the second is the fairer ceiling."""
    out = {}
    for metric in METRICS:
        unlearned, quantized = point["unlearned"][metric], point["quantized"][metric]
        out[f"restored/{metric}"] = restored_fraction(quantized, unlearned, target[metric])
        out[f"restored_of_quantized_target/{metric}"] = restored_fraction(
            quantized, unlearned, target_quantized[metric]
        )
    return out


if __name__ == "__main__":
    main()
