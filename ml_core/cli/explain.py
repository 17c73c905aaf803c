"""Explanations: `explain` (token attributions) and `faithfulness` (the deletion test).

    python -m ml_core explain --model model/ --text "my card has not arrived"
    python -m ml_core faithfulness --model model/ --data test.csv --text-col text --n 200

`explain` prints one JSON object per text: the label explained, its probability, the word
pieces (`tokens`) and whole words (`words`) with their integrated-gradients scores and character
offsets. `faithfulness` prints one JSON object: the mean probability drop when the top-attributed
words are deleted versus random words, and whether the explanations pass.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser("explain", help="token attributions of a classifier's prediction (JSON)",
                                  description="Integrated-gradients attributions per token and word.")
    explain.add_argument("--model", required=True, help="model folder written by train-classifier")
    explain.add_argument("--text", action="append", required=True, help="a text to explain (repeatable)")
    explain.add_argument("--target", default=None, help="label to explain (default: the predicted one)")
    _ig_options(explain)
    explain.set_defaults(handler=run_explain)

    check = commands.add_parser("faithfulness", help="deletion test of a classifier's explanations (JSON)",
                                description="Delete the top-attributed words vs random words; compare the drops.")
    check.add_argument("--model", required=True, help="model folder written by train-classifier")
    check.add_argument("--data", required=True, help="CSV / JSON Lines (with --text-col) or .txt, one text per line")
    check.add_argument("--text-col", default="text")
    check.add_argument("--encoding", default="utf-8")
    check.add_argument("--n", type=int, default=200, help="texts to explain (a seeded random sample)")
    check.add_argument("--fraction", type=float, default=0.2, help="share of each text's words deleted")
    check.add_argument("--random-trials", type=int, default=5)
    check.add_argument("--seed", type=int, default=0)
    _ig_options(check, default_steps=16)
    check.set_defaults(handler=run_faithfulness)


def _ig_options(parser: argparse.ArgumentParser, default_steps: int | None = None) -> None:
    from ml_core.trust.explain import DEFAULT_STEPS

    parser.add_argument("--steps", type=int, default=default_steps or DEFAULT_STEPS,
                        help="integrated-gradients steps (more: closer to exact, slower)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def _explainer(args: argparse.Namespace):
    from ml_core.trust.explain import Explainer, ExplainSettings

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = ExplainSettings(steps=args.steps).validate()
    return Explainer.load(args.model, device=args.device, settings=settings)


def run_explain(args: argparse.Namespace) -> int:
    from ml_core.errors import UserError

    if any(not t.strip() for t in args.text):
        raise UserError("--text must not be empty")
    explainer = _explainer(args)
    for text in args.text:
        print(json.dumps(explainer.explain(text, target=args.target).to_dict()))
        sys.stdout.flush()
    return 0


def run_faithfulness(args: argparse.Namespace) -> int:
    from ml_core.data import load_texts
    from ml_core.progress import TqdmProgress
    from ml_core.trust.faithfulness import FaithfulnessSettings, faithfulness_check

    settings = FaithfulnessSettings(fraction=args.fraction, random_trials=args.random_trials, max_examples=args.n,
                                    seed=args.seed).validate()
    texts = load_texts(args.data, text_col=args.text_col, encoding=args.encoding)
    explainer = _explainer(args)
    with TqdmProgress("faithfulness") as progress:
        # The check runs on one torch thread unless --threads says otherwise (faster on short texts).
        report = faithfulness_check(explainer, texts, settings=settings, progress=progress,
                                    cpu_threads=args.threads or 1)
    print(json.dumps({"model": args.model, "data": args.data, **report}))
    return 0
