"""`distill`: a trained classifier (the teacher, any backbone) teaches a new one on another backbone.

    python -m ml_core train-classifier --train train.csv --out teacher/ --base mpnet --method full
    python -m ml_core distill --teacher teacher/ --train train.csv \\
        --unlabelled sent_train.csv sent_valid.csv --data test.csv --out student/ --int8-out student-int8/

The teacher labels a transfer set (the --train texts plus the --unlabelled texts: CSV/JSON Lines
with a text column, whose other columns are ignored, or .txt with one text per line) with its
logits; the student (--base, default the bundled all-MiniLM-L6-v2) learns from
soft_weight·T²·KL(teacher_T ‖ student_T) + (1 − soft_weight)·CE(gold), the gold term on the
labelled texts only. --out is a complete classifier folder (`full`) whose classifier.json
records the teacher, the transfer set and the teacher's accuracy. With --int8-out (needs --data)
the student then goes through `compress --method int8`'s guardrail. Prints one JSON object.
Several --teacher folders (e.g. an mpnet and a MiniLM classifier trained on the same data)
teach as an ensemble: the mean of their calibrated probabilities is the soft label.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("distill", help="distil a classifier into a student on another backbone (JSON)",
                                 description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, nargs="+", action="extend", metavar="DIR",
                        help="classifier folder that teaches (written by train-classifier); several folders teach as "
                             "an ensemble (the mean of their calibrated probabilities)")
    parser.add_argument("--train", required=True, help="labelled texts (CSV or JSON Lines) with the teacher's labels")
    parser.add_argument("--unlabelled", nargs="+", action="extend", default=[], metavar="FILE",
                        help="unlabelled in-domain texts (CSV/JSONL text column or .txt lines); labels unused")
    parser.add_argument("--out", required=True, help="folder to create for the student (must not exist)")
    parser.add_argument("--base", default=None,
                        help="the student's backbone (default: the bundled all-MiniLM-L6-v2, not ML_BACKBONE, "
                             "which may name the large teacher's)")
    parser.add_argument("--data", default=None, help="labelled test set: teacher and student are scored on it")
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--unlabelled-text-col", default="text", help="text column of the --unlabelled files")
    parser.add_argument("--label-map", default=None, help='rename raw labels, e.g. "0=negative,1=neutral,2=positive"')
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--epochs", type=int, default=None, help="student epochs (default 3)")
    parser.add_argument("--temperature", type=float, default=None, help="distillation temperature T (default 2)")
    parser.add_argument("--soft-weight", type=float, default=None,
                        help="share of the loss on the teacher's soft labels, 0..1 (default 0.5)")
    parser.add_argument("--learning-rate", type=float, default=None, help="student encoder learning rate (1e-4)")
    parser.add_argument("--batch-size", type=int, default=None, help="student batch size (32)")
    parser.add_argument("--max-length", type=int, default=None, help="student's token limit (128)")
    parser.add_argument("--max-unlabelled", type=int, default=None, help="use at most N unlabelled texts (seeded sample)")
    parser.add_argument("--student-layers", default=None, metavar="I,J,...",
                        help="keep only these transformer layers of the student's backbone, e.g. 1,3,5 of MiniLM's "
                             "0-5 (a shallower, faster student; default: all)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument("--config", default=None, help="JSON file of CrossDistillConfig options (flags win)")
    parser.add_argument("--int8-out", default=None, help="also compress the student to int8 into this folder (needs --data)")
    parser.add_argument("--max-drop", type=float, default=0.5,
                        help="--int8-out: largest accuracy drop against the fp32 student, in points (0.5)")
    parser.set_defaults(handler=run)


def _config(args: argparse.Namespace):
    from ml_core.cli import config_file_options
    from ml_core.compression.distill import CrossDistillConfig

    options = config_file_options(args.config)
    training = dict(options.pop("training", None) or {})
    flags = {"epochs": args.epochs, "temperature": args.temperature, "soft_weight": args.soft_weight,
             "learning_rate": args.learning_rate, "batch_size": args.batch_size, "seed": args.seed}
    training.update({k: v for k, v in flags.items() if v is not None})
    base = args.base or options.get("student_base")
    top = {"student_base": base, "max_length": args.max_length, "max_unlabelled": args.max_unlabelled,
           "device": args.device, "student_layers": args.student_layers}
    options.update({k: v for k, v in top.items() if v is not None})
    return CrossDistillConfig.from_dict({**options, "training": training}).validate()


def run(args: argparse.Namespace) -> int:
    from ml_core.artifacts import ArtifactError, atomic_directory
    from ml_core.compression.distill import distill_across, read_teachers, teacher_folders
    from ml_core.data import load_labelled, load_texts
    from ml_core.errors import UserError
    from ml_core.progress import TqdmProgress

    out = Path(args.out)
    if out.exists():
        raise ArtifactError(f"output folder {out} already exists; choose a new --out")
    if args.int8_out and not args.data:
        raise UserError("--int8-out needs --data: the int8 guardrail scores the student on a labelled set")
    if args.int8_out and Path(args.int8_out).exists():
        raise ArtifactError(f"output folder {args.int8_out} already exists; choose a new --int8-out")
    config = _config(args)
    read_teachers(teacher_folders(args.teacher))  # a missing or broken teacher fails before the data is read

    def labelled(path: str, min_per_class: int):
        return load_labelled(path, text_col=args.text_col, label_col=args.label_col, label_map=args.label_map,
                             encoding=args.encoding, min_per_class=min_per_class)

    train = labelled(args.train, 2)
    eval_data = labelled(args.data, 1) if args.data else None
    unlabelled: list[str] = []
    for path in args.unlabelled:
        texts = load_texts(path, text_col=args.unlabelled_text_col, encoding=args.encoding)
        if not texts:
            raise UserError(f"{path} has no texts")
        unlabelled.extend(texts)
    with TqdmProgress("distill") as progress, atomic_directory(out) as folder:
        result = distill_across(args.teacher, train, folder, unlabelled=unlabelled,
                                unlabelled_sources=args.unlabelled, eval_data=eval_data, config=config,
                                progress=progress)
    output = {"out": str(out), "metrics": result.metrics, "transfer_set": result.distillation["transfer_set"]}
    if not args.int8_out:
        print(json.dumps(output, default=str))
        return 0
    from ml_core.compression import CompressionConfig, NotPromoted, compress_classifier

    int8_out = Path(args.int8_out)
    with TqdmProgress("int8") as progress, atomic_directory(int8_out) as folder:
        compressed = compress_classifier(out, eval_data=eval_data, train_data=train,
                                         config=CompressionConfig(methods=("int8",), max_accuracy_drop=args.max_drop),
                                         out_dir=folder, work_dir=int8_out.parent, progress=progress)
        output["int8"] = {"out": str(int8_out) if compressed.promoted else None, "promoted": compressed.promoted,
                          "reason": compressed.reason, "report": compressed.report}
        print(json.dumps(output, default=str))
        if compressed.promoted is None:
            raise NotPromoted(f"{compressed.reason}; the student {out} is kept, {int8_out} was not written")
    return 0
