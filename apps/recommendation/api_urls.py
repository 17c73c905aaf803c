"""This app's REST routes, mounted under /api/v1/ by config/urls.py."""
from django.urls import path

from . import api

urlpatterns: list = [
    path("recommendations/<str:user>/", api.RecommendationsView.as_view(), name="recommendation-for-user"),
    path("recommendation/items/", api.ItemBatchView.as_view(), name="recommendation-items"),
    path("recommendation/items/<str:item>/similar/", api.SimilarItemsView.as_view(),
         name="recommendation-similar-items"),
    path("recommendation/users/", api.UserBatchView.as_view(), name="recommendation-users"),
    path("recommendation/events/", api.EventBatchView.as_view(), name="recommendation-events"),
    path("recommendation/retrain/", api.RetrainView.as_view(), name="recommendation-retrain"),
]
