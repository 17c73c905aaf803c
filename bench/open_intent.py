"""Open-intent detection on Banking77, the standard protocol, beside the ADB anchors.

Protocol (Shu et al. 2017; Zhang et al., AAAI 2021, "Deep open intent classification with
adaptive decision boundary"; TEXTOIR): for each known-intent ratio (25 %, 50 %, 75 %) and seed,
that share of the intents is drawn at random; training uses only their training texts (a
stratified slice, --calibration-fraction, is held out to calibrate the open threshold and, for
`full`, to pick the best epoch); every test text is scored, texts of the other intents labelled
"open". Figures: accuracy and macro-F1 over the K+1 classes, F1 of the open class, mean F1 of
the known classes, and the share of known test texts refused beside the calibration target.
Means over the seeds. Anchors: ADB with BERT-base, mean of 10 seeds (accuracy / macro-F1):
25 % 78.85 / 71.62; 50 % 78.86 / 80.90; 75 % 81.08 / 85.96. Required: at every ratio accuracy
and macro-F1 at least the anchor's.

    .venv/bin/python bench/open_intent.py                          # head (frozen shared encoder), 5 seeds
    .venv/bin/python bench/open_intent.py --compare                # every detector on the same splits
    .venv/bin/python bench/open_intent.py --method full --seeds 1 --epochs 2 --ratios 0.75

`head`: the bundled all-MiniLM-L6-v2 embeds every text once (cached with --cache), then each
ratio and seed fits the logistic-regression head (as `train-classifier --method head`) and the
detector in seconds. `full`: each ratio and seed fine-tunes the encoder (ml_core.training),
then the detector is fitted on the fine-tuned embeddings.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

try:
    from bench.common import data_path, finish, parser, peak_memory_mb, print_table
except ImportError:  # run as a script: bench/ is not a package on sys.path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import data_path, finish, parser, peak_memory_mb, print_table

OPEN = "<open>"
RATIOS = ("0.25", "0.5", "0.75")
# ADB (BERT-base), labeled ratio 1.0, mean of 10 seeds: (accuracy, macro-F1) as fractions.
ANCHORS = {"0.25": (0.7885, 0.7162), "0.5": (0.7886, 0.8090), "0.75": (0.8108, 0.8596)}
# Detectors compared with --compare: name -> OpenIntentConfig changes, or a logit score alone.
COMPARED = {
    "knn+maxlogit": {},
    "knn": {"logit_score": None},
    "knn (k=5)": {"logit_score": None, "k": 5},
    "adb radius, calibrated": {"method": "adb", "logit_score": None},
    "centroid": {"method": "centroid", "logit_score": None},
    "mahalanobis": {"method": "mahalanobis", "logit_score": None},
    "msp": "msp",
    "maxlogit": "maxlogit",
    "energy": "energy",
}
# ADB's own rule on these features: open beyond the median-distance radius (no calibration).
ADB_RAW = "adb radius, uncalibrated"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train", type=Path, default=data_path("banking77", "train.csv"))
    p.add_argument("--test", type=Path, default=data_path("banking77", "test.csv"))
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="category")
    p.add_argument("--method", choices=("head", "full"), default="head")
    p.add_argument("--ratios", default=",".join(RATIOS), help="known-intent ratios, comma-separated")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per ratio (the mean is reported)")
    p.add_argument("--target-frr", type=float, default=None,
                   help="share of known texts the detector may refuse (default: OpenIntentConfig's, 0.10)")
    p.add_argument("--calibration-fraction", type=float, default=0.1,
                   help="share of the known training texts held out to calibrate")
    p.add_argument("--compare", action="store_true", help="also score every detector in COMPARED")
    p.add_argument("--backbone", default="all-MiniLM-L6-v2")
    p.add_argument("--cache", type=Path, default=None, help="folder caching the head's embeddings")
    p.add_argument("--epochs", type=int, default=2, help="full: fine-tuning epochs")
    p.add_argument("--lr", type=float, default=5e-5, help="full: encoder learning rate")
    p.add_argument("--max-length", type=int, default=64, help="tokens per text")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch and BLAS)")
    args = p.parse_args()
    ratios = [r.strip() for r in args.ratios.split(",") if r.strip()]
    bad = [r for r in ratios if not _is_ratio(r)]
    if bad or args.seeds < 1 or not 0 < args.calibration_fraction < 0.5:
        p.error(f"ratios must be in (0, 1) (got {', '.join(bad) or 'ok'}), seeds >= 1, "
                "calibration fraction in (0, 0.5)")

    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        figures = run(args, ratios)
    show(figures, args)
    finish(figures, args.json)


def _is_ratio(text: str) -> bool:
    try:
        return 0 < float(text) < 1
    except ValueError:
        return False


# --- the protocol -----------------------------------------------------------------------------
def run(args, ratios: list[str]) -> dict:
    import numpy as np

    from ml_core.data import load_labelled
    from ml_core.open_intent import OpenIntentConfig

    started = time.perf_counter()
    train = load_labelled(args.train, text_col=args.text_col, label_col=args.label_col)
    test = load_labelled(args.test, text_col=args.text_col, label_col=args.label_col, dedupe=False, min_per_class=1)
    config = OpenIntentConfig() if args.target_frr is None else OpenIntentConfig(target_false_rejection=args.target_frr)
    config.validate()
    embed_seconds = 0.0
    if args.method == "head":
        t0 = time.perf_counter()
        train_vectors, test_vectors = head_embeddings(args, train.texts), head_embeddings(args, test.texts)
        embed_seconds = time.perf_counter() - t0
    intents = train.label_set
    runs: dict[str, list[dict]] = {r: [] for r in ratios}
    for ratio in ratios:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            rng = np.random.default_rng(seed)
            known = sorted(rng.choice(intents, round(len(intents) * float(ratio)), replace=False).tolist())
            fit_rows, calibration_rows = split_known(train.labels, set(known), args.calibration_fraction, seed)
            if args.method == "head":
                scored = head_run(args, train, train_vectors, test_vectors, fit_rows, calibration_rows, seed)
            else:
                scored = full_run(args, train, test, fit_rows, calibration_rows, seed)
            truth = [label if label in known else OPEN for label in test.labels]
            rows = evaluate_detectors(args, config, scored, [train.labels[i] for i in fit_rows], truth, known)
            rows["_run"] = {"seed": seed, "known": len(known), "n_fit": len(fit_rows), "n_open_test": truth.count(OPEN),
                            "n_calibration": len(calibration_rows), "seconds": round(time.perf_counter() - t0, 1),
                            **scored.get("training", {})}
            runs[ratio].append(rows)
            main_row = rows["knn+maxlogit" if args.compare else "detector"]
            print(f"ratio {ratio} seed {seed}: accuracy {main_row['accuracy']:.4f} macro-F1 "
                  f"{main_row['macro_f1']:.4f} ({rows['_run']['seconds']} s)", file=sys.stderr, flush=True)
    return summarise(args, config, runs, test, embed_seconds, time.perf_counter() - started)


def split_known(labels: list[str], known: set[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Row numbers of the known intents' training texts: (fit, calibration), stratified by intent."""
    from ml_core.data import LabelledTexts, stratified_split

    rows = [i for i, label in enumerate(labels) if label in known]
    data = LabelledTexts(texts=[str(i) for i in rows], labels=[labels[i] for i in rows])
    fit, calibration = stratified_split(data, test_fraction=fraction, seed=seed)
    return [int(t) for t in fit.texts], [int(t) for t in calibration.texts]


