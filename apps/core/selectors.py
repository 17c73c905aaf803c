"""Reads for jobs and model versions, and what needs a person's attention."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from .models import ActivationDecision, AuditEvent, Job, ModelVersion, ShadowDeployment
from .scenarios import all_scenarios


def job_list(*, state: str | None = None, kind: str | None = None, limit: int = 100) -> QuerySet[Job]:
    jobs = Job.objects.select_related("created_by")
    if state:
        jobs = jobs.filter(state=state)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs.order_by("-created_at")[:limit]


def job_get(*, job_id) -> Job:
    return Job.objects.select_related("created_by").get(pk=job_id)


def active_job_get(*, scenario: str | None = None, kind: str | None = None) -> Job | None:
    """A queued or running job of the scenario (or of the kind), if any."""
    jobs = Job.objects.filter(state__in=Job.ACTIVE_STATES)
    if scenario:
        jobs = jobs.filter(scenario=scenario)
    if kind:
        jobs = jobs.filter(kind=kind)
    return jobs.first()


def model_version_get(*, pk: int, scenario: str | None = None) -> ModelVersion | None:
    versions = ModelVersion.objects.select_related("created_by", "job")
    if scenario:
        versions = versions.filter(scenario=scenario)
    return versions.filter(pk=pk).first()


def model_version_list(*, scenario: str | None = None) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.select_related("created_by", "job")
    if scenario:
        versions = versions.filter(scenario=scenario)
    return versions.order_by("scenario", "-version")


def active_model_version(*, scenario: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(scenario=scenario, is_active=True).first()


def registry_overview() -> list[dict]:
    """One entry per scenario (registered or holding versions) with its versions."""
    versions_by_scenario: dict[str, list[ModelVersion]] = {}
    for version in model_version_list():
        versions_by_scenario.setdefault(version.scenario, []).append(version)
    registered = {s.key: s for s in all_scenarios()}
    keys = sorted(set(registered) | set(versions_by_scenario))
    entries = []
    for key in keys:
        active = next((v for v in versions_by_scenario.get(key, []) if v.is_active), None)
        entries.append({
            "key": key,
            "scenario": registered.get(key),
            "label": registered[key].label if key in registered else key,
            "versions": versions_by_scenario.get(key, []),
            "active": active,
            "problems": model_problems(scenario=key, active=active),
        })
    return entries


def model_problems(*, scenario: str, active: ModelVersion | None) -> list[str]:
    """What an operator must know about a scenario's serving: the active version's files are
    damaged, or this process failed to load a version (and serves an older one)."""
    from .services.registry import ActiveModelCache, artifact_problem

    problems = []
    if active is not None and (problem := artifact_problem(active)):
        problems.append(f"v{active.version} (active): {problem}. The loaded copy serves until a "
                        "restart; activate a sound version.")
    for cache in ActiveModelCache.all():
        if cache.scenario == scenario and cache.last_error and cache.last_error not in problems:
            problems.append(cache.last_error)
    return problems


def versions_awaiting_decision() -> list[ModelVersion]:
    """Inactive versions the activation policy left to a person, newer than their scenario's
    active version (an older one was decided on when a newer one was activated)."""
    active_since = dict(ModelVersion.objects.filter(is_active=True).values_list("scenario", "created_at"))
    waiting = ModelVersion.objects.filter(is_active=False, activation_decision=ActivationDecision.MANUAL)
    return [v for v in waiting.order_by("-created_at")
            if v.scenario not in active_since or v.created_at > active_since[v.scenario]]


def audit_event_list(*, actions: list[str] | None = None, limit: int = 15) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if actions:
        events = events.filter(action__in=actions)
    return events.order_by("-created_at")[:limit]


def shadow_deployment_list(*, limit: int = 20) -> QuerySet[ShadowDeployment]:
    return ShadowDeployment.objects.select_related("candidate", "started_by")[:limit]


def shadow_deployment_get(*, pk: int) -> ShadowDeployment | None:
    return ShadowDeployment.objects.select_related("candidate", "started_by").filter(pk=pk).first()


@dataclass(frozen=True)
class Attention:
    """One thing that waits for a person: how many, in words, and the page to act on it."""

    key: str
    count: int
    label: str
    url: str
    severity: str = "warning"  # "bad": someone or something is blocked


def _count(model_label: str, **filters) -> int | None:
    # The apps' models by label: core lists their counts without importing the apps (they import
    # core); an app that is not installed has nothing to say.
    try:
        model = apps.get_model(model_label)
    except LookupError:
        return None
    return model.objects.filter(**filters).count()


def attention_list(*, now=None) -> list[Attention]:
    """What needs attention now, for the dashboard: customers waiting for a person, open alerts,
    jobs failed in the last 24 hours, model versions waiting for a decision. Zero counts included:
    the dashboard says that nothing waits too."""
    now = now or timezone.now()
    items = []
    waiting = _count("customer_service.Conversation", status="waiting")
    if waiting is not None:
        items.append(Attention("customers_waiting", waiting,
                               "customer waiting for a person" if waiting == 1 else "customers waiting for a person",
                               reverse("customer_service:conversation_list") + "?status=waiting", "bad"))
    alerts = _count("finance_sentiment.Alert", state="open")
    if alerts is not None:
        items.append(Attention("open_alerts", alerts, "open alert" if alerts == 1 else "open alerts",
                               reverse("finance_sentiment:alert_list") + "?state=open", "bad"))
    failed = Job.objects.filter(state=Job.State.FAILED, finished_at__gte=now - timedelta(hours=24)).count()
    items.append(Attention("failed_jobs", failed,
                           "job failed in the last 24 hours" if failed == 1 else "jobs failed in the last 24 hours",
                           reverse("job_list") + f"?state={Job.State.FAILED}"))
    deciding = len(versions_awaiting_decision())
    items.append(Attention("versions_waiting", deciding,
                           "model version waiting for a decision" if deciding == 1
                           else "model versions waiting for a decision", reverse("registry")))
    return items


# --- pages whose data waits for a first model (h11, issue 17) ------------------------------------
@dataclass(frozen=True)
class ModelWait:
    """Why a page's data is not there yet, for its banner (templates/core/_model_wait.html).

    state: "training" (a job of the scenario's training queue is queued or running), "work" (a
    model is active and a job of one of the page's `kinds` is at it, e.g. scoring the documents
    that waited), "failed" (the last training failed), "not_activated" (trained, and the
    activation policy left it to a person or refused it), "no_model" (nothing trained or started).
    """

    scenario: str
    label: str
    state: str
    job: Job | None = None
    version: ModelVersion | None = None
    queued_s: float = 0.0  # how long the job has waited for a worker
    ahead: Job | None = None  # the training the (one) training worker is busy with meanwhile

    @property
    def polls(self) -> bool:
        return self.state in ("training", "work")


def model_wait(*, scenario: str, kinds: tuple[str, ...] = (), now=None) -> ModelWait | None:
    """The wait of a page that shows what `scenario`'s model produces, or None when nothing waits.

    Without an active version: the newest training-queue job of the scenario (its progress while it
    runs, its error when it failed), else the newest version's activation verdict. With one: an
    active job of `kinds` in the scenario (the work the page's data waits for), if any.
    """
    from .queues import routed_queue

    registered = {s.key: s.label for s in all_scenarios()}
    label = registered.get(scenario, scenario)
    jobs = Job.objects.filter(scenario=scenario).order_by("-created_at")
    if ModelVersion.objects.filter(scenario=scenario, is_active=True).exists():
        job = jobs.filter(kind__in=kinds, state__in=Job.ACTIVE_STATES).first() if kinds else None
        return ModelWait(scenario, label, "work", job=job) if job else None
    training = next((j for j in jobs.filter(state__in=Job.ACTIVE_STATES)[:20] if routed_queue(j.kind) == "training"),
                    None)
    if training is not None:
        if training.state != Job.State.QUEUED:
            return ModelWait(scenario, label, "training", job=training)
        ahead = next((j for j in Job.objects.filter(state=Job.State.RUNNING).order_by("started_at")
                      if routed_queue(j.kind) == "training"), None)
        return ModelWait(scenario, label, "training", job=training, ahead=ahead,
                         queued_s=((now or timezone.now()) - training.created_at).total_seconds())
    version = ModelVersion.objects.filter(scenario=scenario).order_by("-created_at").first()
    last = next((j for j in jobs.exclude(state__in=Job.ACTIVE_STATES)[:20] if routed_queue(j.kind) == "training"),
                None)
    if last is not None and last.state == Job.State.FAILED and (version is None or version.created_at < last.created_at):
        return ModelWait(scenario, label, "failed", job=last)
    if version is not None:
        return ModelWait(scenario, label, "not_activated", version=version)
    return ModelWait(scenario, label, "no_model")
