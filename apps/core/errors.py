"""Error pages: the API (/api/...) answers JSON like its views do; other paths get the HTML pages.

Neither ever shows a traceback or a setting (DEBUG is off outside development); a server error
names the request id, which the log lines of that request carry.
"""
from django.http import JsonResponse
from django.views import defaults


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    if _is_api(request):
        return JsonResponse({"detail": "no API endpoint or object at this address"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "server error; the log has the details",
                             "request_id": getattr(request, "request_id", "")}, status=500)
    return defaults.server_error(request)
