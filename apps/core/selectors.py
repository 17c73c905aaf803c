"""Reads for jobs and model versions."""
from __future__ import annotations

from django.db.models import QuerySet

from .models import Job, ModelVersion
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
