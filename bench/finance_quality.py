"""Finance sentiment quality through distillation: teacher -> MiniLM student -> int8, beside FinBERT.

Stages, each with the API the CLI runs (so every figure can be reproduced by hand):

1. the teacher (`--teacher-base`, default the optional large all-mpnet-base-v2 of `make
   models-large`) is fine-tuned on the labelled training split (`python -m ml_core
   train-classifier --base mpnet --method full --recipe plain-top2`: its top 2 layers, 3 epochs);
   with --teacher-start FILE it is first fine-tuned on that labelled file of the same labels (the
   Twitter financial news: --teacher-start-epochs, default 1) and the PhraseBank stage starts from it;
2. it labels a transfer set with its logits (the training texts plus the unlabelled Twitter
   financial-news sentences) and the bundled all-MiniLM-L6-v2 student learns from them
   (`python -m ml_core distill`, ml_core.compression.distill_across);
3. the student goes through the int8 guardrail (`compress --method int8`, at most `--max-drop`
   accuracy points lost), judged on the split the student held out of the training data (the
   test rows are never used to decide anything); the served model is the int8 student when it
   passes, else the fp32 student.

Then each stage is scored on all test rows and on those with `agreement` = 100 (when the test
file has that column: the Financial PhraseBank's share of annotators who agreed), and the served
model and the student's own fp32 PyTorch model (all-MiniLM-L6-v2, "fp32 MiniLM") are timed side
by side in one run (ml_core.compression.measure_side_by_side, batch 32, interleaved rounds).

Anchor: FinBERT 0.86 on all agreement levels, 0.97 on all-agree sentences (Araci 2019).
Required here: served >= 0.86 / >= 0.97, and the served model >= 3x the texts/s of fp32 MiniLM.

    python bench/finance_quality.py --json                  # the seed-54 20 % split, Twitter unlabelled
    python bench/finance_quality.py --train TRAIN.csv --test TEST.csv --unlabelled more.csv --json
    python bench/finance_quality.py --extra-teacher all-MiniLM-L6-v2:plain --json   # an ensemble teacher
    python bench/finance_quality.py --teacher WORK/teacher WORK/teacher-2 --json     # reuse trained teachers
    python bench/finance_quality.py --teacher-start ../shared/data/twitter_financial_news_sentiment/sent_train.csv \
        --teacher-start-valid ../shared/data/twitter_financial_news_sentiment/sent_valid.csv \
        --teacher-start-labels "0=negative,1=positive,2=neutral" --json   # the teacher starts on the Twitter labels
    python bench/finance_quality.py --teacher-base all-MiniLM-L6-v2 --teacher-method head \\
        --limit-train 200 --limit-test 100 --max-unlabelled 100 --student-epochs 1   # a smoke run

Without --test, --train is split 80/20, stratified, seed 54 (as bench/finance_sentiment.py and
bench/classification.py do). Models go to --work (default: a temporary folder).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

try:
    from bench.common import data_path, finish, parser, print_table, progress_printer
except ImportError:  # run as a script: bench/ is not a package on sys.path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import data_path, finish, parser, print_table, progress_printer

ANCHOR = {"name": "FinBERT (Araci 2019)", "accuracy": 0.86, "allagree_accuracy": 0.97}
REQUIRED = {"served_accuracy": 0.86, "served_allagree_accuracy": 0.97, "served_speedup": 3.0}
TWITTER = data_path("twitter_financial_news_sentiment")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_teacher_base(name: str) -> None:
    """A large model named but not installed fails here, before any data is read or model trained."""
    from ml_core.large_models import INSTALL_HINT, installed_path, large_model_for, models_dir

    model = large_model_for(name)
    if model is not None and installed_path(model) is None:
        raise SystemExit(f"error: the teacher backbone {name!r} ({model.name}) is not installed in {models_dir()}; "
                         f"{INSTALL_HINT}, or pick another --teacher-base")


def load_splits(args):
    """(train, test, description): --test as given, else the stratified 80/20 seed-54 split of --train."""
    from ml_core.data import load_labelled, stratified_split

    if args.test:
        test = load_labelled(args.test, dedupe=False, min_per_class=1)
        held = set(test.texts)
        train = load_labelled(args.train).where(lambda text, label, meta: text not in held)
        described = f"{args.train} -> {args.test} (training texts that are in the test file dropped)"
    else:
        train, test = stratified_split(load_labelled(args.train), test_fraction=0.2, seed=54)
        described = f"{args.train}, stratified 20% split, seed 54"
    if args.limit_train and len(train) > args.limit_train:
        _, train = stratified_split(train, test_fraction=args.limit_train / len(train), seed=54)
        described += f"; training limited to {len(train)} rows (stratified)"
    if args.limit_test and len(test) > args.limit_test:
        _, test = stratified_split(test, test_fraction=args.limit_test / len(test), seed=54)
        described += f"; test limited to {len(test)} rows (stratified)"
    return train, test, described


def load_unlabelled(paths: list[Path]) -> list[str]:
    from ml_core.data import load_texts

    texts: list[str] = []
    for path in paths:
        found = load_texts(path, text_col="text")
        if not found:
            raise SystemExit(f"error: {path} has no texts")
        texts.extend(found)
    return texts


def teacher_options(args, recipe_name: str, base: str) -> dict:
    """The teacher's ClassifierConfig options: the recipe's, then the teacher flags."""
    from ml_core.training import RECIPES

    options = {**RECIPES.get(recipe_name, {}), "method": args.teacher_method, "base_model": base,
               "device": args.device, "cpu_threads": args.threads, "seed": args.seed}
    if options["method"] != "full":  # which layers to train means nothing to a frozen encoder
        options.pop("train_top_layers", None)
    if args.teacher_lr:
        options["learning_rate"] = args.teacher_lr
    if args.teacher_top_layers:
        options["train_top_layers"] = args.teacher_top_layers
    return options


def load_start(args, test) -> tuple:
    """--teacher-start's labelled texts (and --teacher-start-valid's), less every test text."""
    from ml_core.data import load_labelled

    held = set(test.texts)
    loaded = []
    for path in (args.teacher_start, args.teacher_start_valid):
        if path is None:
            loaded.append(None)
            continue
        data = load_labelled(path, label_map=args.teacher_start_labels)
        loaded.append(data.where(lambda text, label, meta: text not in held))
    return loaded[0], loaded[1]


def train_teacher_start(args, start, start_valid, labels: list[str], out: Path) -> dict:
    """The teacher's first stage (--teacher-start): the teacher backbone fine-tuned on another
    labelled set of the same labels (e.g. the Twitter financial news, 9,543 texts), whose folder the
    PhraseBank stage then starts from as its --base."""
    from ml_core.artifacts import atomic_directory
    from ml_core.data import stratified_split
    from ml_core.training import ClassifierConfig, train_classifier

    for name, data in (("--teacher-start", start), ("--teacher-start-valid", start_valid)):
        if data is not None and data.label_set != sorted(labels):
            raise SystemExit(f"error: {name} has the labels {data.label_set}, the training split {sorted(labels)}; "
                             f"map them with --teacher-start-labels RAW=LABEL,...")
    options = teacher_options(args, args.teacher_recipe, args.teacher_base)
    options["epochs"] = args.teacher_start_epochs
    config = ClassifierConfig.from_dict(options).validate()
    recipe = f"--recipe {args.teacher_recipe} " if args.teacher_recipe != "defaults" else ""
    log(f"$ python -m ml_core train-classifier --train {args.teacher_start} "
        + (f"--valid {args.teacher_start_valid} " if start_valid is not None else "")
        + (f'--label-map "{args.teacher_start_labels}" ' if args.teacher_start_labels else "")
        + f"--out {out} --method {config.method} {recipe}--base {config.base_model} --epochs {config.epochs} "
        f"--seed {config.seed} --device {args.device} --threads {args.threads}"
        + (f" --train-top-layers {config.train_top_layers}" if config.train_top_layers else ""))
    if start_valid is None:
        start, start_valid = stratified_split(start, test_fraction=config.valid_fraction, seed=config.seed)
    started = time.perf_counter()
    with atomic_directory(out) as folder:
        result = train_classifier(config, start, folder, valid=start_valid, progress=progress_printer(out.name))
    accuracy = result.metrics.get("accuracy")
    return {"seconds": round(time.perf_counter() - started, 1),
            "valid_accuracy": round(accuracy, 4) if accuracy is not None else None,
            "n_train": len(start), "n_valid": len(start_valid),
            "epochs": config.epochs, "file": str(args.teacher_start), "path": str(out)}


def train_teacher(args, train, out: Path, member: dict | None = None, base: str | None = None) -> dict:
    """The teacher as the flags describe it (from `base`, else --teacher-base), or an extra
    ensemble member (`member`: base, recipe, seed from --extra-teacher; the teacher's epoch,
    learning-rate and layer flags do not apply)."""
    from ml_core.artifacts import atomic_directory
    from ml_core.data import stratified_split
    from ml_core.training import RECIPES, ClassifierConfig, train_classifier

    recipe_name = member["recipe"] if member else args.teacher_recipe
    if member:
        options = {**RECIPES.get(recipe_name, {}), "method": "full", "base_model": member["base"],
                   "device": args.device, "cpu_threads": args.threads, "seed": member["seed"]}
    else:
        options = teacher_options(args, recipe_name, base or args.teacher_base)
        if args.teacher_epochs:
            options["epochs"] = args.teacher_epochs
    config = ClassifierConfig.from_dict(options).validate()
    # Every member holds out the texts the distillation holds out (those of --seed), whatever its
    # own seed: a member trained on them would make the ensemble's held-out figures flatter it.
    fit, valid = stratified_split(train, test_fraction=config.valid_fraction, seed=args.seed)
    recipe = f"--recipe {recipe_name} " if recipe_name in RECIPES else ""
    log(f"$ python -m ml_core train-classifier --train TRAIN --out {out} --method {config.method} {recipe}"
        f"--base {config.base_model} --epochs {config.epochs} --lr {config.learning_rate} --device {args.device} "
        f"--seed {config.seed} --threads {args.threads}"
        + (f" --train-top-layers {config.train_top_layers}" if config.train_top_layers else ""))
    started = time.perf_counter()
    with atomic_directory(out) as folder:
        result = train_classifier(config, fit, folder, valid=valid, progress=progress_printer(out.name))
    return {"seconds": round(time.perf_counter() - started, 1), "valid_accuracy": result.metrics.get("accuracy"),
            "method": config.method, "base_model": config.base_model, "epochs": config.epochs,
            "recipe": recipe_name, "train_top_layers": config.train_top_layers, "seed": config.seed,
            "path": str(out)}


def extra_teacher(spec: str, default_seed: int) -> dict:
    """--extra-teacher BASE:RECIPE[:SEED], e.g. all-MiniLM-L6-v2:plain:42 (no SEED: `default_seed`)."""
    from ml_core.training.config import RECIPES  # no torch

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or parts[1] not in ("defaults", *RECIPES):
        raise SystemExit(f"error: --extra-teacher {spec!r}: give BASE:RECIPE[:SEED] with RECIPE one of "
                         f"defaults, {', '.join(sorted(RECIPES))} (e.g. all-MiniLM-L6-v2:plain:42)")
    try:
        seed = int(parts[2]) if len(parts) == 3 else default_seed
    except ValueError:
        raise SystemExit(f"error: --extra-teacher {spec!r}: the seed {parts[2]!r} is not a whole number") from None
    return {"base": parts[0], "recipe": parts[1], "seed": seed}


def given_teacher(folder: Path, train) -> dict:
    """A teacher trained earlier (`--teacher DIR`, e.g. an earlier run's --work/teacher), refused
    unless it was trained on this training split's texts (their digest; a folder from before the
    digest: as many texts per label): one trained on other rows may have seen the test rows."""
    import json
    from collections import Counter

    from ml_core.compression.distill import read_teacher
    from ml_core.data import label_counts, texts_digest

    config = read_teacher(folder)
    try:
        seen = json.loads((folder / "training_data.json").read_text())
        held_out = bool(seen.get("valid_held_out_of_train"))
        parts = [seen["train"]] + ([seen["valid"]] if held_out else [])
        counts = sum((Counter(part["label_counts"]) for part in parts), Counter())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: {folder / 'training_data.json'} does not say what the teacher was trained on "
                         f"({exc}); train the teacher here instead") from exc
    if dict(counts) != label_counts(train):
        raise SystemExit(f"error: the teacher in {folder} was trained on {dict(counts)} texts per label, this "
                         f"training split has {label_counts(train)}: it may have seen test rows; train it here instead")
    # With a validation file of its own the digest covers those texts too, so only a held-out share compares.
    if seen.get("texts_sha256") and held_out and seen["texts_sha256"] != texts_digest(train):
        raise SystemExit(f"error: the teacher in {folder} was trained on other texts than this training split "
                         f"(as many per label, another digest): it may have seen test rows; train it here instead")
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").exists() else {}
    training = config.training_config or {}
    matched = "texts" if seen.get("texts_sha256") and held_out else "texts per label"
    log(f"teacher: {folder} (given; its training {matched} match this split's {len(train)})")
    return {"seconds": None, "valid_accuracy": metrics.get("accuracy"), "method": config.method,
            "base_model": config.base_model, "epochs": training.get("epochs"), "recipe": "given",
            "train_top_layers": training.get("train_top_layers", 0), "seed": training.get("seed"),
            "path": str(folder)}


def distill_student(args, teachers: list[Path], train, unlabelled: list[str], out: Path):
    from ml_core.artifacts import atomic_directory
    from ml_core.compression import CrossDistillConfig, distill_across

    training = {"seed": args.seed}
    if args.student_epochs:
        training["epochs"] = args.student_epochs
    options = {"device": args.device, "cpu_threads": args.threads, "max_unlabelled": args.max_unlabelled,
               "student_layers": args.student_layers or (), "training": training}
    config = CrossDistillConfig.from_dict(options).validate()
    layers = f" --student-layers {','.join(map(str, config.student_layers))}" if config.student_layers else ""
    log(f"$ python -m ml_core distill --teacher {' '.join(map(str, teachers))} --train TRAIN --unlabelled "
        f"{' '.join(map(str, args.unlabelled))} --out {out} --base {config.student_base} "
        f"--epochs {config.training.epochs} --max-unlabelled {config.max_unlabelled} --seed {args.seed} "
        f"--device {args.device}{layers}")
    started = time.perf_counter()
    with atomic_directory(out) as folder:
        result = distill_across(teachers, train, folder, unlabelled=unlabelled,
                                unlabelled_sources=[str(p) for p in args.unlabelled], config=config,
                                progress=progress_printer("distill"))
    return config, result, round(time.perf_counter() - started, 1)


def int8_student(args, student: Path, train, config, out: Path) -> dict:
    """The student through the int8 guardrail, judged on the split distill_across held out."""
    from ml_core.artifacts import atomic_directory
    from ml_core.compression import CompressionConfig, compress_classifier
    from ml_core.data import stratified_split

    _, held = stratified_split(train, test_fraction=config.training.calibration_fraction, seed=config.training.seed)
    log(f"$ python -m ml_core compress --model {student} --out {out} --method int8 --data HELD_OUT "
        f"--max-drop {args.max_drop} --threads {args.threads}")
    started = time.perf_counter()
    with atomic_directory(out) as folder:
        compressed = compress_classifier(student, eval_data=held, train_data=train,
                                         config=CompressionConfig(methods=("int8",), max_accuracy_drop=args.max_drop,
                                                                  threads=args.threads),
                                         out_dir=folder, work_dir=out.parent, progress=progress_printer("int8"))
        if compressed.promoted is None:  # nothing written: leave no empty folder behind
            raise _NotPromoted(compressed)
    return {"seconds": round(time.perf_counter() - started, 1), "promoted": compressed.promoted,
            "reason": compressed.reason, "guardrail_data": f"{len(held)} texts held out of the training split"}


class _NotPromoted(Exception):
    def __init__(self, compressed) -> None:
        super().__init__(compressed.reason)
        self.compressed = compressed


def student_depth(config) -> str:
    return f", layers {','.join(map(str, config.student_layers))} of 0-5" if config.student_layers else ""


def full_depth_reference(student: Path, out: Path) -> Path:
    """fp32 MiniLM with all its layers, as a classifier folder shaped like a shallower student: the
    speed reference (its head is untrained; it is timed, never scored)."""
    from ml_core.artifact_format import ArtifactConfig
    from ml_core.compression.distill import write_full_classifier
    from ml_core.training.model import TextClassifier, load_base, read_artifact_config

    shape = read_artifact_config(student)
    base = load_base(shape.base_model)
    model = TextClassifier(base.encoder, len(shape.labels), pooling=shape.pooling, normalize=shape.normalize)
    return write_full_classifier(model, base.tokenizer, out, ArtifactConfig(
        method="full", base_model=shape.base_model, labels=shape.labels, pooling=shape.pooling,
        normalize=shape.normalize, max_length=shape.max_length, temperature=1.0, training_config={},
        extra={"note": "speed reference only: untrained head"}))


def scored(predictor, test, labels: list[str]):
    """The predictor's calibrated probabilities of the test texts, columns in `labels` order, and seconds."""
    started = time.perf_counter()
    probs = predictor.predict_proba(test.texts)
    return probs[:, [predictor.labels.index(label) for label in labels]], time.perf_counter() - started


