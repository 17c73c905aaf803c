"""Back office for the catalogue, end users and interactions. Retraining is the registry's
"Retrain a scenario" (this app registers its scenario) or the action below."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from apps.core.parsers import BOUNDED_JSON_FORMFIELDS
from apps.core.roles import is_admin
from ml_core.errors import UserError

from . import services
from .models import Category, EndUser, Interaction, Item


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "item_count")
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_total=Count("items"))

    @admin.display(description="items", ordering="item_total")
    def item_count(self, category: Category) -> int:
        return category.item_total


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    list_display = ("title", "external_id", "is_active", "embedded", "updated_at")
    list_filter = ("is_active", "categories")
    search_fields = ("title", "external_id", "description")
    filter_horizontal = ("categories",)
    readonly_fields = ("embedding_backbone", "embedded_at", "created_at", "updated_at")
    actions = ["embed_items", "retrain_recommender"]

    @admin.display(boolean=True, description="embedded")
    def embedded(self, item: Item) -> bool:
        return item.embedded_at is not None

    def save_model(self, request, obj, form, change) -> None:
        # The text may have changed: its embedding no longer describes it.
        if change and {"title", "description"} & set(form.changed_data):
            obj.embedding, obj.embedding_backbone, obj.embedded_at = None, "", None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if "categories" in form.changed_data:
            Item.objects.filter(pk=form.instance.pk).update(embedding=None, embedding_backbone="", embedded_at=None)
        services.items_embed_start(created_by=request.user)

    @admin.action(description="Embed items that are new or changed")
    def embed_items(self, request, queryset) -> None:
        job = services.items_embed_start(created_by=request.user)
        self.message_user(request, "An embedding job is queued." if job else "An embedding job is already waiting.")

    def has_retrain_recommender_permission(self, request) -> bool:
        return is_admin(request.user) and request.user.has_perm("core.retrain_modelversion")

    @admin.action(description="Retrain the recommender", permissions=["retrain_recommender"])
    def retrain_recommender(self, request, queryset) -> None:
        try:
            job = services.recommender_retrain_start(created_by=request.user, params={"activate": "if_better"})
        except UserError as exc:  # a start that could only fail is refused, with the reason
            self.message_user(request, str(exc), level=messages.ERROR)
            return
        url = reverse("job_detail", args=[job.pk])
        self.message_user(request, format_html('Retraining the recommender: <a href="{}">follow the job</a>.', url))


@admin.register(EndUser)
class EndUserAdmin(admin.ModelAdmin):
    formfield_overrides = BOUNDED_JSON_FORMFIELDS  # JSON too deep is a form error, not a 500
    list_display = ("external_id", "created_at")
    search_fields = ("external_id",)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "item", "value", "occurred_at")
    list_filter = ("kind",)
    search_fields = ("user__external_id", "item__external_id", "item__title")
    raw_id_fields = ("user", "item")
    date_hierarchy = "occurred_at"
    list_select_related = ("user", "item")
