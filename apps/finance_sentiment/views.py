"""The finance sentiment console. Thin: forms, selectors and services."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.core import selectors as core_selectors
from apps.core.roles import admin_required, operator_required
from apps.core.safe_redirect import redirect_next
from apps.core.scenarios import get_scenario
from apps.core.services.distillation import (
    DEFAULT_UNLABELLED_LIMIT,
    distillation_start,
    large_teacher_installed,
)
from apps.core.user_errors import USER_ERRORS, flash_refusal, or_404, refusal, refusals
from apps.core.validation import is_ascii_integer
from ml_core.timeseries import GRANULARITIES

from . import selectors
from .forms import (
    AlertRuleForm,
    ApiKeyForm,
    DocumentLabelForm,
    FeedForm,
    LabelledSetForm,
    TickerForm,
    TopicForm,
    TrainForm,
    UploadForm,
)
from .models import (
    SENTIMENT_LABELS,
    Alert,
    AlertRule,
    Document,
    Feed,
    IngestBatch,
    Ticker,
    Topic,
)
from .scenario import SENTIMENT_SCENARIO, TOPIC_SCENARIO
from .selectors import DocumentFilters, FilterError
from .services import catalog
from .services import training as training_services
from .services.alerts import alert_acknowledge
from .services.catalog import (
    document_label,
    feed_poll_soon,
    feed_save,
    rule_delete,
    rule_save,
    ticker_save,
    topic_delete,
    topic_save,
)
from .services.ingestion import IngestError
from .services.jobs import rebuild_scores_start
from .services.keys import api_key_create, api_key_revoke, finance_api_key_get, finance_api_keys
from .services.sends import feed_poll_send
from .services.training import labelled_set_upload, topic_classifier_readiness
from .services.uploads import upload_ingest
from .serving import sentiment_cache

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
RANGE_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days"}
FEED_PAGE = 25
UPLOAD_REFUSED = refusals(IngestError)


def _chart_window(request: HttpRequest) -> tuple[str, str, timedelta]:
    """The range (7 days unless asked) and its bucket: hours for 24 h, days beyond, unless asked.
    Days by default keep a week to 7 points a line instead of 168."""
    span = request.GET.get("range", "7d")
    span = span if span in RANGES else "7d"
    bucket = request.GET.get("bucket", "")
    bucket = bucket if bucket in GRANULARITIES else ("hour" if span == "24h" else "day")
    return bucket, span, RANGES[span]


def _chart_topic(request: HttpRequest) -> Topic | None:
    """The one topic the charts show beside all documents (?topic=<id>), or None for every topic."""
    value = request.GET.get("topic", "")
    return selectors.topic_get(pk=int(value), active_only=True) if is_ascii_integer(value) else None


def _document_or_404(pk: int) -> Document:
    try:
        return selectors.document_get(pk=pk)
    except Document.DoesNotExist:
        raise Http404("No such document")


def _alert_or_404(pk: int) -> Alert:
    try:
        return selectors.alert_get(pk=pk)
    except Alert.DoesNotExist:
        raise Http404("No such alert")


def _filters(request: HttpRequest) -> tuple[DocumentFilters, str]:
    try:
        return DocumentFilters.from_params(request.GET), ""
    except FilterError as exc:
        return DocumentFilters(), str(exc)


# --- dashboard -----------------------------------------------------------------------------------
@operator_required
def index(request: HttpRequest) -> HttpResponse:
    bucket, span, _ = _chart_window(request)
    filters, filter_error = _filters(request)
    active_model, model_problem = selectors.sentiment_model_status()
    return render(request, "finance_sentiment/index.html", {
        "overview": selectors.overview(), "bucket": bucket, "range": span, "ranges": RANGE_LABELS,
        "chart_topic": _chart_topic(request),
        "alerts": selectors.alert_list(state=Alert.State.OPEN, limit=10), "state": Alert.State.OPEN,
        "documents": selectors.document_list(filters=filters, scored_only=True)[:FEED_PAGE],
        "filter_error": filter_error, "topics": selectors.topic_choices(),
        "tickers": selectors.watchlist_tickers(), "sentiments": SENTIMENT_LABELS,
        "sources": selectors.sources(), "active_model": active_model, "model_problem": model_problem,
    })


@operator_required
def chart_data(request: HttpRequest) -> JsonResponse:
    """Per-topic series for the dashboard's charts (fetched again every 30 s)."""
    bucket, span, length = _chart_window(request)
    end = timezone.now() + GRANULARITIES[bucket]
    series = selectors.topic_chart_series(granularity=bucket, start=end - length, end=end,
                                          topic=_chart_topic(request))
    return JsonResponse({"bucket": bucket, "range": span, "series": [
        {"key": s["key"], "label": s["label"],
         "points": [{**p, "start": p["start"].isoformat()} for p in s["points"]]} for s in series]})


