"""Which queue a task name goes to, and sending a task by its name.

Code that queues work names the task ("core.train_classifier") instead of importing the module that
defines it, so imports run one way: tasks -> services -> queues, never services -> tasks (issue 19).
"""
from __future__ import annotations

from fnmatch import fnmatch

from django.conf import settings


def routed_queue(task_name: str) -> str:
    """The queue CELERY_TASK_ROUTES sends a task name to."""
    for routes in settings.CELERY_TASK_ROUTES:
        for pattern, route in routes:
            if fnmatch(task_name, pattern):
                return route["queue"]
    return settings.CELERY_TASK_DEFAULT_QUEUE


def task_send(name: str, *, args: list | tuple = (), **options) -> None:
    """Send the Celery task called `name` with `args` (apply_async's options, e.g. countdown).

    The route comes from the name (CELERY_TASK_ROUTES). Under CELERY_TASK_ALWAYS_EAGER the registered
    task runs here and now; Celery's autodiscovery (config/celery.py) registers every app's tasks the
    first time one is looked up. Raises what the broker raises when it cannot be reached.
    """
    from celery import current_app

    if current_app.conf.task_always_eager:
        if name not in current_app.tasks:
            current_app.loader.import_default_modules()  # runs autodiscover_tasks()
        current_app.tasks[name].apply_async(args=list(args), **options)
    else:
        current_app.send_task(name, args=list(args), **options)
