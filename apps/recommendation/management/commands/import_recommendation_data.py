"""`python manage.py import_recommendation_data --items F --users F --events F` (JSON Lines)."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core.parsers import json_loads
from apps.recommendation.services import import_chunk_rows, interactions_record, items_upsert, users_upsert
from ml_core.data import jsonl_lines


class Command(BaseCommand):
    help = ("Import items, users and events from JSON Lines files, one object per line in the API's "
            "format. All or nothing: the first bad line is named and nothing is stored.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--items", type=Path, help='{"id", "title", "description", "categories", "attributes"}')
        parser.add_argument("--users", type=Path, help='{"id", "attributes"}')
        parser.add_argument("--events", type=Path, help='{"user", "item", "kind", "value", "timestamp", "event_id"}')

    def handle(self, *args, items=None, users=None, events=None, **options) -> None:
        if not (items or users or events):
            raise CommandError("give at least one of --items, --users, --events")
        stores = [(items, items_upsert, "items"), (users, users_upsert, "users"), (events, interactions_record, "events")]
        done = []
        with transaction.atomic():
            for path, store, name in stores:
                if path is None:
                    continue
                numbers, rows = self._read(path)
                chunk = import_chunk_rows()
                for start in range(0, len(rows), chunk):
                    result = store(**{name: rows[start:start + chunk]})
                    if result.rejected:  # raising inside the atomic block rolls everything back
                        first = result.rejected[0]
                        problems = "; ".join(f"{k}: {v}" for k, v in first["errors"].items())
                        line = numbers[start + first["index"]]
                        raise CommandError(f"{path.name} line {line}: {problems}. Nothing was imported.")
                done.append(f"{len(rows)} {name}")
        self.stdout.write(self.style.SUCCESS("Imported " + ", ".join(done) + "."))

    def _read(self, path: Path) -> tuple[list[int], list]:
        if not path.is_file():
            raise CommandError(f"{path} does not exist")
        numbers, rows = [], []
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path.name} is not UTF-8 text ({exc}). Nothing was imported.") from None
        for number, line in enumerate(jsonl_lines(text), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json_loads(line))
                numbers.append(number)
            except ValueError as exc:
                raise CommandError(f"{path.name} line {number}: not JSON ({exc}). Nothing was imported.") from None
        return numbers, rows