@operator_required
def document_list(request: HttpRequest) -> HttpResponse:
    """The live feed: full page, or (htmx) just the rows."""
    filters, filter_error = _filters(request)
    documents = selectors.document_list(filters=filters, scored_only=not filters.status)
    page = Paginator(documents, FEED_PAGE).get_page(request.GET.get("page"))
    context = {"documents": page, "page": page, "filter_error": filter_error,
               "topics": selectors.topic_choices(), "tickers": selectors.watchlist_tickers(),
               "sentiments": SENTIMENT_LABELS, "sources": selectors.sources(), "query": request.GET.urlencode()}
    if request.headers.get("HX-Request"):
        return render(request, "finance_sentiment/_document_rows.html", context)
    return render(request, "finance_sentiment/document_list.html", context)


@operator_required
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    document = _document_or_404(pk)
    form = DocumentLabelForm(initial={
        "label": document.label,
        "topic": "none" if document.topic_labelled_none else (str(document.topic_label_id) if document.topic_label_id else ""),
    })
    from .services.trust import document_unsure

    unsure, threshold = document_unsure(document)
    return render(request, "finance_sentiment/document_detail.html", {
        "document": document, "form": form, "unsure": unsure, "threshold": threshold,
        "scores": selectors.document_score_list(document=document, limit=20),
        "alerts": selectors.document_alert_list(document=document, limit=10),
        "probabilities": [("negative", document.p_negative), ("neutral", document.p_neutral),
                          ("positive", document.p_positive)],
    })


@operator_required
def document_explanation_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Which words drove the document's sentiment (an htmx partial, computed when asked for)."""
    from apps.core.services.explanations import explanation_segments

    from .services.trust import document_explanation

    document = _document_or_404(pk)
    try:
        explanation = document_explanation(document=document)
    except USER_ERRORS as exc:  # damaged files: 503, unavailable; no model to explain with: 409
        refused = refusal(exc, status=409)
        return render(request, "core/_explanation.html", {"error": refused.message}, status=refused.status)
    return render(request, "core/_explanation.html",
                  {"explanation": explanation, "segments": explanation_segments(explanation)})


@require_POST
@operator_required
def document_label_view(request: HttpRequest, pk: int) -> HttpResponse:
    document = _document_or_404(pk)
    form = DocumentLabelForm(request.POST)
    if form.is_valid():
        document_label(document=document, label=form.cleaned_data["label"], topic=form.cleaned_data["topic"],
                       user=request.user)
        messages.success(request, "Labels saved: they are training data for the next model versions.")
    else:
        messages.error(request, f"Labels not saved: {form.errors.as_text()}")
    return redirect("finance_sentiment:document_detail", pk=pk)


# --- alerts --------------------------------------------------------------------------------------
@operator_required
def alert_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or None
    state = state if state in Alert.State.values else None
    alerts = selectors.alert_list(state=state, limit=200)
    template = "finance_sentiment/_alert_rows.html" if request.headers.get("HX-Request") else \
        "finance_sentiment/alert_list.html"
    return render(request, template, {"alerts": alerts, "state": state, "states": Alert.State.choices})


@operator_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _alert_or_404(pk)
    step = GRANULARITIES[alert.granularity]
    from .services.trends import trend_points

    points = trend_points(series=alert.series, granularity=alert.granularity, start=alert.window_start - 48 * step,
                          end=alert.window_end + 6 * step)
    chart = {"metric": alert.metric, "granularity": alert.granularity, "expected": alert.expected, "sigma": alert.sigma,
             "window_start": alert.window_start.isoformat(), "window_end": alert.window_end.isoformat(),
             "points": [{**p, "start": p["start"].isoformat()} for p in points]}
    return render(request, "finance_sentiment/alert_detail.html", {"alert": alert, "chart": chart})


