"""This app's REST routes, mounted under /api/v1/ by config/urls.py."""

urlpatterns: list = []