def head_embeddings(args, texts: list[str]):
    """The frozen shared encoder's L2-normalised embeddings (cached on disk with --cache)."""
    import numpy as np

    from ml_core.backbone import encode_texts, load_sentence_encoder, select_device

    cache = None
    if args.cache is not None:
        digest = hashlib.sha256("\0".join([args.backbone, str(args.max_length), *texts]).encode()).hexdigest()[:24]
        cache = args.cache / f"open-intent-{digest}.npy"
        if cache.is_file():
            return np.load(cache)
    encoder = load_sentence_encoder(args.backbone, select_device(args.device, args.threads))
    encoder.max_seq_length = args.max_length
    vectors = encode_texts(encoder, texts, batch_size=64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return vectors


def head_run(args, train, train_vectors, test_vectors, fit_rows, calibration_rows, seed) -> dict:
    """The `head` method's classifier: logistic regression on frozen embeddings (head_c = 10)."""
    from sklearn.linear_model import LogisticRegression

    from ml_core.training import ClassifierConfig

    y = [train.labels[i] for i in fit_rows]
    t0 = time.perf_counter()
    head = LogisticRegression(C=ClassifierConfig().head_c, max_iter=3000, random_state=seed)
    head.fit(train_vectors[fit_rows], y)

    def logits(vectors):
        return vectors @ head.coef_.T + head.intercept_

    return {"labels": list(head.classes_), "fit_vectors": train_vectors[fit_rows],
            "calibration_vectors": train_vectors[calibration_rows],
            "calibration_logits": logits(train_vectors[calibration_rows]),
            "test_vectors": test_vectors, "test_logits": logits(test_vectors),
            "training": {"head_seconds": round(time.perf_counter() - t0, 1)}}


def full_run(args, train, test, fit_rows, calibration_rows, seed) -> dict:
    """Fine-tune the encoder on the fit rows (best epoch on the calibration rows), then embed."""
    from ml_core.open_intent import ClassifierEmbedder
    from ml_core.training import ClassifierConfig, train_classifier

    config = ClassifierConfig(method="full", base_model=args.backbone, epochs=args.epochs, learning_rate=args.lr,
                              max_length=args.max_length, seed=seed, device=args.device,
                              cpu_threads=args.threads, label_smoothing=0.1, early_stopping_patience=0,
                              restore_best=False)  # the last epoch: `full` never falls back to the head alone
    result = train_classifier(config, train.subset(fit_rows), None, valid=train.subset(calibration_rows))
    embedder = ClassifierEmbedder.from_training(result, max_length=args.max_length)
    t0 = time.perf_counter()
    fit_vectors = embedder.embed([train.texts[i] for i in fit_rows])
    calibration_vectors, calibration_logits = embedder.embed_with_logits([train.texts[i] for i in calibration_rows])
    test_vectors, test_logits = embedder.embed_with_logits(test.texts)
    return {"labels": result.labels, "fit_vectors": fit_vectors, "calibration_vectors": calibration_vectors,
            "calibration_logits": calibration_logits, "test_vectors": test_vectors, "test_logits": test_logits,
            "training": {"train_seconds": result.metrics["train_seconds"],
                         "seconds_per_epoch": result.metrics["seconds_per_epoch"],
                         "best_epoch": result.metrics["best_epoch"], "embed_seconds": round(time.perf_counter() - t0, 1),
                         "valid_accuracy": result.metrics["accuracy"]}}


def evaluate_detectors(args, config, scored: dict, fit_labels: list[str], truth: list[str], known: list[str]) -> dict:
    """Figures of the detector (and, with --compare, of every compared one) on this split."""
    import numpy as np

    from ml_core.open_intent import LOGIT_SCORES, CalibrationCurve, OpenIntentConfig, OpenIntentDetector

    predicted = [scored["labels"][i] for i in np.argmax(scored["test_logits"], axis=1)]
    variants = COMPARED if args.compare else {"detector": {}}
    rows = {}
    for name, variant in variants.items():
        if isinstance(variant, str):  # a logit score alone, thresholded on the same calibration texts
            score = LOGIT_SCORES[variant]
            curve = CalibrationCurve.from_scores(score(scored["calibration_logits"]))
            refused = score(scored["test_logits"]) < curve.threshold_for(config.target_false_rejection)
        else:
            detector = OpenIntentDetector.fit(
                scored["fit_vectors"], fit_labels, config=OpenIntentConfig(**{**config.to_dict(), **variant}),
                calibration_vectors=scored["calibration_vectors"], calibration_logits=scored["calibration_logits"])
            refused = detector.is_open(scored["test_vectors"], scored["test_logits"]
                                       if detector.config.logit_score else None)
            if name == "adb radius, calibrated":
                # ADB's rule itself: open beyond the radius, i.e. below a score of -1 (no calibration).
                raw = detector.scores(scored["test_vectors"]) < -1.0
                rows[ADB_RAW] = open_metrics([OPEN if r else p for r, p in zip(raw, predicted)], truth, known)
        rows[name] = open_metrics([OPEN if r else p for r, p in zip(refused, predicted)], truth, known)
    return rows


def open_metrics(predicted: list[str], truth: list[str], known: list[str]) -> dict:
    """Accuracy, macro-F1 over known + open, open F1, mean known F1 (ADB's F_measure), refused known."""
    from sklearn.metrics import accuracy_score, f1_score

    classes = [*known, OPEN]
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0)
    known_rows = [i for i, t in enumerate(truth) if t != OPEN]
    return {"accuracy": float(accuracy_score(truth, predicted)), "macro_f1": float(per_class.mean()),
            "open_f1": float(per_class[-1]), "known_f1": float(per_class[:-1].mean()),
            "known_refused": sum(predicted[i] == OPEN for i in known_rows) / len(known_rows)}


