"""Pages of the suite's core: home dashboard, jobs, model registry. Thin: selectors and services."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors
from .models import Job, ModelVersion
from .roles import admin_required, operator_required
from .safe_redirect import redirect_next
from .scenarios import get_scenario
from .services.activation import activation_by_hand
from .services.classifier_files import classifier_reports
from .services.classifiers import (
    classifier_training_refusal,
    classifier_training_start,
    classifier_tuning_start,
)
from .services.encoder_check import encoder_check_start as encoder_check_queue
from .services.jobs import job_cancel
from .user_errors import USER_ERRORS, flash_refusal, or_404

SCENARIO_APPS = [
    {"name": "Customer service", "url_name": "customer_service:index",
     "summary": "Intent-aware chatbot, knowledge base, website widget and operator console."},
    {"name": "Finance sentiment", "url_name": "finance_sentiment:index",
     "summary": "Financial news scored for sentiment and topic, trends and alerts."},
    {"name": "Recommendation", "url_name": "recommendation:index",
     "summary": "Semantic and behavioural recommendations with reasons."},
]


def _job_or_404(job_id) -> Job:
    try:
        return selectors.job_get(job_id=job_id)
    except Job.DoesNotExist:
        raise Http404("No such job")


def _version_or_404(pk: int) -> ModelVersion:
    return or_404(selectors.model_version_get(pk=pk), "model version")


@operator_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html", {
        "attention": selectors.attention_list(),
        "scenario_apps": SCENARIO_APPS,
        "jobs": selectors.job_list(limit=5),
        "registry": selectors.registry_overview(),
    })


@operator_required
def job_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or None
    if state and state not in Job.State.values:
        state = None
    try:
        limit = max(1, min(100, int(request.GET.get("limit", 100))))
    except ValueError:
        limit = 100
    context = {"jobs": selectors.job_list(state=state, limit=limit), "state": state,
               "states": Job.State.choices}
    if request.headers.get("HX-Request"):
        return render(request, "core/_job_rows.html", context)
    return render(request, "core/job_list.html", context)


@operator_required
def job_detail(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_or_404(job_id)
    template = "core/_job_status.html" if request.headers.get("HX-Request") else "core/job_detail.html"
    return render(request, template, {"job": job})


@require_POST
@operator_required
def job_cancel_view(request: HttpRequest, job_id) -> HttpResponse:
    job = _job_or_404(job_id)
    if not job.is_cancellable:
        messages.warning(request, f"This job is {job.get_state_display().lower()}: nothing to cancel.")
    else:
        job = job_cancel(job=job)
        messages.success(request, "Cancelled." if job.state == Job.State.CANCELLED
                         else "Asked the worker to stop; it will at its next progress report.")
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def encoder_check_start(request: HttpRequest) -> HttpResponse:
    job = encoder_check_queue(created_by=request.user)
    return redirect("job_detail", job_id=job.pk)


@operator_required
def registry(request: HttpRequest) -> HttpResponse:
    entries = selectors.registry_overview()
    for entry in entries:  # why "Train" / "Tune" could only fail: the buttons are greyed out and say so
        classifier = entry["scenario"].classifier if entry["scenario"] else None
        entry["training_refusal"] = classifier_training_refusal(training=classifier, params={}) if classifier else ""
    return render(request, "core/registry.html", {"registry": entries})


@require_POST
@admin_required
def model_version_activate_view(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version_or_404(pk)
    try:
        activation_by_hand(version=version, actor=request.user)  # audited with the policy's verdict
    except USER_ERRORS as exc:
        flash_refusal(request, exc)
    else:
        overruled = version.activation_decision and version.activation_decision != "activate"
        messages.success(request, f"{version.scenario} v{version.version} is now active"
                         + (f", by hand: the activation policy had said “{version.get_activation_decision_display()}”."
                            if overruled else "."))
    return redirect_next(request, "registry")


@operator_required
def job_curves(request: HttpRequest, job_id) -> JsonResponse:
    """Live training curves / search trials of a job, polled by its charts while it runs."""
    job = _job_or_404(job_id)
    return JsonResponse({"state": job.state, "finished": job.is_finished,
                         "curves": job.result.get("curves", []), "trials": job.result.get("trials", [])})


@operator_required
def model_version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version_or_404(pk)
    try:
        scenario = get_scenario(version.scenario)
    except KeyError:
        scenario = None
    return render(request, "core/model_version_detail.html", {
        "version": version, "scenario": scenario, "reports": classifier_reports(version=version),
    })


def _start_classifier_job(request: HttpRequest, scenario: str, start) -> HttpResponse:
    try:
        job = start(scenario=scenario, created_by=request.user)
    except USER_ERRORS as exc:
        flash_refusal(request, exc)
        return redirect("registry")
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def classifier_train_start(request: HttpRequest, scenario: str) -> HttpResponse:
    return _start_classifier_job(request, scenario, classifier_training_start)


@require_POST
@admin_required
def classifier_tune_start(request: HttpRequest, scenario: str) -> HttpResponse:
    return _start_classifier_job(request, scenario, classifier_tuning_start)


@require_POST
@admin_required
def model_version_robustness_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the robustness evaluation (perturbations + word-substitution attack) of a version."""
    from .services.robustness import robustness_evaluation_start

    version = _version_or_404(pk)
    try:
        job = robustness_evaluation_start(version=version, created_by=request.user)
    except USER_ERRORS as exc:
        flash_refusal(request, exc)
        return redirect("model_version_detail", pk=pk)
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def model_version_compress_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the compression of a version (ONNX, int8; pruning and distillation with full=1)."""
    from ml_core.compression import METHODS

    from .services.compression import compression_start

    version = _version_or_404(pk)
    params = {"methods": list(METHODS)} if request.POST.get("full") == "1" else None
    try:
        job = compression_start(version=version, created_by=request.user, params=params)
    except USER_ERRORS as exc:
        flash_refusal(request, exc)
        return redirect("model_version_detail", pk=pk)
    return redirect("job_detail", job_id=job.pk)


@operator_required
def model_wait_view(request: HttpRequest, scenario: str) -> HttpResponse:
    """The banner of a page whose data waits for a first model, polled by htmx while it waits
    (templates/core/_waiting_for_model.html); when the wait is over, the page reloads itself."""
    from .scenarios import all_scenarios
    from .templatetags.waiting import parse_kinds

    if scenario not in {s.key for s in all_scenarios()}:
        raise Http404("No such scenario")
    try:
        kinds = parse_kinds(request.GET.get("kinds", ""))
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    wait = selectors.model_wait(scenario=scenario, kinds=kinds)
    if wait is None or not wait.polls:
        # Ready (or waiting for a person now): the whole page, not only its banner, has news.
        response = render(request, "core/_model_wait.html", {"wait": wait, "ready": True})
        response["HX-Refresh"] = "true"
        return response
    return render(request, "core/_model_wait.html", {"wait": wait, "kinds": ",".join(kinds)})
