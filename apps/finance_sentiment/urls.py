from django.urls import path

from . import views

app_name = "finance_sentiment"

urlpatterns = [
    path("", views.index, name="index"),
]
