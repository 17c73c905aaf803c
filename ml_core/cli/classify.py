"""Text classifiers: `train-classifier`, `evaluate`, `predict`, `tune-classifier`.

    python -m ml_core train-classifier --train train.csv --text-col text --label-col label --out model/
    python -m ml_core train-classifier --train train.csv --out model/ --compress   # ends in the fast variant
    python -m ml_core evaluate --model model/ --data test.csv --text-col text --label-col label
    python -m ml_core predict --model model/ --text "my card has not arrived"
    python -m ml_core tune-classifier --train train.csv --valid valid.csv --trials 8 --methods head,full

Results are JSON on stdout (one object, or one line per text for predict); progress bars go to
stderr. Under torchrun, train-classifier trains data-parallel and rank 0 writes the model.

`train-classifier --compress` does what the app's training job does by default: once trained,
the model is exported to ONNX and quantized to int8 (dynamic and static), every variant is scored
on the validation data (--valid, else the split the trainer held out) and timed, and the fastest
within --max-drop accuracy points of fp32 is what the folder serves (its serving.json; the fp32
weights stay, `--backend torch` serves them). Without it the folder is the fp32 model, and
`python -m ml_core compress --model model/ --out model-int8/ --method onnx,int8,int8-static
--data valid.csv --train train.csv` is the second step (ml_core.cli.compress).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Self


def _data_options(parser: argparse.ArgumentParser, *, labels: bool = True) -> None:
    parser.add_argument("--text-col", default="text", help="column holding the text (default: text)")
    if labels:
        parser.add_argument("--label-col", default="label", help="column holding the label (default: label)")
        parser.add_argument("--label-map", default=None,
                            help='rename raw labels: "0=bearish,1=bullish", a JSON object or a JSON file')
    parser.add_argument("--encoding", default="utf-8", help="file encoding (default: utf-8)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")


def register(commands: argparse._SubParsersAction) -> None:
    from ml_core.training.config import RECIPES  # no torch: the parser stays cheap to build

    train = commands.add_parser("train-classifier", help="train a text classifier (head, full or LoRA)",
                                description="Train a text classifier and write its model folder.")
    train.add_argument("--train", required=True, help="CSV or JSON Lines file of labelled texts")
    train.add_argument("--valid", default=None,
                       help="validation file (default: a stratified share of --train, see --valid-fraction)")
    train.add_argument("--out", required=True, help="model folder to create (must not exist)")
    _data_options(train)
    train.add_argument("--method", choices=("head", "full", "lora"), default="full")
    train.add_argument("--base", default=None, help="backbone name or folder (default: bundled all-MiniLM-L6-v2)")
    train.add_argument("--recipe", choices=sorted(RECIPES), default=None,
                       help="a measured set of fine-tuning options (ml_core.training.RECIPES; --config and flags win)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--lr", type=float, default=None, help="encoder (full) or adapter (lora) learning rate")
    train.add_argument("--head-lr", type=float, default=None, help="learning rate of the classification head")
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--max-length", type=int, default=None, help="tokens per text (longer texts are cut)")
    train.add_argument("--class-weights", choices=("balanced",), default=None,
                       help="weigh the loss by inverse class frequency")
    train.add_argument("--label-smoothing", type=float, default=None,
                       help="share of each target spread over the other labels (e.g. 0.1)")
    train.add_argument("--valid-fraction", type=float, default=None)
    train.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (0: off)")
    train.add_argument("--train-top-layers", type=int, default=None, metavar="N",
                       help="full method: train only the top N transformer layers and the head (default 0: all)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    train.add_argument("--config", default=None,
                       help="JSON file of further ClassifierConfig options (command-line flags win)")
    train.add_argument("--checkpoint-dir", default=None,
                       help="where epoch checkpoints go; a rerun resumes from them (default: OUT.checkpoints)")
    train.add_argument("--no-dedupe", action="store_true", help="keep repeated (text, label) rows")
    train.add_argument("--min-per-class", type=int, default=2)
    train.add_argument("--compress", action=argparse.BooleanOptionalAction, default=False,
                       help="then export to ONNX, quantize to int8 (dynamic, static) and serve the fastest variant "
                            "within --max-drop points of fp32 on the validation data, as the app does (default: off)")
    train.add_argument("--max-drop", type=float, default=0.5,
                       help="with --compress: largest accuracy drop against fp32 allowed, in points (default 0.5)")
    from .augment import add_training_flags

    add_training_flags(train)  # --augment, --few-shot-k, --adversarial... (ml_core.cli.augment)
    train.set_defaults(handler=run_train)

    evaluate = commands.add_parser("evaluate", help="score a classifier on labelled data (JSON)")
    evaluate.add_argument("--model", required=True, help="model folder written by train-classifier")
    evaluate.add_argument("--data", required=True, help="CSV or JSON Lines file of labelled texts")
    _data_options(evaluate)
    evaluate.add_argument("--where", default=None, metavar="COLUMN=VALUE",
                          help="score only rows whose COLUMN equals VALUE (e.g. agreement=100)")
    evaluate.add_argument("--report", default=None, help="also write the full report (per class, confusion) here")
    evaluate.set_defaults(handler=run_evaluate)

    predict = commands.add_parser("predict", help="label texts with a classifier (JSON lines)")
    predict.add_argument("--model", required=True, help="model folder written by train-classifier")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="a text to label (repeatable)")
    source.add_argument("--data", help="CSV / JSON Lines (with --text-col) or .txt (one text per line)")
    _data_options(predict, labels=False)
    predict.add_argument("--top-k", type=int, default=3)
    predict.set_defaults(handler=run_predict)

    split = commands.add_parser("split-data", help="stratified train/test split of a labelled file (CSV out)")
    split.add_argument("--data", required=True, help="CSV or JSON Lines file of labelled texts")
    _data_options(split)
    split.add_argument("--test-fraction", type=float, default=0.2)
    split.add_argument("--seed", type=int, default=54)
    split.add_argument("--out-train", required=True, help="CSV to write the training part to")
    split.add_argument("--out-test", required=True, help="CSV to write the test part to")
    split.set_defaults(handler=run_split)

    tune = commands.add_parser("tune-classifier", help="hyperparameter search (optuna); prints every trial")
    tune.add_argument("--train", required=True)
    tune.add_argument("--valid", default=None)
    _data_options(tune)
    tune.add_argument("--base", default=None)
    tune.add_argument("--trials", type=int, default=6)
    tune.add_argument("--methods", default="head,full,lora", help="comma-separated methods to try")
    tune.add_argument("--max-epochs", type=int, default=4)
    tune.add_argument("--seed", type=int, default=42)
    tune.set_defaults(handler=run_tune)


class _LoggedProgress:
    """Progress for a terminal (tqdm bar) that also logs every few percent when stderr is a log file."""

    def __init__(self, description: str, disable: bool | None = None, step: float = 5.0) -> None:
        from ml_core.progress import TqdmProgress

        self.bar = TqdmProgress(description, disable=disable)
        self.quiet_bar = not sys.stderr.isatty() and disable is not True
        self.step = step
        self.next_log = 0.0

    def __call__(self, percent: float, message: str = "") -> None:
        self.bar(percent, message)
        if self.quiet_bar and percent >= self.next_log:
            import logging

            logging.getLogger("ml_core.cli").info("%3.0f%% %s", percent, message)
            self.next_log = (percent // self.step + 1) * self.step

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _config(args: argparse.Namespace):
    from ml_core.cli import config_file_options
    from ml_core.training import RECIPES, ClassifierConfig

    options = {**RECIPES.get(args.recipe or "", {}), **config_file_options(args.config)}
    flags = {
        "method": args.method, "base_model": args.base, "epochs": args.epochs, "seed": args.seed,
        "learning_rate": args.lr, "head_learning_rate": args.head_lr, "batch_size": args.batch_size,
        "max_length": args.max_length, "class_weights": args.class_weights,
        "valid_fraction": args.valid_fraction, "early_stopping_patience": args.patience,
        "label_smoothing": args.label_smoothing, "cpu_threads": args.threads, "device": args.device,
        "train_top_layers": args.train_top_layers,
    }
    options.update({k: v for k, v in flags.items() if v is not None})
    from .augment import training_plugins

    plugins = training_plugins(args)
    if plugins:
        options["plugins"] = {**(options.get("plugins") or {}), **plugins}
    return ClassifierConfig.from_dict(options).validate()


def _load(args: argparse.Namespace, path: str, *, min_per_class: int = 2, dedupe: bool = True,
          allowed_labels=None):
    from ml_core.data import load_labelled

    return load_labelled(path, text_col=args.text_col, label_col=args.label_col, label_map=args.label_map,
                         encoding=args.encoding, dedupe=dedupe, min_per_class=min_per_class,
                         allowed_labels=allowed_labels)


def run_train(args: argparse.Namespace) -> int:
    from ml_core.artifacts import ArtifactError, atomic_directory
    from ml_core.errors import UserError
    from ml_core.progress import sub_progress
    from ml_core.training import train_classifier
    from ml_core.training.distributed import env_rank

    config = _config(args)
    if args.compress and args.max_drop < 0:
        raise UserError(f"--max-drop must be >= 0 points, not {args.max_drop}")
    out = Path(args.out)
    if out.exists():
        raise ArtifactError(f"output folder {out} already exists; choose a new --out")
    train = _load(args, args.train, min_per_class=args.min_per_class, dedupe=not args.no_dedupe)
    valid = _load(args, args.valid, min_per_class=1, dedupe=not args.no_dedupe) if args.valid else None
    checkpoint_dir = Path(args.checkpoint_dir) if args.checkpoint_dir else out.with_name(out.name + ".checkpoints")
    main_rank = env_rank() == 0
    compression = None
    with _LoggedProgress(f"train {config.method}", disable=None if main_rank else True) as progress:
        if main_rank:
            with atomic_directory(out) as folder:
                result = train_classifier(config, train, folder, valid=valid,
                                          progress=sub_progress(progress, 0.0, 80.0) if args.compress else progress,
                                          checkpoint_dir=checkpoint_dir)
                if args.compress:
                    compression = _compress_trained(folder, out, config, train, valid, max_drop=args.max_drop,
                                                    progress=sub_progress(progress, 80.0, 100.0))
        else:
            result = train_classifier(config, train, None, valid=valid, checkpoint_dir=checkpoint_dir)
    if main_rank:
        print(json.dumps({"out": str(out), "labels": len(result.labels), **result.metrics,
                          "resumed_from_epoch": result.resumed_from_epoch,
                          **({"compression": compression} if compression else {})}, default=str))
    return 0


def _compress_trained(folder: Path, out: Path, config, train, valid, *, max_drop: float, progress) -> dict:
    """Compress the model being written in `folder` (before it is renamed to `out`) and make the
    folder serve the promoted variant; returns what was promoted and why."""
    import shutil
    import tempfile

    from ml_core.compression import CompressionConfig, compress_classifier
    from ml_core.compression.pipeline import REPORT_FILE
    from ml_core.data import stratified_split
    from ml_core.serving.onnx_backend import SERVING_FILE

    if valid is None:  # the split the trainer held out: same fraction, same seed
        train, valid = stratified_split(train, test_fraction=config.valid_fraction, seed=config.seed)
    options = CompressionConfig(max_accuracy_drop=max_drop, threads=config.cpu_threads or 0)
    work = Path(tempfile.mkdtemp(prefix=".compress-", dir=out.parent))
    try:
        result = compress_classifier(folder, eval_data=valid, train_data=train, config=options,
                                     out_dir=work / "promoted", work_dir=work, progress=progress)
        report = {**result.report, "model": str(out)}
        if result.out_dir is not None:  # the model's own files plus the ONNX file and serving.json
            for path in result.out_dir.iterdir():
                if path.is_file() and not (folder / path.name).exists():
                    shutil.copyfile(path, folder / path.name)
            serving = json.loads((result.out_dir / SERVING_FILE).read_text())
            (folder / SERVING_FILE).write_text(json.dumps({**serving, "compressed_from": str(out)}, indent=2,
                                                          sort_keys=True))
        (folder / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"promoted": result.promoted, "reason": result.reason, "evaluated_on": len(valid)}


def _where(spec: str | None):
    from ml_core.errors import UserError

    if not spec:
        return None
    column, sep, value = spec.partition("=")
    if not sep or not column:
        raise UserError(f"--where {spec!r} is not COLUMN=VALUE")
    return column.strip(), value.strip()


def run_evaluate(args: argparse.Namespace) -> int:
    from ml_core.data import DataError
    from ml_core.evaluation import evaluate
    from ml_core.progress import TqdmProgress
    from ml_core.serving import ClassifierPredictor

    where = _where(args.where)
    predictor = ClassifierPredictor.load(args.model, device=args.device)
    data = _load(args, args.data, min_per_class=1, dedupe=False, allowed_labels=predictor.labels)
    if where:
        column, value = where
        if column not in data.meta[0]:
            raise DataError(f"{args.data} has no column {column!r} for --where")
        data = data.where(lambda _t, _y, meta: str(meta.get(column)) == value)
        if not len(data):
            raise DataError(f"{args.data}: no row has {column} = {value!r}")
    with TqdmProgress("evaluate") as progress:
        report = evaluate(predictor, data, progress=progress)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    summary = {key: value for key, value in report.items()
               if key not in ("per_class", "confusion_matrix", "reliability")}
    summary.update({"model": args.model, "method": predictor.method, "where": args.where})
    print(json.dumps(summary))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from ml_core.data import load_texts
    from ml_core.errors import UserError
    from ml_core.serving import ClassifierPredictor

    if args.top_k < 1:
        raise UserError("--top-k must be at least 1")
    texts = args.text if args.text else load_texts(args.data, text_col=args.text_col, encoding=args.encoding)
    if any(not t.strip() for t in texts):
        raise UserError("--text must not be empty")
    predictor = ClassifierPredictor.load(args.model, device=args.device)
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        for text, prediction in zip(chunk, predictor.predict(chunk, top_k=args.top_k)):
            print(json.dumps({"text": text, "label": prediction.label, "confidence": round(prediction.confidence, 6),
                              "top_k": [[label, round(p, 6)] for label, p in prediction.top_k]}))
        sys.stdout.flush()
    return 0


def _write_csv(path: Path, data, text_col: str, label_col: str) -> None:
    import csv

    extra = sorted({key for meta in data.meta for key in meta})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([text_col, label_col, *extra])
        for text, label, meta in zip(data.texts, data.labels, data.meta):
            writer.writerow([text, label, *(meta.get(key, "") for key in extra)])


def run_split(args: argparse.Namespace) -> int:
    from ml_core.data import label_counts, stratified_split

    data = _load(args, args.data)
    train, test = stratified_split(data, test_fraction=args.test_fraction, seed=args.seed)
    _write_csv(Path(args.out_train), train, args.text_col, args.label_col)
    _write_csv(Path(args.out_test), test, args.text_col, args.label_col)
    print(json.dumps({"train": len(train), "test": len(test), "train_labels": label_counts(train),
                      "test_labels": label_counts(test), **data.stats}))
    return 0


def run_tune(args: argparse.Namespace) -> int:
    from ml_core.errors import UserError
    from ml_core.progress import TqdmProgress
    from ml_core.training import ClassifierConfig
    from ml_core.training.search import SearchSpace, tune_classifier

    train = _load(args, args.train)
    valid = _load(args, args.valid, min_per_class=1) if args.valid else None
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if args.trials < 1:
        raise UserError("--trials must be at least 1")
    base = ClassifierConfig(device=args.device, seed=args.seed,
                            **({"base_model": args.base} if args.base else {}))
    space = SearchSpace(methods=methods, max_epochs=args.max_epochs)
    with TqdmProgress("tune") as progress:
        result = tune_classifier(base, train, valid=valid, space=space, n_trials=args.trials, progress=progress)
    print(json.dumps(result.to_dict(), default=str))
    return 0