@require_POST
@operator_required
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    alert = alert_acknowledge(alert=_alert_or_404(pk), user=request.user)
    if request.headers.get("HX-Request"):
        return render(request, "finance_sentiment/_alert_row.html", {"alert": selectors.alert_get(pk=alert.pk)})
    messages.success(request, "Alert acknowledged.")
    return redirect_next(request, "finance_sentiment:alert_detail", pk=pk)


# --- topics, rules, watchlist, feeds -----------------------------------------------------------------

def _edit_page(request: HttpRequest, *, form, save, title: str, back: str, delete_url: str,
               saved_message: str) -> HttpResponse:
    """The edit page of a topic, rule, ticker or feed: save and go back, or show the form again."""
    if request.method == "POST" and form.is_valid():
        save(form)
        messages.success(request, saved_message)
        return redirect(back)
    return render(request, "finance_sentiment/form_page.html", {
        "form": form, "title": title, "back": back, "delete_url": delete_url, "object": form.instance})


def _deleted(request: HttpRequest, *, delete, message: str, back: str) -> HttpResponse:
    delete()
    messages.success(request, message)
    return redirect(back)

@operator_required
def topic_list(request: HttpRequest) -> HttpResponse:
    form = TopicForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        topic = topic_save(form=form, user=request.user)
        messages.success(request, f"Topic {topic.name!r} created; new documents are assigned to it. Re-assign "
                                  "topics below to include history.")
        return redirect("finance_sentiment:topic_list")
    ready, readiness = topic_classifier_readiness()
    return render(request, "finance_sentiment/topic_list.html", {
        "topics": selectors.topic_list(), "form": form,
        "classifier_ready": ready,
        "classifier_readiness": readiness,
        "classifier": core_selectors.active_model_version(scenario=TOPIC_SCENARIO)})


@operator_required
def topic_edit(request: HttpRequest, pk: int) -> HttpResponse:
    topic: Topic = or_404(selectors.topic_get(pk=pk), "topic")
    return _edit_page(request, form=TopicForm(request.POST or None, instance=topic),
                      save=lambda form: topic_save(form=form, user=request.user), title=f"Topic: {topic.name}",
                      back="finance_sentiment:topic_list", delete_url="finance_sentiment:topic_delete",
                      saved_message=f"Topic {topic.name!r} saved.")


@require_POST
@operator_required
def topic_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    topic: Topic = or_404(selectors.topic_get(pk=pk), "topic")
    return _deleted(request, delete=lambda: topic_delete(topic=topic, user=request.user),
                    message=f"Topic {topic.name!r} deleted.", back="finance_sentiment:topic_list")


@require_POST
@operator_required
def topics_reassign(request: HttpRequest) -> HttpResponse:
    job = rebuild_scores_start(created_by=request.user, sentiment=False, topics=True)
    return redirect("job_detail", job_id=job.pk)


def _list_with_create_form(request, *, model_form, queryset, template, save, created_message,
                           url_name: str, extra: dict | None = None) -> HttpResponse:
    """A list page whose form creates one more (POST, then back to the list)."""
    form = model_form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        messages.success(request, created_message.format(save(form)))
        return redirect(url_name)
    return render(request, template, {"objects": queryset, "form": form, **(extra or {})})


@operator_required
def rule_list(request: HttpRequest) -> HttpResponse:
    return _list_with_create_form(
        request, model_form=AlertRuleForm,
        queryset=selectors.rule_list(),
        template="finance_sentiment/rule_list.html", save=lambda form: rule_save(form=form, user=request.user),
        created_message="Rule {} created.", url_name="finance_sentiment:rule_list")


@operator_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule: AlertRule = or_404(selectors.rule_get(pk=pk), "alert rule")
    return _edit_page(request, form=AlertRuleForm(request.POST or None, instance=rule),
                      save=lambda form: rule_save(form=form, user=request.user), title=f"Alert rule: {rule.name}",
                      back="finance_sentiment:rule_list", delete_url="finance_sentiment:rule_delete",
                      saved_message=f"Rule {rule.name!r} saved.")


@require_POST
@operator_required
def rule_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    rule: AlertRule = or_404(selectors.rule_get(pk=pk), "alert rule")
    return _deleted(request, delete=lambda: rule_delete(rule=rule, user=request.user),
                    message=f"Rule {rule.name!r} deleted with its alerts.", back="finance_sentiment:rule_list")


