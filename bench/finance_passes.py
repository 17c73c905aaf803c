"""The two model passes of finance scoring, alone: one after the other, or side by side.

    python bench/finance_passes.py --model SENTIMENT_DIR [--data FILE.csv] [--limit 1000] [--json]

Finance scoring reads every document twice: the sentiment classifier (`--model`, a classifier
folder served as ClassifierPredictor.load serves it, so its promoted ONNX variant when it has
one) and the shared sentence encoder for topic matching (exported to ONNX here, int8 as
FINANCE_TOPIC_ENCODER's default). Both in batches of 16 length-sorted texts, as the scoring job
calls them. Three ways, timed in interleaved rounds on the first `--limit` texts of `--data`:

- one after the other, each pass on every core (the scoring job before 2026-12-06);
- side by side on two threads, each pass on half the cores (the scoring job now,
  apps/finance_sentiment/serving.py: ScoringModels.sentiment_and_topics);
- side by side, each pass on every core (oversubscribed, for comparison).

Documents/s here is the ceiling of the end-to-end figure of bench/finance_sentiment.py, which
adds ingestion, the database and the alert rules. int8 speed depends on the CPU's instructions
(AVX-512 VNNI or not): compare figures taken on one machine in one run.
"""
from __future__ import annotations

import csv
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    from bench.common import data_path, finish, parser, print_table
except ImportError:  # run as a script: bench/ is not a package on sys.path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import data_path, finish, parser, print_table

BATCH = 16  # apps/finance_sentiment/serving.py SCORING_BATCH


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a sentiment classifier folder (e.g. kept by "
                   "bench/finance_sentiment.py --keep)")
    p.add_argument("--data", type=Path, default=data_path("financial_phrasebank", "financial_phrasebank.csv"),
                   help="CSV with a text column")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--encoder", default=None, help="sentence encoder (default ML_BACKBONE's default)")
    args = p.parse_args()
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.gettempdir())

    from ml_core.backbone import encode_texts
    from ml_core.compression import export_sentence_encoder, measure_side_by_side
    from ml_core.serving import ClassifierPredictor, OnnxSentenceEncoder, serving_threads

    with open(args.data, newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row["text"].strip()][: args.limit]
    cores = serving_threads()
    half = max(1, cores // 2)
    with tempfile.TemporaryDirectory(prefix="bench-passes-") as scratch:
        print("exporting the sentence encoder to ONNX ...", file=sys.stderr, flush=True)
        export_sentence_encoder(args.encoder, Path(scratch) / "encoder")
        models = {threads: (ClassifierPredictor.load(args.model, batch_size=BATCH, threads=threads),
                            OnnxSentenceEncoder(Path(scratch) / "encoder", variant="int8", threads=threads))
                  for threads in sorted({cores, half})}

        def sentiment(threads):
            return lambda batch: models[threads][0].predict_proba(batch)

        def topics(threads):
            return lambda batch: encode_texts(models[threads][1], batch, batch_size=BATCH, normalize=False)

        def one_after_the_other(threads):
            first, second = sentiment(threads), topics(threads)
            return lambda batch: (first(batch), second(batch))

        def side_by_side(threads):
            first, second = sentiment(threads), topics(threads)

            def run(batch):
                with ThreadPoolExecutor(max_workers=1) as pool:
                    other = pool.submit(second, batch)
                    first(batch)
                    other.result()
            return run

        ways = {f"one after the other, {cores} thread(s) each": one_after_the_other(cores),
                f"side by side, {half} thread(s) each (the scoring job)": side_by_side(half),
                f"side by side, {cores} thread(s) each": side_by_side(cores),
                f"sentiment pass alone, {cores} thread(s)": sentiment(cores),
                f"topic pass alone, {cores} thread(s)": topics(cores)}
        # All the texts per call, the ways interleaved round by round, the median round reported
        # (on a shared virtual machine one round can run 15 % slower than the next).
        figures = measure_side_by_side(ways, texts, batch_sizes=(len(texts),), rounds=args.rounds,
                                       calls_per_round={len(texts): 1}, warmup=1)
    rate = {name: figures[name][len(texts)].texts_per_s for name in ways}
    backend = models[cores][0].backend
    served = getattr(getattr(backend, "path", None), "name", None) or "PyTorch"
    print_table(f"finance model passes on {len(texts)} texts ({served}; int8 topic encoder; {cores} core(s); "
                f"load average {os.getloadavg()[0]:.2f})", ["way", "documents/s, median of rounds"],
                [(name, value) for name, value in rate.items()])
    names = list(ways)
    sequential, parallel = rate[names[0]], rate[names[1]]
    print(f"\nside by side (the scoring job) / one after the other: {parallel / sequential:.2f}x (medians)")
    finish({"texts": len(texts), "cores": cores, "sentiment_file": served, "rounds": args.rounds,
            "one_after_the_other_docs_per_s": sequential, "side_by_side_docs_per_s": parallel,
            "side_by_side_all_threads_docs_per_s": rate[names[2]], "sentiment_alone_docs_per_s": rate[names[3]],
            "topics_alone_docs_per_s": rate[names[4]], "speedup": round(parallel / sequential, 3),
            "load_average": round(os.getloadavg()[0], 2)}, args.json)


if __name__ == "__main__":
    main()
