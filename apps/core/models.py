"""Jobs (long work with progress) and the model registry."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Job(models.Model):
    """One piece of long work run by a Celery worker, with its progress and outcome."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=100, help_text="What the job does, e.g. core.encoder_check")
    title = models.CharField(max_length=200, blank=True)
    scenario = models.CharField(max_length=100, blank=True, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=300, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker claimed the job")
    # What is needed to send the job's message again when the broker lost it (jobs_resend_lost).
    task_name = models.CharField(max_length=200, blank=True, help_text="The Celery task that runs the job")
    task_args = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When its message was last sent")
    sends = models.PositiveIntegerField(default=0, help_text="Messages sent for the job (first and re-sends)")
    worker = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=100), name="job_progress_0_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title or self.kind} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def is_cancellable(self) -> bool:
        return self.state in self.ACTIVE_STATES and not self.cancel_requested

    @property
    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class ActivationDecision(models.TextChoices):
    ACTIVATE = "activate", "Activate"
    REFUSE = "refuse", "Keep inactive"
    MANUAL = "manual", "Left to a person"


class ModelVersion(models.Model):
    """A trained model for a scenario: an immutable artifact folder plus its figures."""

    scenario = models.CharField(max_length=100, db_index=True)
    version = models.PositiveIntegerField()
    artifact_path = models.CharField(
        max_length=500, help_text="Folder relative to ARTIFACTS_ROOT"
    )
    sha256 = models.CharField(max_length=64)
    base_model = models.CharField(max_length=300, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_data_summary = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    # The activation policy's verdict (services.activation); blank when it never decided on this version.
    activation_decision = models.CharField(max_length=10, blank=True, choices=ActivationDecision.choices)
    activation_reason = models.TextField(blank=True, help_text="Why it was or was not activated, in words")
    activation_evidence = models.JSONField(default=dict, blank=True,
                                           help_text="The policy's checks: measured values and thresholds")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scenario", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "version"], name="modelversion_unique_number"),
            # The database itself guarantees at most one active version per scenario.
            models.UniqueConstraint(
                fields=["scenario"], condition=Q(is_active=True), name="modelversion_one_active"
            ),
        ]
        permissions = [
            ("activate_modelversion", "Can activate or roll back a model version"),
            ("retrain_modelversion", "Can start retraining a scenario"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} v{self.version}{' (active)' if self.is_active else ''}"


class AuditEvent(models.Model):
    """Who did what to models, thresholds, rules and data, and when. Written, never edited."""

    class Action(models.TextChoices):
        RETRAIN = "model.retrain", "Started a training job"
        ACTIVATE = "model.activate", "Activated a model version"
        ROLLBACK = "model.rollback", "Rolled back to an earlier version"
        JOB_CANCEL = "job.cancel", "Cancelled a job"
        THRESHOLD_CHANGE = "threshold.change", "Changed a threshold or policy"
        RULE_CHANGE = "rule.change", "Changed a rule"
        DATA_EXPORT = "data.export", "Exported data"
        DATA_DELETE = "data.delete", "Deleted data"
        SETTINGS_CHANGE = "settings.change", "Changed a setting"
        API_KEY_CREATE = "apikey.create", "Created an API key"
        API_KEY_REVOKE = "apikey.revoke", "Revoked an API key"
        LOGIN_LOCKOUT = "login.lockout", "Locked out sign-ins after repeated failures"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the trail survives the user's deletion; "system" for scheduled work.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    scenario = models.CharField(max_length=100, blank=True, db_index=True)
    target = models.CharField(max_length=200, blank=True, help_text="What was acted on, e.g. model version 7")
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"


# --- control, shadow mode, retention (explainability, control and safety) ----------------------
class ScenarioPolicy(models.Model):
    """A scenario's confidence threshold and what happens below it. Admins change it on the
    control page; every change is in the audit trail (apps.core.services.control)."""

    class LowConfidence(models.TextChoices):
        HANDOFF = "handoff", "Hand over to a person"
        REVIEW = "review", "Answer, and queue for review"
        ABSTAIN = "abstain", "Do not answer automatically"

    scenario = models.CharField(max_length=100, unique=True)
    confidence_threshold = models.FloatField(
        default=0.5, help_text="Calibrated probability (0-1) below which a prediction counts as unsure")
    low_confidence_action = models.CharField(max_length=10, choices=LowConfidence.choices,
                                             default=LowConfidence.REVIEW)
    handoff_labels = models.JSONField(default=list, blank=True,
                                      help_text="Labels that always go to a person, whatever the confidence")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["scenario"]
        verbose_name_plural = "scenario policies"
        constraints = [
            models.CheckConstraint(condition=Q(confidence_threshold__gte=0) & Q(confidence_threshold__lte=1),
                                   name="scenariopolicy_threshold_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} policy"


class ShadowDeployment(models.Model):
    """A candidate version scoring live traffic beside the active one, without answering."""

    scenario = models.CharField(max_length=100, db_index=True)
    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="shadow_deployments")
    sample_rate = models.FloatField(default=1.0, help_text="Share of live predictions also scored by the candidate")
    is_running = models.BooleanField(default=True)
    started_at = models.DateTimeField(auto_now_add=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["scenario"], condition=Q(is_running=True), name="shadow_one_running"),
            models.CheckConstraint(condition=Q(sample_rate__gt=0) & Q(sample_rate__lte=1), name="shadow_sample_0_1"),
        ]

    def __str__(self) -> str:
        return f"shadow {self.scenario} v{self.candidate.version}"


class ShadowPrediction(models.Model):
    """One live input: what the active version answered and what the candidate would have."""

    deployment = models.ForeignKey(ShadowDeployment, on_delete=models.CASCADE, related_name="predictions")
    subject = models.CharField(max_length=200, help_text="What was scored, e.g. finance_sentiment.document:12")
    text = models.TextField(help_text="The input as stored by the app (personal data already masked)")
    active_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    active_label = models.CharField(max_length=100)
    active_confidence = models.FloatField(null=True, blank=True)
    candidate_label = models.CharField(max_length=100, blank=True)
    candidate_confidence = models.FloatField(null=True, blank=True)
    candidate_ms = models.FloatField(null=True, blank=True, help_text="Candidate's scoring time per text")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["deployment", "subject"], name="shadow_unique_subject")]
        indexes = [models.Index(fields=["deployment", "scored_at"], name="shadow_pending")]

    def __str__(self) -> str:
        return f"{self.subject}: {self.active_label} / {self.candidate_label or '…'}"


class RetentionRule(models.Model):
    """How long one kind of stored data is kept (apps.core.services.retention deletes the rest)."""

    kind = models.CharField(max_length=100, unique=True, help_text="e.g. customer_service.conversations")
    max_age_days = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: keep forever")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_deleted = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["kind"]
        constraints = [models.CheckConstraint(condition=Q(max_age_days__isnull=True) | Q(max_age_days__gte=1),
                                              name="retention_at_least_a_day")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.max_age_days or '∞'} days"


# --- API keys for server-to-server calls ---------------------------------------------------------
class ApiKey(models.Model):
    """A key another system sends (`Authorization: Bearer ak_...`) to call the APIs its scopes allow.

    Only the sha256 of the key is stored: the plain key is shown once, when it is created
    (apps.core.services.api_keys). Keys are revoked, not deleted, so the batches they posted
    keep saying who sent them.
    """

    class Scope(models.TextChoices):
        FINANCE = "finance", "Finance: post documents, read own batches"
        RECOMMENDATION = "recommendation", "Recommendation: upsert items, users, events; read recommendations"

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True, help_text="The key's first characters, to recognise it")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, help_text="The APIs this key may call")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most once a minute (see api_key_authenticate): a busy key must not write on every call.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