def accuracies(probs, labels: list[str], seconds: float, test, allagree: list[int] | None) -> tuple[dict, list[bool]]:
    """The stage's row of figures, and whether each test text was answered right."""
    import numpy as np

    predicted = np.array(labels)[probs.argmax(axis=1)]
    correct = predicted == np.array(test.labels)
    row = {"accuracy": round(float(correct.mean()), 4), "n": len(test), "score_seconds": round(seconds, 1)}
    if allagree is not None:
        row["allagree_accuracy"] = round(float(correct[allagree].mean()), 4) if allagree else None
        row["n_allagree"] = len(allagree)
    return row, correct.tolist()


def paired(first: str, second: str, right: dict[str, list[bool]]) -> dict:
    """second - first in accuracy points on the same test texts (Tango's interval, McNemar's p)."""
    from ml_core.stats import paired_accuracy_from_answers

    diff = paired_accuracy_from_answers(right[first], right[second])
    return {"first": first, "second": second, "n": diff.n, "points": round(100 * diff.difference, 2),
            "low": round(100 * diff.low, 2), "high": round(100 * diff.high, 2),
            "p_value": None if diff.p_value is None else round(diff.p_value, 4)}


def allagree_rows(test) -> list[int] | None:
    """Indices of the test rows with agreement 100, or None when the file has no agreement column."""
    if not test.meta or "agreement" not in test.meta[0]:
        return None
    return [i for i, meta in enumerate(test.meta) if str(meta.get("agreement", "")).strip() in ("100", "100.0")]