def summarise(args, config, runs: dict, test, embed_seconds: float, wall_seconds: float) -> dict:
    import numpy as np

    def mean_of(rows: list[dict], name: str) -> dict:
        return {key: round(float(np.mean([r[name][key] for r in rows])), 4) for key in rows[0][name]}

    names = [n for n in runs[next(iter(runs))][0] if n != "_run"]
    main_name = "knn+maxlogit" if args.compare else "detector"
    results, comparison = {}, {}
    for ratio, rows in runs.items():
        results[ratio] = {
            **mean_of(rows, main_name), "seeds": [r["_run"]["seed"] for r in rows],
            "per_seed": [{"seed": r["_run"]["seed"], **{k: round(v, 4) for k, v in r[main_name].items()}}
                         for r in rows],
            "n_known_intents": rows[0]["_run"]["known"], "n_fit": rows[0]["_run"]["n_fit"],
            "n_calibration": rows[0]["_run"]["n_calibration"], "n_test": len(test),
            "n_open_test": [r["_run"]["n_open_test"] for r in rows],
            "seconds_per_seed": round(float(np.mean([r["_run"]["seconds"] for r in rows])), 1),
            "training": [{k: v for k, v in r["_run"].items() if k not in ("seed", "known", "n_open_test")}
                         for r in rows],
            "anchor_accuracy": ANCHORS.get(ratio, (None, None))[0], "anchor_macro_f1": ANCHORS.get(ratio, (None, None))[1],
        }
        if args.compare:
            comparison[ratio] = {name: mean_of(rows, name) for name in names}
    return {"results": results, "comparison": comparison or None, "method": args.method,
            "detector": config.to_dict(), "target_false_rejection": config.target_false_rejection,
            "calibration_fraction": args.calibration_fraction, "seeds": args.seeds, "backbone": args.backbone,
            "max_length": args.max_length, "epochs": args.epochs if args.method == "full" else None,
            "embed_seconds": round(embed_seconds, 1), "wall_seconds": round(wall_seconds, 1),
            "load_average": round(os.getloadavg()[0], 1), "threads": args.threads,
            "peak_rss_mb": round(peak_memory_mb(), 1), "train": str(args.train), "test": str(args.test)}


