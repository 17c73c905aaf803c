"""Back office: knowledge base (through the same services as the console), sites, settings,
conversations (read-only), and "retrain the intent model"."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path, reverse

from apps.core.parsers import BOUNDED_JSON_FORMFIELDS
from apps.core.roles import is_admin
from ml_core.errors import UserError

from .models import AssistantSettings, Conversation, KBEntry, Message, Site, SmallTalkReply
from .services.chat import assistant_settings, assistant_settings_update
from .services.kb import EntryFields, KBError, kb_entry_create, kb_entry_delete, kb_entry_update
from .services.smalltalk import SmallTalkError, smalltalk_reply_update
from .services.training import intent_retrain_start


class KBEntryAdminForm(forms.ModelForm):
    questions = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80}), required=False,
                                help_text="Example questions, one per line (personal data is masked)")
    tags_text = forms.CharField(required=False, label="Tags", help_text="Comma-separated")

    class Meta:
        model = KBEntry
        fields = ["title", "intent", "answer", "language", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["questions"] = "\n".join(e.text for e in self.instance.examples.all())
            self.initial["tags_text"] = ", ".join(self.instance.tags)

    def clean(self):
        data = super().clean()
        try:
            data["fields"] = EntryFields.clean(title=data.get("title", ""), answer=data.get("answer", ""),
                                               intent=data.get("intent", ""), tags=data.get("tags_text", ""),
                                               language=data.get("language") or "en",
                                               is_active=data.get("is_active", True))
        except KBError as exc:
            raise forms.ValidationError(str(exc))
        return data


class KBExampleInline(admin.TabularInline):
    from .models import KBExample

    model = KBExample
    fields = ("text", "source", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # edited as lines of the entry's "questions" field


@admin.register(KBEntry)
class KBEntryAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    form = KBEntryAdminForm
    list_display = ("title", "intent", "is_active", "language", "updated_at")
    list_filter = ("is_active", "intent", "language")
    search_fields = ("title", "answer", "intent", "examples__text")
    inlines = [KBExampleInline]
    actions = ["delete_entries"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletions go through the service (index revision)
        return actions

    def save_model(self, request, obj, form, change) -> None:
        fields = form.cleaned_data["fields"]
        questions = [q for q in form.cleaned_data.get("questions", "").splitlines() if q.strip()]
        if change:
            saved = kb_entry_update(entry=KBEntry.objects.get(pk=obj.pk), fields=fields, questions=questions)
        else:
            saved = kb_entry_create(fields=fields, questions=questions, created_by=request.user)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change) -> None:
        for formset in formsets:  # example questions were saved by the service; the inline only shows them
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj) -> None:
        kb_entry_delete(entry=obj)

    @admin.action(description="Delete selected entries", permissions=["delete"])
    def delete_entries(self, request, queryset) -> None:
        for entry in list(queryset):
            kb_entry_delete(entry=entry)
        self.message_user(request, "Deleted.")


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    list_display = ("name", "public_key", "is_active", "rate_limit_per_ip", "rate_limit_per_site", "created_at")
    readonly_fields = ("public_key", "created_at")
    search_fields = ("name", "public_key", "allowed_origins")


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    list_display = ("__str__", "answer_threshold", "clarify_margin", "retrieval_precision",
                    "open_intent_refusal_rate", "generation_enabled", "updated_at")
    readonly_fields = ("updated_at", "updated_by")
    change_list_template = "admin/customer_service/assistantsettings/change_list.html"

    def has_add_permission(self, request) -> bool:
        # One row, created when first read (assistant_settings()): there is never anything to add,
        # and an "Add" link would lead to a refusal once the row exists.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        assistant_settings()  # the one row exists, so the list shows it
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        # Through the console's service: validated the same way and audited with what changed.
        values = {name: form.cleaned_data[name] for name in form.fields if name in form.cleaned_data}
        obj.pk = assistant_settings_update(values=values, updated_by=request.user).pk

    def get_urls(self):
        return [path("retrain/", self.admin_site.admin_view(self.retrain_view),
                     name="customer_service_retrain")] + super().get_urls()

    def retrain_view(self, request):
        if request.method != "POST" or not is_admin(request.user):
            messages.error(request, "Retraining is for admins, with the button.")
            return redirect(reverse("admin:customer_service_assistantsettings_changelist"))
        try:
            job = intent_retrain_start(created_by=request.user)
        except UserError as exc:
            messages.error(request, str(exc))
            return redirect(reverse("admin:customer_service_assistantsettings_changelist"))
        messages.success(request, "Retraining of the intent model queued; it is activated only if not worse.")
        return redirect("job_detail", job_id=job.pk)


@admin.register(SmallTalkReply)
class SmallTalkReplyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "answer", "updated_at")
    fields = ("kind", "answer", "examples", "updated_at", "updated_by")
    readonly_fields = ("kind", "updated_at", "updated_by")

    def has_add_permission(self, request) -> bool:
        return False  # one row per built-in kind (the migration creates them)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Through the console's service: validated the same way and audited.
        try:
            smalltalk_reply_update(kind=obj.kind, answer=form.cleaned_data["answer"],
                                   examples=form.cleaned_data.get("examples", ""), updated_by=request.user)
        except SmallTalkError as exc:
            messages.error(request, str(exc))


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "text", "source", "intent", "confidence", "feedback", "labelled_intent")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "site", "status", "assigned_to", "started_at", "last_message_at")
    list_filter = ("status", "site")
    readonly_fields = ("id", "site", "status", "assigned_to", "context", "handoff_reason", "handoff_at",
                       "started_at", "last_message_at")
    inlines = [MessageInline]

    def has_add_permission(self, request) -> bool:
        return False
