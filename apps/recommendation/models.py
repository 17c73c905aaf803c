"""The catalogue (items and their categories), the people recommendations are for, and what
they did (interactions). Models are kept in the registry (apps.core.ModelVersion)."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

EXTERNAL_ID_MAX = 100


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """Something that can be recommended: a film, a product, an article."""

    external_id = models.CharField(max_length=EXTERNAL_ID_MAX, unique=True,
                                   help_text="The id your systems use for this item")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    categories = models.ManyToManyField(Category, blank=True, related_name="items")
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive items are never recommended")
    # Sentence embedding of title + description + categories (float32 bytes), computed by a job
    # and cleared whenever that text changes.
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_backbone = models.CharField(max_length=300, blank=True, editable=False)
    embedded_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class EndUser(models.Model):
    """A person recommendations are made for (a shopper, a viewer), known by your id for them."""

    external_id = models.CharField(max_length=EXTERNAL_ID_MAX, unique=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        verbose_name = "end user"

    def __str__(self) -> str:
        return self.external_id


class Interaction(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", "View"
        CLICK = "click", "Click"
        LIKE = "like", "Like"
        RATING = "rating", "Rating"
        PURCHASE = "purchase", "Purchase"

    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="interactions")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.FloatField(null=True, blank=True, help_text="The rating, a quantity; optional")
    occurred_at = models.DateTimeField(db_index=True)
    # A client's idempotency key: posting the same event twice stores it once.
    event_id = models.CharField(max_length=EXTERNAL_ID_MAX, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["user", "-occurred_at"], name="rec_interaction_user_time")]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], condition=Q(event_id__isnull=False),
                                    name="rec_interaction_unique_event_id"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.item}"
