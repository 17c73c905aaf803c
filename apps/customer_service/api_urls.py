"""This app's REST routes, mounted under /api/v1/ by config/urls.py."""
from django.urls import path

from . import api

urlpatterns = [
    path("chat/", api.ChatView.as_view(), name="cs-chat"),
    path("chat/feedback/", api.FeedbackView.as_view(), name="cs-chat-feedback"),
    path("chat/handoff/", api.HandoffView.as_view(), name="cs-chat-handoff"),
    path("chat/conversations/<uuid:conversation_id>/", api.HistoryView.as_view(), name="cs-chat-history"),
]
