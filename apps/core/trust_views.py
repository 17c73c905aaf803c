"""Pages for control and trust: policies and retention (the control page), shadow deployments and
their comparison, model cards, and "why" explanations of a version's predictions. Thin."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors
from .models import AuditEvent, ModelVersion, ShadowDeployment
from .roles import admin_required, operator_required
from .services import control, retention, shadow
from .services.explanations import classifier_explanation, explanation_segments
from .services.model_cards import model_card_markdown
from .user_errors import USER_ERRORS, flash_refusal, or_404, refusal

MAX_EXPLAIN_CHARS = 5000
TRAIL_ACTIONS = [AuditEvent.Action.THRESHOLD_CHANGE, AuditEvent.Action.SETTINGS_CHANGE, AuditEvent.Action.DATA_DELETE]


def _version_or_404(pk: int) -> ModelVersion:
    return or_404(selectors.model_version_get(pk=pk), "model version")


def _shadow_or_404(pk: int) -> ShadowDeployment:
    return or_404(selectors.shadow_deployment_get(pk=pk), "shadow deployment")


@operator_required
def control_page(request: HttpRequest) -> HttpResponse:
    return render(request, "core/control.html", {
        "policies": control.policy_overview(), "actions": control.ScenarioPolicy.LowConfidence.choices,
        "retention": retention.retention_overview(),
        "shadows": selectors.shadow_deployment_list(limit=20),
        "trail": selectors.audit_event_list(actions=TRAIL_ACTIONS, limit=15),
    })


@require_POST
@admin_required
def policy_update(request: HttpRequest, scenario: str) -> HttpResponse:
    values = {"confidence_threshold": request.POST.get("confidence_threshold"),
              "low_confidence_action": request.POST.get("low_confidence_action"),
              "handoff_labels": request.POST.get("handoff_labels", "")}
    try:
        policy = control.scenario_policy_update(scenario=scenario, values=values, actor=request.user)
    except ValidationError as exc:
        flash_refusal(request, exc, prefix=f"{scenario}: ")
    else:
        messages.success(request, f"{scenario}: threshold {policy.confidence_threshold:.2f}, "
                                  f"below it: {policy.low_confidence_action}.")
    return redirect("control")


@require_POST
@admin_required
def retention_update(request: HttpRequest, kind: str) -> HttpResponse:
    raw = (request.POST.get("max_age_days") or "").strip()
    try:
        days = int(raw) if raw else None
        retention.retention_rule_update(kind=kind, max_age_days=days, actor=request.user)
    except ValueError:
        messages.error(request, f"{kind}: the age must be a whole number of days, or empty to keep forever")
    except ValidationError as exc:
        flash_refusal(request, exc, prefix=f"{kind}: ")
    else:
        messages.success(request, f"{kind}: kept {f'{days} days' if days else 'forever'}.")
    return redirect("control")


@require_POST
@admin_required
def retention_run(request: HttpRequest) -> HttpResponse:
    job = retention.retention_job_start(created_by=request.user)
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def shadow_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version_or_404(pk)
    try:
        rate = float(request.POST.get("sample_rate") or 1.0)
        deployment = shadow.shadow_start(candidate=version, actor=request.user, sample_rate=rate)
    except ValueError:
        messages.error(request, "the sample rate must be a number")
    except USER_ERRORS as exc:
        flash_refusal(request, exc)
    else:
        return redirect("shadow_detail", pk=deployment.pk)
    return redirect("model_version_detail", pk=pk)


@require_POST
@admin_required
def shadow_stop_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = shadow.shadow_stop(deployment=_shadow_or_404(pk), actor=request.user)
    messages.success(request, f"Stopped the shadow of v{deployment.candidate.version}.")
    return redirect("shadow_detail", pk=pk)


@operator_required
def shadow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _shadow_or_404(pk)
    return render(request, "core/shadow_detail.html", {
        "deployment": deployment, "report": shadow.shadow_comparison(deployment=deployment),
    })


@operator_required
def model_card_download(request: HttpRequest, pk: int) -> HttpResponse:
    version = _version_or_404(pk)
    response = HttpResponse(model_card_markdown(version=version), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="model_card-{version.scenario}-v{version.version}.md"'
    return response


@require_POST
@operator_required
def model_version_explain(request: HttpRequest, pk: int) -> HttpResponse:
    """Why this version says what it says about a text the operator types (an htmx partial)."""
    version = _version_or_404(pk)
    text = (request.POST.get("text") or "").strip()
    context: dict = {"version": version}
    if not text:
        context["error"] = "Type a text to explain."
    elif len(text) > MAX_EXPLAIN_CHARS:
        context["error"] = f"The text is longer than {MAX_EXPLAIN_CHARS} characters."
    else:
        try:
            explanation = classifier_explanation(version=version, text=text)
        except USER_ERRORS as exc:  # damaged files: 503, unavailable; anything else: 400
            refused = refusal(exc)
            context.update(error=refused.message, status=refused.status)
        else:
            context.update(explanation=explanation, segments=explanation_segments(explanation))
    status = context.pop("status", 400 if "error" in context else 200)
    return render(request, "core/_explanation.html", context, status=status)