@operator_required
def watchlist(request: HttpRequest) -> HttpResponse:
    return _list_with_create_form(
        request, model_form=TickerForm,
        queryset=selectors.ticker_list(),
        template="finance_sentiment/watchlist.html", save=lambda form: ticker_save(form=form),
        created_message="{} added to the watchlist.", url_name="finance_sentiment:watchlist")


@operator_required
def ticker_edit(request: HttpRequest, pk: int) -> HttpResponse:
    ticker: Ticker = or_404(selectors.ticker_get(pk=pk), "ticker")
    return _edit_page(request, form=TickerForm(request.POST or None, instance=ticker),
                      save=lambda form: ticker_save(form=form),
                      title=f"Ticker {ticker.symbol}", back="finance_sentiment:watchlist",
                      delete_url="finance_sentiment:ticker_delete", saved_message=f"{ticker.symbol} saved.")


@require_POST
@operator_required
def ticker_delete(request: HttpRequest, pk: int) -> HttpResponse:
    ticker: Ticker = or_404(selectors.ticker_get(pk=pk), "ticker")
    return _deleted(request, delete=lambda: catalog.ticker_delete(ticker=ticker), message=f"{ticker.symbol} removed.",
                    back="finance_sentiment:watchlist")


@operator_required
def feed_list(request: HttpRequest) -> HttpResponse:
    return _list_with_create_form(
        request, model_form=FeedForm, queryset=selectors.feed_list(),
        template="finance_sentiment/feed_list.html", save=lambda form: feed_save(form=form, user=request.user),
        created_message="Feed {} added; it is polled within a minute.", url_name="finance_sentiment:feed_list",
        extra={"max_backoff_hours": settings.FINANCE_FEED_MAX_BACKOFF_S / 3600})


@operator_required
def feed_edit(request: HttpRequest, pk: int) -> HttpResponse:
    feed: Feed = or_404(selectors.feed_get(pk=pk), "feed")
    return _edit_page(request, form=FeedForm(request.POST or None, instance=feed),
                      save=lambda form: feed_save(form=form, user=request.user), title=f"Feed: {feed.name}",
                      back="finance_sentiment:feed_list", delete_url="finance_sentiment:feed_delete",
                      saved_message=f"Feed {feed.name!r} saved.")


@require_POST
@operator_required
def feed_poll_now(request: HttpRequest, pk: int) -> HttpResponse:
    feed: Feed = or_404(selectors.feed_get(pk=pk), "feed")
    if not feed.is_active:
        messages.error(request, f"{feed.name!r} is paused: activate it to poll it.")
        return redirect("finance_sentiment:feed_list")
    feed_poll_soon(feed=feed)
    feed_poll_send(feed_id=feed.pk)
    messages.success(request, f"Polling {feed.name!r} now; refresh in a few seconds.")
    return redirect("finance_sentiment:feed_list")


@require_POST
@operator_required
def feed_delete(request: HttpRequest, pk: int) -> HttpResponse:
    feed: Feed = or_404(selectors.feed_get(pk=pk), "feed")
    return _deleted(request, delete=lambda: catalog.feed_delete(feed=feed), message=f"Feed {feed.name!r} removed (its documents stay).",
                    back="finance_sentiment:feed_list")


