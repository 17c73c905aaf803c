"""The operator console and the widget's frame page. Thin: forms, selectors and services."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.core.roles import admin_required, is_admin, operator_required
from apps.core.safe_redirect import redirect_next, safe_next_url
from apps.core.selectors import active_job_get, active_model_version
from apps.core.user_errors import flash_refusal, or_404, refusal, refusals
from apps.core.validation import is_ascii_integer

from . import selectors
from .forms import (
    EntryForm,
    ImportForm,
    LabelForm,
    ReplyForm,
    SettingsForm,
    SiteForm,
    SmallTalkForm,
    TeachForm,
)
from .models import Conversation, KBEntry, Message, Site, normalise_origin
from .scenario import SCENARIO
from .services.chat import assistant_settings, assistant_settings_update, entry_refs
from .services.console import (
    ConsoleError,
    conversation_close,
    conversation_release,
    conversation_reply,
    conversation_take,
    kb_example_from_questions,
    message_label,
    operator_reply_to,
    review_dismiss,
)
from .services.kb import KBError, kb_entry_create, kb_entry_delete, kb_entry_update, kb_pending_count
from .services.kb_io import kb_export_lines, kb_import_file
from .services.smalltalk import SmallTalkError, smalltalk_reply_update, smalltalk_rows
from .services.training import intent_retrain_start
from .services.widget import origin_allowed, site_save, widget_frame_refusal, widget_token_issue
from .serving import assistant, assistant_warm_up_soon

# What the console's services refuse with (besides ml_core's and the registry's refusals).
REFUSED = refusals(ConsoleError, KBError, SmallTalkError)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def _model_status() -> dict:
    active = active_model_version(scenario=SCENARIO)
    index = assistant().index
    index.sync()
    found = assistant_settings()
    calibration = index.ensure_calibrated(found.retrieval_precision)
    return {"active": active, "entries": len(index.entries), "vectors": len(index.vectors or ()),
            "pending": kb_pending_count(), "calibration": calibration, "settings": found,
            "open_intent": selectors.open_intent_status(found.open_intent_refusal_rate),
            "training": active_job_get(scenario=SCENARIO),
            "last_error": assistant().intent_models.last_error}


# --- dashboard and conversations ----------------------------------------------------------------
@operator_required
def index(request: HttpRequest) -> HttpResponse:
    context = {"queue": selectors.handoff_queue(), "live": selectors.conversation_list(live_only=True, limit=20),
               "stats": selectors.analytics(days=1)}
    context["latest"] = selectors.last_customer_texts(context["queue"] + context["live"])
    if _is_htmx(request):
        return render(request, "customer_service/_live.html", context)
    context["model"] = _model_status()
    return render(request, "customer_service/index.html", context)


@operator_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    if status not in Conversation.Status.values:
        status = None
    rows = selectors.conversation_list(status=status, limit=100)
    context = {"conversations": rows, "status": status, "statuses": Conversation.Status.choices,
               "latest": selectors.last_customer_texts(rows)}
    template = "customer_service/_conversation_rows.html" if _is_htmx(request) else "customer_service/conversation_list.html"
    return render(request, template, context)


def _conversation_context(conversation: Conversation) -> dict:
    rows = selectors.conversation_messages(conversation=conversation)
    refs = {m.pk: entry_refs(m.entries) for m in rows if m.entries}
    # What an operator answered to each customer question: the default answer of a new entry.
    operator_answers, waiting = {}, []
    for m in rows:
        if m.role == Message.Role.CUSTOMER:
            waiting.append(m.pk)
        elif m.role == Message.Role.OPERATOR and waiting:
            operator_answers.update({pk: m.text for pk in waiting})
            waiting = []
    return {"conversation": conversation, "messages_list": rows, "refs": refs, "operator_answers": operator_answers,
            "entries": selectors.kb_entry_choices()}


def _conversation_or_404(conversation_id) -> Conversation:
    return or_404(selectors.conversation_get(conversation_id=conversation_id), "conversation")


@operator_required
def conversation_detail(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = _conversation_or_404(conversation_id)
    context = _conversation_context(conversation)
    if _is_htmx(request):
        return render(request, "customer_service/_transcript.html", context)
    context["reply_form"] = ReplyForm()
    return render(request, "customer_service/conversation_detail.html", context)


def _conversation_action(request, conversation_id, action) -> HttpResponse:
    conversation = _conversation_or_404(conversation_id)
    try:
        action(conversation)
    except REFUSED as exc:
        flash_refusal(request, exc)
    return redirect("customer_service:conversation_detail", conversation_id=conversation.pk)


@require_POST
@operator_required
def conversation_take_view(request: HttpRequest, conversation_id) -> HttpResponse:
    return _conversation_action(request, conversation_id,
                                lambda c: conversation_take(conversation=c, operator=request.user))


@require_POST
@operator_required
def conversation_reply_view(request: HttpRequest, conversation_id) -> HttpResponse:
    form = ReplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write a reply first (at most 4000 characters).")
        return redirect("customer_service:conversation_detail", conversation_id=conversation_id)
    return _conversation_action(request, conversation_id, lambda c: conversation_reply(
        conversation=c, operator=request.user, text=form.cleaned_data["text"]))


@require_POST
@operator_required
def conversation_release_view(request: HttpRequest, conversation_id) -> HttpResponse:
    return _conversation_action(request, conversation_id, lambda c: conversation_release(conversation=c))


@require_POST
@operator_required
def conversation_close_view(request: HttpRequest, conversation_id) -> HttpResponse:
    return _conversation_action(request, conversation_id, lambda c: conversation_close(conversation=c))


@require_POST
@operator_required
def message_label_view(request: HttpRequest, message_id: int) -> HttpResponse:
    message = or_404(selectors.message_get(pk=message_id), "message")
    form = LabelForm(request.POST)
    try:
        if not form.is_valid():
            raise ConsoleError("give an intent")
        message_label(message=message, intent=form.cleaned_data["intent"])
        messages.success(request, f"Labelled as “{message.labelled_intent.replace('_', ' ')}”; the next retraining learns it.")
    except REFUSED as exc:
        flash_refusal(request, exc)
    return redirect_next(request, "customer_service:conversation_detail", conversation_id=message.conversation_id)


@require_POST
@operator_required
def teach(request: HttpRequest) -> HttpResponse:
    """One click: customer question(s) (+ the operator's reply) -> knowledge-base example(s)."""
    form = TeachForm(request.POST)
    back = safe_next_url(request, "customer_service:review")
    if not form.is_valid():
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect(back)
    questions = selectors.message_list(ids=form.cleaned_data["questions"])
    try:
        entry = kb_example_from_questions(questions=questions, entry=form.cleaned_data.get("entry"),
                                          new_entry=form.cleaned_data.get("new_entry"), operator=request.user)
    except REFUSED as exc:
        flash_refusal(request, exc)
        return redirect(back)
    messages.success(request, f"Added {len(questions)} question(s) to “{entry.title}”; the assistant finds "
                              "them now, and the next retraining learns them.")
    return redirect(back)


@operator_required
def review(request: HttpRequest) -> HttpResponse:
    reason = request.GET.get("reason", "")
    if reason not in Message.ReviewReason.values:
        reason = ""
    groups = selectors.review_groups(reason=reason)
    replies = {q.pk: operator_reply_to(q) for g in groups for q in g.questions[:1]}
    return render(request, "customer_service/review.html", {
        "groups": groups, "operator_replies": replies, "reason": reason, "reasons": Message.ReviewReason.choices,
        "entries": selectors.kb_entry_choices()})


@require_POST
@operator_required
def review_dismiss_view(request: HttpRequest) -> HttpResponse:
    ids = [int(x) for x in request.POST.get("questions", "").split(",") if is_ascii_integer(x)]
    done = review_dismiss(message_ids=ids)
    messages.success(request, f"Dismissed {done} question(s).")
    return redirect("customer_service:review")


# --- knowledge base -----------------------------------------------------------------------------
@operator_required
def kb_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    intent = request.GET.get("intent", "").strip()
    return render(request, "customer_service/kb_list.html", {
        "entries": selectors.kb_entry_list(query=query, intent=intent), "query": query, "intent": intent,
        "intents": selectors.kb_intents(), "pending": kb_pending_count()})


@operator_required
def kb_entry_new(request: HttpRequest) -> HttpResponse:
    form = EntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = kb_entry_create(fields=form.cleaned_data["fields"], questions=form.cleaned_data["question_list"],
                                    created_by=request.user)
        except REFUSED as exc:
            form.add_error(None, refusal(exc).message)
        else:
            messages.success(request, f"Created “{entry.title}”.")
            return redirect("customer_service:kb_list")
    return render(request, "customer_service/kb_form.html", {"form": form, "entry": None})


def _entry_or_404(pk: int) -> KBEntry:
    return or_404(selectors.kb_entry_get(pk=pk), "knowledge-base entry")


@operator_required
def kb_entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entry_or_404(pk)
    form = EntryForm(request.POST) if request.method == "POST" else EntryForm.for_entry(entry)
    if request.method == "POST" and form.is_valid():
        try:
            kb_entry_update(entry=entry, fields=form.cleaned_data["fields"],
                            questions=form.cleaned_data["question_list"])
        except REFUSED as exc:
            form.add_error(None, refusal(exc).message)
        else:
            messages.success(request, f"Saved “{entry.title}”.")
            return redirect("customer_service:kb_list")
    return render(request, "customer_service/kb_form.html", {"form": form, "entry": entry})


@require_POST
@operator_required
def kb_entry_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entry_or_404(pk)
    kb_entry_delete(entry=entry)
    messages.success(request, f"Deleted “{entry.title}”.")
    return redirect("customer_service:kb_list")


@operator_required
def kb_import_view(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = kb_import_file(data=upload.read(), name=upload.name, format=form.cleaned_data["format"],
                                    columns=form.cleaned_data["columns"],
                                    grouping=form.cleaned_data["grouping"] or None, created_by=request.user,
                                    replace=form.cleaned_data["replace"])
        except REFUSED as exc:
            form.add_error(None, f"Nothing was imported: {refusal(exc).message}")
        else:
            from .services.kb_jobs import kb_embed_start

            job = kb_embed_start(created_by=request.user)
            messages.success(request, f"Imported {result.summary()}. A job is computing their vectors.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "customer_service/kb_import.html", {"form": form},
                  status=413 if getattr(form, "too_large", False) else 200)


@require_GET
@operator_required
def kb_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "jsonl"):
        raise Http404("csv or jsonl")
    response = StreamingHttpResponse(kb_export_lines(format=fmt),
                                     content_type="text/csv" if fmt == "csv" else "application/jsonl")
    response["Content-Disposition"] = f'attachment; filename="knowledge-base.{fmt}"'
    return response


# --- analytics, sites, settings, retraining -----------------------------------------------------
@operator_required
def analytics_view(request: HttpRequest) -> HttpResponse:
    try:
        days = max(1, min(365, int(request.GET.get("days", 30))))
    except ValueError:
        days = 30
    data = selectors.analytics(days=days)
    if request.GET.get("format") == "json":
        return JsonResponse(data)
    # The charts in words: intents as "track order", reply sources by their names ("Intent answer").
    source_names = dict(Message.Source.choices)
    return render(request, "customer_service/analytics.html", {
        "data": data, "days": days,
        "chart_intents": [{**row, "intent": row["intent"].replace("_", " ")} for row in data["top_intents"]],
        "chart_sources": {source_names.get(key, key): n for key, n in data["sources"].items()}})


@operator_required
def site_list(request: HttpRequest) -> HttpResponse:
    static_url = request.build_absolute_uri("/static/widget/loader.js")
    return render(request, "customer_service/site_list.html", {
        "sites": selectors.site_list(), "loader_url": static_url, "can_edit": is_admin(request.user)})


def _site_or_404(pk: int) -> Site:
    return or_404(selectors.site_get(pk=pk), "site")


@admin_required
def site_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    site = _site_or_404(pk) if pk else None
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        saved = site_save(form=form)
        messages.success(request, f"Saved the site “{saved.name}”.")
        return redirect("customer_service:site_list")
    return render(request, "customer_service/site_form.html", {"form": form, "site": site})


@operator_required
def site_try(request: HttpRequest, pk: int) -> HttpResponse:
    """A page of this server with the site's widget tag, to try the assistant."""
    site = _site_or_404(pk)
    here = f"{request.scheme}://{request.get_host()}"
    return render(request, "customer_service/site_try.html", {
        "site": site, "allowed": origin_allowed(site, here), "here": here})


@admin_required
def settings_view(request: HttpRequest) -> HttpResponse:
    current = assistant_settings(fresh=True)
    form = SettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        try:
            assistant_settings_update(values={f: form.cleaned_data[f] for f in form.Meta.fields},
                                      updated_by=request.user)
        except ValidationError as exc:  # from full_clean; its messages, not the dict of them
            form.add_error(None, " ".join(exc.messages))
        else:
            messages.success(request, "Saved; every serving process uses the new settings within seconds.")
            return redirect("customer_service:settings")
    return render(request, "customer_service/settings.html", {"form": form, "model": _model_status()})


@admin_required
def smalltalk_view(request: HttpRequest) -> HttpResponse:
    """The answers to small talk (one form per kind; a POST saves the kind it names)."""
    if request.method == "POST":
        form = SmallTalkForm(request.POST)
        if form.is_valid():
            try:
                smalltalk_reply_update(kind=form.cleaned_data["kind"], answer=form.cleaned_data["answer"],
                                       examples=form.cleaned_data["examples"], updated_by=request.user)
            except REFUSED as exc:
                flash_refusal(request, exc)
            else:
                messages.success(request, "Saved; every serving process answers with it within seconds.")
                return redirect("customer_service:smalltalk")
        else:
            messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
    kinds = [(row, SmallTalkForm(initial=row)) for row in smalltalk_rows()]
    return render(request, "customer_service/smalltalk.html", {"forms": kinds},
                  status=400 if request.method == "POST" else 200)


@require_POST
@admin_required
def retrain(request: HttpRequest) -> HttpResponse:
    try:
        job = intent_retrain_start(created_by=request.user)
    except REFUSED as exc:
        flash_refusal(request, exc)
        return redirect("customer_service:index")
    messages.success(request, "Retraining queued: it activates the new version only if it is not worse.")
    return redirect("job_detail", job_id=job.pk)


# --- the widget's frame --------------------------------------------------------------------------
@require_GET
@xframe_options_exempt
def widget_frame(request: HttpRequest) -> HttpResponse:
    """The chat panel inside the iframe that loader.js puts on the customer's site."""
    site = selectors.active_site_get(public_key=request.GET.get("key", ""))
    origin = request.GET.get("origin", "")
    refusal = widget_frame_refusal(site=site, origin=origin)
    if refusal is not None:
        response = render(request, "customer_service/widget_refused.html", {"refusal": refusal}, status=403)
        # django-csp: the site-wide policy, amended. Only the page that asked may frame the refusal.
        response._csp_replace = {"frame-ancestors": [refusal.parent_origin or "'none'"]}
        response["Cache-Control"] = "no-store"
        return response
    assistant_warm_up_soon()
    parent = normalise_origin(origin)
    response = render(request, "customer_service/widget_frame.html", {
        "site": site, "parent_origin": parent, "token": widget_token_issue(site=site, origin=parent)})
    # Only the allowed page may frame this panel (the browser enforces it), and no other origin
    # can get a token for it through a frame. django-csp writes the site-wide policy with this
    # one directive replaced.
    response._csp_replace = {"frame-ancestors": [parent]}
    response["Cache-Control"] = "no-store"
    return response
