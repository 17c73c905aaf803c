"""Fine-tuning recipes compared on the same splits over several seeds (issue 20, item 1).

Each recipe is a set of ClassifierConfig options passed to `python -m ml_core train-classifier
--config FILE` (so every figure can be reproduced by hand); every training is scored with
`python -m ml_core predict` on the same test rows, and each seed's pair of models is compared
text by text (accuracy difference with Tango's 95 % interval and the exact McNemar p-value).

- defaults: ClassifierConfig's defaults (mean pooling then L2 normalisation as all-MiniLM-L6-v2
  does, head started from logistic regression on frozen embeddings, head lr 2e-3, warmup 6 %, 128
  tokens, early stopping on macro-F1 with patience 2) with the per-set options bench/classification.py
  used before issue 20 (PhraseBank 5 epochs; Banking77 7 epochs, label smoothing 0.1, 5 %
  validation, patience 3);
- plain: ml_core.training.RECIPES["plain"], the recipe measured outside the project in issue 20
  (mean pooling without normalisation, a randomly started linear head at lr 1e-3, encoder 5e-5,
  warmup 10 %, batch 32, 96 tokens, the best of 4 epochs on a 10 % validation slice).

    python bench/recipes.py --sets phrasebank --seeds 42,43,44 --json
    python bench/recipes.py --sets banking77 --seeds 42 --json

Financial PhraseBank: the stratified 80/20 split with seed 54 (as bench/classification.py);
Banking77: train.csv -> test.csv. Models go to --work (default: a temporary folder).
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from bench.classification import run_cli
    from bench.common import PROJECT_ROOT, data_path, finish, parser, print_table
except ImportError:  # run as a script: bench/ is not a package on sys.path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.classification import run_cli
    from bench.common import PROJECT_ROOT, data_path, finish, parser, print_table

from ml_core.training import RECIPES as CORE_RECIPES

RECIPES: dict[str, dict[str, dict]] = {
    "defaults": {"phrasebank": {"epochs": 5, "learning_rate": 5e-5},
                 "banking77": {"epochs": 7, "learning_rate": 5e-5, "label_smoothing": 0.1, "valid_fraction": 0.05,
                               "early_stopping_patience": 3}},
    "plain": {"phrasebank": CORE_RECIPES["plain"], "banking77": CORE_RECIPES["plain"]},
}
SETS = ("phrasebank", "banking77")


def predicted_labels(model: Path, test: Path, device: str) -> list[str]:
    command = [sys.executable, "-m", "ml_core", "predict", "--model", str(model), "--data", str(test),
               "--top-k", "1", "--device", device]
    print("$ " + " ".join(shlex.quote(a) for a in ["python", *command[1:]]), file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return [json.loads(line)["label"] for line in done.stdout.splitlines() if line.strip()]


def train_recipe(name: str, recipe: str, seed: int, train: Path, test: Path, work: Path, data_args: list[str],
                 common: list[str], device: str) -> dict:
    out = work / f"{name}-{recipe}-{seed}"
    config = work / f"{name}-{recipe}.json"
    config.write_text(json.dumps(RECIPES[recipe][name]))
    trained = run_cli("train-classifier", "--train", str(train), "--out", str(out), "--method", "full",
                      *data_args, "--config", str(config), "--seed", str(seed), *common)
    return {"set": name, "recipe": recipe, "seed": seed, "model": str(out), "best_epoch": trained["best_epoch"],
            "epochs_run": trained["epochs_run"], "train_seconds": trained["train_seconds"],
            "labels": predicted_labels(out, test, device)}


def compare(rows: list[dict], gold: list[str], agree: list[bool] | None) -> list[dict]:
    from ml_core.stats import discordant_counts, paired_accuracy_from_answers

    by_seed: dict[int, dict[str, dict]] = {}
    for row in rows:
        right = [p == g for p, g in zip(row["labels"], gold, strict=True)]
        row["accuracy"] = sum(right) / len(right)
        row["n_test"] = len(right)
        if agree is not None:
            subset = [r for r, a in zip(right, agree) if a]
            row["allagree_accuracy"], row["n_allagree"] = sum(subset) / len(subset), len(subset)
        row["right"] = right
        by_seed.setdefault(row["seed"], {})[row["recipe"]] = row
    pairs = []
    for seed, recipes in sorted(by_seed.items()):
        if {"defaults", "plain"} <= recipes.keys():
            first, second = recipes["defaults"]["right"], recipes["plain"]["right"]
            only_first, only_second = discordant_counts(first, second)
            pairs.append({"seed": seed, "only_first_right": only_first, "only_second_right": only_second,
                          **paired_accuracy_from_answers(first, second).to_dict()})
    return pairs


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--banking77", type=Path, default=data_path("banking77"), help="folder with train.csv, test.csv")
    p.add_argument("--phrasebank", type=Path, default=data_path("financial_phrasebank", "financial_phrasebank.csv"))
    p.add_argument("--sets", default="phrasebank", help=f"comma-separated, from {', '.join(SETS)}")
    p.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, from {', '.join(RECIPES)}")
    p.add_argument("--seeds", default="42,43,44", help="training seeds (the test split stays the same)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per training")
    p.add_argument("--work", type=Path, default=None, help="folder for splits and models (default: a temp folder)")
    args = p.parse_args()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(SETS)) + sorted(set(recipes) - set(RECIPES))
    if unknown or not seeds:
        p.error(f"unknown set or recipe: {', '.join(unknown)}" if unknown else "give at least one seed")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-recipes-"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["--device", args.device, "--threads", str(args.threads)]

    from ml_core.data import load_labelled

    results: dict[str, dict] = {}
    for name in sets:
        if name == "phrasebank":
            train, test = work / "phrasebank-train.csv", work / "phrasebank-test.csv"
            run_cli("split-data", "--data", str(args.phrasebank), "--test-fraction", "0.2", "--seed", "54",
                    "--out-train", str(train), "--out-test", str(test))
            data_args: list[str] = []
        else:
            train, test = args.banking77 / "train.csv", args.banking77 / "test.csv"
            data_args = ["--label-col", "category"]
        gold_data = load_labelled(test, label_col="category" if name == "banking77" else "label", dedupe=False,
                                  min_per_class=1)
        agree = ([str(m.get("agreement")) == "100" for m in gold_data.meta]
                 if any("agreement" in m for m in gold_data.meta) else None)
        rows = [train_recipe(name, recipe, seed, train, test, work, data_args, common, args.device)
                for seed in seeds for recipe in recipes]
        pairs = compare(rows, list(gold_data.labels), agree)
        for row in rows:
            print(json.dumps({k: v for k, v in row.items() if k not in ("labels", "right")}), file=sys.stderr)
        results[name] = {"rows": [{k: v for k, v in r.items() if k not in ("labels", "right")} for r in rows],
                         "pairs": pairs}

    for name, result in results.items():
        columns = ["recipe", "seed", "accuracy", "n test", "best epoch", "train s"]
        if any("allagree_accuracy" in r for r in result["rows"]):
            columns[3:3] = ["all-agree", "n all-agree"]
        table = []
        for r in result["rows"]:
            cells = {"recipe": r["recipe"], "seed": r["seed"], "accuracy": f"{r['accuracy']:.4f}",
                     "n test": r["n_test"], "best epoch": f"{r['best_epoch']} of {r['epochs_run']}",
                     "train s": f"{r['train_seconds']:.0f}"}
            if "all-agree" in columns:
                cells.update({"all-agree": f"{r['allagree_accuracy']:.4f}", "n all-agree": r["n_allagree"]})
            table.append([cells[c] for c in columns])
        for recipe in recipes:
            accs = [r["accuracy"] for r in result["rows"] if r["recipe"] == recipe]
            result.setdefault("mean_accuracy", {})[recipe] = sum(accs) / len(accs)
        print_table(f"{name}: recipes over seeds {', '.join(map(str, seeds))}", columns, table)
        if result["pairs"]:
            print_table(f"{name}: plain - defaults, text by text (same seed)",
                        ["seed", "defaults", "plain", "difference (points)", "95 % interval", "only defaults right",
                         "only plain right", "McNemar p"],
                        [[q["seed"], f"{q['first']:.4f}", f"{q['second']:.4f}", f"{100 * q['difference']:+.2f}",
                          f"{100 * q['low']:+.2f} .. {100 * q['high']:+.2f}", q["only_first_right"],
                          q["only_second_right"], "n/a" if q["p_value"] is None else f"{q['p_value']:.3f}"]
                         for q in result["pairs"]])
        print("mean accuracy over seeds: " + ", ".join(f"{k} {v:.4f}" for k, v in result["mean_accuracy"].items()))
    finish({"sets": results, "seeds": seeds, "recipes": {r: RECIPES[r] for r in recipes}}, args.json)


if __name__ == "__main__":
    main()