def show(figures: dict, args) -> None:
    def met(row: dict, ratio: str) -> str:
        anchor = ANCHORS.get(ratio)
        if anchor is None:
            return ""
        return "yes" if row["accuracy"] >= anchor[0] and row["macro_f1"] >= anchor[1] else "NO"

    target = figures["target_false_rejection"]
    print_table(
        f"Banking77 open intents, {args.method}, knn+maxlogit detector, target refused known {target:.0%}, "
        f"mean of {args.seeds} seed(s); anchor ADB (BERT-base, 10 seeds)",
        ["known ratio", "accuracy", "macro-F1", "open F1", "known F1", "known refused", "anchor acc",
         "anchor F1", "met"],
        [[ratio, r["accuracy"], r["macro_f1"], r["open_f1"], r["known_f1"], r["known_refused"],
          r["anchor_accuracy"], r["anchor_macro_f1"], met(r, ratio)] for ratio, r in figures["results"].items()])
    if figures["comparison"]:
        for ratio, table in figures["comparison"].items():
            print_table(f"detectors compared, known ratio {ratio} (same splits; target refused known {target:.0%})",
                        ["detector", "accuracy", "macro-F1", "open F1", "known F1", "known refused"],
                        [[name, r["accuracy"], r["macro_f1"], r["open_f1"], r["known_f1"], r["known_refused"]]
                         for name, r in table.items()])
    print(f"\nwall {figures['wall_seconds']} s (embedding {figures['embed_seconds']} s), load average "
          f"{figures['load_average']} on this machine, {args.threads} thread(s)")


if __name__ == "__main__":
    main()