# --- uploads and batches ---------------------------------------------------------------------------
@operator_required
def upload(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_file = form.cleaned_data["file"]
        try:
            result = upload_ingest(content=upload_file.read(), name=upload_file.name,
                                   source=form.cleaned_data["source"], backfill=form.cleaned_data["backfill"],
                                   submitted_by=request.user)
        except UPLOAD_REFUSED as exc:
            form.add_error("file", refusal(exc).message)
        else:
            return redirect("finance_sentiment:batch_detail", pk=result.batch.pk)
    return render(request, "finance_sentiment/upload.html", {"form": form, "batches": selectors.batch_list()},
                  status=413 if getattr(form, "too_large", False) else 200)


@operator_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch: IngestBatch = or_404(selectors.batch_get(pk=pk), "batch")
    return render(request, "finance_sentiment/batch_detail.html", {
        "batch": batch, "job": batch.job, "scored": selectors.batch_scored_count(batch=batch)})


# --- models, labelled sets, API keys (admins) ---------------------------------------------------------
@admin_required
def models_page(request: HttpRequest) -> HttpResponse:
    return _render_models_page(request)


def _render_models_page(request: HttpRequest, new_key: dict | None = None, status: int = 200) -> HttpResponse:
    active, model_problem = selectors.sentiment_model_status()
    return render(request, "finance_sentiment/models.html", {
        "sets": selectors.labelled_set_list(), "set_form": LabelledSetForm(),
        "train_form": TrainForm(), "large_teacher": large_teacher_installed(),
        "distil_unlabelled_limit": DEFAULT_UNLABELLED_LIMIT,
        "versions": core_selectors.model_version_list(scenario=SENTIMENT_SCENARIO)[:10],
        "topic_versions": core_selectors.model_version_list(scenario=TOPIC_SCENARIO)[:5],
        "labelled_documents": selectors.labelled_document_count(),
        "topic_readiness": topic_classifier_readiness(), "keys": finance_api_keys(),
        "key_form": ApiKeyForm(), "new_key": new_key,
        "active": active, "model_problem": model_problem,
    }, status=status)


@require_POST
@admin_required
def labelled_set_upload_view(request: HttpRequest) -> HttpResponse:
    form = LabelledSetForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, f"Not uploaded: {form.errors.as_text()}")
        if getattr(form, "too_large", False):
            return _render_models_page(request, status=413)
        return redirect("finance_sentiment:models")
    upload_file = form.cleaned_data["file"]
    try:
        labelled = labelled_set_upload(name=form.cleaned_data["name"], file_name=upload_file.name,
                                       content=upload_file.read(), role=form.cleaned_data["role"],
                                       label_map=form.cleaned_data["label_map"] or None, uploaded_by=request.user)
    except USER_ERRORS as exc:
        flash_refusal(request, exc, prefix="Not uploaded: ")
    else:
        messages.success(request, f"{labelled.name}: {labelled.size} labelled sentences stored ({labelled.notes}).")
    return redirect("finance_sentiment:models")


@require_POST
@admin_required
def labelled_set_delete(request: HttpRequest, pk: int) -> HttpResponse:
    labelled = or_404(selectors.labelled_set_get(pk=pk), "labelled set")
    training_services.labelled_set_delete(labelled=labelled)
    messages.success(request, f"{labelled.name} deleted.")
    return redirect("finance_sentiment:models")


@require_POST
@admin_required
def retrain(request: HttpRequest, which: str) -> HttpResponse:
    key = {"sentiment": SENTIMENT_SCENARIO, "topics": TOPIC_SCENARIO}.get(which)
    if key is None:
        raise Http404("No such model")
    params: dict = {}
    if which == "sentiment":
        form = TrainForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Not started: {form.errors.as_text()}")
            return redirect("finance_sentiment:models")
        if form.cleaned_data["distil"]:
            try:
                job = distillation_start(scenario=key, created_by=request.user, params={
                    "teacher_method": form.cleaned_data["method"], "teacher_epochs": form.cleaned_data["epochs"]})
            except USER_ERRORS as exc:
                flash_refusal(request, exc)
                return redirect("finance_sentiment:models")
            return redirect("job_detail", job_id=job.pk)
        params["config"] = {"method": form.cleaned_data["method"], "epochs": form.cleaned_data["epochs"]}
    else:
        ready, why = topic_classifier_readiness()
        if not ready:
            messages.error(request, f"Not yet: {why}.")
            return redirect("finance_sentiment:topic_list")
    try:
        job = get_scenario(key).retrain(created_by=request.user, params=params)
    except USER_ERRORS as exc:
        flash_refusal(request, exc)
        return redirect("finance_sentiment:models")
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def rescore(request: HttpRequest) -> HttpResponse:
    if sentiment_cache.get() is None:
        messages.error(request, "No sentiment model is active: nothing to rescore with.")
        return redirect("finance_sentiment:models")
    job = rebuild_scores_start(created_by=request.user, sentiment=True, topics=False)
    return redirect("job_detail", job_id=job.pk)


@require_POST
@admin_required
def api_key_create_view(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not created: {form.errors.as_text()}")
        return redirect("finance_sentiment:models")
    key, plain = api_key_create(name=form.cleaned_data["name"], created_by=request.user)  # audited there
    # The plain key goes into this answer only: not into the session, not into a message.
    response = _render_models_page(request, new_key={"name": key.name, "key": plain})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@admin_required
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    key = finance_api_key_get(pk=pk)
    if key is None:
        raise Http404("No finance API key with this id")
    key = api_key_revoke(key=key, revoked_by=request.user)  # audited there
    messages.success(request, f"Key {key.prefix}… revoked.")
    return redirect("finance_sentiment:models")
