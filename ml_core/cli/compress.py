"""Compression: `compress`, `bench-latency`, `export-encoder`.

    python -m ml_core compress --model model/ --out model-int8/ --method int8 --data test.csv --label-col label
    python -m ml_core compress --model model/ --out model-small/ --method distill --train train.csv --data test.csv
    python -m ml_core bench-latency --model model-int8/ --batch 32 --seq 64
    python -m ml_core export-encoder --out encoder-onnx/

`compress` builds the variant(s), scores them and PyTorch fp32 on --data, times them side by
side, and writes --out only when a variant stays within --max-drop accuracy points (and is
faster): the folder is then a complete classifier that `predict`/`evaluate` serve with ONNX
Runtime. It prints the compression report as one JSON object; a refused variant exits 2 with
the reason. `bench-latency` prints p50_ms, p95_ms, texts_per_s and size_mb as JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

METHOD_HELP = ("int8 | int8-mixed (feed-forward outputs fp32) | int8-static | prune | prune-structured | distill | "
               "onnx (comma-separated for several)")


def register(commands: argparse._SubParsersAction) -> None:
    compress = commands.add_parser("compress", help="export, quantize, prune or distill a classifier (JSON report)",
                                   description="Compress a classifier and promote the variant if it passes the guardrail.")
    compress.add_argument("--model", required=True, help="classifier folder written by train-classifier")
    compress.add_argument("--out", required=True, help="folder to create for the promoted variant (must not exist)")
    compress.add_argument("--method", required=True, help=METHOD_HELP)
    compress.add_argument("--data", required=True, help="labelled evaluation split (CSV or JSON Lines)")
    compress.add_argument("--train", default=None,
                          help="labelled training texts: calibration (int8-static) and fine-tuning (prune, distill)")
    compress.add_argument("--text-col", default="text")
    compress.add_argument("--label-col", default="label")
    compress.add_argument("--label-map", default=None, help='rename raw labels, e.g. "0=bearish,1=bullish"')
    compress.add_argument("--encoding", default="utf-8")
    compress.add_argument("--max-drop", type=float, default=0.5,
                          help="largest accuracy drop against fp32 allowed, in points (default 0.5)")
    compress.add_argument("--sparsity", type=float, default=None, help="prune: share of weights zeroed (default 0.5)")
    compress.add_argument("--drop-layers", type=int, default=None, help="prune-structured: layers removed (default 2)")
    compress.add_argument("--ffn-keep", type=float, default=None,
                          help="prune-structured: share of feed-forward neurons kept (default 1.0)")
    compress.add_argument("--layers", default=None, help="distill: teacher layers the student keeps, e.g. 1,3,5")
    compress.add_argument("--epochs", type=int, default=None, help="distill / recovery fine-tune epochs")
    compress.add_argument("--calibration-size", type=int, default=None, help="int8-static: calibration texts (256)")
    compress.add_argument("--calibration-method", choices=("minmax", "percentile", "entropy"), default=None)
    compress.add_argument("--threads", type=int, default=None, help="threads for ONNX Runtime and torch")
    compress.add_argument("--latency-rounds", type=int, default=None, help="interleaved timing rounds (3)")
    compress.add_argument("--latency-calls", type=int, default=None,
                          help="timed calls per variant, batch size and round (32)")
    compress.add_argument("--report", default=None, help="also write the report (JSON) to this file")
    compress.set_defaults(handler=run_compress)

    bench = commands.add_parser("bench-latency", help="latency and throughput of a classifier folder (JSON)")
    bench.add_argument("--model", required=True, help="classifier folder (its serving.json picks the variant)")
    bench.add_argument("--batch", type=int, default=1, help="texts per call (default 1)")
    bench.add_argument("--seq", type=int, default=32, help="tokens per text, special tokens included (default 32)")
    bench.add_argument("--data", default=None, help="time these texts (CSV/JSONL/.txt) instead of synthetic ones")
    bench.add_argument("--text-col", default="text")
    bench.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                       help="auto: what ClassifierPredictor.load serves (default)")
    bench.add_argument("--threads", type=int, default=None, help="threads for ONNX Runtime and torch")
    bench.add_argument("--calls", type=int, default=50, help="timed calls per round (default 50)")
    bench.add_argument("--rounds", type=int, default=3)
    bench.set_defaults(handler=run_bench_latency)

    encoder = commands.add_parser("export-encoder", help="export the sentence encoder to ONNX (fp32 and int8)")
    encoder.add_argument("--out", required=True, help="folder to create (must not exist)")
    encoder.add_argument("--base", default=None, help="backbone name or folder (default: ML_BACKBONE / bundled)")
    encoder.add_argument("--no-int8", action="store_true", help="only the fp32 graph")
    encoder.set_defaults(handler=run_export_encoder)


def _methods(spec: str) -> tuple[str, ...]:
    from ml_core.compression import METHODS
    from ml_core.errors import UserError

    methods = tuple(dict.fromkeys(m.strip() for m in spec.split(",") if m.strip()))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(f"--method {spec!r}: unknown method {', '.join(unknown) or '(none)'}; "
                        f"choose from {', '.join(METHODS)}")
    return methods


def _config(args: argparse.Namespace):
    from ml_core.compression import CompressionConfig
    from ml_core.errors import UserError

    options: dict = {"methods": _methods(args.method), "max_accuracy_drop": args.max_drop}
    if args.layers:
        try:
            options["distill_layers"] = tuple(int(x) for x in args.layers.split(","))
        except ValueError:
            raise UserError(f"--layers {args.layers!r} must be comma-separated layer numbers, e.g. 1,3,5") from None
    if args.epochs is not None:
        if args.epochs < 1:
            raise UserError("--epochs must be at least 1")
        options.update(distill_epochs=args.epochs, recovery_epochs=args.epochs)
    flags = {"sparsity": args.sparsity, "drop_layers": args.drop_layers, "ffn_keep": args.ffn_keep,
             "calibration_texts": args.calibration_size, "calibration_method": args.calibration_method,
             "threads": args.threads, "latency_rounds": args.latency_rounds,
             "latency_calls": args.latency_calls}
    options.update({k: v for k, v in flags.items() if v is not None})
    config = CompressionConfig.from_dict(options)
    if "prune" in config.methods and not 0.0 < config.sparsity < 1.0:
        raise UserError(f"--sparsity must be between 0 and 1, not {config.sparsity}")
    return config


def run_compress(args: argparse.Namespace) -> int:
    from ml_core.artifacts import ArtifactError, atomic_directory
    from ml_core.compression import NotPromoted, compress_classifier
    from ml_core.data import load_labelled
    from ml_core.progress import TqdmProgress
    from ml_core.training.model import read_artifact_config

    config = _config(args)
    out = Path(args.out)
    if out.exists():
        raise ArtifactError(f"output folder {out} already exists; choose a new --out")
    labels = read_artifact_config(args.model).labels

    def load(path: str, min_per_class: int):
        return load_labelled(path, text_col=args.text_col, label_col=args.label_col, label_map=args.label_map,
                             encoding=args.encoding, dedupe=False, min_per_class=min_per_class, allowed_labels=labels)

    eval_data = load(args.data, 1)
    train = load(args.train, 1) if args.train else None
    with TqdmProgress(f"compress {args.method}") as progress, atomic_directory(out) as folder:
        result = compress_classifier(args.model, eval_data=eval_data, train_data=train, config=config,
                                     out_dir=folder, work_dir=out.parent, progress=progress)
        print(json.dumps(result.report, default=str))
        if args.report:
            Path(args.report).write_text(json.dumps(result.report, indent=2, default=str))
        if result.promoted is None:
            raise NotPromoted(f"{result.reason}; {out} was not written")
    return 0


def run_bench_latency(args: argparse.Namespace) -> int:
    import torch

    from ml_core.compression.latency import file_size_mb, load_average, measure_side_by_side, synthetic_texts
    from ml_core.compression.pipeline import torch_weights_mb
    from ml_core.data import load_texts
    from ml_core.errors import UserError
    from ml_core.serving import ClassifierPredictor
    from ml_core.serving.onnx_backend import serving_threads

    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    if args.calls < 1 or args.rounds < 1:
        raise UserError("--calls and --rounds must be at least 1")
    threads = serving_threads(args.threads)
    torch.set_num_threads(threads)
    if args.threads:
        import os

        os.environ["ML_ONNX_THREADS"] = str(args.threads)
    predictor = ClassifierPredictor.load(args.model, device="cpu", backend=args.backend)
    if args.data:
        texts = load_texts(args.data, text_col=args.text_col)
        if not texts:
            raise UserError(f"{args.data} has no texts")
        seq = None
    else:
        max_length = predictor.config.max_length
        if not 3 <= args.seq <= max_length:
            raise UserError(f"--seq must be between 3 and the model's max length {max_length}, not {args.seq}")
        texts = synthetic_texts(predictor.backend.tokenizer, args.seq, max(args.batch, 64))
        seq = args.seq
    backend = predictor.backend
    onnx_file = getattr(backend, "path", None)
    load_before = load_average()
    figures = measure_side_by_side({"model": predictor.predict_logits}, texts, batch_sizes=(args.batch,),
                                   rounds=args.rounds, calls_per_round={args.batch: args.calls})["model"][args.batch]
    print(json.dumps({
        "model": args.model, "backend": getattr(backend, "name", type(backend).__name__),
        "file": onnx_file.name if onnx_file else None,
        "fallback_reason": getattr(backend, "fallback_reason", "") or None,
        "batch": args.batch, "seq": seq, "p50_ms": figures.p50_ms, "p95_ms": figures.p95_ms,
        "texts_per_s": figures.texts_per_s, "calls": figures.calls,
        "size_mb": file_size_mb(onnx_file) if onnx_file else torch_weights_mb(Path(args.model)),
        "threads": threads, "load_average_before": load_before, "load_average_after": load_average(),
    }))
    return 0


def run_export_encoder(args: argparse.Namespace) -> int:
    import os

    from ml_core.artifacts import ArtifactError, atomic_directory
    from ml_core.compression import export_sentence_encoder
    from ml_core.progress import TqdmProgress

    out = Path(args.out)
    if out.exists():
        raise ArtifactError(f"output folder {out} already exists; choose a new --out")
    base = args.base or os.environ.get("ML_BACKBONE") or None
    with TqdmProgress("export encoder") as progress, atomic_directory(out) as folder:
        info = export_sentence_encoder(base, folder, quantize=not args.no_int8, progress=progress)
    print(json.dumps({"out": str(out), **{k: info[k] for k in ("dimension", "pooling", "normalize", "parity")}}))
    return 0
