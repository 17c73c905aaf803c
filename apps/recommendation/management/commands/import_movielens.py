"""`python manage.py import_movielens PATH`: the MovieLens 100K files into the catalogue."""
from django.core.management.base import BaseCommand, CommandError

from apps.recommendation.services import items_embed_start, movielens_import, recommender_retrain_start
from ml_core.errors import UserError
from ml_core.progress import TqdmProgress


class Command(BaseCommand):
    help = ("Import MovieLens 100K (u.data, u.item, u.user, u.genre) from a folder: films with their "
            "text (title, year, genres), users, and ratings as interactions. All or nothing.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the folder holding u.data, u.item, u.user and u.genre")
        parser.add_argument("--prefix", default="", help="put before every film and user id (e.g. ml-)")
        parser.add_argument("--train", action="store_true", help="queue a training job afterwards")

    def handle(self, *args, path: str, prefix: str, train: bool, **options) -> None:
        try:
            with TqdmProgress("import_movielens") as progress:
                summary = movielens_import(folder=path, prefix=prefix, progress=progress)
        except UserError as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Imported {summary.items} films, {summary.users} users and {summary.interactions} ratings "
            f"({summary.new_interactions} new) in {summary.seconds:.1f} s."))
        job = items_embed_start()
        if job:
            self.stdout.write(f"Queued job {job.pk} to embed the films' texts.")
        if train:
            job = recommender_retrain_start(params={"activate": "if_better"})
            self.stdout.write(f"Queued training job {job.pk}; follow it on /jobs/.")
