"""The Celery app. Configuration lives in Django settings under the CELERY_ prefix.

Workers:
  celery -A config worker -Q training  --concurrency 1   # long jobs, one at a time
  celery -A config worker -Q inference --concurrency 4   # scoring, index updates, retries
  celery -A config beat                                   # schedules (stale jobs, feeds, nightly)
"""
import os

from celery import Celery
from celery.signals import worker_process_init

from apps.core.broker import register_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# filesystem:// (the embedded broker) gets atomic writes and survives torn message files.
register_transport()

app = Celery("ai_suite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def import_what_jobs_import_late(**_) -> None:
    """Import in each new worker process what a first job would otherwise import mid-job:
    scipy.stats (the alert tests' exact tails) takes about 0.6 s, which made the first scored batch
    after every worker start that much slower."""
    import scipy.stats  # noqa: F401
