"""Services queue Celery tasks by name (issue 19: no service imports a tasks module); every name they
queue must be a task that Celery's autodiscovery registers, on the queue its work expects."""
import re
from pathlib import Path

from celery import current_app

from apps.core.queues import routed_queue

ROOT = Path(__file__).resolve().parents[3]
# job_start(task="core.x") / task_send("core.x"): names written where they are queued
QUEUED = re.compile(r'(?:job_start\(task=|task_send\()"((?:core|customer_service|finance_sentiment|recommendation)\.[a-z_]+)"')


def _name_constants() -> list[str]:
    """The task-name constants the services queue through (job_start(task=NAME), task_send(NAME))."""
    from apps.core.services import encoder_check
    from apps.customer_service.services import kb_jobs
    from apps.finance_sentiment.services import sends
    from apps.recommendation import services as recommendation

    return [encoder_check.TASK, kb_jobs.EMBED_KNOWLEDGE_BASE, sends.SCORE_BATCH, sends.REBUILD_SCORES,
            sends.POLL_FEED, sends.DELIVER_ALERT, recommendation.TRAIN_RECOMMENDER, recommendation.EMBED_ITEMS]


def _registered() -> set[str]:
    current_app.loader.import_default_modules()  # what a worker does at start: autodiscover_tasks()
    return set(current_app.tasks)


def test_every_task_name_the_services_queue_is_a_registered_task():
    queued = dict.fromkeys(_name_constants(), "a constant")
    for path in (ROOT / "apps").rglob("*.py"):
        for name in QUEUED.findall(path.read_text()):
            queued[name] = str(path.relative_to(ROOT))
    assert len(queued) >= 14, queued  # the scan still finds what is queued
    missing = {name: where for name, where in queued.items() if name not in _registered()}
    assert not missing, f"queued by name but no such task: {missing}"


def test_no_service_imports_a_tasks_module():
    offenders = []
    for path in (ROOT / "apps").rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.name == "tasks.py" or "services" not in relative.parts and relative.name != "services.py":
            continue
        if re.search(r"^\s*from (?:\.\.?|apps\.\w+\.)tasks import|^\s*from \.\.? import tasks", path.read_text(),
                     re.MULTILINE):
            offenders.append(str(relative))
    assert offenders == []


def test_training_jobs_route_to_the_training_queue():
    registered = _registered()
    for name in ("core.train_classifier", "core.tune_classifier", "core.compress_model", "core.evaluate_robustness",
                 "finance_sentiment.rebuild_scores", "recommendation.train_recommender"):
        assert name in registered and routed_queue(name) == "training"
