"""Augmentation, few-label training and adversarial training on Banking77 and Financial PhraseBank.

Part `fewshot`: k examples per class (default 10) with and without augmentation, the same
training otherwise (method, epochs, seed, validation set of 3 other examples per class), scored
on the full test set. `--last-epoch` keeps the last epoch instead of the best on that small
validation set (which then only calibrates). Anchor (Banking77, 10-shot): USE+ConveRT 85.19%,
best published 89.79%.
Required: augmentation raises 10-shot Banking77 accuracy by >= 2 points.

Part `adversarial`: full training data with and without adversarial training (FGM or PGD on
the word embeddings): clean accuracy, accuracy under each perturbation, and the TextFooler-style
attack (success rate, accuracy under attack, queries) side by side. Required: the attack
success rate drops by >= 20% relative while clean accuracy drops by <= 1 point.

    .venv/bin/python bench/augmentation.py --parts fewshot --datasets banking77,phrasebank
    .venv/bin/python bench/augmentation.py --parts adversarial --datasets phrasebank --adv-method fgm

Financial PhraseBank is split 80/20 stratified with seed 54 (as in bench/classification.py).
Paraphrases are cached on disk (ML_CACHE_DIR, default ~/.cache/ml_core): a rerun skips them.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

try:
    from bench.common import data_path, finish, parser, peak_memory_mb, print_table
except ImportError:  # run as a script: bench/ is not a package on sys.path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import data_path, finish, parser, peak_memory_mb, print_table

ANCHORS_10SHOT_BANKING77 = {"USE+ConveRT (Casanueva et al. 2020)": 0.8519, "best published": 0.8979}


def load_dataset(name: str, args):
    from ml_core.data import load_labelled, stratified_split

    if name == "banking77":
        train = load_labelled(args.banking77_train, text_col="text", label_col="category")
        test = load_labelled(args.banking77_test, text_col="text", label_col="category", min_per_class=1,
                             dedupe=False)
        return train, test
    if name == "phrasebank":
        data = load_labelled(args.phrasebank, text_col="text", label_col="label")
        return stratified_split(data, test_fraction=0.2, seed=54)
    raise SystemExit(f"unknown dataset {name!r} (banking77, phrasebank)")


class LogProgress:
    """Progress lines in the log, at most one every `every` seconds (benchmarks run in the background)."""

    def __init__(self, label: str, every: float = 30.0) -> None:
        self.label, self.every, self.last = label, every, 0.0

    def __call__(self, percent: float, message: str = "") -> None:
        now = time.perf_counter()
        if now - self.last >= self.every:
            self.last = now
            print(f"    [{self.label}] {percent:5.1f}% {message}", flush=True)


def train_and_score(config, train, valid, test, label: str) -> dict:
    from ml_core.evaluation import evaluate
    from ml_core.serving import ClassifierPredictor
    from ml_core.training import train_classifier

    with tempfile.TemporaryDirectory(prefix="bench-aug-") as folder:
        out = Path(folder) / "model"
        started = time.perf_counter()
        result = train_classifier(config, train, out, valid=valid, progress=LogProgress(label))
        seconds = time.perf_counter() - started
        predictor = ClassifierPredictor.load(out, device=result.metrics["device"])
        report = evaluate(predictor, test)
    plugins = result.training_data_summary.get("plugins", {})
    row = {"run": label, "test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
           "n_train": result.metrics["n_train"], "train_seconds": round(seconds, 1),
           "seconds_per_epoch": result.metrics.get("seconds_per_epoch"), "best_epoch": result.metrics["best_epoch"],
           "augmentation": plugins.get("augmentation"), "adversarial": plugins.get("adversarial")}
    print(f"  {label}: test accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, "
          f"{row['n_train']} training rows, best epoch {row['best_epoch']}, {seconds:.0f} s", flush=True)
    return row


def fewshot(name: str, args) -> dict:
    from ml_core.augmentation import few_shot_sample
    from ml_core.training import ClassifierConfig

    train, test = load_dataset(name, args)
    # Validation: 3 other examples per class (early stopping, calibration), the same for both runs.
    valid = few_shot_sample(train, 3, args.seed + 1)
    held = set(zip(valid.texts, valid.labels))
    pool = train.where(lambda t, y, _m: (t, y) not in held)
    base = {"few_shot_k": args.k, "seed": args.seed}
    augmentation = {**base, "ops": args.ops.split(","), "per_example": args.per_example,
                    "paraphrase_batch_size": args.paraphrase_batch_size, "synonyms": args.synonyms}
    rows = []
    print(f"\n{name}: {args.k} examples per class, test {len(test)}", flush=True)
    for method in args.methods.split(","):
        config = {"method": method, "epochs": args.fewshot_epochs, "seed": args.seed, "cpu_threads": args.threads,
                  "early_stopping_patience": 0, "batch_size": 16, "restore_best": not args.last_epoch}
        for label, options in (("without augmentation", {**base, "ops": []}), ("with augmentation", augmentation)):
            rows.append({"method": method, **train_and_score(
                ClassifierConfig(**config, plugins={"augmentation": options}), pool, valid, test,
                f"{method}, {label}")})
    return {"dataset": name, "k": args.k, "n_test": len(test), "rows": rows}


def adversarial(name: str, args) -> dict:
    from ml_core.augmentation.encoder import shared_embedder
    from ml_core.serving import ClassifierPredictor
    from ml_core.training import ClassifierConfig, train_classifier
    from ml_core.trust.robustness import AttackSettings, RobustnessSettings, evaluate_robustness

    train, test = load_dataset(name, args)
    adv = {"method": args.adv_method, "epsilon": args.adv_epsilon, "norm": args.adv_norm}
    if args.adv_method == "pgd":
        adv["steps"] = args.pgd_steps
    runs = [("standard", {}), (f"{args.adv_method} eps={args.adv_epsilon}/{args.adv_norm}", {"adversarial": adv})]
    runs = [run for run, keep in zip(runs, (args.adv_arms != "adversarial", args.adv_arms != "standard")) if keep]
    embedder = shared_embedder(None, "cpu")
    settings = RobustnessSettings(attack=AttackSettings(max_examples=args.attack_examples, seed=args.seed),
                                  seed=args.seed)
    rows = []
    print(f"\n{name}: full training data ({len(train)}), test {len(test)}", flush=True)
    for label, plugins in runs:
        config = ClassifierConfig(method="full", epochs=args.adv_epochs, seed=args.seed, cpu_threads=args.threads,
                                  plugins=plugins)
        with tempfile.TemporaryDirectory(prefix="bench-adv-") as folder:
            out = Path(folder) / "model"
            started = time.perf_counter()
            result = train_classifier(config, train, out, progress=LogProgress(label))
            seconds = time.perf_counter() - started
            predictor = ClassifierPredictor.load(out, device=result.metrics["device"])
            report = evaluate_robustness(predictor, test, settings=settings, embedder=embedder,
                                         vocabulary_texts=train.texts, progress=LogProgress(f"{label}: robustness"))
        attack = report["attack"]
        row = {"run": label, "clean_accuracy": report["clean_accuracy"],
               **{f"acc_{k}": v["accuracy"] for k, v in report["perturbations"].items()},
               "attack_success_rate": attack["attack_success_rate"],
               "accuracy_under_attack": attack["accuracy_under_attack"],
               "queries_per_example": attack["queries_per_example"], "attacked": attack["attacked"],
               "train_seconds": round(seconds, 1), "seconds_per_epoch": result.metrics.get("seconds_per_epoch"),
               "best_epoch": result.metrics["best_epoch"], "robustness_seconds": report["seconds"],
               "examples": attack["examples"][:3]}
        print(f"  {label}: clean {row['clean_accuracy']:.4f}, attack success {row['attack_success_rate']:.4f}, "
              f"under attack {row['accuracy_under_attack']:.4f}, train {seconds:.0f} s", flush=True)
        rows.append(row)
    if len(rows) < 2:  # one arm only (--adv-arms): compare with the other arm's run by hand
        return {"dataset": name, "n_train": len(train), "n_test": len(test), "rows": rows, "comparison": {}}
    base, adv_row = rows
    comparison = {
        "clean_accuracy_drop_points": round(100 * (base["clean_accuracy"] - adv_row["clean_accuracy"]), 2),
        "attack_success_relative_reduction": round(
            1 - adv_row["attack_success_rate"] / base["attack_success_rate"], 4) if base["attack_success_rate"] else None,
    }
    return {"dataset": name, "n_train": len(train), "n_test": len(test), "rows": rows, "comparison": comparison}


def main() -> None:
    from ml_core.training.adversarial import DEFAULT_EPSILON

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--banking77-train", default=str(data_path("banking77", "train.csv")))
    p.add_argument("--banking77-test", default=str(data_path("banking77", "test.csv")))
    p.add_argument("--phrasebank", default=str(data_path("financial_phrasebank", "financial_phrasebank.csv")))
    p.add_argument("--datasets", default="banking77,phrasebank")
    p.add_argument("--parts", default="fewshot,adversarial")
    p.add_argument("--k", type=int, default=10, help="examples per class in the few-label part")
    p.add_argument("--methods", default="full", help="training methods of the few-label part (head, full, lora)")
    p.add_argument("--ops", default="eda,paraphrase", help="augmentations of the few-label part")
    p.add_argument("--per-example", type=int, default=2)
    p.add_argument("--synonyms", default="encoder",
                   help="synonym source of eda, synonym and word_insertion: encoder, wordnet, a WordNet "
                        "folder or a lexicon file")
    p.add_argument("--paraphrase-batch-size", type=int, default=16)
    p.add_argument("--fewshot-epochs", type=int, default=8)
    p.add_argument("--last-epoch", action="store_true",
                   help="few-label part: keep the last epoch instead of the best on the 3-per-class validation "
                        "(a fixed schedule; 231 validation texts make the choice of epoch noisy)")
    p.add_argument("--adv-method", choices=("fgm", "pgd"), default="fgm")
    p.add_argument("--adv-epsilon", type=float, default=DEFAULT_EPSILON,
                   help=f"FGM/PGD strength per text (default {DEFAULT_EPSILON}: ml_core.training.adversarial)")
    p.add_argument("--adv-norm", choices=("token", "sequence"), default="sequence",
                   help="epsilon bounds each token's or each text's whole perturbation")
    p.add_argument("--pgd-steps", type=int, default=3)
    p.add_argument("--adv-epochs", type=int, default=3)
    p.add_argument("--attack-examples", type=int, default=300, help="test examples the attack runs on")
    p.add_argument("--adv-arms", choices=("both", "standard", "adversarial"), default="both",
                   help="run both trainings of the adversarial part, or one (two processes in parallel)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    figures: dict = {"fewshot": [], "adversarial": []}
    for name in args.datasets.split(","):
        if "fewshot" in args.parts:
            figures["fewshot"].append(fewshot(name, args))
        if "adversarial" in args.parts:
            figures["adversarial"].append(adversarial(name, args))

    for part in figures["fewshot"]:
        rows = []
        by_method: dict[str, dict] = {}
        for row in part["rows"]:
            by_method.setdefault(row["method"], {})[row["run"]] = row
            aug = row.get("augmentation") or {}
            rows.append([row["run"], f"{100 * row['test_accuracy']:.2f}%", f"{100 * row['test_macro_f1']:.2f}%",
                         row["n_train"], aug.get("augmented", 0), row["train_seconds"]])
        if part["dataset"] == "banking77" and part["k"] == 10:
            rows += [[anchor, f"{100 * value:.2f}%", "", "", "", ""] for anchor, value in ANCHORS_10SHOT_BANKING77.items()]
        print_table(f"{part['dataset']}: {part['k']} examples per class, test accuracy ({part['n_test']} texts)",
                    ["run", "accuracy", "macro-F1", "train rows", "augmented", "seconds"], rows)
        for method, runs in by_method.items():
            values = list(runs.values())
            if len(values) == 2:
                gain = 100 * (values[1]["test_accuracy"] - values[0]["test_accuracy"])
                part.setdefault("gain_points", {})[method] = round(gain, 2)
                print(f"  {method}: augmentation changes accuracy by {gain:+.2f} points (required: >= +2 on Banking77)")
    for part in figures["adversarial"]:
        columns = ["run", "clean", *[k for k in part["rows"][0] if k.startswith("acc_")], "attack success",
                   "under attack", "queries/ex", "train s"]
        rows = [[r["run"], r["clean_accuracy"], *[r[k] for k in part["rows"][0] if k.startswith("acc_")],
                 r["attack_success_rate"], r["accuracy_under_attack"], r["queries_per_example"], r["train_seconds"]]
                for r in part["rows"]]
        print_table(f"{part['dataset']}: full training data, with and without adversarial training", columns, rows)
        c = part["comparison"]
        if not c:
            continue
        print(f"  clean accuracy drop: {c['clean_accuracy_drop_points']:.2f} points (required <= 1); "
              f"attack success rate reduction: {100 * (c['attack_success_relative_reduction'] or 0):.1f}% relative "
              f"(required >= 20%)")
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["peak_memory_mb"] = round(peak_memory_mb(), 1)
    finish(figures, args.json)


if __name__ == "__main__":
    main()
