from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/encoder-check/", views.encoder_check_start, name="encoder_check_start"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:job_id>/cancel/", views.job_cancel_view, name="job_cancel"),
    path("jobs/<uuid:job_id>/curves.json", views.job_curves, name="job_curves"),
    path("models/", views.registry, name="registry"),
    path("models/<int:pk>/activate/", views.model_version_activate_view, name="model_version_activate"),
    path("models/<int:pk>/", views.model_version_detail, name="model_version_detail"),
    path("models/<int:pk>/robustness/", views.model_version_robustness_start, name="model_version_robustness_start"),
    path("models/<int:pk>/compress/", views.model_version_compress_start, name="model_version_compress_start"),
    path("models/<str:scenario>/train/", views.classifier_train_start, name="classifier_train_start"),
    path("models/<str:scenario>/tune/", views.classifier_tune_start, name="classifier_tune_start"),
    path("models/<str:scenario>/waiting/", views.model_wait_view, name="model_wait"),  # a page's banner (issue 17)
]
