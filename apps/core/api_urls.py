"""Versioned API routes. Each scenario app adds its own routes here as it lands."""
from rest_framework.routers import SimpleRouter

from .api import JobViewSet, ModelVersionViewSet

router = SimpleRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("models", ModelVersionViewSet, basename="modelversion")

urlpatterns: list = [*router.urls]