def main() -> None:
    from ml_core.training.config import RECIPES  # no torch

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train", type=Path, default=data_path("financial_phrasebank", "financial_phrasebank.csv"),
                   help="labelled CSV/JSONL (text, label[, agreement]); split 80/20 seed 54 unless --test")
    p.add_argument("--test", type=Path, default=None, help="labelled test file (default: 20%% of --train)")
    p.add_argument("--unlabelled", type=Path, nargs="+",
                   default=[TWITTER / "sent_train.csv", TWITTER / "sent_valid.csv"],
                   help="unlabelled in-domain texts (text column; labels unused)")
    p.add_argument("--teacher-base", default="mpnet",
                   help="the teacher's backbone (default mpnet: the optional large model, `make models-large`)")
    p.add_argument("--teacher-method", default="full", choices=("full", "head"))
    p.add_argument("--teacher-recipe", default="plain-top2", choices=["defaults", *sorted(RECIPES)],
                   help="the teacher's fine-tuning recipe (ml_core.training.RECIPES; default plain-top2: 3 epochs, "
                        "top 2 layers trained; 'defaults': ClassifierConfig's; the flags below win)")
    p.add_argument("--teacher-epochs", type=int, default=None, help="teacher epochs (default: the recipe's)")
    p.add_argument("--teacher-lr", type=float, default=None, help="teacher learning rate (default 5e-5)")
    p.add_argument("--teacher-top-layers", type=int, default=None, metavar="N",
                   help="train only the teacher's top N transformer layers (default: the recipe's)")
    p.add_argument("--teacher-start", type=Path, default=None, metavar="FILE",
                   help="first fine-tune the teacher on this labelled file of the same labels (e.g. the Twitter "
                        "financial news, sent_train.csv with --teacher-start-labels), then on --train from there")
    p.add_argument("--teacher-start-valid", type=Path, default=None, metavar="FILE",
                   help="validation file of that first stage (default: a stratified share of --teacher-start)")
    p.add_argument("--teacher-start-labels", default=None, metavar="RAW=LABEL,...",
                   help='label map of the --teacher-start files, e.g. "0=negative,1=positive,2=neutral" (Twitter)')
    p.add_argument("--teacher-start-epochs", type=int, default=1, help="epochs of that first stage (1)")
    p.add_argument("--student-epochs", type=int, default=None, help="student epochs (default: distill's, 3)")
    p.add_argument("--student-layers", default=None, metavar="I,J,...",
                   help="keep only these of the student's transformer layers, e.g. 1,3,5 (default: all 6)")
    p.add_argument("--teacher", type=Path, nargs="+", default=None, metavar="DIR",
                   help="teacher(s) trained earlier on this same training split (e.g. an earlier run's "
                        "--work/teacher) instead of training them; several teach as an ensemble")
    p.add_argument("--extra-teacher", action="append", default=[], metavar="BASE:RECIPE[:SEED]",
                   help="also train this ensemble member beside the teacher, e.g. all-MiniLM-L6-v2:plain "
                        "(seed: --seed); the student learns from the mean of the members' calibrated probabilities")
    p.add_argument("--max-unlabelled", type=int, default=0, help="use at most N unlabelled texts (0: all)")
    p.add_argument("--max-drop", type=float, default=0.5, help="int8 guardrail: accuracy points it may lose (0.5)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch and ONNX Runtime alike (2)")
    p.add_argument("--device", default="auto", help="training device: auto | cpu | cuda (timing is on the CPU)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--limit-train", type=int, default=0, help="a stratified subset of the training rows (smoke run)")
    p.add_argument("--limit-test", type=int, default=0, help="a stratified subset of the test rows (smoke run)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    p.add_argument("--calls", type=int, default=16, help="timed calls of batch 32 per model and round")
    p.add_argument("--work", type=Path, default=None, help="folder for the models (default: a temporary folder)")
    args = p.parse_args()
    members = [extra_teacher(spec, args.seed) for spec in args.extra_teacher]
    if args.teacher_start is not None and args.teacher is not None:
        raise SystemExit("error: --teacher-start trains the teacher; it cannot be given with --teacher DIR")
    if args.teacher_start is not None and args.teacher_method != "full":
        raise SystemExit("error: --teacher-start needs --teacher-method full: a frozen encoder learns nothing "
                         "in the first stage for the second to start from")
    if args.teacher_start is None and (args.teacher_start_valid or args.teacher_start_labels):
        raise SystemExit("error: --teacher-start-valid and --teacher-start-labels need --teacher-start FILE")
    if args.teacher is None:
        check_teacher_base(args.teacher_base)
    for member in members:
        check_teacher_base(member["base"])
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-finance-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    student_dir, int8_dir = work / "student", work / "student-int8"
    member_dirs = [work / f"teacher-{number}" for number in range(2, len(members) + 2)]
    trained_dirs = ([] if args.teacher is not None else [work / "teacher"]) + member_dirs
    teacher_dirs = list(args.teacher or []) + trained_dirs
    start_dir = work / "teacher-start" if args.teacher_start is not None else None
    for folder in (*trained_dirs, *([start_dir] if start_dir else []), student_dir, int8_dir, work / "minilm-fp32"):
        if folder.exists():
            raise SystemExit(f"error: {folder} already exists; give a new --work folder")
    os.environ.setdefault("XDG_CACHE_HOME", str(work / "cache"))  # onnxruntime writes under ~/.cache otherwise
    os.environ["ML_ONNX_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    import numpy as np

    from ml_core.compression import measure_side_by_side
    from ml_core.serving import ClassifierPredictor

    train, test, described = load_splits(args)
    start, start_valid = load_start(args, test)
    unlabelled = load_unlabelled(args.unlabelled)
    allagree = allagree_rows(test)
    log(f"data: {described}: {len(train)} training, {len(test)} test rows "
        f"({'no agreement column' if allagree is None else f'{len(allagree)} with agreement 100'}); "
        f"{len(unlabelled)} unlabelled texts from {', '.join(map(str, args.unlabelled))}")

    stages: dict[str, dict] = {}
    teachers = [given_teacher(folder, train) for folder in args.teacher or []]
    started_from = None
    if start is not None:
        started_from = train_teacher_start(args, start, start_valid, train.label_set, start_dir)
    if args.teacher is None:
        teachers.append(train_teacher(args, train, trained_dirs[0], base=str(start_dir) if start_dir else None))
        teachers[-1]["started_from"] = started_from
    for member, folder in zip(members, member_dirs):
        teachers.append(train_teacher(args, train, folder, member))
    config, distilled, distill_seconds = distill_student(args, teacher_dirs, train, unlabelled, student_dir)
    transfer = distilled.distillation["transfer_set"]
    try:
        int8 = int8_student(args, student_dir, train, config, int8_dir)
        served_dir, served_name = int8_dir, "int8 student (served)"
    except _NotPromoted as refused:
        int8 = {"promoted": None, "reason": refused.compressed.reason, "seconds": None}
        served_dir, served_name = student_dir, "fp32 student (served: int8 refused)"
        log(f"int8 not promoted: {refused.compressed.reason}; the fp32 student is served")

    device = "cpu" if args.device == "auto" else args.device
    right: dict[str, list[bool]] = {}
    labels: list[str] = []  # the first teacher's order
    member_probs, member_seconds = [], []
    for info, folder in zip(teachers, teacher_dirs):
        predictor = ClassifierPredictor.load(folder, device=device, backend="torch")
        labels = labels or list(predictor.labels)
        probs, seconds = scored(predictor, test, labels)
        member_probs.append(probs)
        member_seconds.append(seconds)
        name = (f"teacher ({info['base_model']}, {info['method']})" if len(teachers) == 1 else
                f"teacher member ({info['base_model']}, {info['method']}, {info['recipe']}, seed {info['seed']})")
        row, right[name] = accuracies(probs, labels, seconds, test, allagree)
        stages[name] = {**row, "stage_seconds": info["seconds"], "folder": str(folder)}
        del predictor
    teacher_name = name
    if started_from is not None:  # its accuracy on its own validation texts: it is not a PhraseBank model
        stages = {f"teacher's first stage on {Path(started_from['file']).name} (validation accuracy, not test)": {
            "accuracy": started_from["valid_accuracy"], "n": started_from["n_valid"], "allagree_accuracy": "",
            "n_allagree": "", "stage_seconds": started_from["seconds"], "folder": started_from["path"]}, **stages}
    if len(teachers) > 1:  # what the student learnt from: the mean of the members' calibrated probabilities
        teacher_name = f"teacher: ensemble of {len(teachers)} (mean probabilities)"
        row, right[teacher_name] = accuracies(np.mean(member_probs, axis=0), labels, sum(member_seconds), test,
                                              allagree)
        trained = [info["seconds"] for info in teachers]
        stages[teacher_name] = {**row, "stage_seconds": None if None in trained else round(sum(trained), 1),
                                "folder": " + ".join(map(str, teacher_dirs))}
    student_name = f"student (all-MiniLM-L6-v2{student_depth(config)}, fp32)"
    for name, folder, backend, seconds in ((student_name, student_dir, "torch", distill_seconds),
                                           (served_name, served_dir, "auto", int8["seconds"])):
        predictor = ClassifierPredictor.load(folder, device=device if backend == "torch" else "cpu", backend=backend)
        probs, scoring_seconds = scored(predictor, test, labels)
        row, right[name] = accuracies(probs, labels, scoring_seconds, test, allagree)
        stages[name] = {**row, "stage_seconds": seconds, "folder": str(folder)}
        del predictor
    teacher_row, student_row, served_row = stages[teacher_name], stages[student_name], stages[served_name]
    comparisons = [paired(teacher_name, student_name, right)]
    if served_dir != student_dir:
        comparisons.append(paired(student_name, served_name, right))

    # speed: the served model and the student's own fp32 PyTorch model, side by side, on the CPU
    # A shallower student is timed against fp32 MiniLM with all its layers, not against itself.
    reference_dir = full_depth_reference(student_dir, work / "minilm-fp32") if config.student_layers else student_dir
    served = ClassifierPredictor.load(served_dir, device="cpu", backend="auto", batch_size=32)
    fp32 = ClassifierPredictor.load(reference_dir, device="cpu", backend="torch", batch_size=32)
    log("timing the served model and fp32 MiniLM side by side at batch 32")
    load_before = round(os.getloadavg()[0], 1)
    timed = measure_side_by_side({"served": served.predict_proba, "fp32": fp32.predict_proba}, test.texts,
                                 batch_sizes=(32,), rounds=args.rounds, calls_per_round={32: args.calls},
                                 progress=progress_printer("latency"))
    served_tps, fp32_tps = timed["served"][32].texts_per_s, timed["fp32"][32].texts_per_s
    speedup = served_tps / fp32_tps if fp32_tps else float("nan")

    columns = ["stage", "accuracy", "n"] + (["all-agree acc", "n all-agree"] if allagree is not None else []) + [
        "stage s", "texts/s b32"]
    speeds = {served_name: served_tps}
    rows = [[ANCHOR["name"], ANCHOR["accuracy"], "", *([ANCHOR["allagree_accuracy"], ""] if allagree is not None
                                                        else []), "", ""]]
    for name, row in stages.items():
        rows.append([name, row["accuracy"], row["n"],
                     *([row["allagree_accuracy"], row["n_allagree"]] if allagree is not None else []),
                     row["stage_seconds"], speeds.get(name)])
    if config.student_layers:
        rows.append(["fp32 MiniLM, all 6 layers (PyTorch; speed reference only)", "", "",
                     *(["", ""] if allagree is not None else []), "", fp32_tps])
    else:
        rows.append(["fp32 MiniLM (the student, PyTorch)", student_row["accuracy"], student_row["n"],
                     *([student_row["allagree_accuracy"], student_row["n_allagree"]] if allagree is not None
                       else []), "", fp32_tps])
    print_table(f"finance sentiment quality: {described}; transfer set {transfer['labelled']} labelled + "
                f"{transfer['unlabelled']} unlabelled texts; {args.threads} threads, load average {load_before} -> "
                f"{round(os.getloadavg()[0], 1)}", columns, rows)
    print(f"int8 guardrail: {int8['reason']}")
    for c in comparisons:
        print(f"{c['second']} - {c['first']}, text by text on the {c['n']} test texts: {c['points']:+.2f} points "
              f"(95 % interval {c['low']:+.2f} .. {c['high']:+.2f}, McNemar p {c['p_value']})")
    figures = {
        "teacher_accuracy": teacher_row["accuracy"], "teacher_allagree_accuracy": teacher_row.get("allagree_accuracy"),
        "student_accuracy": student_row["accuracy"], "student_allagree_accuracy": student_row.get("allagree_accuracy"),
        "served_accuracy": served_row["accuracy"], "served_allagree_accuracy": served_row.get("allagree_accuracy"),
        "served_variant": "int8" if int8["promoted"] else "fp32",
        "served_texts_per_s": round(served_tps, 1), "minilm_fp32_texts_per_s": round(fp32_tps, 1),
        "served_speedup": round(speedup, 2),
        "n_test": len(test), "n_allagree": len(allagree) if allagree is not None else None, "n_train": len(train),
        "transfer_set": transfer, "teacher": teachers[0] if len(teachers) == 1 else {"ensemble": teachers},
        "distill_seconds": distill_seconds, "int8": int8,
        "student_layers": list(config.student_layers) or None, "paired": comparisons,
        "stages": stages, "data": described, "threads": args.threads, "device": args.device,
        "load_average": [load_before, round(os.getloadavg()[0], 1)], "anchor": ANCHOR, "required": REQUIRED,
        "smoke": bool(args.limit_train or args.limit_test or args.max_unlabelled),
        "work": str(work),
    }
    checks = {"served_accuracy": figures["served_accuracy"] >= REQUIRED["served_accuracy"],
              "served_allagree_accuracy": (figures["served_allagree_accuracy"] is not None
                                           and figures["served_allagree_accuracy"] >= REQUIRED["served_allagree_accuracy"]),
              "served_speedup": speedup >= REQUIRED["served_speedup"]}
    figures["checks"] = checks
    print("required: " + ", ".join(f"{key} {figures[key]} ({'ok' if ok else 'NOT MET'}; >= {REQUIRED[key]})"
                                   for key, ok in checks.items()))
    if figures["smoke"]:
        print("(a smoke run: limited data; these figures say nothing of the full-size result)")
    print(f"\nmodels: {work}")
    finish(figures, args.json)


if __name__ == "__main__":
    main()
