"""This app's REST routes, mounted under /api/v1/ by config/urls.py."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import AlertViewSet, BatchViewSet, DocumentViewSet, TopicViewSet, TrendView

router = SimpleRouter()
router.register("finance/documents", DocumentViewSet, basename="finance-document")
router.register("finance/batches", BatchViewSet, basename="finance-batch")
router.register("finance/alerts", AlertViewSet, basename="finance-alert")
router.register("finance/topics", TopicViewSet, basename="finance-topic")

urlpatterns: list = [
    path("finance/trends/", TrendView.as_view(), name="finance-trends"),
    *router.urls,
]
