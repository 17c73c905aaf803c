"""Dashboard pages of the recommendation app. Thin: selectors, serving and services do the work."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.models import ModelVersion
from apps.core.roles import admin_required, operator_required
from apps.core.selectors import active_job_get, job_list, model_version_get
from apps.core.user_errors import USER_ERRORS, flash_refusal, or_404

from . import selectors, services, serving

MODEL_LABELS = {"popularity": "Popularity", "item_knn": "Item-kNN", "als": "ALS", "bpr": "BPR",
                "content": "Content (embeddings)", "hybrid": "Hybrid"}


def _list_options(request: HttpRequest) -> dict:
    """The same options as the API, forgiving in a form: out-of-range values are clamped."""
    try:
        k = max(1, min(serving.MAX_K, int(request.GET.get("k", 10))))
    except ValueError:
        k = 10
    try:
        diversity = max(0.0, min(1.0, float(request.GET.get("diversity", 0))))
    except ValueError:
        diversity = 0.0
    category = request.GET.get("category") or None
    if category not in selectors.category_names():
        category = None
    return {"k": k, "category": category, "diversity": diversity}


def _model_rows(version: ModelVersion | None) -> list[dict]:
    if version is None:
        return []
    rows = version.metrics.get("models", {})  # a JSON object: PostgreSQL does not keep its key order
    return [{"key": name, "label": MODEL_LABELS.get(name, name), **rows[name]}
            for name in sorted(rows, key=selectors.model_order)]


@operator_required
def index(request: HttpRequest) -> HttpResponse:
    versions = selectors.recommender_versions()
    active = next((v for v in versions if v.is_active), None)
    return render(request, "recommendation/index.html", {
        "counts": selectors.catalogue_counts(),
        "active": active,
        "versions": versions,
        "model_rows": _model_rows(active),
        "chart": {**selectors.version_chart_data(versions=versions), "labels": MODEL_LABELS},
        "jobs": [j for j in job_list(limit=50) if j.scenario == services.SCENARIO][:5],
        "users": selectors.user_search(limit=8),
        "items": selectors.item_search(limit=8),
        "last_error": serving.model_cache.last_error,
    })


@operator_required
def user_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    return render(request, "recommendation/user_list.html",
                  {"users": selectors.user_search(query=query, limit=100), "q": query})


@operator_required
def item_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    category = request.GET.get("category") or None
    return render(request, "recommendation/item_list.html", {
        "items": selectors.item_search(query=query, category=category, limit=100), "q": query,
        "category": category, "categories": selectors.category_names(),
    })


@operator_required
def user_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    user = selectors.user_get(external_id=external_id)
    if user is None:
        raise Http404("No such user")
    options = _list_options(request)
    return render(request, "recommendation/user_detail.html", {
        "end_user": user, "history": selectors.user_history_rows(user=user, limit=50),
        "result": serving.recommendations_for_user(external_id=external_id, **options),
        "options": options, "categories": selectors.category_names(),
    })


@operator_required
def item_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    item = selectors.item_get(external_id=external_id)
    if item is None:
        raise Http404("No such item")
    options = _list_options(request)
    similar, problem = None, ""
    try:
        similar = serving.similar_items_for(external_id=external_id, **options)
    except serving.NoModelError as exc:
        problem = str(exc)
    except KeyError:
        problem = "This item is not known to the recommender yet: it is waiting to be embedded."
    return render(request, "recommendation/item_detail.html", {
        "item": item, "similar": similar, "problem": problem, "options": options,
        "categories": selectors.category_names(), "counts": selectors.item_interaction_count(item=item),
    })


@operator_required
def version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = or_404(model_version_get(pk=pk, scenario=services.SCENARIO), "recommender version")
    return render(request, "recommendation/version_detail.html", {
        "version": version, "model_rows": _model_rows(version),
        "chart": {**selectors.version_chart_data(versions=[version]), "labels": MODEL_LABELS},
        "weights": version.metrics.get("weights", {}),
    })


@require_POST
@admin_required
def retrain(request: HttpRequest) -> HttpResponse:
    running = active_job_get(kind=services.TRAIN_RECOMMENDER)
    if running is not None:
        messages.warning(request, "A training job is already queued or running.")
        return redirect("job_detail", job_id=running.pk)
    try:
        job = services.recommender_retrain_start(created_by=request.user, params={"activate": "if_better"})
    except USER_ERRORS as exc:  # a start that could only fail is refused, with the reason
        flash_refusal(request, exc)
        return redirect("recommendation:index")
    return redirect("job_detail", job_id=job.pk)


@operator_required
def recommendation_why(request: HttpRequest, external_id: str, item_id: str) -> HttpResponse:
    """Why an item is recommended to a user (an htmx partial, computed when asked for)."""
    from apps.core.services.explanations import explanation_segments

    context: dict = {"item_id": item_id}
    try:
        why = serving.recommendation_explanation(external_id=external_id, item_id=item_id)
    except serving.NoModelError as exc:
        context["error"] = str(exc)
    except KeyError:
        context["error"] = "The recommender does not know this item yet."
    else:
        context.update(why=why, explanation=why["words"], segments=explanation_segments(why["words"]))
    return render(request, "recommendation/_why.html", context, status=404 if "error" in context else 200)
