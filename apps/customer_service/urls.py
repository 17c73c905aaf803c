from django.urls import path

from . import views

app_name = "customer_service"

urlpatterns = [
    path("", views.index, name="index"),
    path("conversations/", views.conversation_list, name="conversation_list"),
    path("conversations/<uuid:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("conversations/<uuid:conversation_id>/take/", views.conversation_take_view, name="conversation_take"),
    path("conversations/<uuid:conversation_id>/reply/", views.conversation_reply_view, name="conversation_reply"),
    path("conversations/<uuid:conversation_id>/release/", views.conversation_release_view,
         name="conversation_release"),
    path("conversations/<uuid:conversation_id>/close/", views.conversation_close_view, name="conversation_close"),
    path("messages/<int:message_id>/label/", views.message_label_view, name="message_label"),
    path("teach/", views.teach, name="teach"),
    path("review/", views.review, name="review"),
    path("review/dismiss/", views.review_dismiss_view, name="review_dismiss"),
    path("kb/", views.kb_list, name="kb_list"),
    path("kb/new/", views.kb_entry_new, name="kb_entry_new"),
    path("kb/<int:pk>/", views.kb_entry_edit, name="kb_entry_edit"),
    path("kb/<int:pk>/delete/", views.kb_entry_delete_view, name="kb_entry_delete"),
    path("kb/import/", views.kb_import_view, name="kb_import"),
    path("kb/export.<str:fmt>", views.kb_export, name="kb_export"),
    path("analytics/", views.analytics_view, name="analytics"),
    path("sites/", views.site_list, name="site_list"),
    path("sites/new/", views.site_edit, name="site_new"),
    path("sites/<int:pk>/", views.site_edit, name="site_edit"),
    path("sites/<int:pk>/try/", views.site_try, name="site_try"),
    path("settings/", views.settings_view, name="settings"),
    path("settings/small-talk/", views.smalltalk_view, name="smalltalk"),
    path("retrain/", views.retrain, name="retrain"),
    path("widget/frame/", views.widget_frame, name="widget_frame"),
]
