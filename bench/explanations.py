"""Explanations of real classifiers: faithfulness (deletion test) and time per explanation.

    python bench/explanations.py --model var/models/b77-full --data ../shared/data/banking77/test.csv
    python bench/explanations.py --model M1 --data D1 --model M2 --data D2 --text-col text --json

For each model folder (written by `python -m ml_core train-classifier`) and its labelled test
file:
 1. faithfulness: `--n` texts (a seeded sample), the top-attributed 20% of words deleted versus
    20% random words (5 draws), at `--faith-steps` integrated-gradients steps; anchor: the
    explanation must lower the predicted probability more than random deletion (passed), and
    the one-sided Wilcoxon p-value says how surely;
 2. time per explanation at several step counts, on `--timing-texts` texts, one torch thread:
    wall seconds and CPU seconds (CPU seconds do not grow when other work shares the machine),
    with the completeness gap |Σ scores − (p(x) − p(baseline))| relative to p(x) − p(baseline).
Without --model, a `head` model is trained on Banking77 first (a few minutes on a CPU).
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA, finish, parser, print_table  # after the sys.path set-up above


def _load_texts(path: str, text_col: str) -> list[str]:
    from ml_core.data import load_texts

    return load_texts(path, text_col=text_col)


def _timing(model: str, texts: list[str], steps_list: list[int], threads: int) -> list[dict]:
    import torch

    from ml_core.trust.explain import Explainer, ExplainSettings

    torch.set_num_threads(threads)
    rows = []
    for steps in steps_list:
        explainer = Explainer.load(model, settings=ExplainSettings(steps=steps))
        explainer.explain(texts[0])  # warm-up: captum import, first-call allocations
        walls, cpus, gaps, tokens = [], [], [], []
        for text in texts:
            wall, cpu = time.perf_counter(), time.process_time()
            explanation = explainer.explain(text)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            gained = abs(explanation.value - explanation.baseline_value)
            gaps.append(explanation.convergence_delta / gained if gained > 1e-6 else 0.0)
            tokens.append(len(explanation.tokens))
        rows.append({"steps": steps, "threads": threads, "texts": len(texts),
                     "mean_tokens": round(statistics.mean(tokens), 1),
                     "wall_s_median": round(statistics.median(walls), 4), "wall_s_p90": round(sorted(walls)[int(0.9 * (len(walls) - 1))], 4),
                     "cpu_s_median": round(statistics.median(cpus), 4),
                     "relative_gap_median": round(statistics.median(gaps), 4)})
        print(f"  steps {steps}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def _train_head(out: Path) -> str:
    import subprocess

    train = SHARED_DATA / "banking77" / "train.csv"
    subprocess.run([sys.executable, "-m", "ml_core", "train-classifier", "--train", str(train), "--label-col", "category",
                    "--out", str(out), "--method", "head"], check=True)
    return str(out)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=[], help="classifier folder (repeatable)")
    p.add_argument("--data", action="append", default=[], help="its labelled test file (one per --model)")
    p.add_argument("--text-col", default="text")
    p.add_argument("--n", type=int, default=200, help="texts in the faithfulness test")
    p.add_argument("--faith-steps", type=int, default=16)
    p.add_argument("--timing-texts", type=int, default=20)
    p.add_argument("--steps", default="10,20,32", help="step counts to time")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import torch

    from ml_core.trust.explain import Explainer, ExplainSettings
    from ml_core.trust.faithfulness import FaithfulnessSettings, faithfulness_check

    models, data = list(args.model), list(args.data)
    if not models:
        models = [_train_head(Path(tempfile.mkdtemp(prefix="bench-explain-")) / "b77-head")]
    if not data:
        data = [str(SHARED_DATA / "banking77" / "test.csv")] * len(models)
    if len(data) != len(models):
        p.error("give one --data file per --model")
    load = os.getloadavg()[0]
    figures: dict = {"load_average_start": round(load, 2), "models": {}}
    for model, path in zip(models, data):
        name = Path(model).name
        print(f"{name}: faithfulness on {args.n} texts of {path}", file=sys.stderr, flush=True)
        torch.set_num_threads(max(1, args.threads))
        texts = _load_texts(path, args.text_col)
        explainer = Explainer.load(model, settings=ExplainSettings(steps=args.faith_steps))
        faith = faithfulness_check(explainer, texts, settings=FaithfulnessSettings(max_examples=args.n))
        timing = _timing(model, texts[: args.timing_texts], [int(s) for s in args.steps.split(",")], args.threads)
        figures["models"][name] = {"data": path, "faithfulness": faith, "timing": timing}
    figures["load_average_end"] = round(os.getloadavg()[0], 2)

    print_table("Faithfulness (delete the top-attributed 20% of words vs 20% random words)",
                ["model", "texts", "drop top", "drop random", "top > random", "p (Wilcoxon)", "passed (anchor: yes)"],
                [[name, f["faithfulness"]["n"], f["faithfulness"]["mean_drop_top"], f["faithfulness"]["mean_drop_random"],
                  f["faithfulness"]["share_top_beats_random"], f["faithfulness"]["p_value"],
                  "yes" if f["faithfulness"]["passed"] else "NO"] for name, f in figures["models"].items()])
    print_table(f"Time per explanation ({args.threads} torch thread(s); load average {load:.1f} at the start)",
                ["model", "steps", "tokens", "wall s (median)", "wall s (p90)", "CPU s (median)", "completeness gap"],
                [[name, r["steps"], r["mean_tokens"], r["wall_s_median"], r["wall_s_p90"], r["cpu_s_median"],
                  r["relative_gap_median"]] for name, f in figures["models"].items() for r in f["timing"]])
    finish(figures, args.json)


if __name__ == "__main__":
    main()
