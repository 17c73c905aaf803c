"""The back office: jobs (read, cancel) and model versions (retrain, activate, roll back)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ml_core.errors import UserError
from ml_core.training import DEFAULT_EPSILON

from .models import ApiKey, AuditEvent, Job, ModelVersion, RetentionRule, ScenarioPolicy, ShadowDeployment
from .roles import is_admin
from .scenarios import all_scenarios, get_scenario
from .services.activation import activation_by_hand
from .services.api_keys import ApiKeyError, api_key_create, api_key_revoke
from .services.audit import audit_events_csv, audit_record
from .services.jobs import job_cancel
from .services.registry import RegistryError


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "state", "progress_bar", "created_by", "created_at", "duration")
    list_filter = ("state", "kind")
    search_fields = ("title", "kind", "message", "error")
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        return format_html(
            '<div class="bar" role="progressbar" aria-valuenow="{0}"><div class="fill state-{1}" '
            'style="width: {0}%"></div></div> {0}%', int(job.progress), job.state
        )

    @admin.display(description="duration")
    def duration(self, job: Job) -> str:
        return f"{job.duration_s:.1f} s" if job.duration_s is not None else ""

    def get_fields(self, request, obj=None):
        # The log tail holds the traceback of a failed job: admins only (the page shows `error`).
        fields = super().get_fields(request, obj)
        return fields if is_admin(request.user) else [f for f in fields if f != "log_tail"]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if is_admin(request.user) else [f for f in fields if f != "log_tail"]

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset) -> None:
        done = sum(1 for job in queryset if job.is_cancellable and job_cancel(job=job))
        self.message_user(request, f"Asked {done} job(s) to cancel.")


class RetrainForm(forms.Form):
    scenario = forms.ChoiceField(choices=())
    # Classifier scenarios only: augmentation, few-label and adversarial training (ml_core plugins).
    augment = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Augmentation",
        help_text="Adds filtered variants of the training texts. Paraphrases run SmolLM2 (slow on a CPU); "
                  "back-translation needs ML_TRANSLATION_MODELS.")
    few_shot_k = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Few-label training",
        choices=[("", "all examples"), ("5", "5 per class"), ("10", "10 per class"), ("20", "20 per class")])
    adversarial = forms.ChoiceField(required=False, label="Adversarial training",
                                    choices=[("", "none"), ("fgm", "FGM (about 2x a step)"),
                                             ("pgd", "PGD, 3 steps (about 4x a step)")])
    adversarial_epsilon = forms.FloatField(required=False, min_value=0.0, max_value=5.0, initial=DEFAULT_EPSILON,
                                           label="Adversarial strength (epsilon per text)")

    def __init__(self, *args, **kwargs) -> None:
        from ml_core.augmentation import OPS

        super().__init__(*args, **kwargs)
        self.fields["scenario"].choices = [
            (s.key, s.label) for s in all_scenarios() if s.retrain is not None
        ]
        self.fields["augment"].choices = [(op, op.replace("_", " ")) for op in OPS]

    def clean(self):
        from .services.robustness import training_plugins_from_form

        data = super().clean()
        try:
            data["plugins"] = training_plugins_from_form(
                augment=data.get("augment"), few_shot_k=data.get("few_shot_k"),
                adversarial=data.get("adversarial") or None, adversarial_epsilon=data.get("adversarial_epsilon"))
        except UserError as exc:
            raise forms.ValidationError(str(exc)) from exc
        key = data.get("scenario")
        if data["plugins"] and key and get_scenario(key).classifier is None:
            raise forms.ValidationError("Augmentation and adversarial training apply to classifier scenarios only.")
        return data


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("scenario", "version", "is_active", "activate_button", "policy_verdict", "headline_metric",
                    "base_model", "created_by", "created_at")
    list_filter = ("scenario", "is_active")
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate_version", "retrain_scenario", "compress_version", "compress_version_fully"]
    change_list_template = "admin/core/modelversion/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False  # versions come from training jobs only

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if not self.has_activate_permission(request):
            shown = tuple(name for name in shown if name != "activate_button")
        return shown

    def has_activate_permission(self, request) -> bool:
        return is_admin(request.user) and request.user.has_perm("core.activate_modelversion")

    def has_retrain_permission(self, request) -> bool:
        return is_admin(request.user) and request.user.has_perm("core.retrain_modelversion")

    @admin.display(description="headline metric")
    def headline_metric(self, version: ModelVersion) -> str:
        for key in ("accuracy", "macro_f1", "ndcg@10", "map"):
            if key in version.metrics:
                return f"{key} {version.metrics[key]:.4g}"
        return ""

    @admin.display(description="")
    def activate_button(self, version: ModelVersion) -> str:
        if version.is_active:
            return "active"
        # A submit button inside the change-list form: one click, CSRF token included; the
        # activation policy's verdict is in the next column (and in the button's tooltip).
        url = reverse("admin:core_modelversion_activate", args=[version.pk])
        return format_html('<button type="submit" class="button" formaction="{}" title="{}">Activate</button>', url,
                           version.activation_reason or "The activation policy did not decide on this version.")

    @admin.display(description="activation policy")
    def policy_verdict(self, version: ModelVersion) -> str:
        if not version.activation_decision:
            return "–"
        return format_html('<strong>{}</strong><br><span class="help">{}</span>',
                           version.get_activation_decision_display(), version.activation_reason[:300])

    def get_urls(self):
        return [
            path("<int:pk>/activate/", self.admin_site.admin_view(self.activate_view),
                 name="core_modelversion_activate"),
            path("retrain/", self.admin_site.admin_view(self.retrain_view),
                 name="core_modelversion_retrain"),
            *super().get_urls(),
        ]

    def _activate(self, request, version: ModelVersion) -> None:
        try:
            activation_by_hand(version=version, actor=request.user)  # audited with the policy's verdict
        except RegistryError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
        else:
            overruled = version.activation_decision and version.activation_decision != "activate"
            self.message_user(request, f"{version.scenario} v{version.version} is now active" + (
                f", by hand: the activation policy had said “{version.get_activation_decision_display()}”: "
                f"{version.activation_reason}" if overruled else "."))

    def activate_view(self, request, pk: int):
        if request.method != "POST":
            return redirect("admin:core_modelversion_changelist")
        if not self.has_activate_permission(request):
            raise PermissionDenied
        self._activate(request, get_object_or_404(ModelVersion, pk=pk))
        return redirect("admin:core_modelversion_changelist")

    @admin.action(description="Activate selected version (roll back or forward)", permissions=["activate"])
    def activate_version(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", level=messages.WARNING)
            return
        self._activate(request, queryset.get())

    @admin.action(description="Retrain the scenarios of the selected versions", permissions=["retrain"])
    def retrain_scenario(self, request, queryset) -> None:
        for key in sorted(set(queryset.values_list("scenario", flat=True))):
            self._start_retrain(request, key)

    @admin.action(description="Compress: ONNX + int8, promoted within the accuracy guardrail", permissions=["retrain"])
    def compress_version(self, request, queryset) -> None:
        self._start_compression(request, queryset, methods=None)

    @admin.action(description="Compress fully: also pruning and distillation (minutes to an hour on a CPU)",
                  permissions=["retrain"])
    def compress_version_fully(self, request, queryset) -> None:
        from ml_core.compression import METHODS

        self._start_compression(request, queryset, methods=list(METHODS))

    def _start_compression(self, request, queryset, methods) -> None:
        from .services.compression import compression_start

        for version in queryset:
            try:
                job = compression_start(version=version, created_by=request.user,
                                        params={"methods": methods} if methods else None)
            except UserError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                continue
            url = reverse("job_detail", args=[job.pk])
            self.message_user(request, format_html('Compressing {}: <a href="{}">follow the job</a>.', version, url))

    def _start_retrain(self, request, key: str, params: dict | None = None):
        try:
            scenario = get_scenario(key)
        except KeyError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return None
        if scenario.retrain is None:
            self.message_user(request, f"{scenario.label} cannot be retrained yet.", level=messages.WARNING)
            return None
        try:
            job = scenario.retrain(created_by=request.user, params=params or {})
        except UserError as exc:  # a start that could only fail is refused, with the reason
            self.message_user(request, f"{scenario.label}: {exc}", level=messages.ERROR)
            return None
        url = reverse("job_detail", args=[job.pk])
        self.message_user(request, format_html('Retraining {}: <a href="{}">follow the job</a>.', scenario.label, url))
        return job

    def retrain_view(self, request):
        if not self.has_retrain_permission(request):
            raise PermissionDenied
        form = RetrainForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            plugins = form.cleaned_data["plugins"]
            job = self._start_retrain(request, form.cleaned_data["scenario"],
                                      params={"config": {"plugins": plugins}} if plugins else None)
            if job is not None:
                return redirect("job_detail", job_id=job.pk)
        context = {**self.admin_site.each_context(request), "form": form, "title": "Retrain a scenario",
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/core/modelversion/retrain.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_retrain": self.has_retrain_permission(request)}
        return super().changelist_view(request, extra_context)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail cannot be edited or deleted from the back office."""

    list_display = ("created_at", "actor_name", "action", "scenario", "target", "ip_address")
    list_filter = ("action", "scenario", "actor_name")
    search_fields = ("actor_name", "target", "scenario", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    actions = ["export_csv"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request, queryset):
        from django.http import HttpResponse

        events = list(queryset.order_by("created_at"))
        audit_record(action=AuditEvent.Action.DATA_EXPORT, target=f"{len(events)} audit events",
                     details={"what": "audit trail"})
        response = HttpResponse(audit_events_csv(events), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
        return response


# --- control, shadow mode and retention: read here, changed on the control page (audited) ----------
class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ScenarioPolicy)
class ScenarioPolicyAdmin(_ReadOnlyAdmin):
    """Changed on the control page, where every change is audited."""

    list_display = ("scenario", "confidence_threshold", "low_confidence_action", "handoff_labels", "updated_by",
                    "updated_at")


@admin.register(ShadowDeployment)
class ShadowDeploymentAdmin(_ReadOnlyAdmin):
    list_display = ("scenario", "candidate", "is_running", "sample_rate", "started_by", "started_at", "stopped_at")
    list_filter = ("scenario", "is_running")


@admin.register(RetentionRule)
class RetentionRuleAdmin(_ReadOnlyAdmin):
    list_display = ("kind", "max_age_days", "last_run_at", "last_deleted", "updated_by", "updated_at")


# --- API keys: created here (the plain key is shown once, on the answer page) and revoked -------
class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who uses it, e.g. 'shop backend'")
    scopes = forms.MultipleChoiceField(choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       help_text="The APIs this key may call")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix_shown", "scopes_shown", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    readonly_fields = [f.name for f in ApiKey._meta.fields if f.name != "key_hash"]
    exclude = ("key_hash",)
    actions = ["revoke_keys"]

    @admin.display(description="key")
    def prefix_shown(self, key: ApiKey) -> str:
        return f"{key.prefix}…"

    @admin.display(description="scopes")
    def scopes_shown(self, key: ApiKey) -> str:
        return ", ".join(key.scopes)

    def has_add_permission(self, request) -> bool:
        return is_admin(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a key's scopes are fixed: make a new key and revoke the old one

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, never deleted: batches keep saying which key sent them

    def has_revoke_permission(self, request) -> bool:
        return is_admin(request.user) and request.user.has_perm("core.change_apikey")

    @admin.action(description="Revoke selected keys (at once, for good)", permissions=["revoke"])
    def revoke_keys(self, request, queryset) -> None:
        revoked = [api_key_revoke(key=key, revoked_by=request.user) for key in queryset.filter(revoked_at__isnull=True)]
        self.message_user(request, f"Revoked {len(revoked)} key(s).")

    def add_view(self, request, form_url="", extra_context=None):
        """Not a model form: the service makes the secret, and the answer shows it once, unstored."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyCreateForm(request.POST or None)
        created = plain = None
        if request.method == "POST" and form.is_valid():
            try:
                created, plain = api_key_create(name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                                                created_by=request.user)
            except ApiKeyError as exc:
                form.add_error(None, str(exc))
        context = {**self.admin_site.each_context(request), "form": form, "created": created, "plain_key": plain,
                   "title": "API key created" if created else "Create an API key", "opts": self.model._meta}
        response = TemplateResponse(request, "admin/core/apikey/create.html", context)
        if plain:
            response["Cache-Control"] = "no-store"  # the page holds the only copy of the key
        return response
