from django.urls import path

from . import views

app_name = "recommendation"

urlpatterns = [
    path("", views.index, name="index"),
    path("users/", views.user_list, name="user_list"),
    path("users/<str:external_id>/", views.user_detail, name="user_detail"),
    path("users/<str:external_id>/why/<str:item_id>/", views.recommendation_why, name="recommendation_why"),
    path("items/", views.item_list, name="item_list"),
    path("items/<str:external_id>/", views.item_detail, name="item_detail"),
    path("versions/<int:pk>/", views.version_detail, name="version_detail"),
    path("retrain/", views.retrain, name="retrain"),
]
