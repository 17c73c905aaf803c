"""`robustness`: accuracy of a classifier under perturbations and a word-substitution attack.

    python -m ml_core robustness --model model/ --data test.csv --text-col text --label-col label

Prints one JSON object: clean accuracy, accuracy under each perturbation, and the attack's
accuracy under attack, success rate and queries per example (ml_core.trust.robustness).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    from ml_core.trust.robustness import DEFAULT_PERTURBATIONS

    from .classify import _data_options

    parser = commands.add_parser("robustness", help="accuracy under perturbations and a word-substitution attack (JSON)",
                                 description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder written by train-classifier")
    parser.add_argument("--data", required=True, help="CSV or JSON Lines file of labelled texts")
    _data_options(parser)
    parser.add_argument("--perturbations", default=",".join(DEFAULT_PERTURBATIONS),
                        help=f"comma-separated, from {', '.join(DEFAULT_PERTURBATIONS)} ('' for none)")
    parser.add_argument("--strength", type=float, default=0.1, help="share of words each perturbation changes")
    parser.add_argument("--no-attack", action="store_true", help="skip the word-substitution attack")
    parser.add_argument("--attack-examples", type=int, default=500,
                        help="attack a seeded sample of this many examples (0: all)")
    parser.add_argument("--sentence-similarity", type=float, default=0.8,
                        help="least cosine similarity between the original and the attacked text")
    parser.add_argument("--word-similarity", type=float, default=0.7, help="least cosine similarity of synonyms")
    parser.add_argument("--synonyms-per-word", type=int, default=8)
    parser.add_argument("--max-perturbed", type=float, default=0.3, help="share of words the attack may change")
    parser.add_argument("--vocab-data", default=None,
                        help="more texts (CSV/JSONL with --text-col, or .txt) whose words join the synonym vocabulary")
    parser.add_argument("--lexicon", default=None,
                        help="synonyms from 'wordnet' (apt-get install wordnet-base), a WordNet database folder "
                             "or a file (JSON or TSV) instead of the encoder's neighbours")
    parser.add_argument("--similarity-encoder", default=None,
                        help="encoder for the similarity constraint (default: the model's base model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", default=None, help="also write the report to this file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ml_core.backbone import select_device
    from ml_core.data import load_texts
    from ml_core.progress import TqdmProgress
    from ml_core.trust.robustness import AttackSettings, RobustnessSettings, robustness_of_model

    from .classify import _load

    attack = None if args.no_attack else AttackSettings(
        synonyms_per_word=args.synonyms_per_word, word_similarity=args.word_similarity,
        sentence_similarity=args.sentence_similarity, max_perturbed=args.max_perturbed,
        max_examples=args.attack_examples or None, seed=args.seed)
    settings = RobustnessSettings(
        perturbations=tuple(p.strip() for p in args.perturbations.split(",") if p.strip()),
        strength=args.strength, attack=attack, seed=args.seed).validate()
    from ml_core.training.model import read_artifact_config

    labels = read_artifact_config(args.model).labels  # a clear error before the data is read
    data = _load(args, args.data, min_per_class=1, dedupe=False, allowed_labels=labels)
    vocabulary = load_texts(args.vocab_data, text_col=args.text_col, encoding=args.encoding) if args.vocab_data else []
    device = select_device(args.device).device
    with TqdmProgress("robustness") as progress:
        report = robustness_of_model(args.model, data, settings=settings, device=device, vocabulary_texts=vocabulary,
                                     lexicon=args.lexicon, similarity_encoder=args.similarity_encoder,
                                     progress=progress)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0
