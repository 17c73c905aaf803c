"""python manage.py import_kb --format bitext|csv|jsonl PATH [--columns ROLE=COLUMN,...] [--group answer|intent]"""
from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from apps.customer_service.services.kb import kb_embed_pending
from apps.customer_service.services.kb_io import (
    FORMATS,
    GROUPINGS,
    KBImportError,
    kb_import_path,
    parse_mapping,
)


class Command(BaseCommand):
    help = ("Import a knowledge base: the Bitext customer-support CSV (instruction, intent, category, response), "
            "a plain question,answer,intent CSV, or JSON Lines. The whole file is checked first and stored in one "
            "transaction; then the vectors the assistant searches are computed (with a progress bar).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--format", choices=FORMATS, required=True)
        parser.add_argument("--columns", default="",
                            help="column mapping ROLE=COLUMN,... (roles: question, answer, intent, title, tags, "
                                 "language, category)")
        parser.add_argument("--group", choices=GROUPINGS, default=None,
                            help="answer: one entry per distinct answer of an intent (csv/jsonl default); "
                                 "intent: one entry per intent (bitext default)")
        parser.add_argument("--replace", action="store_true", help="delete the whole knowledge base first")
        parser.add_argument("--no-embed", action="store_true",
                            help="store only; a retraining or the embedding job computes the vectors later")

    def handle(self, *args, path: str, format: str, columns: str, group: str | None, replace: bool,
               no_embed: bool, **options) -> None:
        try:
            result = kb_import_path(path=path, format=format, columns=parse_mapping(columns), grouping=group,
                                    replace=replace)
        except KBImportError as exc:
            raise CommandError(f"nothing was imported: {exc}")
        self.stdout.write(self.style.SUCCESS(f"Imported {result.summary()}."))
        if no_embed:
            return
        from tqdm import tqdm

        with tqdm(total=100, desc="embedding", unit="%", file=sys.stderr,
                  disable=not sys.stderr.isatty(), bar_format="{l_bar}{bar}| {n:.0f}%") as bar:
            def progress(percent: float, message: str = "") -> None:
                bar.n = percent
                bar.set_postfix_str(message)
                bar.refresh()

            done = kb_embed_pending(progress=progress)
        self.stdout.write(f"Computed {done} vectors. Retrain the intent model (console or back office) to learn "
                          "the new questions.")
