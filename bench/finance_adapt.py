"""Task-adaptive pre-training of the teacher's encoder: masked-LM on the split's training texts.

FinBERT (Araci 2019) gets part of its lead from further masked-LM pre-training on financial text;
Gururangan et al. (2020, "Don't Stop Pretraining") report gains from doing that on a task's own
unlabelled texts alone. This script tries it for bench/finance_quality.py's teacher: the
encoder (default the optional all-mpnet-base-v2 of `make models-large`) continues masked-LM
training on the training rows of the seed-54 80/20 split (and, with --unlabelled, more texts);
the test rows are never seen. The encoder is written with its sentence-transformers pooling
files as a backbone folder for `finance_quality.py --teacher-base DIR`.

A sentence-transformers checkpoint ships without the masked-LM head, so the head starts from
random weights; it learns at ten times the encoder's rate.

    python bench/finance_adapt.py --out ADAPTED --json
    python bench/finance_quality.py --teacher-base ADAPTED --json     # the teacher from it
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

try:
    from bench.common import data_path, finish, parser, print_table
except ImportError:  # run as a script: bench/ is not a package on sys.path then
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import data_path, finish, parser, print_table
from bench.finance_quality import check_teacher_base, load_splits, load_unlabelled


def training_texts(args) -> tuple[list[str], int]:
    """Distinct training-split texts (+ --unlabelled), none of them a test row; and the test size."""
    # the split finance_quality.py's teacher trains on, so the adapted encoder never sees its test rows
    train, test, _ = load_splits(argparse.Namespace(train=args.train, test=None, limit_train=0, limit_test=0))
    held = set(test.texts)
    texts = list(train.texts) + (load_unlabelled(args.unlabelled) if args.unlabelled else [])
    texts = [text for text in dict.fromkeys(texts) if text not in held]
    if args.limit and len(texts) > args.limit:
        texts = texts[: args.limit]
    return texts, len(test)


def adapt(args, texts: list[str]) -> dict:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    from ml_core.backbone import resolve_backbone

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    source = resolve_backbone(args.teacher_base)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForMaskedLM.from_pretrained(source)
    model.train()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    head = [p for name, p in model.named_parameters() if not name.startswith(model.base_model_prefix + ".")]
    body = [p for name, p in model.named_parameters() if name.startswith(model.base_model_prefix + ".")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.lr * 10}],
                                  weight_decay=0.01)
    total = math.ceil(len(texts) / args.batch_size) * args.epochs
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup)))
    generator = torch.Generator().manual_seed(args.seed)
    started, step, losses = time.perf_counter(), 0, []
    for epoch in range(args.epochs):
        order = torch.randperm(len(texts), generator=generator).tolist()
        for start in range(0, len(order), args.batch_size):
            encoded = tokenizer([texts[i] for i in order[start:start + args.batch_size]],
                                truncation=True, max_length=args.max_length)
            # the collator pads the attention mask with the ids (a masked token drawn at random may be the pad id)
            batch = collator([{"input_ids": ids, "attention_mask": mask}
                              for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])])
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
            if step % 20 == 0 or step == total:
                print(f"[adapt] epoch {epoch + 1}/{args.epochs} step {step}/{total} "
                      f"loss {sum(losses[-20:]) / len(losses[-20:]):.3f}", flush=True)
    args.out.mkdir(parents=True)
    model.base_model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    # the pooling the encoder was trained with travels with it (ml_core.artifact_format.backbone_pooling)
    for item in Path(source).iterdir():
        if item.name in ("modules.json", "sentence_bert_config.json") or (item.is_dir() and item.name[:2] in ("1_", "2_")):
            (shutil.copytree if item.is_dir() else shutil.copy)(item, args.out / item.name)
    first = losses[: min(20, len(losses))]
    return {"steps": step, "seconds": round(time.perf_counter() - started, 1),
            "first_loss": round(sum(first) / len(first), 3), "last_loss": round(sum(losses[-20:]) / len(losses[-20:]), 3)}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train", type=Path, default=data_path("financial_phrasebank", "financial_phrasebank.csv"),
                   help="labelled file split 80/20 (seed 54) as finance_quality.py does; labels unused")
    p.add_argument("--unlabelled", type=Path, nargs="*", default=[], help="more texts (column text)")
    p.add_argument("--teacher-base", default="mpnet",
                   help="the teacher encoder to adapt (default mpnet: make models-large), as in finance_quality.py")
    p.add_argument("--out", type=Path, required=True, help="new folder for the adapted encoder")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-5, help="encoder learning rate (the head's is 10x)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--limit", type=int, default=0, help="at most N texts (smoke run)")
    args = p.parse_args()
    if args.out.exists():
        raise SystemExit(f"error: {args.out} already exists; give a new --out folder")
    check_teacher_base(args.teacher_base)
    texts, n_test = training_texts(args)
    figures = {"texts": len(texts), "test_rows_excluded": n_test, "teacher_base": args.teacher_base, "epochs": args.epochs,
               **adapt(args, texts), "out": str(args.out)}
    print_table("masked-LM adaptation", ["texts", "epochs", "steps", "loss first 20 steps", "loss last 20", "seconds"],
                [[figures["texts"], args.epochs, figures["steps"], figures["first_loss"], figures["last_loss"],
                  figures["seconds"]]])
    finish(figures, args.json)


if __name__ == "__main__":
    main()
