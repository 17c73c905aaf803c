from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.core import health

admin.site.site_header = "AI suite back office"
admin.site.site_title = "AI suite back office"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", include("apps.core.urls")),
    path("", include("apps.core.trust_urls")),
    path("customer-service/", include("apps.customer_service.urls")),
    path("finance/", include("apps.finance_sentiment.urls")),
    path("recommendation/", include("apps.recommendation.urls")),
    path("api/v1/", include("apps.core.api_urls")),
    path("api/v1/", include("apps.customer_service.api_urls")),
    path("api/v1/", include("apps.finance_sentiment.api_urls")),
    path("api/v1/", include("apps.recommendation.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL: the Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

# JSON errors under /api/ (the HTML pages elsewhere); never a traceback.
handler404 = "apps.core.errors.page_not_found"
handler500 = "apps.core.errors.server_error"
