"""`encoder-check`: load the configured backbone and measure its embedding throughput."""
from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("encoder-check", help="load a backbone and measure embedding throughput")
    parser.add_argument("--base", default=None, help="backbone name or folder (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--texts", type=int, default=256, help="how many texts to embed")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ml_core.backbone import encoder_check, select_device
    from ml_core.errors import UserError
    from ml_core.progress import TqdmProgress

    if args.texts < 1 or args.batch_size < 1:
        raise UserError("--texts and --batch-size must be at least 1")
    texts = [f"Sample sentence number {i} about orders, markets and films." for i in range(args.texts)]
    with TqdmProgress("encoder-check") as progress:
        figures = encoder_check(texts, backbone=args.base, device=select_device(args.device),
                                batch_size=args.batch_size, progress=progress)
    print(json.dumps(figures))
    return 0
