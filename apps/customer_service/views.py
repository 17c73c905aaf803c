"""The operator console and the widget's frame page. Thin: forms, selectors and services."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.core.models import Job, ModelVersion
from apps.core.roles import admin_required, is_admin, operator_required
from apps.core.safe_redirect import redirect_next, safe_next_url
from apps.core.validation import is_ascii_integer
from ml_core.errors import UserError

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
from .models import Conversation, KBEntry, Message, Site
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
from .services.widget import origin_allowed, widget_frame_refusal, widget_token_issue
from .serving import assistant


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def _model_status() -> dict:
    active = ModelVersion.objects.filter(scenario=SCENARIO, is_active=True).first()
    index = assistant().index
    index.sync()
    found = assistant_settings()
    calibration = index.ensure_calibrated(found.retrieval_precision)
    return {"active": active, "entries": len(index.entries), "vectors": len(index.vectors or ()),
            "pending": kb_pending_count(), "calibration": calibration, "settings": found,
            "open_intent": selectors.open_intent_status(found.open_intent_refusal_rate),
            "training": Job.objects.filter(scenario=SCENARIO, state__in=Job.ACTIVE_STATES).first(),
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
    rows = list(conversation.messages.select_related("author").order_by("id"))
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
            "entries": KBEntry.objects.filter(is_active=True).order_by("intent", "title")}


@operator_required
def conversation_detail(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("site", "assigned_to"), pk=conversation_id)
    context = _conversation_context(conversation)
    if _is_htmx(request):
        return render(request, "customer_service/_transcript.html", context)
    context["reply_form"] = ReplyForm()
    return render(request, "customer_service/conversation_detail.html", context)


def _conversation_action(request, conversation_id, action) -> HttpResponse:
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    try:
        action(conversation)
    except ConsoleError as exc:
        messages.error(request, str(exc))
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
    message = get_object_or_404(Message, pk=message_id)
    form = LabelForm(request.POST)
    try:
        if not form.is_valid():
            raise ConsoleError("give an intent")
        message_label(message=message, intent=form.cleaned_data["intent"])
        messages.success(request, f"Labelled as “{message.labelled_intent.replace('_', ' ')}”; the next retraining learns it.")
    except ConsoleError as exc:
        messages.error(request, str(exc))
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
    questions = list(Message.objects.filter(pk__in=form.cleaned_data["questions"]))
    try:
        entry = kb_example_from_questions(questions=questions, entry=form.cleaned_data.get("entry"),
                                          new_entry=form.cleaned_data.get("new_entry"), operator=request.user)
    except (ConsoleError, KBError) as exc:
        messages.error(request, str(exc))
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
        "entries": KBEntry.objects.filter(is_active=True).order_by("intent", "title")})


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
        except KBError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created “{entry.title}”.")
            return redirect("customer_service:kb_list")
    return render(request, "customer_service/kb_form.html", {"form": form, "entry": None})


@operator_required
def kb_entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(KBEntry, pk=pk)
    form = EntryForm(request.POST) if request.method == "POST" else EntryForm.for_entry(entry)
    if request.method == "POST" and form.is_valid():
        try:
            kb_entry_update(entry=entry, fields=form.cleaned_data["fields"],
                            questions=form.cleaned_data["question_list"])
        except KBError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Saved “{entry.title}”.")
            return redirect("customer_service:kb_list")
    return render(request, "customer_service/kb_form.html", {"form": form, "entry": entry})


@require_POST
@operator_required
def kb_entry_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(KBEntry, pk=pk)
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
        except KBError as exc:
            form.add_error(None, f"Nothing was imported: {exc}")
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
        "sites": Site.objects.all(), "loader_url": static_url, "can_edit": is_admin(request.user)})


@admin_required
def site_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    site = get_object_or_404(Site, pk=pk) if pk else None
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Saved the site “{saved.name}”.")
        return redirect("customer_service:site_list")
    return render(request, "customer_service/site_form.html", {"form": form, "site": site})


@operator_required
def site_try(request: HttpRequest, pk: int) -> HttpResponse:
    """A page of this server with the site's widget tag, to try the assistant."""
    site = get_object_or_404(Site, pk=pk)
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
            except SmallTalkError as exc:
                messages.error(request, str(exc))
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
    except UserError as exc:
        messages.error(request, str(exc))
        return redirect("customer_service:index")
    messages.success(request, "Retraining queued: it activates the new version only if it is not worse.")
    return redirect("job_detail", job_id=job.pk)


# --- the widget's frame --------------------------------------------------------------------------
@require_GET
@xframe_options_exempt
def widget_frame(request: HttpRequest) -> HttpResponse:
    """The chat panel inside the iframe that loader.js puts on the customer's site."""
    site = Site.objects.filter(public_key=request.GET.get("key", "")[:64], is_active=True).first()
    origin = request.GET.get("origin", "")
    refusal = widget_frame_refusal(site=site, origin=origin)
    if refusal is not None:
        response = render(request, "customer_service/widget_refused.html", {"refusal": refusal}, status=403)
        # django-csp: the site-wide policy, amended. Only the page that asked may frame the refusal.
        response._csp_replace = {"frame-ancestors": [refusal.parent_origin or "'none'"]}
        response["Cache-Control"] = "no-store"
        return response
    from .models import normalise_origin
    from .serving import assistant_warm_up_soon

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
