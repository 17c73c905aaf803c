"""`recsys-eval`: every recommender under Microsoft Recommenders' protocol, one JSON line per model."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

DEFAULT_MOVIELENS = Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data")) / "ml-100k"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "recsys-eval", help="evaluate the recommenders (MAP, nDCG@k, P@k, R@k, coverage, diversity, novelty)",
        description="Per-user stratified split (ratio, seed) of MovieLens u.data, or a given --train/--test "
                    "pair; top-k lists exclude the user's training items; relevant = in the test part.",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_MOVIELENS,
                        help=f"MovieLens 100K folder (default {DEFAULT_MOVIELENS})")
    parser.add_argument("--train", type=Path, help="a training file (user item [rating [timestamp]] lines)")
    parser.add_argument("--test", type=Path, help="the matching test file")
    parser.add_argument("--items", type=Path,
                        help="item texts for the content model with --train/--test: u.item or JSON Lines")
    parser.add_argument("--models", default="popularity,item_knn,als,bpr,content,hybrid",
                        help="comma-separated: popularity, item_knn, als, bpr, content, hybrid")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ratio", type=float, default=0.75, help="training share of each user's items")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--trials", type=int, default=None, help="blend-tuning trials (default 60)")
    parser.add_argument("--backbone", default=None, help="sentence encoder (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--cpu-threads", type=int, default=0,
                        help="torch threads for the embedding on a CPU (0: torch's default; 1 is often "
                             "fastest on a busy machine)")
    parser.set_defaults(handler=run)


def load_protocol_data(args: argparse.Namespace):
    """(train, test, catalogue items or None) for the arguments given."""
    from ml_core.errors import UserError
    from ml_core.recsys.data import (
        load_movielens,
        read_catalogue_file,
        read_interactions_file,
        stratified_split,
    )

    if bool(args.train) != bool(args.test):
        raise UserError("--train and --test go together")
    if args.train:
        items = read_catalogue_file(args.items) if args.items else None
        return read_interactions_file(args.train), read_interactions_file(args.test), items
    movielens = load_movielens(args.data)
    train, test = stratified_split(movielens.interactions, args.ratio, args.seed)
    return train, test, movielens.items


def embed_items(items, backbone: str | None, device: str, progress, cpu_threads: int = 0) -> tuple:
    """Sentence embeddings of the item texts and the seconds the encoding took."""
    import time

    from ml_core.backbone import encode_texts, load_sentence_encoder, select_device

    encoder = load_sentence_encoder(backbone, select_device(device, cpu_threads))
    started = time.perf_counter()
    vectors = encode_texts(encoder, [item.text for item in items], progress=progress)
    return vectors, time.perf_counter() - started


def run(args: argparse.Namespace) -> int:
    import sys

    from ml_core.errors import UserError
    from ml_core.progress import TqdmProgress, sub_progress
    from ml_core.recsys.training import RecsysConfig, evaluate_models

    if args.k < 1:
        raise UserError("--k must be at least 1")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    config = RecsysConfig(k=args.k, split_ratio=args.ratio, seed=args.seed)
    if args.trials is not None:
        config.tuning_trials = args.trials
    train, test, items = load_protocol_data(args)
    item_ids = sorted(set(train.items.tolist()))
    embeddings, embed_s = None, 0.0
    with TqdmProgress("recsys-eval") as progress:
        if items is not None and ("content" in models or "hybrid" in models):
            catalogue = {i.item_id: i for i in items}
            item_ids = list(catalogue) + [i for i in item_ids if i not in catalogue]
            missing = [i for i in item_ids if i not in catalogue]
            if missing:
                raise UserError(f"{len(missing)} trained items have no text, e.g. {missing[0]!r}")
            embeddings, embed_s = embed_items([catalogue[i] for i in item_ids], args.backbone, args.device,
                                              sub_progress(progress, 0, 20), args.cpu_threads)
        elif "content" in models:
            print("note: no item texts (--items): the content model is skipped", file=sys.stderr)
        result = evaluate_models(train, test, item_ids, embeddings, config, models, embed_s,
                                 sub_progress(progress, 20, 100))
    for row in result.rows:
        print(json.dumps(row))
    return 0
