"""`augment`: write a labelled file plus augmented rows; and the augmentation, few-label and
adversarial-training flags of `train-classifier`.

    python -m ml_core augment --data train.csv --text-col text --label-col label --out augmented.csv \
        --ops eda,paraphrase --per-example 2 [--few-shot-k 10]
    python -m ml_core augment --list          # which augmenters can run here, and why not

The output has the columns text, label, augmented (the augmenter, empty for originals) and
augmented_from (the row of the original it came from); a JSON summary goes to stdout.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ml_core.training.adversarial import DEFAULT_EPSILON


def register(commands: argparse._SubParsersAction) -> None:
    from ml_core.augmentation import OPS

    parser = commands.add_parser("augment", help="augment a labelled file (perturbations, synonyms, paraphrases...)",
                                 description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the augmenters and whether each can run here")
    parser.add_argument("--data", help="CSV or JSON Lines file of labelled texts")
    parser.add_argument("--out", help="file to write (.csv or .jsonl); must not exist")
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--base", default=None, help="encoder for synonyms and the filter (default: bundled MiniLM)")
    parser.add_argument("--ops", default="eda", help=f"comma-separated, from {', '.join(OPS)}")
    parser.add_argument("--per-example", type=int, default=2, help="candidates per text and augmenter")
    parser.add_argument("--strength", type=float, default=0.1, help="share of words changed")
    parser.add_argument("--few-shot-k", type=int, default=None, help="first keep only K examples per class")
    parser.add_argument("--filter", default="encoder", help="encoder | model | none")
    parser.add_argument("--filter-model", default=None, help="model folder for --filter model")
    parser.add_argument("--lexicon", default=None,
                        help="synonyms from 'wordnet' (apt-get install wordnet-base), a WordNet database folder "
                             "or a file (JSON or TSV) instead of the encoder's neighbours")
    parser.add_argument("--translation-models", default=None, help="FORWARD,BACKWARD model folders for backtranslation")
    parser.add_argument("--seed", type=int, default=42)
    parser.set_defaults(handler=run)


def availability() -> dict[str, str]:
    """Each augmenter and whether it can run in this installation."""
    import os

    from ml_core.augmentation import RULE_OPS
    from ml_core.augmentation.backtranslation import backtranslation_status
    from ml_core.augmentation.paraphrase import ParaphraseUnavailable, smollm2_location
    from ml_core.augmentation.synonyms import find_wordnet
    from ml_core.errors import UserError

    status = {op: "available" for op in RULE_OPS}
    try:
        _folder, name = smollm2_location()
        status["paraphrase"] = f"available ({name})"
    except ParaphraseUnavailable as exc:
        status["paraphrase"] = f"unavailable: {exc}"
    models = [m for m in os.environ.get("ML_TRANSLATION_MODELS", "").split(",") if m.strip()]
    available, why = backtranslation_status(models)
    status["backtranslation"] = "available" if available else why
    try:  # a synonym source (--lexicon wordnet), not an augmenter of its own
        status["wordnet_synonyms"] = f"available ({find_wordnet()})"
    except UserError as exc:
        status["wordnet_synonyms"] = f"unavailable: {exc}"
    return status


def run(args: argparse.Namespace) -> int:
    from ml_core.augmentation import augment_labelled
    from ml_core.augmentation.augment import AugmentationOptions
    from ml_core.backbone import select_device
    from ml_core.data import load_labelled
    from ml_core.errors import UserError
    from ml_core.progress import TqdmProgress

    if args.list:
        print(json.dumps(availability()))
        return 0
    if not args.data or not args.out:
        raise UserError("augment needs --data and --out (or --list)")
    out = Path(args.out)
    if out.exists():
        raise UserError(f"{out} already exists; choose a new --out")
    if out.suffix.lower() not in (".csv", ".jsonl"):
        raise UserError(f"--out must end in .csv or .jsonl, not {out.suffix or 'nothing'}")
    options = AugmentationOptions.from_dict({
        "ops": args.ops, "per_example": args.per_example, "strength": args.strength, "few_shot_k": args.few_shot_k,
        "filter": args.filter, "filter_model": args.filter_model, "synonyms": args.lexicon or "encoder",
        "translation_models": args.translation_models or [], "seed": args.seed,
    })
    data = load_labelled(args.data, text_col=args.text_col, label_col=args.label_col, encoding=args.encoding,
                         min_per_class=1)
    with TqdmProgress("augment") as progress:
        augmented, summary = augment_labelled(data, options, backbone=args.base, device=select_device(args.device).device,
                                              seed=args.seed, progress=progress)
    rows = [{"text": t, "label": y, "augmented": m.get("augmented", ""), "augmented_from": m.get("augmented_from", "")}
            for t, y, m in zip(augmented.texts, augmented.labels, augmented.meta)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        if out.suffix.lower() == ".jsonl":
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        else:
            writer = csv.DictWriter(fh, fieldnames=["text", "label", "augmented", "augmented_from"])
            writer.writeheader()
            writer.writerows(rows)
    tmp.replace(out)
    print(json.dumps({"out": str(out), "rows": len(rows), **summary}, default=str))
    return 0


# --- flags of train-classifier (ml_core.cli.classify adds them) ---------------------------------
def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """Augmentation, few-label and adversarial-training options of `train-classifier`."""
    group = parser.add_argument_group("augmentation and adversarial training")
    group.add_argument("--augment", default=None, metavar="OPS",
                       help="augment the training split: comma-separated, e.g. eda,paraphrase (see `augment --list`)")
    group.add_argument("--augment-per-example", type=int, default=None, help="candidates per text and augmenter")
    group.add_argument("--augment-filter", default=None, help="encoder | model | none (default: encoder)")
    group.add_argument("--few-shot-k", type=int, default=None,
                       help="train from K examples per class (e.g. 5, 10, 20), with --augment for more")
    group.add_argument("--translation-models", default=None, help="FORWARD,BACKWARD model folders for backtranslation")
    group.add_argument("--adversarial", choices=("fgm", "pgd"), default=None,
                       help="adversarial training on the word embeddings (full or lora)")
    group.add_argument("--adv-epsilon", type=float, default=None,
                       help=f"size of the perturbation of each text's word embeddings (default {DEFAULT_EPSILON})")
    group.add_argument("--adv-steps", type=int, default=None, help="PGD ascent steps (default 3)")


def training_plugins(args: argparse.Namespace) -> dict:
    """The `plugins` entries the flags ask for ({} when none is given)."""
    plugins: dict = {}
    def names(value):
        return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None

    augmentation = {"ops": names(args.augment), "per_example": args.augment_per_example,
                    "filter": args.augment_filter, "few_shot_k": args.few_shot_k,
                    "translation_models": names(args.translation_models)}
    augmentation = {k: v for k, v in augmentation.items() if v is not None}
    if augmentation:
        augmentation.setdefault("ops", [])  # --few-shot-k alone: sampling without augmentation
        plugins["augmentation"] = augmentation
    if args.adversarial:
        adversarial = {"method": args.adversarial, "epsilon": args.adv_epsilon, "steps": args.adv_steps}
        plugins["adversarial"] = {k: v for k, v in adversarial.items() if v is not None}
    elif args.adv_epsilon is not None or args.adv_steps is not None:
        from ml_core.errors import UserError

        raise UserError("--adv-epsilon and --adv-steps need --adversarial fgm|pgd")
    return plugins
