from django.urls import path

from . import views

app_name = "finance_sentiment"

urlpatterns = [
    path("", views.index, name="index"),
    path("charts.json", views.chart_data, name="chart_data"),
    path("documents/", views.document_list, name="document_list"),
    path("documents/<int:pk>/", views.document_detail, name="document_detail"),
    path("documents/<int:pk>/label/", views.document_label_view, name="document_label"),
    path("documents/<int:pk>/explanation/", views.document_explanation_view, name="document_explanation"),
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert_detail"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="alert_acknowledge"),
    path("topics/", views.topic_list, name="topic_list"),
    path("topics/reassign/", views.topics_reassign, name="topics_reassign"),
    path("topics/<int:pk>/", views.topic_edit, name="topic_edit"),
    path("topics/<int:pk>/delete/", views.topic_delete_view, name="topic_delete"),
    path("rules/", views.rule_list, name="rule_list"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete_view, name="rule_delete"),
    path("watchlist/", views.watchlist, name="watchlist"),
    path("watchlist/<int:pk>/", views.ticker_edit, name="ticker_edit"),
    path("watchlist/<int:pk>/delete/", views.ticker_delete, name="ticker_delete"),
    path("feeds/", views.feed_list, name="feed_list"),
    path("feeds/<int:pk>/", views.feed_edit, name="feed_edit"),
    path("feeds/<int:pk>/poll/", views.feed_poll_now, name="feed_poll"),
    path("feeds/<int:pk>/delete/", views.feed_delete, name="feed_delete"),
    path("upload/", views.upload, name="upload"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("models/", views.models_page, name="models"),
    path("models/sets/", views.labelled_set_upload_view, name="labelled_set_upload"),
    path("models/sets/<int:pk>/delete/", views.labelled_set_delete, name="labelled_set_delete"),
    path("models/retrain/<slug:which>/", views.retrain, name="retrain"),
    path("models/rescore/", views.rescore, name="rescore"),
    path("models/keys/", views.api_key_create_view, name="api_key_create"),
    path("models/keys/<int:pk>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
