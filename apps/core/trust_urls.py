"""URLs of the control and trust pages (apps.core.trust_views), beside apps.core.urls."""
from django.urls import path

from . import trust_views as views

urlpatterns = [
    path("control/", views.control_page, name="control"),
    path("control/policy/<str:scenario>/", views.policy_update, name="control_policy_update"),
    path("control/retention/run/", views.retention_run, name="control_retention_run"),
    path("control/retention/<str:kind>/", views.retention_update, name="control_retention_update"),
    path("models/<int:pk>/shadow/", views.shadow_start_view, name="model_version_shadow_start"),
    path("models/<int:pk>/card.md", views.model_card_download, name="model_version_card"),
    path("models/<int:pk>/explain/", views.model_version_explain, name="model_version_explain"),
    path("shadow/<int:pk>/", views.shadow_detail, name="shadow_detail"),
    path("shadow/<int:pk>/stop/", views.shadow_stop_view, name="shadow_stop"),
]
